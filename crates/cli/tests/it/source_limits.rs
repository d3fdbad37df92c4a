//! The workspace's size rules, so that no file or function grows past what a reader takes in at
//! once: no source file over 600 lines, no function over 100 lines outside tests. Sources are
//! rustfmt'ed, so a function ends at the first `}` at its own indentation; a file's tests are its
//! `#[cfg(test)]` module at the end, and `tests/` folders are not sources.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 100;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `src` file of every crate.
fn workspace_sources() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(crates).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "the workspace's sources were not found: {files:?}");
    files
}

/// `(first line, lines)` of each function before the file's tests.
fn functions(text: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = text.lines().take_while(|l| l.trim() != "#[cfg(test)]").collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = line.len() - code.len();
        let signature = [
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) async fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .any(|start| code.starts_with(start));
        // A declaration without a body (in a trait) ends in `;` before any `{`.
        let opens = lines[i..].iter().find(|l| l.ends_with('{') || l.ends_with(';'));
        if !signature || opens.is_none_or(|l| l.ends_with(';')) {
            continue;
        }
        let Some(end) = lines[i..].iter().position(|l| {
            let body = l.trim_start();
            l.len() - body.len() == indent && body.starts_with('}')
        }) else {
            continue;
        };
        found.push((i + 1, end + 1, code.chars().take(60).collect()));
    }
    found
}

#[test]
fn no_source_file_is_over_600_lines_and_no_function_over_100() {
    let mut over = Vec::new();
    for file in workspace_sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            over.push(format!("{}: {lines} lines", file.display()));
        }
        // A module of tests in a file of its own (`mod tests;`) is all tests.
        let tests = file.file_name().is_some_and(|n| n == "tests.rs");
        for (at, len, signature) in functions(&text).into_iter().filter(|_| !tests) {
            if len > MAX_FN_LINES {
                over.push(format!("{}:{at}: {len} lines: {signature}", file.display()));
            }
        }
    }
    assert!(over.is_empty(), "over the limits:\n{}", over.join("\n"));
}

#[test]
fn a_function_is_measured_to_its_closing_brace() {
    let text = "fn a() {\n    x;\n}\n    fn declared(\n        z: u8,\n    ) -> u8;\n    pub async fn b(\n        y: u8,\n    ) {\n        if y {\n        }\n    }\n#[cfg(test)]\nfn c() {\n}\n";
    let found: Vec<(usize, usize)> = functions(text).into_iter().map(|(at, len, _)| (at, len)).collect();
    assert_eq!(found, [(1, 3), (7, 6)]);
}

/// Every dependency a crate declares is used by it: its name (as Rust spells it, from
/// `cargo metadata`) appears in the crate's sources, or, for a dev-dependency, in its tests,
/// examples or sources. An unused one only costs build time.
#[test]
fn every_declared_dependency_is_used() {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let mut unused = Vec::new();
    for package in packages {
        let root = Path::new(package["manifest_path"].as_str().unwrap()).parent().unwrap();
        let text_of = |dirs: &[&str]| {
            let mut files = Vec::new();
            for dir in dirs {
                let dir = root.join(dir);
                if dir.is_dir() {
                    sources(&dir, &mut files);
                }
            }
            files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n")
        };
        let src = text_of(&["src"]);
        let all = text_of(&["src", "tests", "examples", "benches"]);
        for dep in package["dependencies"].as_array().unwrap() {
            // `rename` when the manifest renames it, else the library name of the package.
            let name = dep["name"].as_str().unwrap();
            let ident = match dep["rename"].as_str() {
                Some(rename) => rename.replace('-', "_"),
                None => library_name(name),
            };
            let dev = dep["kind"].as_str() == Some("dev");
            let text = if dev { &all } else { &src };
            if !uses(text, &ident) {
                unused.push(format!("{}: {}{name}", package["name"].as_str().unwrap(), if dev { "dev " } else { "" }));
            }
        }
    }
    assert!(unused.is_empty(), "declared but unused:\n{}", unused.join("\n"));
}

/// Whether `ident` appears as a whole word in `text`.
fn uses(text: &str, ident: &str) -> bool {
    text.match_indices(ident).any(|(at, _)| {
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = text[at + ident.len()..].chars().next().is_none_or(|c| !word(c));
        before && after
    })
}

/// The name a crate is used by in code: its library's name, where that is not the package's
/// (read without resolving the dependency graph, which would fetch other platforms' crates).
fn library_name(package: &str) -> String {
    match package {
        "rust-ini" => "ini".into(),
        "md-5" => "md5".into(),
        other => other.replace('-', "_"),
    }
}
