//! Statements both databases run as written (`$n` placeholders, `ON CONFLICT` upserts).

use std::sync::LazyLock;

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
/// By the bare ad id, and by the key the AAO's routes write, `"{observer_id}_{timestamp}.{ad_id}"`
/// (the observer and the catalogue's `observation_uuid`); `by_route_key` tells which, so that the
/// route's row wins where both exist. Times as BIGINT (the AAO's are INTEGER seconds).
pub const SELECT_ATTRIBUTES: &str = "
SELECT observation_id, key, value, CAST(created_at AS BIGINT) AS created_at, created_by,
    CAST(modified_at AS BIGINT) AS modified_at, modified_by, 0 AS by_route_key
FROM ad_attributes WHERE observation_id IN ({ids})
UNION ALL
SELECT c.observation_id, a.key, a.value, CAST(a.created_at AS BIGINT) AS created_at, a.created_by,
    CAST(a.modified_at AS BIGINT) AS modified_at, a.modified_by, 1 AS by_route_key
FROM catalogue c JOIN ad_attributes a ON a.observation_id = c.observer_id || '_' || c.observation_uuid
WHERE c.observation_id IN ({ids})";
pub const SELECT_CLASSIFICATIONS: &str = "
SELECT observation_id, label, score FROM ad_classifications
WHERE observation_id IN ({ids})";
pub const SELECT_OBJECT_VERSIONS: &str =
    "SELECT object_key, version FROM catalogue_objects WHERE object_key IN ({ids})";

// The indexer records a batch of ads with one statement per table and chunk of rows
// (`{rows}`: see [`rows_list`]), not a statement per ad and table.
pub const UPSERT_CATALOGUED: &str = "
INSERT INTO catalogue (observation_id, observer_id, timestamp, observation_uuid, observed_at, platform,
    rdo_key, page_names, categories, search_text, image_count, image_bytes, rdo_bytes)
VALUES {rows}
ON CONFLICT (observation_id) DO UPDATE SET observer_id = excluded.observer_id, timestamp = excluded.timestamp,
    observation_uuid = excluded.observation_uuid, observed_at = excluded.observed_at, platform = excluded.platform,
    rdo_key = excluded.rdo_key, page_names = excluded.page_names, categories = excluded.categories,
    search_text = excluded.search_text, image_count = excluded.image_count, image_bytes = excluded.image_bytes,
    rdo_bytes = excluded.rdo_bytes";
pub const UPSERT_CATALOGUED_COLUMNS: usize = 13;
/// The ads' RDOs, kept apart from what search reads (each goes with its ad: `ON DELETE CASCADE`).
pub const UPSERT_DOCUMENTS: &str = "
INSERT INTO catalogue_documents (observation_id, rdo) VALUES {rows}
ON CONFLICT (observation_id) DO UPDATE SET rdo = excluded.rdo";
/// A key that now holds another ad (or nothing usable: `''`) no longer describes its old row.
/// Rows of `(key, ad it holds)`; `VALUES` names its columns `column1`, `column2` on both databases.
pub const DELETE_CATALOGUED_BY_KEYS: &str = "
DELETE FROM catalogue WHERE observation_id IN (
    SELECT c.observation_id FROM (VALUES {rows}) AS k
    JOIN catalogue c ON c.rdo_key = k.column1 AND c.observation_id <> k.column2)";
pub const DELETE_CATALOGUED: &str = "DELETE FROM catalogue WHERE observation_id IN ({ids})";
pub const UPSERT_OBJECTS: &str = "
INSERT INTO catalogue_objects (object_key, version, outcome, observation_id, detail) VALUES {rows}
ON CONFLICT (object_key) DO UPDATE SET version = excluded.version, outcome = excluded.outcome,
    observation_id = excluded.observation_id, detail = excluded.detail";
pub const DELETE_OBJECTS: &str = "DELETE FROM catalogue_objects WHERE object_key IN ({ids})";
/// In the database's order of text, which its primary key index serves (the comparison and the
/// order agree, so each page starts where the last ended).
pub const SELECT_OBJECT_KEYS: &str =
    "SELECT object_key FROM catalogue_objects WHERE object_key > $1 ORDER BY object_key LIMIT $2";
pub const SELECT_UNPARSEABLE: &str =
    "SELECT object_key, detail FROM catalogue_objects WHERE outcome = 'unparseable' ORDER BY object_key";
