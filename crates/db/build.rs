//! Embeds the migration files as `sqlx::migrate!` would, so that sqlx's `macros` feature (which
//! compiles sqlx's drivers and SQLite's C source a second time, for the compiler) is not needed.
//! Writes `$OUT_DIR/migrations.rs`: one `&[(file name, SQL)]` per folder of `migrations/`.
use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

const SETS: [&str; 3] = ["sqlite", "postgres", "attached"];

fn main() {
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let mut code = String::new();
    for set in SETS {
        let dir = Path::new("migrations").join(set);
        println!("cargo::rerun-if-changed={}", dir.display());
        let mut files: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable folder entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        writeln!(code, "pub(crate) const {}: &[(&str, &str)] = &[", set.to_uppercase()).unwrap();
        for name in files {
            let path = fs::canonicalize(dir.join(&name)).expect("a migration file's full path");
            writeln!(code, "    ({name:?}, include_str!({:?})),", path.display().to_string()).unwrap();
        }
        code.push_str("];\n");
    }
    fs::write(Path::new(&out_dir).join("migrations.rs"), code).expect("writing migrations.rs");
}
