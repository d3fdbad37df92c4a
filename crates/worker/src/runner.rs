//! The job runner (DESIGN.md §7): receives export messages, claims each export with a lease,
//! builds it while a heartbeat keeps the lease and the message alive, then completes it, retries
//! it with backoff, or fails it with a message a person can act on.
//!
//! What makes a job impossible to lose: the message is deleted only once the export reached a
//! state that no longer needs it (completed, failed, retried under a new message, deleted). A
//! worker killed at any instant leaves a message that comes back and a lease that runs out, and
//! the next worker starts over, overwriting the same key.

use crate::archive::{ExportError, ExportJob, JobError, Progress, UploadTarget, build_export};
use crate::failure::{RunError, failure_message, retry_message};
use crate::notify::Notifier;
use aao_export_core::export::{JobMessage, download_name, object_key};
use aao_export_core::time::{human_bytes, millis as ms, now_ms};
use aao_export_db::{CatalogueDb, Claim, ExportRecord, ExportsDb, Finish};
use aao_export_queue::{Queue, Receipt, Received};
use aao_export_stores::{ExportsBacking, ExportsStore};
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How the runner paces itself.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Names this worker in leases and logs.
    pub worker_id: String,
    /// Exports built at the same time by this process.
    pub concurrency: usize,
    /// How long a lease (and a received message's invisibility) lasts without a heartbeat.
    pub lease: Duration,
    /// How often the heartbeat renews the lease, records progress and checks for deletion.
    pub heartbeat: Duration,
    /// Longest wait of one receive (long polling).
    pub poll_wait: Duration,
    /// The first retry waits about this long; each further retry twice as long (with jitter).
    pub backoff_base: Duration,
    /// How fast a job is assumed to go when it must finish before a deadline (a Lambda
    /// invocation): slow on purpose, so that a job sent ahead never runs out of time.
    pub conservative_pace: Pace,
    /// Time kept back before a deadline to abort the upload and record the hand-over.
    pub deadline_margin: Duration,
    /// How long a completed export lives (`EXPORT_EXPIRATION_DAYS`), for the expiry its
    /// `export_details.json` and report state; `None` states none.
    pub expiration: Option<Duration>,
    /// Images larger than this are left out (`EXPORT_MAX_IMAGE_BYTES`).
    pub max_image_bytes: u64,
}

/// A rate of export work, for the time a job needs.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub ads_per_second: f64,
    pub image_bytes_per_second: f64,
}

impl Pace {
    /// Seconds for `ads` ads with `image_bytes` bytes of images.
    pub fn time_for(&self, ads: u64, image_bytes: u64) -> Duration {
        Duration::from_secs_f64(ads as f64 / self.ads_per_second + image_bytes as f64 / self.image_bytes_per_second)
    }
}

impl RunnerSettings {
    pub fn new(concurrency: usize) -> Self {
        Self {
            worker_id: format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple()),
            concurrency: concurrency.max(1),
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
            poll_wait: Duration::from_secs(5),
            backoff_base: Duration::from_secs(10),
            // A twentieth of the measured throughput (BENCHMARKS.md): 34,000 ads/s without
            // images, and images at 25-40 MB/s from S3 on a Lambda.
            conservative_pace: Pace { ads_per_second: 1_500.0, image_bytes_per_second: 8e6 },
            deadline_margin: Duration::from_secs(60),
            expiration: None,
            max_image_bytes: aao_export_core::catalogue::DEFAULT_MAX_IMAGE_BYTES,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}

/// Everything a job needs.
pub struct Runner {
    /// The catalogue the exports read.
    pub catalogue: Arc<dyn CatalogueDb>,
    /// The exports' rows: claims, leases, outcomes.
    pub exports: Arc<dyn ExportsDb>,
    pub queue: Arc<dyn Queue>,
    pub observations: Arc<dyn ObjectStore>,
    /// Where finished ZIPs go.
    pub files: ExportsStore,
    /// Where a job goes that cannot finish before its deadline (a worker without one takes it).
    /// Without it, such a job fails with a message that says what to configure.
    pub long_jobs: Option<Arc<dyn Queue>>,
    /// Sends the email notices a finished job made due (none without email configured).
    pub notices: Option<Arc<Notifier>>,
    pub settings: RunnerSettings,
}

/// What became of a received message once the runner is done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Deleted (or meant to be: a failed delete only brings back a message that is then
    /// dropped): the export reached a state that no longer needs it, or it was no job.
    Deleted,
    /// Left on the queue: it comes back after its visibility timeout (or at once).
    ComesBack,
}

