//! The job runner against a real database queue (SQLite always, PostgreSQL when configured):
//! a job completes into one valid ZIP; an exports store that fails makes it retry with growing
//! attempts and then succeed, or fail with a message after `max_retries`; a message for a
//! deleted export and a poison message are dropped without blocking the queue; deleting a running
//! export cancels it and leaves no file; an export whose query cannot run fails at once.

use crate::common;

use aao_export_core::export::{ExportParameters, ExportStatus, JobMessage, object_key};
use aao_export_db::{CreateOutcome, Database, ExportRecord, NewExport, User};
use aao_export_demo::{DemoConfig, SeedProgress, seed_demo_data};
use aao_export_queue::{DbQueue, Queue};
use aao_export_stores::{ExportsBacking, ExportsStore, open_store};
use aao_export_testkit::TestDatabase;
use aao_export_worker::index::index_observations;
use aao_export_worker::runner::{Runner, RunnerSettings};
use common::FailingUploads;
use object_store::ObjectStore;
use serde_json::json;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One test's world: a database with demo data, a queue, stores, and a runner.
struct World {
    _db: TestDatabase,
    storage: Arc<dyn Database>,
    queue: Arc<DbQueue>,
    exports_dir: tempfile::TempDir,
    _observations_dir: tempfile::TempDir,
    observations: Arc<dyn ObjectStore>,
}

