//! Signing in with a username and password, as the AAO does it: a `local` identity in the AAO's
//! `user_identities` table whose `provider_user_id` is the username and `password` its hash.
//!
//! - Passwords are stored as argon2id PHC strings (`$argon2id$v=19$…`). The AAO's existing
//!   identities hold unsalted MD5 hex digests: such a password is accepted once more and replaced
//!   by an argon2 hash at that sign-in, so AAO users move over without a reset.
//! - A wrong password, an unknown username and a disabled user get the same refusal
//!   (`INVALID_CREDENTIALS`) after the same work: one argon2 computation, against a dummy hash
//!   when there is nothing real to check.
//! - Repeated failures for one username from one client address lock that username for that
//!   address for a short while ([`SignInLimits`]), and one address has a limit on attempts across
//!   usernames: an attacker's failures slow the attacker, not the colleague whose username they
//!   guess at, who signs in from elsewhere. Counted in the database so that every API process
//!   shares the count; a locked attempt is refused (`TOO_MANY_ATTEMPTS`, with the wait) even with
//!   the right password.
//! - A session is the same HS256 token the API accepts as a bearer token ([`crate::Tokens`]), so
//!   it expires like one; it also names a row of `sign_in_sessions`, so that signing out
//!   ([`Service::sign_out`]) or a new password ends it at once. Front doors carry it in a cookie;
//!   nothing here knows HTTP.
//!
//! Passwords are never logged, and neither are usernames that failed (a password typed into the
//! username field would otherwise land in the log).

use crate::Service;
use crate::auth::{Caller, by_token, random_hex};
use crate::error::{Code, ServiceError, ServiceResult, conflict_or};
use crate::limits::RateLimit;
use aao_export_core::time::{now_ms, rfc3339};
use aao_export_db::{DbError, LockoutRule, ProviderSignIn, SignInGate, User, UsersDb};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use md5::{Digest, Md5};
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// A new password has at least this many characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// And at most this many bytes (long enough for any passphrase or generated password).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// A username has at most this many characters.
pub const MAX_USERNAME_CHARS: usize = 200;
/// The `provider` of password identities in `user_identities`.
pub const LOCAL_PROVIDER: &str = "local";

/// When repeated failed sign-ins lock a username out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failures in a row, each within `window` of the one before, that lock the username.
    pub max_failures: u32,
    pub window: Duration,
    /// How long the lock lasts after the last failure. After it one more attempt goes through;
    /// if that one fails too, the lock starts again.
    pub lockout: Duration,
    /// Attempts one client address may make, whatever the usernames.
    pub per_address: RateLimit,
}

impl Default for SignInLimits {
    /// 5 failures, each within 15 minutes of the one before, lock the username for 30 s.
    fn default() -> Self {
        SignInLimits {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(30),
            per_address: RateLimit::SIGN_INS_PER_ADDRESS,
        }
    }
}

impl SignInLimits {
    /// A count of failures older than this has no effect: the upkeep pass may forget it.
    pub fn forget_after(&self) -> Duration {
        self.window.max(self.lockout)
    }

    fn rule(&self) -> LockoutRule {
        LockoutRule {
            max_failures: self.max_failures.max(1),
            window_ms: aao_export_core::time::millis(self.window),
            lockout_ms: aao_export_core::time::millis(self.lockout),
        }
    }
}

/// How a sign-in through an identity provider ended.
#[derive(Debug)]
pub enum ProviderSignInOutcome {
    /// Signed in: the caller and a session token, as for a password.
    SignedIn(Caller, String),
    /// Known now, but not enabled (new, or disabled): no session; an administrator enables them.
    Waiting(User),
}

