//! What the test suites share (a dev-dependency only, never part of the service): databases of
//! both backends, the external ZIP readers, the S3/SQS emulator, and the rule for external pieces
//! (`AAO_REQUIRE_EXTERNAL=1`: a missing one fails the test instead of skipping it).

mod database;
mod emulator;
pub mod oidc;

pub use database::{AAO_SCHEMA, AAO_SEED, AaoDatabase, TestDatabase};
pub use emulator::{create_bucket, create_queue, open_multipart_uploads, raw_http, s3_region};

use std::path::Path;

/// `AAO_REQUIRE_EXTERNAL=1` (the test command sets it): a missing external piece (PostgreSQL, the
/// S3/SQS emulator) fails the test instead of skipping it.
pub fn require_external() -> bool {
    std::env::var("AAO_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// The value of the environment variable naming an external piece, or `None` (the test skips)
/// when it is unset; a failed assertion instead when [`require_external`].
pub fn external(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(!require_external(), "{var} must be set when AAO_REQUIRE_EXTERNAL=1 ({what})");
            eprintln!("{var} is not set: skipping {what}");
            None
        }
    }
}

/// A command-line tool from the tools venv (`AAO_TOOLS_BIN`, set by scripts/tools.sh) or PATH;
/// `None` (the test skips) when missing, a failed assertion instead when [`require_external`].
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let from_venv = std::env::var_os("AAO_TOOLS_BIN").map(|bin| std::path::PathBuf::from(bin).join(name));
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let found = from_venv.into_iter().chain(from_path).find(|p| p.is_file());
    if found.is_none() {
        assert!(!require_external(), "{name} not found (scripts/tools.sh installs it) and AAO_REQUIRE_EXTERNAL=1");
        eprintln!("{name} not found: skipping (source scripts/tools.sh; aao_tools_up)");
    }
    found
}

/// Runs `$AAO_CHECK_ZIP` (python zipfile, layout walk, unzip -t, 7z t, streaming bsdtar) on a ZIP file.
pub fn check_zip_file(file: &Path) {
    let Some(script) = external("AAO_CHECK_ZIP", "the external ZIP readers") else { return };
    let out =
        std::process::Command::new(&script).arg(file).output().unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success(),
        "check-zip rejected {} ({})\n--- stdout\n{}\n--- stderr\n{}",
        file.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`check_zip_file`] on bytes, written to a temporary file named after `label`.
pub fn check_zip_externally(bytes: &[u8], label: &str) {
    if external("AAO_CHECK_ZIP", "the external ZIP readers").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join(format!("{}.zip", label.replace(|c: char| !c.is_ascii_alphanumeric(), "_")));
    std::fs::write(&file, bytes).expect("writing the ZIP to check");
    check_zip_file(&file);
}

/// Every file under a folder, relative, sorted (to see staging files an object store hides); none
/// when the folder does not exist.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("a readable folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                go(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under the root").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        go(dir, dir, &mut out);
    }
    out.sort();
    out
}
