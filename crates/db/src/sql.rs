//! Statements both databases run as written (`$n` placeholders, `ON CONFLICT` upserts).

pub const UPSERT_FIELD: &str = r#"
INSERT INTO exportable_fields (field_id, name, description, path, "group", is_default, position)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (path) DO UPDATE SET name = excluded.name, description = excluded.description,
    "group" = excluded."group", is_default = excluded.is_default, position = excluded.position"#;

pub const SELECT_FIELDS: &str = r#"
SELECT field_id, name, description, path, "group", is_default FROM exportable_fields ORDER BY position, path"#;

pub const UPSERT_USER: &str = "
INSERT INTO users (id, full_name, enabled, role, primary_email) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, enabled = excluded.enabled,
    role = excluded.role, primary_email = excluded.primary_email";

pub const UPSERT_TAG: &str = "
INSERT INTO tags (id, name, description, hex) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, hex = excluded.hex";

pub const DELETE_APPLIED_TAGS: &str = "DELETE FROM applied_tags WHERE observation_id = $1";
pub const DELETE_ATTRIBUTES: &str = "DELETE FROM ad_attributes WHERE observation_id = $1";
pub const DELETE_CLASSIFICATIONS: &str = "DELETE FROM ad_classifications WHERE observation_id = $1";
pub const INSERT_APPLIED_TAG: &str = "INSERT INTO applied_tags (observation_id, tag_id) VALUES ($1, $2)";
pub const INSERT_ATTRIBUTE: &str = "
INSERT INTO ad_attributes (observation_id, key, value, created_at, created_by, modified_at, modified_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const INSERT_CLASSIFICATION: &str = "
INSERT INTO ad_classifications (id, observation_id, label, score, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5)";

/// `{ids}` is replaced by `$1, $2, …` for the ids of one batch.
pub const SELECT_TAG_NAMES: &str = "
SELECT a.observation_id, t.name FROM applied_tags a JOIN tags t ON t.id = a.tag_id
WHERE a.observation_id IN ({ids})";
pub const SELECT_ATTRIBUTES: &str = "
SELECT observation_id, key, value, created_at, created_by, modified_at, modified_by FROM ad_attributes
WHERE observation_id IN ({ids})";
pub const SELECT_CLASSIFICATIONS: &str = "
SELECT observation_id, label, score FROM ad_classifications
WHERE observation_id IN ({ids})";
pub const SELECT_OBJECT_VERSIONS: &str = "SELECT object_key, version FROM catalogue_objects WHERE object_key IN ({ids})";

pub const UPSERT_OBSERVATION: &str = "
INSERT INTO observations (observation_id, observer_id, timestamp, observation_uuid, observed_at, platform,
    rdo_key, rdo, page_names, categories, search_text)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (observation_id) DO UPDATE SET observer_id = excluded.observer_id, timestamp = excluded.timestamp,
    observation_uuid = excluded.observation_uuid, observed_at = excluded.observed_at, platform = excluded.platform,
    rdo_key = excluded.rdo_key, rdo = excluded.rdo, page_names = excluded.page_names,
    categories = excluded.categories, search_text = excluded.search_text";
/// A key that now holds another ad (or nothing usable) no longer describes its old row.
pub const DELETE_OBSERVATION_BY_KEY: &str = "DELETE FROM observations WHERE rdo_key = $1 AND observation_id <> $2";
pub const DELETE_OBSERVATION: &str = "DELETE FROM observations WHERE observation_id = $1";
pub const UPSERT_OBJECT: &str = "
INSERT INTO catalogue_objects (object_key, version, outcome, observation_id, detail) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (object_key) DO UPDATE SET version = excluded.version, outcome = excluded.outcome,
    observation_id = excluded.observation_id, detail = excluded.detail";
pub const SELECT_UNPARSEABLE: &str =
    "SELECT object_key, detail FROM catalogue_objects WHERE outcome = 'unparseable' ORDER BY object_key";
pub const COUNT_OBSERVATIONS: &str = "SELECT COUNT(*) FROM observations";

/// `IN` lists are sent in batches of at most this many binds.
pub const MAX_IN_LIST: usize = 1000;

pub fn in_list(template: &str, n: usize) -> String {
    let ids: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    template.replace("{ids}", &ids.join(", "))
}