/// Kept by triggers on `catalogue` (migration 0009).
pub const COUNT_CATALOGUED: &str = "SELECT ads FROM catalogue_totals";
/// The columns of `search::SEARCH_COLUMNS`, for one ad.
pub const SELECT_AD: &str = "
SELECT c.observation_id, c.observer_id, c.observed_at, c.rdo_key, d.rdo
FROM catalogue c JOIN catalogue_documents d ON d.observation_id = c.observation_id WHERE c.observation_id = $1";

/// `IN` lists are sent in batches of at most this many binds.
pub const MAX_IN_LIST: usize = 1000;

pub fn in_list(template: &str, n: usize) -> String {
    let ids: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    template.replace("{ids}", &ids.join(", "))
}

/// Binds of one multi-row statement, at most. Few enough that the driver's binding stays cheap:
/// sqlx looks each SQLite parameter up by name, in time growing with the statement's number of
/// parameters (so quadratic in it), and one statement of a few dozen rows already saves
/// nearly all the round trips.
const MAX_ROW_BINDS: usize = 500;

/// How many rows of `columns` values one multi-row statement takes.
pub fn rows_per_statement(columns: usize) -> usize {
    (MAX_ROW_BINDS / columns).max(1)
}

/// `template` with `{rows}` replaced by `($1, …, $columns), ($columns+1, …)`, `rows` times.
pub fn rows_list(template: &str, rows: usize, columns: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let places: Vec<String> = (1..=columns).map(|c| format!("${}", r * columns + c)).collect();
            format!("({})", places.join(", "))
        })
        .collect();
    template.replace("{rows}", &tuples.join(", "))
}

// ---- users and API keys
// The AAO's `users.full_name` may be NULL (ours is '' then).
pub const SELECT_USER: &str =
    "SELECT id, COALESCE(full_name, '') AS full_name, enabled, role, primary_email FROM users WHERE id = $1";
/// With the identity that names each (the local one first, as the AAO's user list shows them).
pub const SELECT_ENABLED_USERS: &str = "
SELECT id, COALESCE(full_name, '') AS full_name, enabled, role, primary_email,
    (SELECT i.provider FROM user_identities i WHERE i.user_id = users.id
        ORDER BY i.provider <> 'local', i.provider LIMIT 1) AS provider,
    (SELECT i.provider_user_id FROM user_identities i WHERE i.user_id = users.id
        ORDER BY i.provider <> 'local', i.provider LIMIT 1) AS username