impl Service {
    /// Signs a user in with the username and password of their `local` identity. Returns the
    /// caller and a session token: the HS256 token the API accepts as a bearer token, valid for
    /// `tokens.ttl_secs` (the server puts it in the session cookie, see the server's `sessions`
    /// module).
    ///
    /// Refusals: 401 `INVALID_CREDENTIALS` for a wrong password, an unknown username and a
    /// disabled user alike (same answer, same work); 429 `TOO_MANY_ATTEMPTS` while the username is
    /// locked out, whatever the password, with the time to try again in the message. A legacy MD5
    /// password that matches is replaced by an argon2 hash before this returns.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> ServiceResult<(Caller, String)> {
        let address = client.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        self.count_hit(&format!("sign-in:{address}"), self.settings.sign_in.per_address, |secs| {
            ServiceError::too_many(
                Code::TooManyAttempts,
                format!("too many sign-ins from this address; try again in {secs} s"),
                secs,
            )
        })
        .await?;
        // Failures count per username and address. A username no identity can have is never
        // stored, not even as a failure.
        let attempt = format!("{username}\n{address}");
        let possible = username_problem(username).is_none();
        if possible {
            let now = now_ms();
            if let SignInGate::Locked { until } =
                self.users.begin_sign_in(&attempt, now, &self.settings.sign_in.rule()).await?
            {
                return Err(too_many_attempts(until, now));
            }
        }
        let found = if possible { self.users.local_identity(username).await? } else { None };
        let stored = found.as_ref().and_then(|(identity, _)| identity.password.clone());
        let verdict = {
            let (stored, presented) = (stored.clone(), password.to_string());
            hashing(move || verify(stored.as_deref(), &presented)).await
        };
        let user = match found {
            Some((_, user)) if verdict.valid() && user.enabled => user,
            Some((_, user)) => {
                let why = if verdict.valid() { "the user is disabled" } else { "wrong password" };
                tracing::info!(user_id = %user.id, why, "sign-in refused");
                return Err(invalid_credentials());
            }
            None => {
                tracing::info!("sign-in refused: no local identity has that username");
                return Err(invalid_credentials());
            }
        };
        if let (Verdict::Legacy { upgraded }, Some(old)) = (&verdict, &stored) {
            if self.users.replace_password(&user.id, old, upgraded).await? {
                tracing::info!(user_id = %user.id, "replaced a legacy MD5 password with an argon2 hash");
            } else {
                tracing::warn!(user_id = %user.id, "the password changed while its legacy hash was being upgraded; kept the new one");
            }
        }
        self.users.clear_failed_sign_ins(&attempt).await?;
        let token = self.start_session(&user).await?;
        tracing::info!(user_id = %user.id, "signed in with a password");
        Ok((Caller::from_user(user)?, token))
    }

    /// Signs in someone an identity provider vouched for (OpenID Connect: `subject` is the ID
    /// token's `sub`), as the AAO's API does: an identity of `provider` already in
    /// `user_identities` signs in as its user, with the name and email refreshed from what the
    /// provider says; a new one becomes a user who is not enabled, and waits for an administrator.
    /// A disabled user gets no session either way.
    pub async fn sign_in_with_provider(
        &self,
        provider: &str,
        subject: &str,
        full_name: Option<&str>,
        email: Option<&str>,
    ) -> ServiceResult<ProviderSignInOutcome> {
        if subject.trim().is_empty() {
            return Err(ServiceError::invalid("the identity provider named no subject (`sub`)"));
        }
        let present = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let sign_in = ProviderSignIn {
            provider: provider.to_string(),
            provider_user_id: subject.to_string(),
            full_name: present(full_name),
            email: present(email),
            new_user_id: uuid::Uuid::new_v4().to_string(),
            now_secs: now_ms() / 1000,
        };
        let user = self.users.sign_in_with_provider(&sign_in).await?;
        if !user.enabled {
            tracing::info!(user_id = %user.id, %provider, "signed in at the identity provider; waiting to be enabled");
            return Ok(ProviderSignInOutcome::Waiting(user));
        }
        let token = self.start_session(&user).await?;
        tracing::info!(user_id = %user.id, %provider, "signed in through the identity provider");
        Ok(ProviderSignInOutcome::SignedIn(Caller::from_user(user)?, token))
    }

    /// Starts a session for a user who has just proved who they are; its token.
    async fn start_session(&self, user: &User) -> ServiceResult<String> {
        let (session_id, now) = (random_hex(16), now_ms());
        let expires_at =
            now.saturating_add(i64::try_from(self.tokens.ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX));
        self.users.start_session(&session_id, &user.id, now, expires_at).await?;
        Ok(self.tokens.mint_for_session(user, &session_id))
    }

    /// Ends the session a token belongs to, so that neither the cookie nor the token as a bearer
    /// token works again. A token that is no session's (a script's, an expired or forged one)
    /// ends nothing; that is not an error: signing out always succeeds.
    pub async fn sign_out(&self, token: &str) -> ServiceResult<()> {
        if let Some(session_id) = self.tokens.session_of(token)
            && self.users.end_session(&session_id).await?
        {
            tracing::info!("signed out: the session has ended");
        }
        Ok(())
    }

    /// The caller a session token names, as for a bearer token but with messages that speak of
    /// the session (expired: 401 `SESSION_TOKEN_EXPIRED`, "sign in again").
    /// Whether a bearer token is good: signed here, not expired, for a user who exists and is
    /// enabled (as the AAO's `POST /auth/verify` tells its dashboard). Refused as 400
    /// `VERIFY_FAILED`, saying why; a database that cannot answer is not a verdict.
    pub async fn verify_token(&self, token: &str) -> ServiceResult<Caller> {
        by_token(self.users.as_ref(), &self.tokens, token).await.map_err(|e| match e {
            ServiceError::Refused(r) => ServiceError::refuse(Code::VerifyFailed, r.message),
            other => other,
        })
    }

    pub async fn session_caller(&self, token: &str) -> ServiceResult<Caller> {
        by_token(self.users.as_ref(), &self.tokens, token).await.map_err(|e| match e {
            ServiceError::Refused(r) if r.code == Code::SessionTokenExpired => ServiceError::refuse(
                Code::SessionTokenExpired,
                "the session has expired; sign in again (POST /auth/login)",
            ),
            ServiceError::Refused(r) if r.code == Code::Unauthorised => ServiceError::refuse(
                Code::Unauthorised,
                "the session cookie is not valid (malformed, or not signed by this service); sign in again",
            ),
            other => other,
        })
    }

    /// Sets a user's password; see [`set_password`].
    pub async fn set_password(&self, user_id: &str, username: Option<&str>, password: &str) -> ServiceResult<String> {
        set_password(self.users.as_ref(), user_id, username, password).await
    }
}

