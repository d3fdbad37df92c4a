//! The `Queue` story: the SQS semantics the worker relies on, told once and run on every
//! implementation: the database queue on SQLite (always) and on PostgreSQL (`TEST_DATABASE_URL`),
//! and SQS on moto (`TEST_S3_ENDPOINT`, which serves SQS on the same endpoint). With
//! `AAO_REQUIRE_EXTERNAL=1` a missing service fails the test instead of skipping it.
//!
//! Where the backends differ the story says so and asserts what each one does.

use aao_export_queue::{AwsSettings, DbQueue, Queue, QueueError, Received, SqsQueue};
use aao_export_testkit::TestDatabase;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);
/// A little past a 1 s visibility timeout or delay.
const PAST_ONE_SECOND: Duration = Duration::from_millis(1200);

/// The story is mostly waiting for visibility timeouts and delays, so the queues run it side by
/// side; a failing one is named at the end (its panic is printed above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_story_on_every_queue() {
    let sqlite = TestDatabase::sqlite().await;
    let postgres = TestDatabase::postgres().await;
    let mut subjects = vec![db_subject(&sqlite)];
    subjects.extend(postgres.as_ref().map(db_subject));
    if let Some(aws) = sqs_settings("the SQS queue story") {
        subjects.push(sqs_subject(&aws, &sqlite).await);
    }
    let runs: Vec<_> = subjects.into_iter().map(|s| (s.label.clone(), tokio::spawn(story(s)))).collect();
    let mut failed = Vec::new();
    for (label, run) in runs {
        if run.await.is_err() {
            failed.push(label);
        }
    }
    assert!(failed.is_empty(), "the queue story failed on: {failed:?}");
}

/// A fresh queue on moto (dead-lettering after 5 receives), opened by its URL as the
/// configuration would, and a second one that dead-letters after 2.
async fn sqs_subject(aws: &AwsSettings, scratch: &TestDatabase) -> Subject {
    let name = format!("aao-story-{}", uuid::Uuid::new_v4().simple());
    let (url, _) = SqsQueue::create_with_dead_letter(aws, &name, 5).await.unwrap();
    let (poison_url, dead_url) = SqsQueue::create_with_dead_letter(aws, &format!("{name}-p"), 2).await.unwrap();
    // `open` picks SQS for a queue URL (the storage is not used then).
    let queue = aao_export_queue::open(Some(&url), scratch.storage.clone(), aws).await;
    Subject {
        label: "sqs".into(),
        queue,
        poison: Arc::new(SqsQueue::connect(&poison_url, aws).await),
        kind: Kind::Sqs { dead_letter: SqsQueue::connect(&dead_url, aws).await },
    }
}

/// SQS errors name the call and the queue, with the service's own code and message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_errors_are_readable() {
    let Some(aws) = sqs_settings("the SQS error test") else { return };
    let endpoint = aws.endpoint_url.clone().unwrap();
    let url = format!("{endpoint}/123456789012/aao-no-such-queue-{}", uuid::Uuid::new_v4().simple());
    let queue = SqsQueue::connect(&url, &aws).await;
    let Err(error @ QueueError::Sqs { .. }) = queue.send("x", Duration::ZERO).await else {
        panic!("sending to a missing queue must fail")
    };
    let message = error.to_string().trim_start_matches("SQS: ").to_string();
    assert!(message.starts_with(&format!("sending to {url}: ")), "{message}");
    assert!(message.contains("NonExistentQueue") && message.contains("does not exist"), "{message}");
    let error = queue.receive(1, SEC, Duration::ZERO).await.unwrap_err();
    assert!(error.to_string().starts_with("SQS: receiving from "), "{error}");
}

/// The `open` wiring picks the database queue when no SQS URL is configured.
#[tokio::test]
async fn open_without_url_is_the_database_queue() {
    let db = TestDatabase::sqlite().await;
    for url in [None, Some(""), Some("  "), Some("db")] {
        let q = aao_export_queue::open(url, db.storage.clone(), &AwsSettings::default()).await;
        assert_eq!((q.backend(), q.outbox("m").is_some()), ("database", true), "{url:?}");
    }
}

use aao_export_testkit::external;

