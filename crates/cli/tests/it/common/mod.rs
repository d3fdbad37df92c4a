//! The harness the binary's tests share: a working directory with its own environment, running
//! `aao-export` in it, and the externals (PostgreSQL, the S3/SQS emulator) the test command starts.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_aao-export");

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// A working directory with its own database and observations store.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Workdir {
    /// SQLite and a local observations folder, both inside the directory.
    pub fn local() -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("db").join("aao.db").display());
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        let observations = dir.path().join("observations").display().to_string();
        Workdir { dir, env: vec![("DATABASE_URL".into(), db), ("BUCKETS_OBSERVATIONS".into(), observations)] }
    }

    pub fn with(mut self, key: &str, value: &str) -> Workdir {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// `aao-export ARGS` with only this directory's environment (and PATH).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args).current_dir(self.dir.path()).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs `aao-export ARGS` with only this directory's environment (and PATH).
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap_or_else(|e| panic!("running {BIN}: {e}"))
    }

    /// Runs `aao-export ARGS` with `input` on its standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {BIN}: {e}"));
        // Dropping the pipe closes it: the command sees the end of its input.
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success(),
            "aao-export {args:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "aao-export {args:?} panicked:\n{stderr}");
        stdout.into_owned()
    }

    /// Runs and asserts a clean failure: non-zero exit, no panic, the message on stderr.
    pub fn fails(&self, args: &[&str], message: &str) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "aao-export {args:?} should fail\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        assert!(!stderr.contains("panicked"), "aao-export {args:?} panicked:\n{stderr}");
        assert!(
            stderr.contains(message),
            "aao-export {args:?}: stderr should contain {message:?}\n--- stderr\n{stderr}"
        );
        stderr.into_owned()
    }
}

#[allow(unused_imports)]
pub use aao_export_testkit::{check_zip_file as check_zip_externally, create_queue, external, files_under};

/// Creates a bucket with a unique name on the S3 emulator.
pub fn create_bucket(endpoint: &str) -> String {
    aao_export_testkit::create_bucket(endpoint, "cli")
}

// ---------------------------------------------------------------------------------------------
// What the demo data holds, and the check of an exported ZIP against it
// ---------------------------------------------------------------------------------------------

impl Workdir {
    /// The S3/SQS emulator's endpoint and credentials (the AWS variables the test command sets).
    pub fn with_aws(mut self, endpoint: &str) -> Workdir {
        self = self.with("AWS_ENDPOINT_URL", endpoint);
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
            let value = std::env::var(key)
                .unwrap_or_else(|_| if key == "AWS_REGION" { "ap-southeast-2".into() } else { "test".into() });
            self = self.with(key, &value);
        }
        self
    }

    /// Starts a long-running role (`serve`, `api`, `worker`) and, for those with an API, waits
    /// for the address it prints. The process is killed when the value is dropped.
    pub fn spawn(&self, args: &[&str]) -> Service {
        use std::io::BufRead;
        let mut command = Command::new(BIN);
        command.args(args).current_dir(self.dir.path()).env_clear().stdout(std::process::Stdio::piped());
        command.stderr(std::fs::File::create(self.dir.path().join(format!("{}.log", args.join("-")))).unwrap());
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {BIN} {args:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = lines.clone();
        // Reads stdout for good, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                    let _ = tx.send(url.to_string());
                }
                keep.lock().unwrap().push(line);
            }
        });
        let wants_url = args.first().is_some_and(|a| *a == "serve" || *a == "api");
        let url = if wants_url {
            rx.recv_timeout(std::time::Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("{args:?} did not print its address; log: {}", self.log(args)))
        } else {
            String::new()
        };
        Service { child, url, log: self.dir.path().join(format!("{}.log", args.join("-"))), stdout: lines }
    }

    pub fn log(&self, args: &[&str]) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", args.join("-")))).unwrap_or_default()
    }

    /// `users add ID --name NAME --role ROLE`: the API key on the last line.
    pub fn add_user(&self, id: &str, role: &str) -> String {
        let out = self.ok(&["users", "add", id, "--name", &format!("User {id}"), "--role", role]);
        out.lines().last().unwrap().trim().to_string()
    }
}

/// A running `aao-export` process.
pub struct Service {
    pub child: std::process::Child,
    pub url: String,
    pub log: PathBuf,
    /// What it printed so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Service {
    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the process did not stop within 30 s of SIGTERM");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