/// Sets (or replaces) a user's password, as an argon2id hash in their `local` identity, and
/// clears the username's failed sign-ins and ends the user's sessions. `username` names the
/// identity; `None` keeps its current username, or uses the user id for a new one. Returns the
/// username.
///
/// Refusals: 400 for a password that breaks [`check_new_password`] or a username that breaks
/// [`check_username`], 404 for an unknown user, 409 for a username another user has.
pub async fn set_password(
    users: &dyn UsersDb,
    user_id: &str,
    username: Option<&str>,
    password: &str,
) -> ServiceResult<String> {
    check_new_password(password)?;
    match username {
        Some(username) => check_username(username)?,
        // The user id may become the username: it must be one that can sign in.
        None => {
            if let Some(problem) = username_problem(user_id) {
                return Err(ServiceError::invalid(format!(
                    "the user id {user_id:?} cannot be a username ({problem}); give a username"
                )));
            }
        }
    }
    if users.user(user_id).await?.is_none() {
        return Err(ServiceError::not_found(format!("no user {user_id:?}")));
    }
    let hash = {
        let password = password.to_string();
        hashing(move || hash_password(&password)).await
    };
    let taken =
        || format!("the username {:?} belongs to another user; choose another one", username.unwrap_or(user_id));
    let username = match users.set_password(user_id, username, &hash, now_ms()).await {
        Ok(username) => username,
        // Deleted since it was read.
        Err(DbError::MissingReference(_)) => return Err(ServiceError::not_found(format!("no user {user_id:?}"))),
        Err(e) => return Err(conflict_or(e, taken)),
    };
    users.clear_failed_sign_ins(&username).await?;
    // Whoever signed in with the old password is signed out.
    let ended = users.end_sessions_of(user_id).await?;
    tracing::info!(%user_id, %username, sessions_ended = ended, "password set");
    Ok(username)
}

