//! Attached to the Ad Observatory's own PostgreSQL database (aao-contracts.md §2): recognising
//! its schema before touching anything, and keeping our record of exports in step with the
//! AAO's rows that its API creates and deletes on its own. Our objects live in a schema of our
//! own (`migrations/attached`); the AAO's tables are only ever read and written row by row.

use crate::driver::{On, Pool, query};
use crate::{DbError, Result};
use std::collections::BTreeSet;

/// The AAO's schema, as recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AaoSchema {
    /// The Alembic revision its API last migrated to.
    pub revision: String,
    /// Our schema in the AAO's database.
    pub schema: String,
}

/// The AAO's tables and the columns of each that this service reads or writes.
const REQUIRED: &[(&str, &[&str])] = &[
    ("users", &["id", "full_name", "enabled", "role", "primary_email"]),
    ("user_identities", &["user_id", "provider", "provider_user_id", "password", "created_at"]),
    ("api_keys", &["id", "user_id", "hashed_key", "suffix"]),
    ("tags", &["id", "name"]),
    ("applied_tags", &["observation_id", "tag_id"]),
    ("ad_attributes", &["observation_id", "key", "value", "created_at", "created_by", "modified_at", "modified_by"]),
    ("ad_classifications", &["observation_id", "label", "score"]),
    (
        "exports",
        &[
            "id",
            "creator_id",
            "include_images",
            "query_string",
            "status",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
            "message",
            "object_location",
        ],
    ),
    ("export_fields", &["export_id", "field_id"]),
    ("shared_exports", &["export_id", "user_id"]),
    ("exportable_fields", &["id", "name", "path"]),
];

/// The labels of the AAO's `exportstatus` that our statuses map to.
const STATUSES: &[&str] = &["pending", "processing", "completed", "failed"];

/// A schema name we can put in `search_path` and statements as it is.
pub(crate) fn check_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let usable = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63
        && schema != "public"
        && !schema.starts_with("pg_");
    if usable {
        Ok(())
    } else {
        Err(DbError::Unrecognised(format!(
            "the schema name {schema:?} cannot hold our objects in the Ad Observatory's database: use lower-case \
             letters, digits and '_' (not 'public' or 'pg_…'), e.g. aao_export"
        )))
    }
}

/// Checks that the database holds the AAO's schema as this service relies on it; the error
/// names everything missing.
pub(crate) async fn recognise(pool: &Pool, schema: &str) -> Result<AaoSchema> {
    let revision: Option<String> =
        query("SELECT version_num FROM public.alembic_version LIMIT 1").optional_scalar(pool).await?;
    let rows = query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")
        .fetch_all(pool)
        .await?;
    let mut present = BTreeSet::new();
    for row in &rows {
        present.insert((row.try_get::<String>("table_name")?, row.try_get::<String>("column_name")?));
    }
    let labels: Vec<String> = query(
        "SELECT e.enumlabel::text FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid \
         JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typname = 'exportstatus'",
    )
    .scalars(pool)
    .await?;

    let mut missing = Vec::new();
    if revision.is_none() {
        missing.push("a revision in public.alembic_version".to_string());
    }
    for (table, columns) in REQUIRED {
        if !present.iter().any(|(t, _)| t == table) {
            missing.push(format!("table public.{table}"));
            continue;
        }
        for column in *columns {
            if !present.contains(&(table.to_string(), column.to_string())) {
                missing.push(format!("column public.{table}.{column}"));
            }
        }
    }
    if labels.is_empty() {
        missing.push("type public.exportstatus".into());
    }
    for label in STATUSES.iter().filter(|l| !labels.iter().any(|have| have == *l)) {
        if !labels.is_empty() {
            missing.push(format!("label '{label}' of public.exportstatus"));
        }
    }
    if !missing.is_empty() {
        return Err(DbError::Unrecognised(format!(
            "this database has an Alembic history (the Ad Observatory's?) but not the schema aao-export attaches \
             to: missing {}. Nothing was changed.",
            missing.join(", ")
        )));
    }
    Ok(AaoSchema { revision: revision.unwrap_or_default(), schema: schema.to_string() })
}

/// Brings our record of exports in step with the AAO's table: an export the AAO's API created
/// (its row, its fields; no row of ours yet) is adopted as it stands, attempt 1 and `max_retries`
/// retries; ours whose AAO row the AAO's API deleted go, with their downloads.
pub(crate) async fn sync_exports<'a>(on: impl Into<On<'a>>, max_retries: u32) -> Result<()> {
    let mut on = on.into();
    query(ADOPT_EXPORTS).bind(i64::from(max_retries)).execute(on.reborrow()).await?;
    query(FORGET_DELETED_EXPORTS).execute(on).await?;
    Ok(())
}

/// Adopts one export the AAO's API created, as its queue message describes it; one adopted
/// already (listed before its message came) takes the message's retries and fields (in the
/// message's order) while it has not started.
pub(crate) async fn adopt_export(pool: &Pool, id: uuid::Uuid, max_retries: u32, field_paths: &str) -> Result<()> {
    query(ADOPT_ONE_EXPORT).bind(id).bind(i64::from(max_retries)).bind(field_paths).execute(pool).await?;
    Ok(())
}

const ADOPT_ONE_EXPORT: &str = "
INSERT INTO exports (export_id, creator_id, include_images, query_string, status, object_location, created_at,
    updated_at, started_at, completed_at, message, max_retries, field_paths)
SELECT e.id, e.creator_id, e.include_images, COALESCE(e.query_string, 'null'), CAST(e.status AS TEXT),
    e.object_location, epoch_ms(e.created_at), epoch_ms(e.updated_at), epoch_ms(e.started_at),
    epoch_ms(e.completed_at), e.message, $2, $3
FROM public.exports e WHERE e.id = $1
ON CONFLICT (export_id) DO UPDATE SET max_retries = excluded.max_retries, field_paths = excluded.field_paths
WHERE exports.status = 'pending' AND exports.attempt = 1 AND exports.started_at IS NULL";

/// `$1`: the retries an adopted export gets. Its fields in the AAO's order of paths (the AAO's
/// `export_fields` keeps no order).
const ADOPT_EXPORTS: &str = "
INSERT INTO exports (export_id, creator_id, include_images, query_string, status, object_location, created_at,
    updated_at, started_at, completed_at, message, max_retries, field_paths)
SELECT e.id, e.creator_id, e.include_images, COALESCE(e.query_string, 'null'), CAST(e.status AS TEXT),
    e.object_location, epoch_ms(e.created_at), epoch_ms(e.updated_at), epoch_ms(e.started_at),
    epoch_ms(e.completed_at), e.message, $1,
    COALESCE((SELECT CAST(json_agg(f.path ORDER BY f.path) AS TEXT)
        FROM public.export_fields ef JOIN public.exportable_fields f ON f.id = ef.field_id
        WHERE ef.export_id = e.id), '[]')
FROM public.exports e
WHERE NOT EXISTS (SELECT 1 FROM exports r WHERE r.export_id = e.id)
ON CONFLICT (export_id) DO NOTHING";

const FORGET_DELETED_EXPORTS: &str =
    "DELETE FROM exports r WHERE NOT EXISTS (SELECT 1 FROM public.exports e WHERE e.id = r.export_id)";
