//! Rate limits: how often one caller may ask for something costly (a preview counts over the
//! whole catalogue). Hits are counted in the database ([`aao_export_db::LimitsDb`]) in fixed windows, so every
//! API process and Lambda shares one count; the upkeep pass forgets windows that have ended.

use crate::Service;
use crate::error::{ServiceError, ServiceResult};
use aao_export_core::time::now_ms;
use std::time::Duration;

/// At most `hits` in each window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub hits: u32,
    pub per: Duration,
}

impl RateLimit {
    /// Previews per user: the builder asks once per pause in typing (350 ms), so a person
    /// editing stays well under 30 in 10 s; a script in a loop or a wall of tabs does not.
    pub const PREVIEWS: RateLimit = RateLimit { hits: 30, per: Duration::from_secs(10) };
    /// Sign-in attempts from one address, whatever the usernames: room for a classroom behind
    /// one university NAT, none for a script guessing through the user list.
    pub const SIGN_INS_PER_ADDRESS: RateLimit = RateLimit { hits: 100, per: Duration::from_secs(10 * 60) };
}

impl Service {
    /// Counts one hit in `bucket`; past the limit, `refuse(seconds until the window ends)`.
    pub(crate) async fn count_hit(
        &self,
        bucket: &str,
        limit: RateLimit,
        refuse: impl FnOnce(u64) -> ServiceError,
    ) -> ServiceResult<()> {
        let now = now_ms();
        let per = i64::try_from(limit.per.as_millis()).unwrap_or(i64::MAX).max(1);
        let start = now - now.rem_euclid(per);
        let end = start.saturating_add(per);
        let hits = self.limits.count_hit(bucket, start, end).await?;
        if hits > limit.hits { Err(refuse(whole_seconds(end - now))) } else { Ok(()) }
    }
}

/// Milliseconds as whole seconds to wait, rounded up, at least 1 (`Retry-After: 0` would invite
/// a client to ask again at once).
pub(crate) fn whole_seconds(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(whole_seconds(-5), 1);
        assert_eq!(whole_seconds(0), 1);
        assert_eq!(whole_seconds(1), 1);
        assert_eq!(whole_seconds(1000), 1);
        assert_eq!(whole_seconds(1001), 2);
        assert_eq!(whole_seconds(9_999), 10);
    }
}