/// Refuses (400) a password that is empty, shorter than [`MIN_PASSWORD_CHARS`], longer than
/// [`MAX_PASSWORD_BYTES`], or only spaces, with a sentence saying which.
pub fn check_new_password(password: &str) -> ServiceResult<()> {
    let chars = password.chars().count();
    let problem = if password.is_empty() {
        "the password is empty".to_string()
    } else if chars < MIN_PASSWORD_CHARS {
        format!("the password is {chars} characters long; it needs at least {MIN_PASSWORD_CHARS}")
    } else if password.len() > MAX_PASSWORD_BYTES {
        format!("the password is {} bytes long; at most {MAX_PASSWORD_BYTES} are accepted", password.len())
    } else if password.trim().is_empty() {
        "the password is only spaces".to_string()
    } else {
        return Ok(());
    };
    Err(ServiceError::invalid(problem))
}

/// Refuses (400) a username that is empty, longer than [`MAX_USERNAME_CHARS`], or holds control
/// characters or spaces at either end.
pub fn check_username(username: &str) -> ServiceResult<()> {
    match username_problem(username) {
        Some(problem) => Err(ServiceError::invalid(format!("username {username:?}: {problem}"))),
        None => Ok(()),
    }
}

fn username_problem(username: &str) -> Option<String> {
    if username.is_empty() {
        Some("empty".into())
    } else if username.chars().count() > MAX_USERNAME_CHARS {
        Some(format!("longer than {MAX_USERNAME_CHARS} characters"))
    } else if username.chars().any(char::is_control) {
        Some("contains a control character".into())
    } else if username.trim() != username {
        Some("starts or ends with a space".into())
    } else {
        None
    }
}

/// A fresh random password of 16 characters in four groups (`K7QF-M2XA-9RTB-P4HN`, 80 bits),
/// from letters and digits that cannot be mistaken for one another.
pub fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    chars.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

fn invalid_credentials() -> ServiceError {
    ServiceError::refuse(Code::InvalidCredentials, "the username and password do not match an enabled account")
}

fn too_many_attempts(until: i64, now: i64) -> ServiceError {
    let secs = crate::limits::whole_seconds(until.saturating_sub(now));
    ServiceError::too_many(
        Code::TooManyAttempts,
        format!(
            "too many failed sign-ins for this username from this address; try again in {secs} s (after {})",
            rfc3339(until)
        ),
        secs,
    )
}

// ---- hashing

/// What a password check found.
enum Verdict {
    Valid,
    /// Valid against a legacy MD5 digest: `upgraded` is its argon2 hash, to store instead.
    Legacy {
        upgraded: String,
    },
    Invalid,
}

impl Verdict {
    fn valid(&self) -> bool {
        !matches!(self, Verdict::Invalid)
    }
}

/// argon2id, version 19, with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum).
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// An argon2id PHC string of a password, with a fresh 16-byte salt.
pub fn hash_password(password: &str) -> String {
    use rand::Rng;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes a password of any accepted length")
        .to_string()
}

/// Checks a password against a stored hash (none: nothing matches). Every path does about one
/// argon2 computation, so the time does not tell an unknown user from a wrong password.
fn verify(stored: Option<&str>, password: &str) -> Verdict {
    match stored {
        Some(digest) if is_md5_hex(digest) => {
            let presented = hex::encode(Md5::digest(password.as_bytes()));
            if bool::from(presented.as_bytes().ct_eq(digest.to_ascii_lowercase().as_bytes())) {
                Verdict::Legacy { upgraded: hash_password(password) }
            } else {
                dummy_verify(password);
                Verdict::Invalid
            }
        }
        Some(phc) => match PasswordHash::new(phc) {
            Ok(hash) if hash.algorithm.as_str().starts_with("argon2") => {
                if argon2().verify_password(password.as_bytes(), &hash).is_ok() {
                    Verdict::Valid
                } else {
                    Verdict::Invalid
                }
            }
            _ => {
                tracing::warn!(
                    "a local identity's password is neither an argon2 hash nor an MD5 digest; it matches nothing"
                );
                dummy_verify(password);
                Verdict::Invalid
            }
        },
        None => {
            dummy_verify(password);
            Verdict::Invalid
        }
    }
}

/// The AAO's legacy format: an unsalted MD5 digest as 32 hex digits.
fn is_md5_hex(stored: &str) -> bool {
    stored.len() == 32 && stored.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The work of checking a password, against a hash nothing matches.
fn dummy_verify(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("no password: this hash evens out the time of refusals"));
    let hash = PasswordHash::new(dummy).expect("our own hash parses");
    let _ = argon2().verify_password(password.as_bytes(), &hash);
}

