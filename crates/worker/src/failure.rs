//! Why an export's run failed, and what its users are told of it: which part failed and a
//! reference to find it in the log, never the part's own words.

use crate::archive::ExportError;
use aao_export_db::{DbError, ExportRecord};
use std::time::Duration;

/// Why a run may succeed on a retry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("reading the field catalogue failed: {0}")]
    Catalogue(#[source] DbError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

impl RunError {
    /// What the export's creator (and whoever it is shared with, and the notice email) is told:
    /// which part failed, never that part's own words (server paths, SDK and driver text), which
    /// go to the log where the run failed.
    pub(crate) fn for_users(&self) -> &'static str {
        match self {
            RunError::Catalogue(_) | RunError::Export(ExportError::Catalogue(_)) => {
                "reading the ads from the database failed"
            }
            RunError::Export(ExportError::Upload(_)) => "saving the file to the exports store failed",
            RunError::Export(ExportError::Archive(_)) => "writing the archive failed",
            RunError::Export(ExportError::Interrupted { .. }) => "the export's work stopped unexpectedly",
            RunError::Export(ExportError::Cancelled) => "the export was cancelled",
        }
    }
}

/// The reference a failed attempt's message gives, to find it in the log.
fn reference(record: &ExportRecord) -> String {
    format!("reference: export {}, attempt {}", record.export_id, record.attempt)
}

/// What an export's users read while it waits for its next attempt.
pub(crate) fn retry_message(record: &ExportRecord, error: &RunError, delay: Duration) -> String {
    format!(
        "attempt {} failed: {}; retrying in {} s ({})",
        record.attempt,
        error.for_users(),
        delay.as_secs().max(1),
        reference(record)
    )
}

/// What an export's users read when its last attempt failed.
pub(crate) fn failure_message(record: &ExportRecord, error: &RunError) -> String {
    let attempts = if record.attempt == 1 { "1 attempt".to_string() } else { format!("{} attempts", record.attempt) };
    format!(
        "the export failed after {attempts}: {}. If it fails again, tell the service's administrators \
         this {}",
        error.for_users(),
        reference(record)
    )
}
