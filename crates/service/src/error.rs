//! What a use case can fail with: a refusal the caller can act on (bad input, no access, a limit),
//! or a failure of a part (database, queue, object store). The front doors turn these into their
//! own answers in one place each (HTTP status and the AAO envelope for the API).

use aao_export_db::DbError;
use aao_export_queue::QueueError;

pub use aao_export_core::api::codes;

/// What kind of refusal: each front door maps it to its own answer (HTTP: 400, 401, 403, 404,
/// 405, 409, 410, 413, 415, 416, 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    TooLarge,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    TooMany,
}

/// A refusal the caller can act on: its kind, the AAO code and a sentence naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{comment}: {message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub comment: &'static str,
    pub message: String,
    /// When asking again may succeed, in seconds (a limit's window, a lockout): HTTP's
    /// `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn refuse(kind: RefusalKind, comment: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Refused(Refusal { kind, comment, message: message.into(), retry_after_secs: None })
    }
    /// A limit reached: asking again after `retry_after_secs` may succeed.
    pub fn too_many(comment: &'static str, message: impl Into<String>, retry_after_secs: u64) -> Self {
        ServiceError::Refused(Refusal {
            kind: RefusalKind::TooMany,
            comment,
            message: message.into(),
            retry_after_secs: Some(retry_after_secs),
        })
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::refuse(RefusalKind::BadRequest, codes::INVALID_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refuse(RefusalKind::NotFound, codes::NOT_FOUND, message)
    }
    pub fn forbidden(comment: &'static str, message: impl Into<String>) -> Self {
        Self::refuse(RefusalKind::Forbidden, comment, message)
    }
    pub fn unauthenticated(comment: &'static str, message: impl Into<String>) -> Self {
        Self::refuse(RefusalKind::Unauthenticated, comment, message)
    }

    /// A failure of the exports store on our side that no client can cause or fix (e.g. a link it
    /// signed that cannot travel in a header): logged, answered as a server failure.
    pub fn store_failure(message: impl Into<String>) -> Self {
        ServiceError::Store(object_store::Error::Generic { store: "exports", source: message.into().into() })
    }

    /// True when the service is only busy: the caller should try again shortly.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            ServiceError::Db(DbError::PoolExhausted(_))
                | ServiceError::Queue(QueueError::Database(DbError::PoolExhausted(_)))
        )
    }
}

/// A row that clashes with a stored one is the caller's conflict, not a failure of the service.
pub(crate) fn conflict_or(e: DbError, message: impl FnOnce() -> String) -> ServiceError {
    match e {
        DbError::Duplicate(_) => ServiceError::refuse(RefusalKind::Conflict, codes::CONFLICT, message()),
        other => ServiceError::Db(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_row_is_the_callers_conflict_and_a_full_pool_is_busy() {
        let conflict = conflict_or(DbError::Duplicate(sqlx_row_not_found()), || "export x exists already".into());
        assert!(
            matches!(
                conflict,
                ServiceError::Refused(Refusal { kind: RefusalKind::Conflict, comment: codes::CONFLICT, .. })
            ),
            "{conflict:?}"
        );
        let other = conflict_or(DbError::Corrupt("x".into()), String::new);
        assert!(matches!(other, ServiceError::Db(DbError::Corrupt(_))));
        assert!(ServiceError::Db(DbError::PoolExhausted(sqlx_pool_timed_out())).is_busy());
        assert!(!ServiceError::invalid("x").is_busy());
    }

    fn sqlx_row_not_found() -> aao_export_db::SqlxError {
        aao_export_db::SqlxError::RowNotFound
    }

    fn sqlx_pool_timed_out() -> aao_export_db::SqlxError {
        aao_export_db::SqlxError::PoolTimedOut
    }
}
