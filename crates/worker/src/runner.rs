//! The job runner (DESIGN.md §7): receives export messages, claims each export with a lease,
//! builds it while a heartbeat keeps the lease and the message alive, then completes it, retries
//! it with backoff, or fails it with a message a person can act on.
//!
//! What makes a job impossible to lose: the message is deleted only once the export reached a
//! state that no longer needs it (completed, failed, retried under a new message, deleted). A
//! worker killed at any instant leaves a message that comes back and a lease that runs out, and
//! the next worker starts over, overwriting the same key.

use crate::archive::{ExportError, ExportJob, JobError, Progress, UploadTarget, build_export};
use aao_export_core::export::{JobMessage, download_name, object_key};
use aao_export_core::time::{millis as ms, now_ms};
use aao_export_db::{CatalogueDb, Claim, DbError, ExportRecord, ExportsDb, Finish};
use aao_export_queue::{Queue, Receipt, Received};
use aao_export_stores::{ExportsBacking, ExportsStore};
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
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
    /// How long a completed export lives (`EXPORT_EXPIRATION_DAYS`), for the expiry its
    /// `export_details.json` and report state; `None` states none.
    pub expiration: Option<Duration>,
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
            expiration: None,
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
    pub settings: RunnerSettings,
}

/// Why a run may succeed on a retry.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("reading the field catalogue failed: {0}")]
    Catalogue(#[source] DbError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// How one run of an export ended, before it is recorded.
enum RunOutcome {
    Built(crate::archive::ExportSummary),
    /// The lease was lost (deleted or taken over): nothing to record.
    LostLease,
    /// The worker is shutting down: hand the export back as it is.
    Shutdown,
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

    /// Handles one message, start to end. Never panics on bad input.
    pub async fn handle(&self, message: Received, shutdown: CancellationToken) {
        let job: JobMessage = match serde_json::from_str(&message.body) {
            Ok(j) => j,
            Err(e) => {
                let preview: String = message.body.chars().take(200).collect();
                tracing::error!(error = %e, body = %preview, "dropping a message that is not an export job");
                self.ack(&message.receipt).await;
                return;
            }
        };
        let span = tracing::info_span!("export", export_id = %job.export_id, attempt = job.attempt);
        self.handle_job(job, message, shutdown).instrument(span).await
    }

    async fn handle_job(&self, job: JobMessage, message: Received, shutdown: CancellationToken) {
        let owner = &self.settings.worker_id;
        let now = now_ms();
        let claim =
            self.exports.claim_export(job.export_id, job.attempt, owner, now, now + ms(self.settings.lease)).await;
        let record = match claim {
            Ok(Claim::Claimed(record)) => *record,
            Ok(other) => {
                tracing::info!(outcome = ?other, "dropping the message: nothing to do for this attempt");
                self.ack(&message.receipt).await;
                return;
            }
            Err(e) => {
                // The message comes back after its visibility timeout.
                tracing::warn!(error = %e, "claiming the export failed; it will come back");
                return;
            }
        };
        tracing::info!(receive_count = message.receive_count, "export claimed");
        let key = object_key(&record.creator_id, record.export_id, record.created_at);
        match self.files.clear_interrupted_uploads(&key) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed what an interrupted earlier attempt left behind"),
            Err(e) => tracing::warn!(error = %e, "could not remove an interrupted earlier attempt's staged upload"),
        }
        let outcome = self.build(&record, &key, &message.receipt, &shutdown).await;
        self.record(&record, &key, outcome, &message.receipt).await;
    }

    /// Builds the export under a heartbeat. Cancels itself when the lease is lost or the worker
    /// shuts down.
    async fn build(
        &self,
        record: &ExportRecord,
        key: &str,
        receipt: &Receipt,
        shutdown: &CancellationToken,
    ) -> RunOutcome {
        let catalogue = match self.catalogue.exportable_fields().await {
            Ok(c) => c,
            Err(e) => return RunOutcome::Transient(RunError::Catalogue(e)),
        };
        let mut job = match ExportJob::new(record.clone(), &catalogue) {
            Ok(job) => job,
            Err(e) => return RunOutcome::Permanent(e),
        };
        job.expiration = self.settings.expiration;
        let progress = Arc::new(Progress::default());
        let cancel = CancellationToken::new();
        let lost_lease = CancellationToken::new();
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
        let result = tokio::select! {
            r = build => r,
            () = heartbeat => unreachable!("the heartbeat runs until the build ends"),
            () = stop_on_shutdown => unreachable!(),
        };
        match result {
            Ok(summary) => RunOutcome::Built(summary),
            Err(ExportError::Cancelled) if lost_lease.is_cancelled() => RunOutcome::LostLease,
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
    async fn record(&self, record: &ExportRecord, key: &str, outcome: RunOutcome, receipt: &Receipt) {
        let owner = &self.settings.worker_id;
        let id = record.export_id;
        let finish = match outcome {
            RunOutcome::Built(summary) => Finish::Completed {
                object_location: key.to_string(),
                s3_url: self.files.url_of(key),
                size_bytes: summary.size_bytes,
                ad_count: summary.ad_count,
                image_count: summary.image_count,
            },
            RunOutcome::LostLease => {
                self.remove_object(key).await;
                self.ack(receipt).await;
                return;
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
                return;
            }
            RunOutcome::Permanent(error) => Finish::Failed { message: error.to_string() },
            RunOutcome::Transient(error) if record.attempt <= record.max_retries => {
                let delay = backoff(self.settings.backoff_base, record.attempt);
                tracing::warn!(%error, retry_in_s = delay.as_secs_f64(), "attempt failed; retrying");
                let next = Finish::Retry {
                    next_attempt: record.attempt + 1,
                    message: format!(
                        "attempt {} failed ({error}); retrying in {} s",
                        record.attempt,
                        delay.as_secs().max(1)
                    ),
                };
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
                        return;
                    }
                }
                self.ack(receipt).await;
                return;
            }
            RunOutcome::Transient(error) => Finish::Failed {
                message: format!("the export failed after {} attempts; the last error: {error}", record.attempt),
            },
        };
        match self.exports.finish_export(id, owner, now_ms(), &finish).await {
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
                return;
            }
        }
        self.ack(receipt).await;
    }

    async fn remove_object(&self, key: &str) {
        match self.files.store.delete(&object_store::path::Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(error = %e, key, "removing the export's file failed"),
        }
    }

    async fn ack(&self, receipt: &Receipt) {
        if let Err(e) = self.queue.delete(receipt).await {
            tracing::warn!(error = %e, "deleting the message failed; it will come back and be dropped");
        }
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