/// How one run of an export ended, before it is recorded.
enum RunOutcome {
    Built(crate::archive::ExportSummary),
    /// The lease was lost (deleted or taken over): nothing to record.
    LostLease,
    /// The worker is shutting down: hand the export back as it is.
    Shutdown,
    /// It would not (or did not) finish before the deadline: hand it to a worker without one.
    OutOfTime(String),
    /// Cannot succeed on a retry.
    Permanent(JobError),
    /// May succeed on a retry.
    Transient(RunError),
}

impl Runner {
    /// Receives and runs jobs until `shutdown` fires; then stops receiving, hands running exports
    /// back to the queue and returns.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.settings.concurrency));
        let mut jobs = tokio::task::JoinSet::new();
        tracing::info!(worker = %self.settings.worker_id, concurrency = self.settings.concurrency, queue = self.queue.backend(), "worker started");
        loop {
            let free = tokio::select! {
                permit = slots.clone().acquire_many_owned(1) => permit.expect("the semaphore is never closed"),
                () = shutdown.cancelled() => break,
            };
            let want = 1 + slots.available_permits() as u32;
            let received = tokio::select! {
                r = self.queue.receive(want.min(10), self.settings.lease, self.settings.poll_wait) => r,
                () = shutdown.cancelled() => break,
            };
            let messages = match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "receiving from the queue failed; trying again shortly");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
            let mut first = Some(free);
            for message in messages {
                let permit = match first.take() {
                    Some(p) => p,
                    None => slots.clone().try_acquire_owned().expect("received no more messages than free slots"),
                };
                let runner = self.clone();
                let stop = shutdown.clone();
                jobs.spawn(async move {
                    runner.handle(message, stop).await;
                    drop(permit);
                    // After the slot is free: a slow mail server delays no export.
                    if let Some(notices) = &runner.notices {
                        notices.send_due().await;
                    }
                });
            }
            while let Some(done) = jobs.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a job task panicked");
                }
            }
        }
        tracing::info!(running = jobs.len(), "worker stopping");
        while jobs.join_next().await.is_some() {}
    }

    /// Handles one message, start to end, with no deadline. Never panics on bad input.
    pub async fn handle(&self, message: Received, shutdown: CancellationToken) -> Settled {
        self.handle_before(message, shutdown, None).await
    }

    /// Handles one message that must be settled before `deadline` (a Lambda invocation's end):
    /// a job that cannot finish in time is handed to the long-job queue, before it starts if its
    /// estimate says so, else when the deadline comes near.
    pub async fn handle_before(
        &self,
        message: Received,
        shutdown: CancellationToken,
        deadline: Option<SystemTime>,
    ) -> Settled {
        let job: JobMessage = match serde_json::from_str(&message.body) {
            Ok(j) => j,
            Err(e) => {
                let preview: String = message.body.chars().take(200).collect();
                tracing::error!(error = %e, body = %preview, "dropping a message that is not an export job");
                return self.ack(&message.receipt).await;
            }
        };
        let span = tracing::info_span!("export", export_id = %job.export_id, attempt = job.attempt);
        self.handle_job(job, message, shutdown, deadline).instrument(span).await
    }

    async fn handle_job(
        &self,
        job: JobMessage,
        message: Received,
        shutdown: CancellationToken,
        deadline: Option<SystemTime>,
    ) -> Settled {
        let owner = &self.settings.worker_id;
        // An export the AAO's own API created (attached to its database) becomes ours to run.
        if let Err(e) = self.exports.adopt_export(job.export_id, job.max_retries, &job.export_parameters.fields).await {
            tracing::warn!(error = %e, "adopting the export failed; it will come back");
            return Settled::ComesBack;
        }
        let now = now_ms();
        let claim =
            self.exports.claim_export(job.export_id, job.attempt, owner, now, now + ms(self.settings.lease)).await;
        let record = match claim {
            Ok(Claim::Claimed(record)) => *record,
            Ok(other) => {
                tracing::info!(outcome = ?other, "dropping the message: nothing to do for this attempt");
                return self.ack(&message.receipt).await;
            }
            Err(e) => {
                // The message comes back after its visibility timeout.
                tracing::warn!(error = %e, "claiming the export failed; it will come back");
                return Settled::ComesBack;
            }
        };
        tracing::info!(receive_count = message.receive_count, "export claimed");
        let key = object_key(&record.creator_id, record.export_id, record.created_at);
        match self.files.clear_interrupted_uploads(&key) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed what an interrupted earlier attempt left behind"),
            Err(e) => tracing::warn!(error = %e, "could not remove an interrupted earlier attempt's staged upload"),
        }
        let outcome = self.build(&record, &key, &message.receipt, &shutdown, deadline).await;
        self.record(&record, &key, outcome, &message.receipt).await
    }

    /// Builds the export under a heartbeat. Cancels itself when the lease is lost or the worker
    /// shuts down.
    async fn build(
        &self,
        record: &ExportRecord,
        key: &str,
        receipt: &Receipt,
        shutdown: &CancellationToken,
        deadline: Option<SystemTime>,
    ) -> RunOutcome {
        let catalogue = match self.catalogue.exportable_fields().await {
            Ok(c) => c,
            Err(e) => return RunOutcome::Transient(RunError::Catalogue(e)),
        };
        let mut job = match ExportJob::new(record.clone(), &catalogue) {
            Ok(job) => job,
            Err(e) => return RunOutcome::Permanent(e),
        };
        // Time left for the build itself, with the margin kept back for the hand-over.
        let time_left = deadline.map(|d| {
            d.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(self.settings.deadline_margin)
        });
        if let Some(time_left) = time_left {
            let totals = match self.catalogue.catalogue_totals(&job.query).await {
                Ok(t) => t,
                Err(e) => return RunOutcome::Transient(RunError::Catalogue(e)),
            };
            let image_bytes = if record.parameters.include_images { totals.image_bytes } else { 0 };
            let needs = self.settings.conservative_pace.time_for(totals.ads, image_bytes);
            if needs > time_left {
                return RunOutcome::OutOfTime(format!(
                    "{} ads{} need about {} s, more than the {} s a Lambda worker has left",
                    totals.ads,
                    if image_bytes > 0 { format!(" with {}", human_bytes(image_bytes)) } else { String::new() },
                    needs.as_secs().max(1),
                    time_left.as_secs()
                ));
            }
        }
        job.expiration = self.settings.expiration;
        job.max_image_bytes = self.settings.max_image_bytes;
        let progress = Arc::new(Progress::default());
        let cancel = CancellationToken::new();
        let lost_lease = CancellationToken::new();
        let out_of_time = CancellationToken::new();
        let path = object_store::path::Path::from(key);
        let heartbeat = self.heartbeat(record, receipt, progress.clone(), cancel.clone(), lost_lease.clone());
        let build = build_export(
            self.catalogue.clone(),
            self.observations.clone(),
            UploadTarget { store: self.files.store.clone(), key: &path, options: self.upload_options(record) },
            &job,
            progress,
            cancel.clone(),
        );
        let stop_on_shutdown = async {
            shutdown.cancelled().await;
            cancel.cancel();
            std::future::pending::<()>().await
        };
        let stop_near_deadline = async {
            match time_left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending().await,
            }
            out_of_time.cancel();
            cancel.cancel();
            std::future::pending::<()>().await
        };
        let result = tokio::select! {
            r = build => r,
            () = heartbeat => unreachable!("the heartbeat runs until the build ends"),
            () = stop_on_shutdown => unreachable!(),
            () = stop_near_deadline => unreachable!(),
        };
        match result {
            Ok(summary) => RunOutcome::Built(summary),
            Err(ExportError::Cancelled) if lost_lease.is_cancelled() => RunOutcome::LostLease,
            Err(ExportError::Cancelled) if out_of_time.is_cancelled() => RunOutcome::OutOfTime(format!(
                "it was still running {} s before the Lambda worker's deadline",
                self.settings.deadline_margin.as_secs()
            )),
            Err(ExportError::Cancelled) => RunOutcome::Shutdown,
            Err(e) => RunOutcome::Transient(e.into()),
        }
    }

    /// Renews the lease and the message's invisibility, and records progress, every heartbeat;
    /// cancels the build when the lease is no longer ours (the export was deleted).
    async fn heartbeat(
        &self,
        record: &ExportRecord,
        receipt: &Receipt,
        progress: Arc<Progress>,
        cancel: CancellationToken,
        lost: CancellationToken,
    ) {
        let owner = &self.settings.worker_id;
        loop {
            tokio::time::sleep(self.settings.heartbeat).await;
            let now = now_ms();
            let processed = progress.processed.load(Ordering::Relaxed);
            let total = progress.total.load(Ordering::Relaxed);
            match self
                .exports
                .renew_lease(record.export_id, owner, now, now + ms(self.settings.lease), processed, total)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("the export was deleted or taken over: stopping");
                    lost.cancel();
                    cancel.cancel();
                }
                Err(e) => tracing::warn!(error = %e, "renewing the lease failed"),
            }
            if let Err(e) = self.queue.change_visibility(receipt, self.settings.lease).await {
                tracing::warn!(error = %e, "extending the message's visibility failed");
            }
        }
    }

    /// On S3 the object carries its download name, so a presigned GET saves as `export_{id}.zip`.
    fn upload_options(&self, record: &ExportRecord) -> PutMultipartOptions {
        match self.files.backing {
            ExportsBacking::S3 { .. } => {
                let mut attributes = Attributes::new();
                attributes.insert(Attribute::ContentType, "application/zip".into());
                attributes.insert(
                    Attribute::ContentDisposition,
                    format!("attachment; filename=\"{}\"", download_name(record.export_id)).into(),
                );
                PutMultipartOptions { attributes, ..Default::default() }
            }
            ExportsBacking::Local { .. } => PutMultipartOptions::default(),
        }
    }

    /// Records how the run ended and settles the message.
    async fn record(&self, record: &ExportRecord, key: &str, outcome: RunOutcome, receipt: &Receipt) -> Settled {
        let owner = &self.settings.worker_id;
        let id = record.export_id;
        // A completed export is recorded as completed when its archive says it was
        // (`export_details.json`, the report): one moment, taken once, before the upload ended.
        let mut finished_at = now_ms();
        let finish = match outcome {
            RunOutcome::Built(summary) => {
                finished_at = summary.completed_at;
                Finish::Completed {
                    object_location: key.to_string(),
                    s3_url: self.files.url_of(key),
                    size_bytes: summary.size_bytes,
                    ad_count: summary.ad_count,
                    image_count: summary.image_count,
                }
            }
            RunOutcome::LostLease => {
                self.remove_object(key).await;
                return self.ack(receipt).await;
            }
            RunOutcome::Shutdown => {
                // Same attempt again, at once, on whichever worker comes next.
                let handed_back = Finish::Retry {
                    next_attempt: record.attempt,
                    message: "interrupted by a worker shutdown; it will resume".into(),
                };
                if let Err(e) = self.exports.finish_export(id, owner, now_ms(), &handed_back).await {
                    tracing::warn!(error = %e, "handing the export back failed; its lease will run out");
                }
                if let Err(e) = self.queue.change_visibility(receipt, Duration::ZERO).await {
                    tracing::warn!(error = %e, "making the message visible again failed");
                }
                return Settled::ComesBack;
            }
            RunOutcome::OutOfTime(why) => match &self.long_jobs {
                Some(long_jobs) => return self.hand_to_long_jobs(record, long_jobs.as_ref(), &why, receipt).await,
                None => Finish::Failed {
                    message: format!(
                        "too large for a Lambda worker: {why}; configure a long-job queue \
                         (EXPORT_LONG_SQS_QUEUE_URL) served by `aao-export worker` on EC2 or ECS"
                    ),
                },
            },
            RunOutcome::Permanent(error) => Finish::Failed { message: error.to_string() },
            RunOutcome::Transient(error) if record.attempt <= record.max_retries => {
                let delay = backoff(self.settings.backoff_base, record.attempt);
                tracing::warn!(%error, retry_in_s = delay.as_secs_f64(), "attempt failed; retrying");
                let next =
                    Finish::Retry { next_attempt: record.attempt + 1, message: retry_message(record, &error, delay) };
                match self.exports.finish_export(id, owner, now_ms(), &next).await {
                    Ok(true) => {
                        let body = JobMessage::for_attempt(record, record.attempt + 1).to_body();
                        if let Err(e) = self.queue.send(&body, delay).await {
                            // The rescuer sends it again once the export has sat pending a while.
                            tracing::warn!(error = %e, "sending the retry failed; the rescuer will");
                        }
                    }
                    Ok(false) => self.remove_object(key).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "recording the retry failed; the message will come back");
                        return Settled::ComesBack;
                    }
                }
                return self.ack(receipt).await;
            }
            RunOutcome::Transient(error) => {
                tracing::error!(%error, attempt = record.attempt, "the export's last attempt failed");
                Finish::Failed { message: failure_message(record, &error) }
            }
        };
        match self.exports.finish_export(id, owner, finished_at, &finish).await {
            Ok(true) => match &finish {
                Finish::Completed { size_bytes, ad_count, .. } => {
                    tracing::info!(size_bytes, ad_count, "export completed")
                }
                _ => tracing::warn!(outcome = ?finish, "export failed"),
            },
            Ok(false) => {
                tracing::info!("the export was deleted while it finished: removing its file");
                self.remove_object(key).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording the outcome failed; the message will come back");
                return Settled::ComesBack;
            }
        }
        self.ack(receipt).await
    }

    /// Hands the export, as the same attempt, to the long-job queue: pending again, with a
    /// message there; this one is deleted. Nothing was uploaded (a build stopped by the deadline
    /// aborted its upload).
    async fn hand_to_long_jobs(
        &self,
        record: &ExportRecord,
        long_jobs: &dyn Queue,
        why: &str,
        receipt: &Receipt,
    ) -> Settled {
        let handed =
            Finish::Retry { next_attempt: record.attempt, message: format!("handed to the long-job worker: {why}") };
        match self.exports.finish_export(record.export_id, &self.settings.worker_id, now_ms(), &handed).await {
            Ok(true) => {}
            Ok(false) => return self.ack(receipt).await, // deleted meanwhile
            Err(e) => {
                tracing::warn!(error = %e, "handing the export over failed; the message will come back");
                return Settled::ComesBack;
            }
        }
        let body = JobMessage::for_attempt(record, record.attempt).to_body();
        match long_jobs.send(&body, Duration::ZERO).await {
            Ok(()) => tracing::info!(%why, "handed to the long-job queue"),
            // Pending without a live message: the rescuer sends it again (to the main queue,
            // whose worker hands it over once more).
            Err(e) => tracing::warn!(error = %e, "sending to the long-job queue failed; the rescuer will resend"),
        }
        self.ack(receipt).await
    }

    async fn remove_object(&self, key: &str) {
        match self.files.store.delete(&object_store::path::Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(error = %e, key, "removing the export's file failed"),
        }
    }

    /// Deletes the message: the export no longer needs it.
    async fn ack(&self, receipt: &Receipt) -> Settled {
        if let Err(e) = self.queue.delete(receipt).await {
            tracing::warn!(error = %e, "deleting the message failed; it will come back and be dropped");
        }
        Settled::Deleted
    }
}

/// `base × 2^(attempt-1)`, with ±50 % jitter, capped at the queue's longest delay.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let jitter = 0.5 + rand::random::<f64>();
    exp.mul_f64(jitter).min(aao_export_queue::MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(10);
        for attempt in 1..=4 {
            let d = backoff(base, attempt);
            let nominal = base * (1 << (attempt - 1));
            assert!(d >= nominal / 2 && d <= nominal * 3 / 2, "attempt {attempt}: {d:?}");
        }
        assert_eq!(backoff(base, 30), aao_export_queue::MAX_DELAY.min(backoff(base, 30)));
        assert!(backoff(base, 30) <= aao_export_queue::MAX_DELAY);
    }
}
