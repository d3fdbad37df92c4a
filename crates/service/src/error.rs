//! What a use case can fail with: a refusal the caller can act on (bad input, no access, a limit),
//! or a failure of a part (database, queue, object store). The front doors turn these into their
//! own answers in one place each (HTTP status and the AAO envelope for the API).

use aao_export_db::DbError;
use aao_export_queue::QueueError;

/// What kind of refusal: each front door maps it to its own answer (HTTP: 400, 401, 403, 404,
/// 409, 410, 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    Gone,
    TooMany,
}

macro_rules! refusal_codes {
    ($($(#[$doc:meta])* $code:ident = $text:literal, $kind:ident;)*) => {
        /// What a use case refuses, as the AAO envelope's `comment` says it; each code has its one
        /// kind, so the two cannot disagree.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $code,)*
        }

        impl Code {
            /// Every code, in the order the API's description lists them.
            pub const ALL: &[Code] = &[$(Code::$code),*];

            /// The code as the envelope's `comment` says it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => $text,)*
                }
            }

            /// What kind of refusal it is.
            pub fn kind(self) -> RefusalKind {
                match self {
                    $(Code::$code => RefusalKind::$kind,)*
                }
            }
        }
    };
}

refusal_codes! {
    InvalidRequest = "INVALID_REQUEST", BadRequest;
    UnknownUsers = "UNKNOWN_USERS", BadRequest;
    NoValidAuthentication = "NO_VALID_AUTHENTICATION", Unauthenticated;
    InvalidApiKey = "INVALID_API_KEY", Unauthenticated;
    SessionTokenExpired = "SESSION_TOKEN_EXPIRED", Unauthenticated;
    /// A session's token after the session was ended (signed out, a new password).
    SessionEnded = "SESSION_ENDED", Unauthenticated;
    Unauthorised = "UNAUTHORISED", Unauthenticated;
    UserNotFound = "USER_NOT_FOUND", Unauthenticated;
    UserDisabled = "USER_DISABLED", Forbidden;
    Forbidden = "FORBIDDEN", Forbidden;
    InvalidSignature = "INVALID_SIGNATURE", Forbidden;
    NotFound = "NOT_FOUND", NotFound;
    LinkExpired = "LINK_EXPIRED", Gone;
    ExportExpired = "EXPORT_EXPIRED", Gone;
    Conflict = "CONFLICT", Conflict;
    TooManyExports = "TOO_MANY_EXPORTS", TooMany;
    NotRetryable = "NOT_RETRYABLE", Conflict;
    /// A download asked of an export that is pending, processing or failed; the message names its
    /// status.
    ExportNotCompleted = "EXPORT_NOT_COMPLETED", Conflict;
    /// A sign-in with a wrong password, an unknown username or a disabled user (one answer for all).
    InvalidCredentials = "INVALID_CREDENTIALS", Unauthenticated;
    /// `POST /auth/verify` of a token that is not (or no longer) good: as the AAO's API answers.
    VerifyFailed = "VERIFY_FAILED", BadRequest;
    /// A username locked out for a short while after repeated failed sign-ins.
    TooManyAttempts = "TOO_MANY_ATTEMPTS", TooMany;
    /// Previews asked faster than the per-user limit allows.
    TooManyPreviews = "TOO_MANY_PREVIEWS", TooMany;
}

/// A refusal the caller can act on: its code (which knows its kind) and a sentence naming what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", .code.as_str())]
pub struct Refusal {
    pub code: Code,
    pub message: String,
    /// When asking again may succeed, in seconds (a limit's window, a lockout): HTTP's
    /// `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    pub fn kind(&self) -> RefusalKind {
        self.code.kind()
    }
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
    /// A completed export whose file the store does not have: nothing a client can cause or fix.
    #[error("completed export {0} has no file to sign a link to")]
    MissingFile(uuid::Uuid),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn refuse(code: Code, message: impl Into<String>) -> Self {
        ServiceError::Refused(Refusal { code, message: message.into(), retry_after_secs: None })
    }
    /// A limit reached: asking again after `retry_after_secs` may succeed.
    pub fn too_many(code: Code, message: impl Into<String>, retry_after_secs: u64) -> Self {
        ServiceError::Refused(Refusal { code, message: message.into(), retry_after_secs: Some(retry_after_secs) })
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::refuse(Code::InvalidRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refuse(Code::NotFound, message)
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
        DbError::Duplicate(_) => ServiceError::refuse(Code::Conflict, message()),
        other => ServiceError::Db(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_row_is_the_callers_conflict_and_a_full_pool_is_busy() {
        let conflict = conflict_or(DbError::Duplicate(sqlx_row_not_found()), || "export x exists already".into());
        assert!(matches!(conflict, ServiceError::Refused(Refusal { code: Code::Conflict, .. })), "{conflict:?}");
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