/// moto's endpoint; credentials come from the environment (`AWS_ACCESS_KEY_ID`, …).
fn sqs_settings(what: &str) -> Option<AwsSettings> {
    let endpoint = external("TEST_S3_ENDPOINT", what)?;
    let region = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "ap-southeast-2".into());
    Some(AwsSettings { region, endpoint_url: Some(endpoint) })
}

struct Subject {
    label: String,
    /// The queue under test, dead-lettering after 5 receives.
    queue: Arc<dyn Queue>,
    /// A queue that dead-letters a message received more than twice.
    poison: Arc<dyn Queue>,
    kind: Kind,
}

enum Kind {
    /// Both database queues work on the one `job_queue` table.
    Db { queue: Arc<DbQueue>, poison: Arc<DbQueue> },
    /// The poison queue's dead-letter queue.
    Sqs { dead_letter: SqsQueue },
}

fn db_subject(db: &TestDatabase) -> Subject {
    let queue = Arc::new(DbQueue::new(db.storage.clone()));
    let poison = Arc::new(DbQueue::with_max_receives(db.storage.clone(), 2));
    Subject {
        label: format!("database on {}", db.storage.backend()),
        queue: queue.clone(),
        poison: poison.clone(),
        kind: Kind::Db { queue, poison },
    }
}

fn bodies(got: &[Received]) -> Vec<&str> {
    got.iter().map(|m| m.body.as_str()).collect()
}

impl Subject {
    /// Nothing is visible (and, on the database, nothing is left at all, live or dead).
    async fn settled(&self, step: &str) {
        let l = &self.label;
        let got = self.queue.receive(10, SEC, Duration::ZERO).await.unwrap();
        assert!(got.is_empty(), "[{l}] {step}: nothing is left visible, got {:?}", bodies(&got));
        if let Kind::Db { queue, .. } = &self.kind {
            assert_eq!(queue.depth().await.unwrap(), (0, 0), "[{l}] {step}: the queue table is empty");
        }
    }

    /// Receives exactly one message, waiting up to `wait` for it.
    async fn one(&self, visibility: Duration, wait: Duration, step: &str) -> Received {
        let got = self.queue.receive(1, visibility, wait).await.unwrap();
        assert_eq!(got.len(), 1, "[{}] {step}: one message, got {:?}", self.label, bodies(&got));
        got.into_iter().next().unwrap()
    }
}