FROM users WHERE enabled ORDER BY id";
pub const SELECT_KNOWN_USERS: &str = "SELECT id FROM users WHERE id IN ({ids})";
pub const UPSERT_API_KEY: &str = "
INSERT INTO api_keys (key_id, user_id, secret_hash, created_at, label, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (key_id) DO UPDATE SET user_id = excluded.user_id, secret_hash = excluded.secret_hash,
    label = excluded.label, expires_at = excluded.expires_at";
pub const SELECT_API_KEY: &str = "
SELECT k.key_id, k.user_id, k.secret_hash, k.created_at, k.label, k.expires_at, k.last_used_at,
    u.id, COALESCE(u.full_name, '') AS full_name, u.enabled, u.role, u.primary_email
FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_id = $1";
pub const SELECT_API_KEYS_OF: &str = "
SELECT key_id, user_id, secret_hash, created_at, label, expires_at, last_used_at
FROM api_keys WHERE user_id = $1 ORDER BY created_at, key_id";
pub const DELETE_API_KEY: &str = "DELETE FROM api_keys WHERE key_id = $1";
pub const DELETE_LABELLED_API_KEYS: &str = "DELETE FROM api_keys WHERE user_id = $1 AND label = $2";
/// $1 key, $2 now, $3 since: records the use unless one since $3 is recorded (a write a minute,
/// not one per request).
pub const TOUCH_API_KEY: &str =
    "UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)";

/// The AAO's own API keys (attached only), found by the key's last 6 characters.
pub const SELECT_AAO_API_KEYS: &str = "
SELECT k.hashed_key, u.id, COALESCE(u.full_name, '') AS full_name, u.enabled, u.role, u.primary_email
FROM public.api_keys k JOIN users u ON u.id = k.user_id WHERE k.suffix = $1";

// ---- sign-in: the AAO's local identities and failed sign-ins per username
pub const SELECT_LOCAL_IDENTITY: &str = "
SELECT i.user_id, i.provider, i.provider_user_id, i.password, CAST(i.created_at AS BIGINT) AS created_at,
    u.id, COALESCE(u.full_name, '') AS full_name, u.enabled, u.role, u.primary_email
FROM user_identities i JOIN users u ON u.id = i.user_id
WHERE i.provider = 'local' AND i.provider_user_id = $1";
/// $1 user, $2 username (NULL: keep the identity's, or the user id for a new one), $3 hash, $4 now.
pub const UPSERT_LOCAL_PASSWORD: &str = "
INSERT INTO user_identities (user_id, provider, provider_user_id, password, created_at)
VALUES ($1, 'local', COALESCE($2, $1), $3, $4)
ON CONFLICT (user_id, provider) DO UPDATE SET
    provider_user_id = COALESCE($2, user_identities.provider_user_id), password = excluded.password
RETURNING provider_user_id";
/// A compare-and-set, so an upgrade at sign-in never overwrites a password set meanwhile.
pub const REPLACE_LOCAL_PASSWORD: &str =
    "UPDATE user_identities SET password = $3 WHERE user_id = $1 AND provider = 'local' AND password = $2";
/// Counts an attempt ($1 username, $2 now) unless the username is locked out: `$4` failures or more
/// with the last after `$5` (now - lockout). A count whose last failure is before `$3` (now -
/// window) starts again. One statement, so concurrent attempts each see the ones before them.
pub const COUNT_SIGN_IN_ATTEMPT: &str = "
INSERT INTO failed_sign_ins (username, failures, last_failed_at) VALUES ($1, 1, $2)
ON CONFLICT (username) DO UPDATE SET
    failures = CASE WHEN failed_sign_ins.last_failed_at < $3 THEN 1 ELSE failed_sign_ins.failures + 1 END,
    last_failed_at = $2
WHERE failed_sign_ins.failures < $4 OR failed_sign_ins.last_failed_at <= $5
RETURNING failures";
pub const SELECT_LAST_FAILURE: &str = "SELECT last_failed_at FROM failed_sign_ins WHERE username = $1";
/// $1 the key, $2 the key and a line feed: the key's own count and those of the keys $2 begins (a
/// username's, from every address).
pub const CLEAR_FAILED_SIGN_INS: &str =
    "DELETE FROM failed_sign_ins WHERE username = $1 OR substr(username, 1, length($2)) = $2";
pub const PURGE_FAILED_SIGN_INS: &str = "DELETE FROM failed_sign_ins WHERE last_failed_at < $1";

// ---- signed-in sessions: a session token names its row; the row's going ends the session
pub const INSERT_SESSION: &str =
    "INSERT INTO sign_in_sessions (session_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const SESSION_ALIVE: &str =
    "SELECT 1 FROM sign_in_sessions WHERE session_id = $1 AND user_id = $2 AND expires_at > $3";
pub const END_SESSION: &str = "DELETE FROM sign_in_sessions WHERE session_id = $1";
pub const END_SESSIONS_OF: &str = "DELETE FROM sign_in_sessions WHERE user_id = $1";
/// Only `enabled`: attached to the AAO's database, enabling a user writes nothing else of theirs.
pub const SET_USER_ENABLED: &str = "UPDATE users SET enabled = $2 WHERE id = $1";
pub const PURGE_SESSIONS: &str = "DELETE FROM sign_in_sessions WHERE expires_at <= $1";
pub const UPSERT_LAST_SIGN_IN: &str = "
INSERT INTO last_sign_ins (user_id, signed_in_at) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET signed_in_at = excluded.signed_in_at";

// ---- identities of an identity provider (OpenID Connect), as the AAO's API writes them
pub const SELECT_PROVIDER_IDENTITY: &str = "
SELECT u.id, COALESCE(u.full_name, '') AS full_name, u.enabled, u.role, u.primary_email
FROM user_identities i JOIN users u ON u.id = i.user_id
WHERE i.provider = $1 AND i.provider_user_id = $2
ORDER BY i.created_at, u.id LIMIT 1";
/// PostgreSQL: first sign-ins of one subject, one at a time (the AAO's `user_identities` has no
/// unique key on it to stop a second user being made), until the transaction ends.
pub const LOCK_PROVIDER_SUBJECT: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(10) || $2, 0))";
/// $1 user, $2 name, $3 email: what the provider says now, each kept when it says nothing.
pub const REFRESH_USER_PROFILE: &str = "
UPDATE users SET full_name = COALESCE($2, full_name), primary_email = COALESCE($3, primary_email)
WHERE id = $1 AND (full_name IS DISTINCT FROM COALESCE($2, full_name)
    OR primary_email IS DISTINCT FROM COALESCE($3, primary_email))";
