//! The two periodic chores beside the runner: the sweeper, which expires old exports and deletes
//! their files (the row stays, so its user sees `expired`), and the rescuer, which sends the
//! message again for exports that have none alive (pending too long, or a lease that ran out).

use crate::notify::{NoticeReport, Notifier};
use aao_export_core::export::JobMessage;
use aao_export_core::time::{millis, now_ms};
use aao_export_db::{DbError, ExportsDb, LimitsDb, UsersDb};
use aao_export_queue::{Queue, QueueError};
use aao_export_stores::ExportsStore;
use object_store::ObjectStoreExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SweepReport {
    pub expired: u64,
    pub files_deleted: u64,
    pub files_failed: u64,
}

/// Marks completed exports older than `expiration` as expired and deletes every expired
/// export's file still present. Safe to run from any number of processes.
pub async fn sweep_once(
    storage: &dyn ExportsDb,
    exports: &ExportsStore,
    expiration: Duration,
) -> aao_export_db::Result<SweepReport> {
    let now = now_ms();
    let mut report = SweepReport {
        expired: storage.expire_exports(now.saturating_sub(millis(expiration)), now).await?,
        ..Default::default()
    };
    for file in storage.expired_files().await? {
        match exports.store.delete(&object_store::path::Path::from(file.object_location.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                storage.forget_file(file.export_id).await?;
                report.files_deleted += 1;
            }
            Err(e) => {
                tracing::warn!(export_id = %file.export_id, error = %e, "deleting an expired export's file failed; the next sweep tries again");
                report.files_failed += 1;
            }
        }
    }
    if report != SweepReport::default() {
        tracing::info!(?report, "sweep");
    }
    Ok(report)
}

/// Sends a fresh message for every export that needs one: pending and untouched for
/// `pending_after` (its message was lost, e.g. SQS send failed after the commit), or processing
/// under a lease that ran out (its worker died). An export is rescued at most once per
/// `pending_after`, by one rescuer however many run, so a long backlog does not fill the queue
/// with copies. A copy that still goes out is harmless: a claim is a compare-and-set, and a
/// message for an attempt already taken is dropped. Returns how many messages it sent.
pub async fn rescue_once(
    storage: &dyn ExportsDb,
    queue: &dyn Queue,
    pending_after: Duration,
) -> Result<usize, UpkeepError> {
    let now = now_ms();
    let stuck_before = now.saturating_sub(millis(pending_after));
    let mut sent = 0;
    for record in storage.exports_to_rescue(now, stuck_before).await? {
        if !storage.mark_rescued(record.export_id, now, stuck_before).await? {
            continue; // another rescuer took it, or a worker did
        }
        queue.send(&JobMessage::for_attempt(&record, record.attempt).to_body(), Duration::ZERO).await?;
        tracing::info!(export_id = %record.export_id, status = %record.status, attempt = record.attempt, "re-sent the message of a stuck export");
        sent += 1;
    }
    Ok(sent)
}

/// Why a rescue pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum UpkeepError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The periodic chores, as one process or one Lambda invocation runs them.
pub struct Upkeep {
    pub exports: Arc<dyn ExportsDb>,
    /// Rate-limit windows that have ended are forgotten.
    pub limits: Arc<dyn LimitsDb>,
    /// Signed-in sessions whose tokens have expired are forgotten, and counts of failed sign-ins
    /// older than this (they no longer lock anything).
    pub users: Arc<dyn UsersDb>,
    pub forget_failed_sign_ins_after: Duration,
    pub queue: Arc<dyn Queue>,
    pub files: ExportsStore,
    /// Completed exports older than this expire.
    pub expiration: Duration,
    /// Exports pending (or under a lease that ran out) longer than this get their message again.
    pub pending_after: Duration,
    /// Email notices still due (a worker that died before sending left them); none without email.
    pub notices: Option<Arc<Notifier>>,
}

/// What one upkeep pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UpkeepReport {
    pub sweep: SweepReport,
    pub rescued: usize,
    pub notices: NoticeReport,
    /// Rate-limit windows forgotten.
    pub limit_windows_purged: u64,
    /// Expired sessions forgotten.
    pub sessions_purged: u64,
    /// Counts of failed sign-ins forgotten.
    pub failed_sign_ins_purged: u64,
}

impl Upkeep {
    /// One pass: sweep, rescue, send the notices due, forget ended rate-limit windows, expired
    /// sessions and old counts of failed sign-ins.
    pub async fn once(&self) -> Result<UpkeepReport, UpkeepError> {
        let sweep = sweep_once(self.exports.as_ref(), &self.files, self.expiration).await?;
        let rescued = rescue_once(self.exports.as_ref(), self.queue.as_ref(), self.pending_after).await?;
        let notices = match &self.notices {
            Some(notifier) => notifier.send_due().await,
            None => NoticeReport::default(),
        };
        let limit_windows_purged = self.limits.purge_hits(now_ms()).await?;
        let sessions_purged = self.users.purge_sessions(now_ms()).await?;
        let before = now_ms().saturating_sub(millis(self.forget_failed_sign_ins_after));
        let failed_sign_ins_purged = self.users.purge_failed_sign_ins(before).await?;
        Ok(UpkeepReport { sweep, rescued, notices, limit_windows_purged, sessions_purged, failed_sign_ins_purged })
    }

    /// A pass every `every` until shutdown; a failed pass is logged and the next one tries again.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.once().await {
                tracing::warn!(error = %e, "upkeep failed");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}