impl World {
    async fn new(db: TestDatabase, ads: usize) -> World {
        let storage = db.storage.clone();
        let observations_dir = tempfile::tempdir().unwrap();
        let observations = open_store(observations_dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let quiet = |_: u64| {};
        let config = DemoConfig { ads, images_per_ad: 3, seed: 11 };
        seed_demo_data(storage.as_ref(), observations.clone(), &config, SeedProgress { written: &quiet })
            .await
            .unwrap();
        index_observations(storage.clone(), observations.clone(), quiet).await.unwrap();
        storage
            .put_users(&[User {
                id: "alice".into(),
                full_name: "Alice".into(),
                enabled: true,
                role: "user".into(),
                primary_email: None,
            }])
            .await
            .unwrap();
        let queue = Arc::new(DbQueue::new(storage.clone()));
        World {
            _db: db,
            storage,
            queue,
            exports_dir: tempfile::tempdir().unwrap(),
            _observations_dir: observations_dir,
            observations,
        }
    }

    /// The exports store over the temp folder, optionally wrapped.
    fn exports(&self, wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>) -> ExportsStore {
        let location = self.exports_dir.path().to_str().unwrap().to_string();
        let plain = ExportsStore::open(&location, &Default::default()).unwrap();
        ExportsStore {
            store: wrap(plain.store.clone()),
            location,
            backing: ExportsBacking::Local { root: self.exports_dir.path().into() },
        }
    }

    fn runner(&self, exports: ExportsStore) -> Arc<Runner> {
        self.runner_on(self.queue.clone(), exports, None)
    }

    /// A runner fed by `queue`, handing jobs that cannot meet a deadline to `long_jobs`.
    fn runner_on(
        &self,
        queue: Arc<dyn Queue>,
        exports: ExportsStore,
        long_jobs: Option<Arc<dyn Queue>>,
    ) -> Arc<Runner> {
        let mut settings = RunnerSettings::new(2);
        settings.lease = Duration::from_secs(3);
        settings.heartbeat = Duration::from_millis(200);
        settings.poll_wait = Duration::from_millis(200);
        settings.backoff_base = Duration::from_millis(50);
        Arc::new(Runner {
            catalogue: self.storage.clone(),
            exports: self.storage.clone(),
            queue,
            observations: self.observations.clone(),
            files: exports,
            long_jobs,
            notices: None,
            settings,
        })
    }

    /// A runner over the plain exports store with the given settings.
    fn runner_with_settings(
        &self,
        queue: Arc<dyn Queue>,
        long_jobs: Option<Arc<dyn Queue>>,
        settings: RunnerSettings,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            catalogue: self.storage.clone(),
            exports: self.storage.clone(),
            queue,
            observations: self.observations.clone(),
            files: self.exports(|s| s),
            long_jobs,
            notices: None,
            settings,
        })
    }

    /// Creates an export the way the API does (row and message in one transaction).
    async fn create(&self, query: serde_json::Value, include_images: bool, max_retries: u32) -> ExportRecord {
        let catalogue = self.storage.exportable_fields().await.unwrap();
        let fields: Vec<_> = catalogue.iter().filter(|f| f.is_default).collect();
        let parameters =
            ExportParameters { query, include_images, fields: fields.iter().map(|f| f.path.clone()).collect() };
        let export_id = uuid::Uuid::new_v4();
        let message = JobMessage {
            export_id,
            creator_id: "alice".into(),
            export_parameters: parameters.clone(),
            attempt: 1,
            max_retries,
        };
        let new = NewExport {
            export_id,
            creator_id: "alice".into(),
            parameters,
            field_ids: fields.iter().map(|f| f.field_id).collect(),
            max_retries,
            created_at: aao_export_core::time::now_ms(),
            max_in_flight: 100,
            queue_body: Some(serde_json::to_string(&message).unwrap()),
        };
        match self.storage.create_export(&new).await.unwrap() {
            CreateOutcome::Created(r) => *r,
            other => panic!("not created: {other:?}"),
        }
    }

    /// Polls until the export leaves pending/processing (or is gone).
    async fn settled(&self, id: uuid::Uuid) -> Option<ExportRecord> {
        for _ in 0..600 {
            match self.storage.export(id).await.unwrap() {
                Some(r) if r.status.in_flight() => {}
                other => return other,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("export {id} did not settle in 60 s");
    }

    async fn queue_drained(&self) {
        for _ in 0..100 {
            if self.queue.depth().await.unwrap().0 == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the queue still holds {:?} messages", self.queue.depth().await.unwrap());
    }

    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.exports_dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(path.strip_prefix(self.exports_dir.path()).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

fn start(runner: Arc<Runner>) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let handle = tokio::spawn(runner.run(stop.clone()));
    (stop, handle)
}

async fn stop((token, handle): (CancellationToken, tokio::task::JoinHandle<()>)) {
    token.cancel();
    tokio::time::timeout(Duration::from_secs(20), handle).await.expect("the runner stops").unwrap();
}

/// Reads the ZIP at the export's key and returns its entry names and `export_details.json`.
fn open_zip(world: &World, record: &ExportRecord) -> (Vec<String>, serde_json::Value) {
    let key = object_key(&record.creator_id, record.export_id, record.created_at);
    assert_eq!(record.object_location.as_deref(), Some(key.as_str()));
    let bytes = std::fs::read(world.exports_dir.path().join(&key)).expect("the ZIP is at the export's key");
    assert_eq!(record.size_bytes, Some(bytes.len() as u64));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid ZIP");
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let mut details = String::new();
    zip.by_name("export_details.json").unwrap().read_to_string(&mut details).unwrap();
    (names, serde_json::from_str(&details).unwrap())
}

async fn each_database(test: impl AsyncFn(World)) {
    for db in TestDatabase::all().await {
        let backend = db.storage.backend();
        eprintln!("-- {backend}");
        test(World::new(db, 40).await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_completes_into_one_zip() {
    each_database(async |w| {
        let record = w.create(json!({"method": "ALL"}), true, 3).await;
        let running = start(w.runner(w.exports(|s| s)));
        let done = w.settled(record.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Completed, "{done:?}");
        assert_eq!(done.attempt, 1);
        assert!(done.started_at.is_some() && done.completed_at.is_some() && done.message.is_none());
        let expected = w
            .storage
            .count_matching(&aao_export_core::query::Query::from_json(&json!({"method": "ALL"})).unwrap())
            .await
            .unwrap();
        assert!(expected > 30, "the catalogue holds the demo ads (withdrawn ones are never indexed)");
        assert_eq!(done.ad_count, Some(expected));
        assert_eq!(done.progress_processed, done.ad_count.unwrap());
        let (names, details) = open_zip(&w, &done);
        assert!(names.contains(&"all_data.csv".to_string()));
        assert_eq!(names.iter().filter(|n| n.ends_with("/data.json")).count() as u64, done.ad_count.unwrap());
        assert_eq!(names.iter().filter(|n| n.contains("/image_")).count() as u64, done.image_count.unwrap());
        assert_eq!(details["export_id"], json!(done.export_id));
        assert_eq!(w.files(), vec![done.object_location.clone().unwrap()], "exactly one object, nothing staged");
    })
    .await;
}

/// `export_details.json` (and the report) say when the export was completed; the database
/// records the same moment, not the later one at which the upload ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_and_the_record_agree_on_when_the_export_was_completed() {
    each_database(async |w| {
        let record = w.create(json!({"method": "ALL"}), false, 0).await;
        // Every uploaded part takes 1.1 s, so the upload ends in a later second than the archive.
        let running = start(w.runner(w.exports(flaky(0, Duration::from_millis(1100)))));
        let done = w.settled(record.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Completed, "{done:?}");
        let (_, details) = open_zip(&w, &done);
        let recorded = aao_export_core::time::rfc3339(done.completed_at.unwrap());
        assert_eq!(details["completed_at"], json!(recorded), "{details}");
    })
    .await;
}

fn flaky(failures: usize, part_delay: Duration) -> impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    move |inner| {
        let store =
            if failures > 0 { FailingUploads::first(inner, failures) } else { FailingUploads::slow(inner, part_delay) };
        Arc::new(store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_is_retried_until_it_works() {
    each_database(async |w| {
        let record = w.create(json!({"method": "ALL"}), false, 3).await;
        let running = start(w.runner(w.exports(flaky(2, Duration::ZERO))));
        let done = w.settled(record.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Completed, "{done:?}");
        assert_eq!(done.attempt, 3, "two failed attempts, the third succeeded");
        assert_eq!(done.message, None, "a completed export carries no error");
        open_zip(&w, &done);
        assert_eq!(w.files().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_keeps_failing_fails_the_export_after_max_retries() {
    each_database(async |w| {
        let record = w.create(json!({"method": "ALL"}), false, 2).await;
        let running = start(w.runner(w.exports(flaky(usize::MAX, Duration::ZERO))));
        let done = w.settled(record.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Failed);
        assert_eq!(done.attempt, 3, "the first attempt and max_retries = 2 retries");
        let message = done.message.unwrap();
        let id = record.export_id;
        assert_eq!(
            message,
            format!(
                "the export failed after 3 attempts: saving the file to the exports store failed. If it fails \
                 again, tell the service's administrators this reference: export {id}, attempt 3"
            ),
            "what failed and a reference, never the store's own words"
        );
        assert!(w.files().is_empty(), "no partial file: {:?}", w.files());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_exports_and_poison_messages_are_dropped() {
    each_database(async |w| {
        let deleted = w.create(json!({"method": "ALL"}), false, 3).await;
        w.storage.delete_export(deleted.export_id).await.unwrap();
        w.queue.send("this is not an export job", Duration::ZERO).await.unwrap();
        w.queue.send(r#"{"export_id": "not-a-uuid"}"#, Duration::ZERO).await.unwrap();
        let kept = w.create(json!({"method": "OBSERVER_ID_CONTAINS", "args": ["a"]}), false, 3).await;
        let running = start(w.runner(w.exports(|s| s)));
        let done = w.settled(kept.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Completed, "the good job behind the bad ones ran");
        assert_eq!(
            w.queue.depth().await.unwrap(),
            (0, 0),
            "bad messages were deleted, not dead-lettered after retries"
        );
        assert_eq!(w.files(), vec![done.object_location.unwrap()]);
        assert!(w.storage.export(deleted.export_id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_export_cancels_it_and_leaves_nothing() {
    each_database(async |w| {
        let record = w.create(json!({"method": "ALL"}), true, 3).await;
        // Slow parts keep the export running long enough to delete it midway.
        let running = start(w.runner(w.exports(flaky(0, Duration::from_millis(400)))));
        for _ in 0..200 {
            let r = w.storage.export(record.export_id).await.unwrap().unwrap();
            if r.status == ExportStatus::Processing && r.progress_processed > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        w.storage.delete_export(record.export_id).await.unwrap().expect("deleted while processing");
        w.queue_drained().await;
        stop(running).await;
        assert!(w.files().is_empty(), "no object and no staged upload: {:?}", w.files());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_cannot_run_fails_at_once() {
    each_database(async |w| {
        let record = w.create(json!({"method": "NO_SUCH_METHOD"}), false, 3).await;
        let running = start(w.runner(w.exports(|s| s)));
        let done = w.settled(record.export_id).await.unwrap();
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Failed);
        assert_eq!(done.attempt, 1, "not retried");
        assert!(done.message.unwrap().contains("unknown method \"NO_SUCH_METHOD\""));
    })
    .await;
}

/// The sweeper: a completed export older than the expiry period becomes `expired`, its file goes,
/// its row stays; a second sweep finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_expires_old_exports_and_deletes_their_files() {
    use aao_export_db::Finish;
    use aao_export_worker::upkeep::sweep_once;
    use object_store::ObjectStoreExt;
    each_database(async |w| {
        let exports = w.exports(|s| s);
        let day = 86_400_000;
        let now = aao_export_core::time::now_ms();
        let mut ids = Vec::new();
        for age_days in [10, 1] {
            let record = w.create(json!({"method": "ALL"}), false, 3).await;
            let key = object_key(&record.creator_id, record.export_id, record.created_at);
            exports
                .store
                .put(&object_store::path::Path::from(key.as_str()), b"zip bytes".to_vec().into())
                .await
                .unwrap();
            let done_at = now - age_days * day;
            assert!(matches!(
                w.storage.claim_export(record.export_id, 1, "w", done_at, done_at + 1000).await.unwrap(),
                aao_export_db::Claim::Claimed(_)
            ));
            let finish = Finish::Completed {
                object_location: key,
                s3_url: String::new(),
                size_bytes: 9,
                ad_count: 1,
                image_count: 0,
            };
            assert!(w.storage.finish_export(record.export_id, "w", done_at, &finish).await.unwrap());
            ids.push(record.export_id);
        }
        let report = sweep_once(w.storage.as_ref(), &exports, Duration::from_secs(7 * 86_400)).await.unwrap();
        assert_eq!((report.expired, report.files_deleted, report.files_failed), (1, 1, 0));
        let old = w.storage.export(ids[0]).await.unwrap().expect("the row stays");
        assert_eq!(old.status, ExportStatus::Expired);
        assert_eq!(old.object_location, None);
        let recent = w.storage.export(ids[1]).await.unwrap().unwrap();
        assert_eq!(recent.status, ExportStatus::Completed);
        assert_eq!(w.files(), vec![recent.object_location.unwrap()], "only the recent export's file is left");
        let again = sweep_once(w.storage.as_ref(), &exports, Duration::from_secs(7 * 86_400)).await.unwrap();
        assert_eq!((again.expired, again.files_deleted), (0, 0));
    })
    .await;
}

/// The rescuer: an export left pending without a message (an SQS send that failed after the
/// commit) gets one, and a worker then builds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rescuer_sends_lost_messages_again() {
    use aao_export_worker::upkeep::rescue_once;
    each_database(async |w| {
        let record = w.create(json!({"method": "ALL"}), false, 3).await;
        let received = w.queue.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap();
        assert_eq!(received.len(), 1);
        w.queue.delete(&received[0].receipt).await.unwrap(); // the message is lost
        assert_eq!(
            rescue_once(w.storage.as_ref(), w.queue.as_ref(), Duration::from_secs(3600)).await.unwrap(),
            0,
            "not stuck yet"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let wait = Duration::from_millis(300);
        assert_eq!(rescue_once(w.storage.as_ref(), w.queue.as_ref(), wait).await.unwrap(), 1);
        assert_eq!(
            rescue_once(w.storage.as_ref(), w.queue.as_ref(), wait).await.unwrap(),
            0,
            "rescued once per waiting period"
        );
        let running = start(w.runner(w.exports(|s| s)));
        let done = w.settled(record.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Completed);
    })
    .await;
}

/// Receives the one message waiting on `queue`.
async fn receive_one(queue: &dyn Queue) -> aao_export_queue::Received {
    for _ in 0..50 {
        if let Some(m) = queue.receive(1, Duration::from_secs(30), Duration::ZERO).await.unwrap().pop() {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message arrived");
}

/// A job must finish before a Lambda invocation's deadline. One whose estimate does not fit is
/// handed, as the same attempt and before anything is written, to the long-job queue, where a
/// worker without a deadline completes it; one that runs out of time anyway stops, leaves no
/// object, and goes the same way. Without a long-job queue it fails, saying what to configure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_cannot_meet_the_deadline_go_to_the_long_job_queue() {
    use aao_export_worker::runner::{Pace, Settled};
    use std::time::SystemTime;
    each_database(async |w| {
        // The long-job queue: a second, separate queue (another database's queue table).
        let long_db = TestDatabase::sqlite().await;
        let long_jobs: Arc<dyn Queue> = Arc::new(DbQueue::new(long_db.storage.clone()));
        let main_queue: Arc<dyn Queue> = w.queue.clone();
        let runner = w.runner_on(main_queue.clone(), w.exports(|s| s), Some(long_jobs.clone()));

        // 1. Too large by its estimate: 5 minutes left, a pace of 0.01 ads/s.
        let record = w.create(json!({"method": "ALL"}), true, 3).await;
        let mut slow = runner.settings.clone();
        slow.conservative_pace = Pace { ads_per_second: 0.01, image_bytes_per_second: 1e3 };
        let estimating = w.runner_with_settings(main_queue.clone(), Some(long_jobs.clone()), slow.clone());
        let message = receive_one(main_queue.as_ref()).await;
        let deadline = SystemTime::now() + Duration::from_secs(300);
        let settled = estimating.handle_before(message, CancellationToken::new(), Some(deadline)).await;
        assert_eq!(settled, Settled::Deleted, "the main queue's message is done with");
        let handed = w.storage.export(record.export_id).await.unwrap().unwrap();
        assert_eq!(handed.status, ExportStatus::Pending, "{handed:?}");
        assert_eq!(handed.attempt, 1, "the same attempt");
        assert!(handed.message.as_deref().unwrap().contains("long-job worker"), "{:?}", handed.message);
        assert!(w.files().is_empty(), "nothing written: {:?}", w.files());
        assert_eq!(w.queue.depth().await.unwrap().0, 0);
        // The long-job worker (no deadline) completes it.
        let long_runner = w.runner_on(long_jobs.clone(), w.exports(|s| s), None);
        let settled = long_runner.handle(receive_one(long_jobs.as_ref()).await, CancellationToken::new()).await;
        assert_eq!(settled, Settled::Deleted);
        let done = w.storage.export(record.export_id).await.unwrap().unwrap();
        assert_eq!(done.status, ExportStatus::Completed, "{done:?}");
        assert_eq!(done.attempt, 1);
        let (names, _) = open_zip(&w, &done);
        assert_eq!(names.iter().filter(|n| n.ends_with("/data.json")).count() as u64, done.ad_count.unwrap());

        // 2. Fits the estimate but runs out of time: images come slowly, the deadline's margin
        // is reached mid-stream. The build stops; no object, no staged upload; handed over.
        let record = w.create(json!({"method": "ALL"}), true, 3).await;
        let mut tight = runner.settings.clone();
        tight.deadline_margin = Duration::from_secs(2);
        tight.conservative_pace = Pace { ads_per_second: 1e9, image_bytes_per_second: 1e12 };
        let timed = Arc::new(Runner {
            catalogue: w.storage.clone(),
            exports: w.storage.clone(),
            queue: main_queue.clone(),
            observations: Arc::new(FailingUploads::slow_reads(w.observations.clone(), Duration::from_millis(200))),
            files: w.exports(|s| s),
            long_jobs: Some(long_jobs.clone()),
            notices: None,
            settings: tight,
        });
        let message = receive_one(main_queue.as_ref()).await;
        let deadline = SystemTime::now() + Duration::from_millis(2500);
        let settled = timed.handle_before(message, CancellationToken::new(), Some(deadline)).await;
        assert!(SystemTime::now() < deadline, "settled before the deadline");
        assert_eq!(settled, Settled::Deleted);
        let handed = w.storage.export(record.export_id).await.unwrap().unwrap();
        assert_eq!(handed.status, ExportStatus::Pending, "{handed:?}");
        assert!(handed.message.as_deref().unwrap().contains("deadline"), "{:?}", handed.message);
        assert_eq!(w.files(), vec![done.object_location.clone().unwrap()], "only the first export's ZIP");
        let settled = long_runner.handle(receive_one(long_jobs.as_ref()).await, CancellationToken::new()).await;
        assert_eq!(settled, Settled::Deleted);
        let done2 = w.storage.export(record.export_id).await.unwrap().unwrap();
        assert_eq!(done2.status, ExportStatus::Completed, "{done2:?}");

        // 3. No long-job queue: the export fails with a message that says what to configure.
        let record = w.create(json!({"method": "ALL"}), false, 3).await;
        let alone = w.runner_with_settings(main_queue.clone(), None, slow);
        let message = receive_one(main_queue.as_ref()).await;
        let settled = alone.handle_before(message, CancellationToken::new(), Some(deadline_in(300))).await;
        assert_eq!(settled, Settled::Deleted);
        let failed = w.storage.export(record.export_id).await.unwrap().unwrap();
        assert_eq!(failed.status, ExportStatus::Failed);
        assert!(failed.message.as_deref().unwrap().contains("EXPORT_LONG_SQS_QUEUE_URL"), "{:?}", failed.message);
    })
    .await;
}

fn deadline_in(secs: u64) -> std::time::SystemTime {
    std::time::SystemTime::now() + Duration::from_secs(secs)
}

/// A mail server that is down never fails or delays an export: the job completes, and its
/// notice stays due for a later pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_completes_while_the_mail_server_is_down() {
    use aao_export_worker::notify::{NoticeSettings, Notifier};
    each_database(async |w| {
        let mut alice = w.storage.user("alice").await.unwrap().unwrap();
        alice.primary_email = Some("alice@example.test".into());
        w.storage.put_users(&[alice]).await.unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let notices = Notifier::new(
            w.storage.clone(),
            &format!("smtp://127.0.0.1:{closed}"),
            NoticeSettings::new("https://exports.example.test", "exports@example.test", 7),
        )
        .unwrap();
        let record = w.create(json!({"method": "ALL"}), false, 3).await;
        let mut runner = Arc::into_inner(w.runner(w.exports(|s| s))).unwrap();
        runner.notices = Some(Arc::new(notices));
        let running = start(Arc::new(runner));
        let done = w.settled(record.export_id).await.unwrap();
        w.queue_drained().await;
        stop(running).await;
        assert_eq!(done.status, ExportStatus::Completed, "{done:?}");
        let due = w.storage.due_notices(aao_export_core::time::now_ms() + 3_600_000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "the notice waits for the mail server: {due:?}");
        assert_eq!((due[0].export_id, due[0].attempts), (record.export_id, 1), "tried once, deferred");
    })
    .await;
}

/// Attached to the AAO's database, our worker is the one the AAO's API waits for: an export its
/// API created (its `exports` row, its `export_fields`, its queue message on SQS, in the AAO's
/// shape) is claimed, built into the exports store and completed in the AAO's row; one that keeps
/// failing ends `failed` with a message after the message's `max_retries`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_the_aaos_api_created_are_built_and_recorded_in_its_rows() {
    use aao_export_queue::SqsQueue;
    use aao_export_testkit::{AAO_SEED, AaoDatabase, create_queue, external, s3_region};
    use sqlx::{Connection, Row};
    const ALICE: &str = "c9a48a35-1413-4c60-962d-d57f4d4a6276";
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the SQS queue") else { return };
    let Some(aao) = AaoDatabase::new(&[AAO_SEED]).await else { return };
    let url = aao.url.clone();
    let w = World::new(aao.attach().await, 40).await;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let aws = aao_export_stores::AwsSettings { region: s3_region(), endpoint_url: Some(endpoint.clone()) };
    let queue_url =
        create_queue(&endpoint, &format!("aao-attached-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
    let sqs: Arc<dyn Queue> = Arc::new(SqsQueue::connect(&queue_url, &aws).await);

    // What the AAO's `create_export` does: the row, its fields (another transaction), then the
    // message with the paths asked for and its own MAX_RETRIES.
    let aao_creates = async |db: &mut sqlx::PgConnection, fields: &[&str], max_retries: u32| {
        let id = uuid::Uuid::new_v4();
        let query = json!({"method": "ALL"});
        sqlx::query(
            "INSERT INTO public.exports (id, creator_id, include_images, query_string, status, created_at, updated_at) \
             VALUES ($1, $2, false, $3, 'pending', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
        )
        .bind(id.to_string())
        .bind(ALICE)
        .bind(query.to_string())
        .execute(&mut *db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO public.export_fields (export_id, field_id) SELECT $1, id FROM public.exportable_fields \
             WHERE path = ANY($2)",
        )
        .bind(id.to_string())
        .bind(fields.iter().map(|f| f.to_string()).collect::<Vec<_>>())
        .execute(&mut *db)
        .await
        .unwrap();
        let message = json!({
            "export_id": id.to_string(), "creator_id": ALICE,
            "export_parameters": {"query": query, "include_images": false, "fields": fields},
            "attempt": 1, "max_retries": max_retries,
        });
        sqs.send(&message.to_string(), Duration::ZERO).await.unwrap();
        id
    };
    let aao_row = async |db: &mut sqlx::PgConnection, id: uuid::Uuid| {
        sqlx::query(
            "SELECT status::text AS status, message, object_location, started_at IS NOT NULL AS started, \
             completed_at IS NOT NULL AS completed, completed_at >= started_at AS in_order FROM public.exports WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&mut *db)
        .await
        .unwrap()
    };
    let settled = async |db: &mut sqlx::PgConnection, id: uuid::Uuid| {
        for _ in 0..600 {
            let row = aao_row(db, id).await;
            let status: String = row.get("status");
            if status != "pending" && status != "processing" {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the AAO's export {id} did not settle in 60 s");
    };

    // 1. Built and completed.
    let id = aao_creates(&mut db, &["observation.uuid", "observer.uuid"], 3).await;
    let running = start(w.runner_on(sqs.clone(), w.exports(|s| s), None));
    let row = settled(&mut db, id).await;
    stop(running).await;
    assert_eq!(row.get::<String, _>("status"), "completed", "{:?}", row.get::<Option<String>, _>("message"));
    assert!(row.get::<bool, _>("started") && row.get::<bool, _>("completed") && row.get::<bool, _>("in_order"));
    assert_eq!(row.get::<Option<String>, _>("message"), None);
    let location: String = row.get::<Option<String>, _>("object_location").expect("object_location holds the key");
    assert_eq!(w.files(), vec![location.clone()], "the ZIP is at the AAO row's object_location");
    let done = w.storage.export(id).await.unwrap().unwrap();
    let (names, _) = open_zip(&w, &done);
    assert_eq!(names.iter().filter(|n| n.ends_with("/data.json")).count() as u64, done.ad_count.unwrap());
    assert_eq!(done.parameters.fields, ["observation.uuid", "observer.uuid"], "the message's fields, in order");

    // 2. Failing every time: failed after the message's retries (1), with a message.
    let id = aao_creates(&mut db, &["observation.uuid"], 1).await;
    let running = start(w.runner_on(sqs.clone(), w.exports(flaky(usize::MAX, Duration::ZERO)), None));
    let row = settled(&mut db, id).await;
    stop(running).await;
    assert_eq!(row.get::<String, _>("status"), "failed");
    let message: String = row.get::<Option<String>, _>("message").expect("a message for the AAO's dashboard");
    assert!(message.contains("failed after 2 attempts"), "{message}");
    assert_eq!(row.get::<Option<String>, _>("object_location"), None);
    assert_eq!(w.files(), vec![location], "nothing more written");
}