/// A new user waits for an administrator: not enabled, role `user` (as the AAO's API creates one,
/// with no name when the provider gave none: NULL in its `users`, '' in ours).
pub const INSERT_WAITING_USER: &str =
    "INSERT INTO users (id, full_name, enabled, role, primary_email) VALUES ($1, $2, $3, 'user', $4)";
pub const INSERT_WAITING_USER_NAMED: &str =
    "INSERT INTO users (id, full_name, enabled, role, primary_email) VALUES ($1, COALESCE($2, ''), $3, 'user', $4)";
/// $4 is epoch seconds, as the AAO's API writes `created_at`.
pub const INSERT_PROVIDER_IDENTITY: &str = "
INSERT INTO user_identities (user_id, provider, provider_user_id, password, created_at) VALUES ($1, $2, $3, NULL, $4)";

// ---- the administrators' list of users
pub const SELECT_USERS_WITH_LAST_SIGN_IN: &str = "
SELECT u.id, COALESCE(u.full_name, '') AS full_name, u.enabled, u.role, u.primary_email, l.signed_in_at
FROM users u LEFT JOIN last_sign_ins l ON l.user_id = u.id";
pub const SELECT_ALL_IDENTITIES: &str = "SELECT user_id, provider, provider_user_id FROM user_identities";

// ---- rate limits

/// Counts one hit in bucket $1's window starting at $2 (ending at $3) and answers the window's
/// hits, this one included: one statement, so concurrent hits each see the ones before them.
pub const COUNT_HIT: &str = "
INSERT INTO rate_limits (bucket, window_start, window_end, hits) VALUES ($1, $2, $3, 1)
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
RETURNING hits";
pub const PURGE_HITS: &str = "DELETE FROM rate_limits WHERE window_end <= $1";

// ---- exports
/// Makes a creator's concurrent `create_export`s take turns, so that together they cannot pass
/// the limit on exports in flight: `{lock}` is `FOR NO KEY UPDATE` on PostgreSQL and empty on
/// SQLite (where `BEGIN IMMEDIATE` already lets one writer in at a time).
pub const LOCK_CREATOR: &str = "SELECT id FROM users WHERE id = $1 {lock}";
pub const COUNT_IN_FLIGHT: &str =
    "SELECT COUNT(*) FROM exports WHERE creator_id = $1 AND status IN ('pending', 'processing')";
pub const INSERT_EXPORT: &str = "
INSERT INTO exports (export_id, creator_id, include_images, query_string, status, created_at, updated_at, attempt, max_retries, field_paths)
VALUES ($1, $2, $3, $4, 'pending', $5, $5, 1, $6, $7)";
pub const INSERT_EXPORT_FIELD: &str = "INSERT INTO export_fields (export_id, field_id, position) VALUES ($1, $2, $3)";

/// Exports are loaded by a subquery of their ids (`{ids}`) in one query whatever their number: the
/// rows with their field paths, their shares, joined by U+001F by `{shares}` (the backend's
/// string aggregate), and how many downloads were recorded (counted on the index
/// `export_downloads_export`).
pub const SELECT_EXPORTS: &str = "
SELECT export_id, creator_id, include_images, query_string, field_paths, status, object_location, created_at, updated_at,
    started_at, completed_at, message, attempt, max_retries, lease_owner, lease_expires_at, progress_processed,
    progress_total, size_bytes, ad_count, image_count,
    (SELECT {shares} FROM shared_exports s WHERE s.export_id = exports.export_id) AS shared_with,
    (SELECT COUNT(*) FROM export_downloads d WHERE d.export_id = exports.export_id) AS download_count
