//! Grows a catalogue for benchmarks at scale (`scripts/bench-scale.sh`): every ad in it is
//! copied `COPIES` times in SQL, each copy with new ids and keys and an earlier time (an hour
//! apart per copy), its RDO and search text unchanged. Writing and indexing a million RDOs
//! would take longer than the measurements it prepares; the indexer is measured on its own.
//!
//!     cargo run --release -p aao-export-db --example clone_catalogue -- DATABASE_URL COPIES

use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection, raw_sql};

const COLUMNS: &str = "observation_id, observer_id, timestamp, observation_uuid, observed_at, platform, rdo_key, \
                       image_count, image_bytes, rdo_bytes, page_names, categories, search_text";

/// Either database, running SQL text as written.
enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    async fn run(&mut self, sql: String) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(c) => raw_sql(AssertSqlSafe(sql)).execute(c).await.map(drop),
            Db::Postgres(c) => raw_sql(AssertSqlSafe(sql)).execute(c).await.map(drop),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, copies] = args.as_slice() else {
        return Err("usage: clone_catalogue DATABASE_URL COPIES".into());
    };
    let copies: u32 = copies.parse()?;
    let mut db = if url.starts_with("sqlite:") {
        Db::Sqlite(SqliteConnection::connect(url).await?)
    } else {
        Db::Postgres(PgConnection::connect(url).await?)
    };
    db.run("CREATE TEMPORARY TABLE clone_base AS SELECT observation_id FROM catalogue".into()).await?;
    let started = std::time::Instant::now();
    for copy in 1..=copies {
        db.run(format!(
            "BEGIN; \
             INSERT INTO catalogue ({COLUMNS}) SELECT c.observation_id || '-{copy}', c.observer_id, \
             c.timestamp - {copy} * 3600000, c.observation_uuid, c.observed_at - {copy} * 3600.0, c.platform, \
             c.rdo_key || '#{copy}', c.image_count, c.image_bytes, c.rdo_bytes, c.page_names, c.categories, \
             c.search_text FROM catalogue c JOIN clone_base b ON b.observation_id = c.observation_id; \
             INSERT INTO catalogue_documents (observation_id, rdo) SELECT d.observation_id || '-{copy}', d.rdo \
             FROM catalogue_documents d JOIN clone_base b ON b.observation_id = d.observation_id; \
             COMMIT;"
        ))
        .await?;
        eprint!("\rcopy {copy}/{copies} ({:.0} s)", started.elapsed().as_secs_f64());
    }
    eprintln!();
    // As a settled production database would have them.
    db.run("ANALYZE".into()).await?;
    Ok(())
}