async fn story(s: Subject) {
    let l = s.label.clone();
    let q = s.queue.clone();
    let started = Instant::now();
    match &s.kind {
        Kind::Db { .. } => assert_eq!((q.backend(), q.outbox("m").is_some()), ("database", true), "[{l}]"),
        Kind::Sqs { .. } => assert_eq!((q.backend(), q.outbox("m").is_some()), ("sqs", false), "[{l}]"),
    }
    s.settled("a new queue").await;

    // 1. The exact body makes the round trip; a delete removes it for good (it does not come back
    //    once its visibility would have run out).
    let body =
        "{\"export_id\":\"5f0c\",\"note\":\"h\u{e9}llo \u{2713} \\\"quoted\\\"\\n\",\"attempt\":1}\n  trailing  ";
    q.send(body, Duration::ZERO).await.unwrap();
    let m = s.one(SEC, 2 * SEC, "round trip").await;
    assert_eq!(m.body, body, "[{l}] the body comes back byte for byte");
    assert_eq!(m.receive_count, 1, "[{l}] first receive");
    q.delete(&m.receipt).await.unwrap();
    let start = Instant::now();
    let got = q.receive(10, SEC, Duration::from_millis(1500)).await.unwrap();
    assert!(got.is_empty(), "[{l}] a deleted message never comes back: {:?}", bodies(&got));
    assert!(start.elapsed() >= Duration::from_millis(900), "[{l}] an empty receive waits: {:?}", start.elapsed());
    s.settled("after the round trip").await;

    // 2. A received message is hidden for its visibility, then comes back with a new receipt
    //    and receive count 2.
    q.send("comes back", Duration::ZERO).await.unwrap();
    let first = s.one(SEC, 2 * SEC, "first receive").await;
    assert_eq!((first.body.as_str(), first.receive_count), ("comes back", 1), "[{l}]");
    let got = q.receive(10, SEC, Duration::ZERO).await.unwrap();
    assert!(got.is_empty(), "[{l}] a received message is hidden: {:?}", bodies(&got));
    tokio::time::sleep(PAST_ONE_SECOND).await;
    let second = s.one(SEC, 2 * SEC, "after the visibility ran out").await;
    assert_eq!((second.body.as_str(), second.receive_count), ("comes back", 2), "[{l}] it comes back, received twice");
    assert_ne!(second.receipt, first.receipt, "[{l}] each receive has its own receipt");

    //    The receipt of the earlier receive is stale now. Deleting with it succeeds either way.
    q.delete(&first.receipt).await.unwrap();
    match &s.kind {
        Kind::Db { queue, .. } => {
            // The database queue: a stale receipt deletes nothing; the message comes back again.
            assert_eq!(queue.depth().await.unwrap(), (1, 0), "[{l}] a stale receipt deletes nothing");
            let third = s.one(SEC, 3 * SEC, "after a stale delete").await;
            assert_eq!((third.body.as_str(), third.receive_count), ("comes back", 3), "[{l}]");
            q.delete(&second.receipt).await.unwrap();
            assert_eq!(queue.depth().await.unwrap(), (1, 0), "[{l}] neither does the receipt before the latest");
            q.delete(&third.receipt).await.unwrap();
        }
        Kind::Sqs { .. } => {
            // SQS only promises that the latest receipt deletes ("the request succeeds, but the
            // message might not be deleted" for an older one); moto, like SQS in practice, accepts
            // any receipt the message ever had: the message is gone. The worker relies on neither:
            // it always deletes with the receipt of its own, latest receive.
            tokio::time::sleep(PAST_ONE_SECOND).await;
            let got = q.receive(10, SEC, SEC).await.unwrap();
            assert!(got.is_empty(), "[{l}] moto: an earlier receipt deleted it: {:?}", bodies(&got));
            // Deleting an already deleted message again is not an error.
            q.delete(&second.receipt).await.unwrap();
        }
    }
    s.settled("after the stale receipt").await;

    // 3. change_visibility(0) puts a message back at once; a long one keeps it hidden past its
    //    first visibility (the worker's heartbeat), and its receipt still deletes it.
    q.send("let go", Duration::ZERO).await.unwrap();
    let held = s.one(LONG, 2 * SEC, "held").await;
    assert!(q.receive(10, SEC, Duration::ZERO).await.unwrap().is_empty(), "[{l}] hidden for a minute");
    q.change_visibility(&held.receipt, Duration::ZERO).await.unwrap();
    let again = s.one(SEC, SEC, "let go at once").await;
    assert_eq!((again.body.as_str(), again.receive_count), ("let go", 2), "[{l}] visible again at once");
    q.change_visibility(&again.receipt, LONG).await.unwrap();
    let got = q.receive(10, SEC, Duration::from_millis(1800)).await.unwrap();
    assert!(got.is_empty(), "[{l}] the heartbeat keeps it hidden past its first second: {:?}", bodies(&got));
    q.delete(&again.receipt).await.unwrap();
    s.settled("after the heartbeat").await;

    // 4. A delayed message is not received before its delay.
    let sent = Instant::now();
    q.send("delayed", SEC).await.unwrap();
    let got = q.receive(10, LONG, Duration::ZERO).await.unwrap();
    assert!(got.is_empty(), "[{l}] not yet: {:?}", bodies(&got));
    let m = s.one(LONG, 5 * SEC, "after the delay").await;
    let waited = sent.elapsed();
    assert_eq!((m.body.as_str(), m.receive_count), ("delayed", 1), "[{l}]");
    assert!(waited >= Duration::from_millis(900), "[{l}] received {waited:?} after a 1 s delay");
    q.delete(&m.receipt).await.unwrap();

    // 5. A waiting receive returns as soon as a message arrives, and empty after its wait when
    //    none does.
    let sender = {
        let q = q.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            q.send("while waiting", Duration::ZERO).await.unwrap();
        })
    };
    let start = Instant::now();
    let got = q.receive(10, LONG, 10 * SEC).await.unwrap();
    let waited = start.elapsed();
    sender.await.unwrap();
    assert_eq!(bodies(&got), ["while waiting"], "[{l}] the long poll gets the message");
    assert!(waited >= Duration::from_millis(600), "[{l}] it waited for the send: {waited:?}");
    assert!(waited < 5 * SEC, "[{l}] and returned once it came, long before the 10 s wait: {waited:?}");
    q.delete(&got[0].receipt).await.unwrap();
    let start = Instant::now();
    let got = q.receive(10, LONG, SEC).await.unwrap();
    assert!(got.is_empty(), "[{l}] nothing came: {:?}", bodies(&got));
    assert!(start.elapsed() >= Duration::from_millis(900), "[{l}] after waiting its second: {:?}", start.elapsed());
    s.settled("after the long polls").await;

    // 6. `max` is honoured: 0 means 1, more than 10 means 10.
    let sent: BTreeSet<String> = (0..12).map(|i| format!("batch-{i:02}")).collect();
    for b in &sent {
        q.send(b, Duration::ZERO).await.unwrap();
    }
    let mut seen = Vec::new();
    for (max, expected) in [(0, 1), (50, 10)] {
        let got = q.receive(max, LONG, SEC).await.unwrap();
        assert_eq!(got.len(), expected, "[{l}] receive(max {max})");
        seen.extend(got);
    }
    while seen.len() < sent.len() {
        let got = q.receive(3, LONG, SEC).await.unwrap();
        assert!((1..=3).contains(&got.len()), "[{l}] receive(max 3) got {}", got.len());
        seen.extend(got);
    }
    let seen_bodies: BTreeSet<String> = seen.iter().map(|m| m.body.clone()).collect();
    assert_eq!((seen.len(), &seen_bodies), (sent.len(), &sent), "[{l}] every message once");
    assert!(seen.iter().all(|m| m.receive_count == 1), "[{l}] each received once");
    for m in &seen {
        q.delete(&m.receipt).await.unwrap();
    }
    s.settled("after the batches").await;

    // 7. Two receivers at once never get the same message.
    let sent: BTreeSet<String> = (0..20).map(|i| format!("concurrent-{i:02}")).collect();
    for b in &sent {
        q.send(b, Duration::ZERO).await.unwrap();
    }
    let receiver = |q: Arc<dyn Queue>| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = q.receive(2, LONG, SEC).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                for m in batch {
                    q.delete(&m.receipt).await.unwrap();
                    got.push(m.body);
                }
            }
        })
    };
    let (a, b) = tokio::join!(receiver(q.clone()), receiver(q.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let union: BTreeSet<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(union, sent, "[{l}] together they got all 20");
    assert_eq!(a.len() + b.len(), 20, "[{l}] and none twice: {a:?} / {b:?}");
    s.settled("after the concurrent receivers").await;

    // 8. A message received more than the dead-letter limit (2) is set aside: the third receive
    //    does not return it.
    let p = s.poison.clone();
    p.send("poison", Duration::ZERO).await.unwrap();
    for n in 1..=2 {
        let got = p.receive(10, SEC, 2 * SEC).await.unwrap();
        assert_eq!(
            got.iter().map(|m| (m.body.as_str(), m.receive_count)).collect::<Vec<_>>(),
            [("poison", n)],
            "[{l}] receive {n}"
        );
        tokio::time::sleep(PAST_ONE_SECOND).await;
    }
    let got = p.receive(10, SEC, SEC).await.unwrap();
    assert!(got.is_empty(), "[{l}] the third receive does not return it: {:?}", bodies(&got));
    match &s.kind {
        Kind::Db { poison, queue } => {
            assert_eq!(poison.depth().await.unwrap(), (0, 1), "[{l}] it is dead");
            let got = queue.receive(10, SEC, Duration::ZERO).await.unwrap();
            assert!(got.is_empty(), "[{l}] no queue on the table receives a dead message: {:?}", bodies(&got));
        }
        Kind::Sqs { dead_letter } => {
            let got = dead_letter.receive(10, LONG, 2 * SEC).await.unwrap();
            assert_eq!(bodies(&got), ["poison"], "[{l}] it is in the dead-letter queue");
            dead_letter.delete(&got[0].receipt).await.unwrap();
        }
    }
    eprintln!("[{l}] queue story passed in {:?}", started.elapsed());
}
