//! Email notices against a real SMTP server on loopback (Python's `aiosmtpd`, writing each
//! message it receives into a Maildir), on SQLite and PostgreSQL: one message per completed
//! export with the page link, one per final failure, none for a creator without an email, none
//! twice when the sender died between recording and sending, and a mail server that is down
//! defers the notice (and finally gives it up) without touching the export.

use aao_export_core::export::{ExportParameters, ExportStatus};
use aao_export_core::time::now_ms;
use aao_export_db::{Claim, CreateOutcome, Database, Finish, NewExport, User};
use aao_export_testkit::{TestDatabase, tool};
use aao_export_worker::notify::{NoticeReport, NoticeSettings, Notifier};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PUBLIC_URL: &str = "https://exports.example.test";

/// aiosmtpd on a free loopback port, storing messages in a Maildir; stopped when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpServer {
    fn start(program: &Path, port: u16) -> SmtpServer {
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new(program)
            .args(["-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child, port, maildir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, as raw text.
    fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join(sub)) {
                for entry in entries {
                    out.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
                }
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of a message with quoted-printable soft line breaks undone (lettre folds long lines).
fn unfolded(message: &str) -> String {
    message.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

fn settings() -> NoticeSettings {
    let mut settings = NoticeSettings::new(PUBLIC_URL, "AAO exports <exports@example.test>", 7);
    settings.retry_base = Duration::from_millis(300);
    settings.timeout = Duration::from_secs(5);
    settings
}

async fn users(storage: &dyn Database) {
    let user = |id: &str, email: Option<&str>| User {
        id: id.into(),
        full_name: format!("{id} Researcher"),
        enabled: true,
        role: "user".into(),
        primary_email: email.map(str::to_string),
    };
    storage.put_users(&[user("alice", Some("alice@example.test")), user("bob", None)]).await.unwrap();
}

/// An export by `creator` that a worker claimed and finished with `finish`.
async fn finished(storage: &dyn Database, creator: &str, finish: Finish) -> uuid::Uuid {
    let catalogue = storage.exportable_fields().await.unwrap();
    let field = catalogue.iter().find(|f| f.is_default).unwrap();
    let export_id = uuid::Uuid::new_v4();
    let new = NewExport {
        export_id,
        creator_id: creator.into(),
        parameters: ExportParameters {
            query: serde_json::json!({"method": "ALL"}),
            include_images: false,
            fields: vec![field.path.clone()],
        },
        field_ids: vec![field.field_id],
        max_retries: 3,
        created_at: now_ms(),
        max_in_flight: 100,
        queue_body: None,
    };
    assert!(matches!(storage.create_export(&new).await.unwrap(), CreateOutcome::Created(_)));
    let now = now_ms();
    assert!(matches!(storage.claim_export(export_id, 1, "w1", now, now + 60_000).await.unwrap(), Claim::Claimed(_)));
    assert!(storage.finish_export(export_id, "w1", now_ms(), &finish).await.unwrap());
    export_id
}

fn completed() -> Finish {
    Finish::Completed {
        object_location: "outputs/x.zip".into(),
        s3_url: "file:///x.zip".into(),
        size_bytes: 2_500_000,
        ad_count: 1234,
        image_count: 99,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notice_per_final_state_to_creators_with_an_email() {
    let Some(program) = tool("aiosmtpd") else { return };
    for db in TestDatabase::all().await {
        eprintln!("-- {}", db.storage.backend());
        let storage = db.storage.clone();
        users(storage.as_ref()).await;
        let smtp = SmtpServer::start(&program, free_port());
        let notifier = Notifier::new(storage.clone(), &smtp.url(), settings()).unwrap();

        let done = finished(storage.as_ref(), "alice", completed()).await;
        let failed =
            finished(storage.as_ref(), "alice", Finish::Failed { message: "the query <b>broke</b>".into() }).await;
        let silent = finished(storage.as_ref(), "bob", completed()).await;
        // Retried attempts make nothing due.
        let _retrying =
            finished(storage.as_ref(), "alice", Finish::Retry { next_attempt: 2, message: "x".into() }).await;

        let report = notifier.send_due().await;
        assert_eq!(report, NoticeReport { sent: 2, deferred: 0, given_up: 0 });
        let messages: Vec<String> = smtp.messages().iter().map(|m| unfolded(m)).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        let ready = messages.iter().find(|m| m.contains(&done.to_string())).expect("the completed export's notice");
        assert!(ready.contains("To: \"alice Researcher\" <alice@example.test>"), "{ready}");
        assert!(ready.contains("Subject: Your Ad Observatory export is ready"), "{ready}");
        assert!(ready.contains(&format!("{PUBLIC_URL}/exports/{done}")), "the page link: {ready}");
        assert!(ready.contains("1234 ads, 99 images, 2.5 MB"), "{ready}");
        assert!(!ready.contains("X-Amz-Signature") && !ready.contains("file:///"), "never a download URL: {ready}");
        let broke = messages.iter().find(|m| m.contains(&failed.to_string())).expect("the failed export's notice");
        assert!(broke.contains("Subject: Your Ad Observatory export failed"), "{broke}");
        assert!(broke.contains("the query <b>broke</b>"), "the message, as plain text: {broke}");
        assert!(!messages.iter().any(|m| m.contains(&silent.to_string())), "bob has no email");

        // Nothing is sent twice.
        assert_eq!(notifier.send_due().await, NoticeReport::default());
        assert_eq!(smtp.messages().len(), 2);
    }
}

/// A worker that recorded the final state and died before sending leaves the notice due: the
/// next senders (two at once here) send it exactly once. One that died after claiming holds it
/// only until its claim runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_left_by_a_dead_sender_goes_out_once() {
    let Some(program) = tool("aiosmtpd") else { return };
    for db in TestDatabase::all().await {
        eprintln!("-- {}", db.storage.backend());
        let storage = db.storage.clone();
        users(storage.as_ref()).await;
        let smtp = SmtpServer::start(&program, free_port());
        let first = Arc::new(Notifier::new(storage.clone(), &smtp.url(), settings()).unwrap());
        let second = Arc::new(Notifier::new(storage.clone(), &smtp.url(), settings()).unwrap());

        let left = finished(storage.as_ref(), "alice", completed()).await;
        let (a, b) = tokio::join!(first.send_due(), second.send_due());
        assert_eq!(a.sent + b.sent, 1, "{a:?} {b:?}");
        assert_eq!(smtp.messages().len(), 1);
        assert!(smtp.messages()[0].contains(&left.to_string()));

        // Claimed by a sender that then died: its claim (1 s here) keeps the others off, then
        // the notice goes out once.
        let claimed = finished(storage.as_ref(), "alice", completed()).await;
        assert!(storage.claim_notice(claimed, now_ms(), now_ms() + 1_000).await.unwrap());
        assert_eq!(first.send_due().await.sent, 0, "under a live claim");
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(first.send_due().await.sent, 1, "the claim ran out");
        assert_eq!(second.send_due().await, NoticeReport::default());
        let messages = smtp.messages();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages.iter().filter(|m| m.contains(&claimed.to_string())).count(), 1);
    }
}

/// A mail server that is down: the export is recorded as it is, the notice is deferred with
/// backoff and sent once the server is back; one that never comes back is given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_is_down_defers_then_gives_up() {
    let Some(program) = tool("aiosmtpd") else { return };
    for db in TestDatabase::all().await {
        eprintln!("-- {}", db.storage.backend());
        let storage = db.storage.clone();
        users(storage.as_ref()).await;
        let port = free_port();
        let notifier = Notifier::new(storage.clone(), &format!("smtp://127.0.0.1:{port}"), settings()).unwrap();

        let id = finished(storage.as_ref(), "alice", completed()).await;
        assert_eq!(storage.export(id).await.unwrap().unwrap().status, ExportStatus::Completed);
        assert_eq!(notifier.send_due().await, NoticeReport { sent: 0, deferred: 1, given_up: 0 });
        assert_eq!(notifier.send_due().await, NoticeReport::default(), "not due again before its backoff");
        let smtp = SmtpServer::start(&program, port);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(notifier.send_due().await, NoticeReport { sent: 1, deferred: 0, given_up: 0 });
        assert_eq!(smtp.messages().len(), 1);
        drop(smtp);

        // Never back: tried max_attempts times, then given up (and never tried again).
        let mut quick = settings();
        quick.max_attempts = 2;
        quick.retry_base = Duration::from_millis(100);
        let notifier = Notifier::new(storage.clone(), &format!("smtp://127.0.0.1:{port}"), quick).unwrap();
        let _abandoned = finished(storage.as_ref(), "alice", completed()).await;
        assert_eq!(notifier.send_due().await.deferred, 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(notifier.send_due().await.given_up, 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(notifier.send_due().await, NoticeReport::default());
        assert!(storage.due_notices(now_ms() + 86_400_000, 10).await.unwrap().is_empty());
    }
}

#[test]
fn bad_smtp_settings_are_named() {
    let storage = tokio::runtime::Runtime::new().unwrap().block_on(TestDatabase::sqlite());
    let e = Notifier::new(storage.storage.clone(), "http://mail", settings()).err().unwrap();
    assert!(e.to_string().contains("EMAIL_SMTP_URL"), "{e}");
    let mut bad_from = settings();
    bad_from.from = "not an address".into();
    let e = Notifier::new(storage.storage.clone(), "smtp://127.0.0.1:25", bad_from).err().unwrap();
    assert!(e.to_string().contains("EMAIL_FROM \"not an address\""), "{e}");
}
