//! Enqueueing a job with the write that needs it, in one call (the crates.io shape): whichever
//! queue is configured, a job is never queued for rows that were not written, nor lost once they
//! were.

use crate::Service;
use aao_export_core::export::JobMessage;
use aao_export_db::{CreateOutcome, RetryOutcome};

/// A write's outcome says whether its rows, and with them the job, were committed (a refused
/// write queues nothing).
pub trait JobWrite {
    fn committed(&self) -> bool;
}

impl JobWrite for CreateOutcome {
    fn committed(&self) -> bool {
        matches!(self, CreateOutcome::Created(_))
    }
}

impl JobWrite for RetryOutcome {
    fn committed(&self) -> bool {
        matches!(self, RetryOutcome::Retried { .. })
    }
}

impl Service {
    /// Runs `write` with the message it must store in its own transaction (the database queue's
    /// outbox row; `None` with SQS), then, if the write committed, delivers the message (SQS
    /// sends it now). A failed send is logged, not returned: the rows are committed, and the
    /// rescuer sends again the message of an export left pending.
    pub(crate) async fn commit_with_job<O: JobWrite, E>(
        &self,
        message: &JobMessage,
        write: impl AsyncFnOnce(Option<String>) -> Result<O, E>,
    ) -> Result<O, E> {
        let body = message.to_body();
        let outcome = write(self.queue.outbox(&body)).await?;
        if outcome.committed()
            && let Err(e) = self.queue.after_commit(&body).await
        {
            tracing::error!(export_id = %message.export_id, error = %e, "queueing an export failed; the rescuer will send it again");
        }
        Ok(outcome)
    }
}