FROM exports WHERE export_id IN ({ids}) ORDER BY created_at DESC, export_id";
pub const IDS_ONE: &str = "SELECT export_id FROM exports WHERE export_id = $1";
pub const IDS_VISIBLE_TO: &str =
    "SELECT export_id FROM exports WHERE creator_id = $1 UNION SELECT export_id FROM shared_exports WHERE user_id = $1";
/// A stuck export ($1 = now, $2 = stuck before): pending and untouched since $2, or processing
/// under a lease that ran out; and not rescued since $2.
const STUCK_EXPORT: &str =
    "((status = 'pending' AND updated_at < $2) OR (status = 'processing' AND lease_expires_at < $1))
    AND (rescued_at IS NULL OR rescued_at < $2)";
pub static IDS_TO_RESCUE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT export_id FROM exports WHERE {STUCK_EXPORT}"));
/// A compare-and-set ($3 = the export): of several rescuers, one marks the export and sends.
pub static MARK_RESCUED: LazyLock<String> =
    LazyLock::new(|| format!("UPDATE exports SET rescued_at = $1 WHERE export_id = $3 AND {STUCK_EXPORT}"));

/// Makes a retry take turns with its creator's `create_export`s (as [`LOCK_CREATOR`] does).
pub const LOCK_CREATOR_OF: &str =
    "SELECT id FROM users WHERE id = (SELECT creator_id FROM exports WHERE export_id = $1) {lock}";
/// Back to the start ($2 = now): only from failed, expired, or completed at or before $3 (which
/// reads as expired). Parameters, fields and shares stay.
pub const RETRY_FROM_START: &str = "
UPDATE exports SET status = 'pending', attempt = 1, created_at = $2, updated_at = $2, started_at = NULL,
    completed_at = NULL, message = NULL, progress_processed = 0, progress_total = NULL, size_bytes = NULL,
    ad_count = NULL, image_count = NULL, lease_owner = NULL, lease_expires_at = NULL, rescued_at = NULL,
    object_location = NULL, s3_url = NULL
WHERE export_id = $1 AND (status IN ('failed', 'expired') OR (status = 'completed' AND completed_at <= $3))";
pub const DELETE_EXPORT: &str = "DELETE FROM exports WHERE export_id = $1";
pub const INSERT_SHARE: &str =
    "INSERT INTO shared_exports (export_id, user_id) VALUES ($1, $2) ON CONFLICT (export_id, user_id) DO NOTHING";
pub const DELETE_SHARE: &str = "DELETE FROM shared_exports WHERE export_id = $1 AND user_id = $2";
// ---- downloads: who was handed an export's URL
pub const INSERT_DOWNLOAD: &str =
    "INSERT INTO export_downloads (export_id, user_id, downloaded_at, via) VALUES ($1, $2, $3, $4)";
/// Newest first; of two at the same millisecond, the later recorded first. The name is joined in
/// (a user no longer in `users` has none).
pub const SELECT_DOWNLOADS: &str = "
SELECT d.user_id, u.full_name, d.downloaded_at, d.via FROM export_downloads d LEFT JOIN users u ON u.id = d.user_id
WHERE d.export_id = $1 ORDER BY d.downloaded_at DESC, d.id DESC";
pub const SELECT_SHARES: &str = "SELECT user_id FROM shared_exports WHERE export_id = $1 ORDER BY user_id";

// ---- the worker's side
pub const CLAIM_EXPORT: &str = "
UPDATE exports SET status = 'processing', started_at = $4, updated_at = $4, lease_owner = $3,
    lease_expires_at = $5, progress_processed = 0, progress_total = NULL, message = NULL
WHERE export_id = $1 AND attempt = $2
    AND (status = 'pending' OR (status = 'processing' AND lease_expires_at < $4))";
pub const RENEW_LEASE: &str = "
UPDATE exports SET lease_expires_at = $4, updated_at = $3, progress_processed = $5, progress_total = $6
WHERE export_id = $1 AND lease_owner = $2 AND status = 'processing'";
pub const COMPLETE_EXPORT: &str = "
UPDATE exports SET status = 'completed', completed_at = $3, updated_at = $3, object_location = $4, s3_url = $5,
    size_bytes = $6, ad_count = $7, image_count = $8, progress_processed = $7, progress_total = $7, message = NULL,
    lease_owner = NULL, lease_expires_at = NULL,
    notice_due_at = (SELECT $3 FROM users WHERE users.id = exports.creator_id AND COALESCE(users.primary_email, '') <> ''),
    notice_claimed_until = NULL, notice_attempts = 0, notice_sent_at = NULL