/// Runs argon2 work off the async threads, a few at a time: each computation takes 19 MiB and a
/// core for tens of milliseconds, so a burst of sign-ins queues here instead of exhausting memory.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).max(2))
    });
    let _permit = permits.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work).await.expect("password hashing does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RefusalKind;

    #[test]
    fn argon2_hashes_are_salted_phc_strings_that_verify() {
        let a = hash_password("correct horse");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, hash_password("correct horse"), "salted");
        assert!(matches!(verify(Some(&a), "correct horse"), Verdict::Valid));
        assert!(matches!(verify(Some(&a), "correct horsE"), Verdict::Invalid));
        assert!(matches!(verify(Some(&a), ""), Verdict::Invalid));
        assert!(matches!(verify(None, "correct horse"), Verdict::Invalid));
        assert!(matches!(verify(Some("$2b$12$notargon"), "x"), Verdict::Invalid), "another scheme matches nothing");
        assert!(matches!(verify(Some("plain text"), "plain text"), Verdict::Invalid), "a plain password never");
    }

    #[test]
    fn a_legacy_md5_digest_verifies_once_and_comes_back_as_argon2() {
        // md5("password") and md5("") (RFC 1321's test suite has the latter).
        assert_eq!(hex::encode(Md5::digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        let digest = "5f4dcc3b5aa765d61d8327deb882cf99";
        assert!(is_md5_hex(digest) && is_md5_hex(&digest.to_uppercase()) && !is_md5_hex(&digest[1..]));
        match verify(Some(digest), "password") {
            Verdict::Legacy { upgraded } => {
                assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
                assert!(matches!(verify(Some(&upgraded), "password"), Verdict::Valid));
            }
            _ => panic!("the MD5 digest of the password matches"),
        }
        assert!(matches!(verify(Some(&digest.to_uppercase()), "password"), Verdict::Legacy { .. }), "any case");
        assert!(matches!(verify(Some(digest), "Password"), Verdict::Invalid));
    }

    #[test]
    fn new_passwords_and_usernames_are_checked_with_a_reason() {
        let message = |r: ServiceResult<()>| match r {
            Err(ServiceError::Refused(r)) => r.message,
            other => panic!("{other:?}"),
        };
        assert_eq!(message(check_new_password("")), "the password is empty");
        assert_eq!(message(check_new_password("seven77")), "the password is 7 characters long; it needs at least 8");
        assert!(check_new_password("eight888").is_ok() && check_new_password("ünïcödé!").is_ok());
        assert_eq!(message(check_new_password("        ")), "the password is only spaces");
        assert!(message(check_new_password(&"x".repeat(1025))).contains("at most 1024"));
        assert!(check_username("jane.doe@example.org").is_ok());
        assert_eq!(message(check_username("")), "username \"\": empty");
        assert!(message(check_username("a\u{0}b")).contains("control character"));
        assert!(message(check_username(" jane")).contains("space"));
        assert!(message(check_username(&"j".repeat(201))).contains("longer than 200"));
    }

    #[test]
    fn random_passwords_are_long_unambiguous_and_new_each_time() {
        let p = random_password();
        assert_eq!(p.len(), 19, "{p}");
        assert!(
            p.split('-').all(|g| g.len() == 4 && g.bytes().all(|b| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(&b)))
        );
        assert!(check_new_password(&p).is_ok());
        assert_ne!(p, random_password());
    }

    #[test]
    fn the_lockout_rule_is_in_milliseconds_and_never_zero_failures() {
        let limits = SignInLimits {
            max_failures: 0,
            window: Duration::from_secs(60),
            lockout: Duration::from_millis(1500),
            ..SignInLimits::default()
        };
        assert_eq!(limits.forget_after(), Duration::from_secs(60), "the longer of the two");
        let rule = limits.rule();
        assert_eq!(rule, LockoutRule { max_failures: 1, window_ms: 60_000, lockout_ms: 1500 });
        let ServiceError::Refused(r) = too_many_attempts(10_001, 0) else { panic!() };
        assert_eq!((r.kind(), r.code), (RefusalKind::TooMany, Code::TooManyAttempts));
        assert!(r.message.contains("try again in 11 s (after 1970-01-01T00:00:10"), "{}", r.message);
    }
}
