//! Our migrations, embedded by `build.rs` and read as `sqlx::migrate!` reads a folder: the file
//! `0004_identities.sql` is version 4, "identities"; a file that starts with `-- no-transaction`
//! runs outside a transaction. The checksum is sqlx's own (SHA-384 of the text), so databases
//! migrated by earlier builds, which used `migrate!`, see the same migrations.
use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

mod files {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Which of our folders of migrations.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Set {
    Sqlite,
    Postgres,
    /// Ours beside the Ad Observatory's tables, in a schema of our own.
    Attached,
}

pub(crate) fn migrator(set: Set) -> Migrator {
    let files = match set {
        Set::Sqlite => files::SQLITE,
        Set::Postgres => files::POSTGRES,
        Set::Attached => files::ATTACHED,
    };
    Migrator::with_migrations(files.iter().map(|&(name, sql)| migration(name, sql)).collect())
}

fn migration(name: &str, sql: &'static str) -> Migration {
    // The names are ours and checked by a test below; a wrong one is a build mistake.
    let (version, description) = name
        .trim_end_matches(".sql")
        .split_once('_')
        .unwrap_or_else(|| panic!("migration {name} is not named VERSION_DESCRIPTION.sql"));
    let version = version.parse().unwrap_or_else(|_| panic!("migration {name} has no numeric version"));
    let no_tx = sql.starts_with("-- no-transaction");
    Migration::new(
        version,
        description.replace('_', " ").into(),
        MigrationType::Simple,
        SqlStr::from_static(sql),
        no_tx,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn each_folder_reads_as_sqlx_reads_it() {
        for (set, folder) in [(Set::Sqlite, "sqlite"), (Set::Postgres, "postgres"), (Set::Attached, "attached")] {
            let ours: Vec<Migration> = migrator(set).iter().cloned().collect();
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
            let sqlx: Vec<Migration> = sqlx::migrate::resolve_blocking(&path)
                .expect("sqlx reads the folder")
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            assert!(ours.len() >= 3, "{folder}: {} migrations", ours.len());
            assert_eq!(ours.len(), sqlx.len(), "{folder}");
            for (a, b) in ours.iter().zip(&sqlx) {
                assert_eq!(
                    (a.version, &a.description, &a.checksum, a.no_tx, a.migration_type),
                    (b.version, &b.description, &b.checksum, b.no_tx, b.migration_type),
                    "{folder}"
                );
                assert_eq!(a.sql.as_str(), b.sql.as_str(), "{folder}");
            }
            let versions: Vec<i64> = ours.iter().map(|m| m.version).collect();
            assert_eq!(versions, (1..=ours.len() as i64).collect::<Vec<_>>(), "{folder} numbers its files one by one");
        }
    }
}