WHERE export_id = $1 AND lease_owner = $2 AND status = 'processing'";
pub const RETRY_EXPORT: &str = "
UPDATE exports SET status = 'pending', updated_at = $3, attempt = $4, message = $5, lease_owner = NULL, lease_expires_at = NULL
WHERE export_id = $1 AND lease_owner = $2 AND status = 'processing'";
pub const FAIL_EXPORT: &str = "
UPDATE exports SET status = 'failed', updated_at = $3, message = $4, lease_owner = NULL, lease_expires_at = NULL,
    notice_due_at = (SELECT $3 FROM users WHERE users.id = exports.creator_id AND COALESCE(users.primary_email, '') <> ''),
    notice_claimed_until = NULL, notice_attempts = 0, notice_sent_at = NULL
WHERE export_id = $1 AND lease_owner = $2 AND status = 'processing'";
pub const EXPIRE_EXPORTS: &str =
    "UPDATE exports SET status = 'expired', updated_at = $2 WHERE status = 'completed' AND completed_at < $1";
pub const SELECT_EXPIRED_FILES: &str =
    "SELECT export_id, object_location FROM exports WHERE status = 'expired' AND object_location IS NOT NULL";

// ---- email notices (the outbox on the export row, migration 0007)
pub const DUE_NOTICES: &str = "
SELECT e.export_id, e.status, e.message, e.ad_count, e.image_count, e.size_bytes, e.completed_at,
    e.notice_attempts, u.primary_email, COALESCE(u.full_name, '') AS full_name
FROM exports e JOIN users u ON u.id = e.creator_id
WHERE e.notice_due_at <= $1 AND e.status IN ('completed', 'failed')
    AND (e.notice_claimed_until IS NULL OR e.notice_claimed_until < $1)
ORDER BY e.notice_due_at LIMIT $2";
pub const CLAIM_NOTICE: &str = "
UPDATE exports SET notice_claimed_until = $3, notice_attempts = notice_attempts + 1
WHERE export_id = $1 AND notice_due_at <= $2 AND (notice_claimed_until IS NULL OR notice_claimed_until < $2)";
pub const NOTICE_SENT: &str =
    "UPDATE exports SET notice_sent_at = $2, notice_due_at = NULL, notice_claimed_until = NULL WHERE export_id = $1";
pub const NOTICE_NOT_SENT: &str =
    "UPDATE exports SET notice_due_at = $2, notice_claimed_until = NULL WHERE export_id = $1";
pub const FORGET_FILE: &str = "UPDATE exports SET object_location = NULL, s3_url = NULL WHERE export_id = $1";

// ---- the database queue
pub const QUEUE_SEND: &str = "INSERT INTO job_queue (body, sent_at, visible_at) VALUES ($1, $2, $3)";
/// `{lock}` is `FOR UPDATE SKIP LOCKED` on PostgreSQL (concurrent receivers skip each other's
/// rows) and empty on SQLite (one writer at a time already).
pub const QUEUE_RECEIVE: &str = "
UPDATE job_queue SET visible_at = $1, receive_count = receive_count + 1, receipt = $2
WHERE message_id IN (
    SELECT message_id FROM job_queue WHERE NOT dead AND visible_at <= $3
    ORDER BY visible_at, message_id LIMIT $4 {lock})
RETURNING message_id, body, receive_count, receipt";
pub const QUEUE_DELETE: &str = "DELETE FROM job_queue WHERE message_id = $1 AND receipt = $2";
pub const QUEUE_CHANGE_VISIBILITY: &str = "UPDATE job_queue SET visible_at = $3 WHERE message_id = $1 AND receipt = $2";
pub const QUEUE_BURY: &str = "UPDATE job_queue SET dead = TRUE WHERE message_id = $1 AND receipt = $2";
pub const QUEUE_DEPTH: &str = "SELECT COALESCE(SUM(CASE WHEN dead THEN 0 ELSE 1 END), 0) AS live, COALESCE(SUM(CASE WHEN dead THEN 1 ELSE 0 END), 0) AS dead FROM job_queue";
