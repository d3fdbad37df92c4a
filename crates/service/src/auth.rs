//! Who is calling: an API key (ours, `aao_{key_id}_{secret}`, or the AAO's) or a bearer token
//! with the AAO claims. Either way the user's current row decides whether they are enabled and
//! what role they have, so disabling a user or changing their role takes effect at once. Every
//! front door extracts the credential its own way and asks here.
//!
//! Tokens are made the AAO's way ([`Tokens::sign`]), so that with the same `JWT_SECRET` the AAO's
//! API accepts ours and we accept its (its dashboard reads the payload with `atob`, and signs in
//! on one API and calls the other); standard HS256 tokens signed with the secret are accepted too.

use crate::error::{Code, ServiceError, ServiceResult};
use aao_export_core::time::now_ms;
use aao_export_db::{ApiKey, User, UsersDb};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header of the AAO's tokens, as its API writes it (`json.dumps`).
const AAO_TOKEN_HEADER: &str = r#"{"alg": "HS256", "typ": "JWT"}"#;

/// JSON with every non-ASCII character escaped (`\uXXXX`), as Python's `json.dumps` writes it: the
/// AAO's dashboard decodes the payload with `atob`, which takes bytes, not UTF-8.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Every API key starts with this.
pub const API_KEY_PREFIX: &str = "aao_";
/// Seconds of clock skew tolerated on a token's `exp`.
const LEEWAY_SECS: u64 = 30;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: String,
    pub full_name: String,
    pub role: String,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    pub(crate) fn from_user(user: User) -> ServiceResult<Self> {
        if !user.enabled {
            return Err(ServiceError::refuse(
                Code::UserDisabled,
                format!("user {:?} is disabled; ask an administrator to enable the account", user.id),
            ));
        }
        Ok(Caller { id: user.id, full_name: user.full_name, role: user.role })
    }
}

/// The claims of an AAO session token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub iat: u64,
    pub exp: u64,
    /// How the user signed in (`local`, `cilogon`), when known.
    #[serde(default)]
    pub provider: Option<String>,
    /// The signed-in session the token belongs to (a row of `sign_in_sessions`): signing out or a
    /// new password ends it before the token expires. Tokens for scripts and the AAO's own have
    /// none, and are good until they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Who issued the token and whom it is for, when `JWT_ISSUER` / `JWT_AUDIENCE` are set (the
    /// AAO's tokens carry neither, so unset they are not asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Signs and checks bearer tokens. The secret never prints.
#[derive(Clone)]
pub struct Tokens {
    secret: SecretString,
    /// How long a minted token is valid.
    pub ttl_secs: u64,
    /// The AAO's `API_KEY_SALT`, to check the AAO's own API keys (attached to its database).
    aao_key_salt: Option<SecretString>,
    /// `iss` and `aud` that minted tokens carry and checked ones must carry (unset: not asked).
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.secret.expose_secret().is_empty() { "[empty]" } else { "[redacted]" };
        f.debug_struct("Tokens")
            .field("secret", &shown)
            .field("ttl_secs", &self.ttl_secs)
            .field("aao_key_salt", &self.aao_key_salt.as_ref().map(|_| "[redacted]"))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Tokens {
    /// Tokens signed with `secret` (empty: every token is refused), valid for `ttl_secs`.
    pub fn new(secret: SecretString, ttl_secs: u64) -> Self {
        Tokens { secret, ttl_secs, aao_key_salt: None, issuer: None, audience: None }
    }

    /// The same, minting tokens with this `iss` and `aud` and refusing tokens without them
    /// (`None`: that claim is neither written nor checked, as the AAO's tokens have neither).
    pub fn with_issuer_and_audience(mut self, issuer: Option<String>, audience: Option<String>) -> Self {
        self.issuer = issuer.filter(|i| !i.is_empty());
        self.audience = audience.filter(|a| !a.is_empty());
        self
    }

    /// The same, also checking the AAO's API keys with the AAO's `API_KEY_SALT` (unset or empty:
    /// they are refused).
    pub fn with_aao_key_salt(mut self, salt: Option<SecretString>) -> Self {
        self.aao_key_salt = salt.filter(|s| !s.expose_secret().is_empty());
        self
    }

    /// A bearer token for a user, valid for `ttl_secs` and not tied to a session (for scripts).
    pub fn mint(&self, user: &User) -> String {
        self.sign(&self.claims(user, None))
    }

    /// A session's token: valid for `ttl_secs` while the session `session_id` is on.
    pub fn mint_for_session(&self, user: &User, session_id: &str) -> String {
        self.sign(&self.claims(user, Some(session_id.to_string())))
    }

    fn claims(&self, user: &User, sid: Option<String>) -> Claims {
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        Claims {
            sub: user.id.clone(),
            role: user.role.clone(),
            full_name: user.full_name.clone(),
            enabled: user.enabled,
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            provider: None,
            sid,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        }
    }

    /// The session a token belongs to, if it is a good token of a session (signing out ends it).
    pub fn session_of(&self, token: &str) -> Option<String> {
        self.verify(token).ok().and_then(|claims| claims.sid)
    }

    /// Signs any claims (tests use it for expired tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = ascii_json(&serde_json::to_string(claims).expect("claims serialise"));
        let header = STANDARD.encode(AAO_TOKEN_HEADER);
        let payload = STANDARD.encode(payload);
        let signature = self.aao_signature(&header, &payload);
        format!("{header}.{payload}.{signature}")
    }

    /// The AAO's token signature: SHA-256, in hex, of `header.payload.secret`.
    fn aao_signature(&self, header: &str, payload: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(header.as_bytes());
        digest.update(b".");
        digest.update(payload.as_bytes());
        digest.update(b".");
        digest.update(self.secret.expose_secret().as_bytes());
        hex::encode(digest.finalize())
    }

    /// The claims of a token in the AAO's format, if it is one and its signature is ours.
    fn verify_aao(&self, token: &str) -> Option<Claims> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || signature.len() != 64 {
            return None;
        }
        let expected = self.aao_signature(header, payload);
        if !bool::from(expected.as_bytes().ct_eq(signature.to_ascii_lowercase().as_bytes())) {
            return None;
        }
        serde_json::from_slice(&STANDARD.decode(payload).ok()?).ok()
    }

    /// The claims of a token this service signed, or why it is refused.
    fn verify(&self, token: &str) -> ServiceResult<Claims> {
        let unauthorised = || {
            ServiceError::refuse(
                Code::Unauthorised,
                "the bearer token is not valid: it is malformed or was not signed by this service",
            )
        };
        let secret = self.secret.expose_secret().as_bytes();
        if secret.is_empty() || token.is_empty() {
            return Err(unauthorised());
        }
        if let Some(claims) = self.verify_aao(token) {
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
            return if claims.exp.saturating_add(LEEWAY_SECS) < now {
                Err(ServiceError::refuse(
                    Code::SessionTokenExpired,
                    "the bearer token has expired; sign in again for a new one",
                ))
            } else if claims.sub.is_empty() {
                Err(unauthorised())
            } else {
                self.check_issuer_and_audience(claims)
            };
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Checked below, alike for both token formats.
        validation.validate_aud = false;
        match jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation) {
            Ok(data) => self.check_issuer_and_audience(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(ServiceError::refuse(
                Code::SessionTokenExpired,
                "the bearer token has expired; sign in again for a new one",
            )),
            Err(_) => Err(unauthorised()),
        }
    }
}

impl Tokens {
    /// Refuses a token whose `iss` or `aud` is not the configured one (when one is configured).
    fn check_issuer_and_audience(&self, claims: Claims) -> ServiceResult<Claims> {
        for (claim, wanted, got) in [("iss", &self.issuer, &claims.iss), ("aud", &self.audience, &claims.aud)] {
            if let Some(wanted) = wanted
                && got.as_ref() != Some(wanted)
            {
                return Err(ServiceError::refuse(
                    Code::Unauthorised,
                    format!("the bearer token is not valid here: its {claim} claim is not {wanted:?}"),
                ));
            }
        }
        Ok(claims)
    }
}

/// A new API key for a user, labelled with what it is for and good until `expires_at` (or until
/// revoked): the key to hand to the user (shown once) and the record to store, which keeps only
/// the SHA-256 of the secret part.
pub fn new_api_key(user_id: &str, label: Option<&str>, expires_at: Option<i64>) -> (String, ApiKey) {
    let key_id = random_hex(12);
    let secret = random_hex(32);
    let record = ApiKey {
        key_id: key_id.clone(),
        user_id: user_id.to_string(),
        secret_hash: sha256_hex(&secret),
        created_at: now_ms(),
        label: label.map(str::to_string),
        expires_at,
        last_used_at: None,
    };
    (format!("{API_KEY_PREFIX}{key_id}_{secret}"), record)
}

/// A key's use is recorded at most this often (one write a minute, not one per request).
const KEY_USE_RECORDED_EVERY_MS: i64 = 60_000;

/// Splits `aao_{key_id}_{secret}`.
fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let (key_id, secret) = key.strip_prefix(API_KEY_PREFIX)?.split_once('_')?;
    let fine = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (fine(key_id, 64) && fine(secret, 256)).then_some((key_id, secret))
}

fn invalid_api_key() -> ServiceError {
    ServiceError::refuse(Code::InvalidApiKey, "the API key is not valid: it is unknown or has been revoked")
}

/// The caller an API key names: one of ours (`aao_{key_id}_{secret}`), or, with the AAO's salt
/// configured, one the AAO's dashboard issued.
pub async fn by_api_key(users: &dyn UsersDb, tokens: &Tokens, key: &str) -> ServiceResult<Caller> {
    let Some((key_id, secret)) = parse_api_key(key) else {
        if let Some(salt) = &tokens.aao_key_salt
            && is_aao_api_key(key)
        {
            return by_aao_api_key(users, salt, key).await;
        }
        return Err(ServiceError::refuse(
            Code::InvalidApiKey,
            "the X-API-Key header does not hold an aao-export API key (aao_{key_id}_{secret})",
        ));
    };
    let invalid = invalid_api_key;
    let Some((stored, user)) = users.api_key(key_id).await? else { return Err(invalid()) };
    let presented = sha256_hex(secret);
    if !bool::from(presented.as_bytes().ct_eq(stored.secret_hash.to_ascii_lowercase().as_bytes())) {
        return Err(invalid());
    }
    let now = now_ms();
    if let Some(expired) = stored.expires_at.filter(|at| *at <= now) {
        return Err(ServiceError::refuse(
            Code::InvalidApiKey,
            format!("the API key expired at {}; ask for a new one", aao_export_core::time::rfc3339(expired)),
        ));
    }
    // Worth knowing (`aao-export users keys`), not worth refusing the request over. The row just
    // read says whether a write is due: most requests write nothing.
    let since = now - KEY_USE_RECORDED_EVERY_MS;
    if stored.last_used_at.is_none_or(|at| at <= since)
        && let Err(e) = users.touch_api_key(key_id, now, since).await
    {
        tracing::warn!(error = %e, "recording an API key's use failed");
    }
    Caller::from_user(user)
}

/// The shape of a key the AAO issues (`secrets.token_urlsafe(64)`: 86 URL-safe characters),
/// with room for other lengths; found by its last 6 characters.
fn is_aao_api_key(key: &str) -> bool {
    (AAO_KEY_SUFFIX_LEN + 1..=512).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

const AAO_KEY_SUFFIX_LEN: usize = 6;

/// The AAO's check of its keys: the stored bcrypt hash of the key followed by the salt, of which
/// bcrypt reads the first 72 bytes (the AAO's library cut longer input silently).
fn aao_key_matches(key: &str, salt: &SecretString, hashed: &str) -> bool {
    let mut input = Vec::with_capacity(key.len() + salt.expose_secret().len());
    input.extend_from_slice(key.as_bytes());
    input.extend_from_slice(salt.expose_secret().as_bytes());
    input.truncate(72);
    bcrypt::verify(&input, hashed).unwrap_or(false)
}

async fn by_aao_api_key(users: &dyn UsersDb, salt: &SecretString, key: &str) -> ServiceResult<Caller> {
    let suffix = &key[key.len() - AAO_KEY_SUFFIX_LEN..];
    let candidates = users.aao_api_keys(suffix).await?;
    if candidates.is_empty() {
        return Err(invalid_api_key());
    }
    // bcrypt is slow on purpose (a quarter of a second per check): off the async threads.
    let (key, salt) = (key.to_string(), salt.clone());
    let found = tokio::task::spawn_blocking(move || {
        candidates.into_iter().find(|(hashed, _)| aao_key_matches(&key, &salt, hashed)).map(|(_, user)| user)
    })
    .await
    .unwrap_or(None);
    match found {
        Some(user) => Caller::from_user(user),
        None => Err(invalid_api_key()),
    }
}

/// The caller a bearer token names. A session's token is good only while its session is on.
pub async fn by_token(users: &dyn UsersDb, tokens: &Tokens, token: &str) -> ServiceResult<Caller> {
    let claims = tokens.verify(token)?;
    if let Some(sid) = &claims.sid
        && !users.session_alive(sid, &claims.sub, now_ms()).await?
    {
        return Err(ServiceError::refuse(
            Code::SessionEnded,
            "this session has ended (signed out, or the password was changed); sign in again",
        ));
    }
    match users.user(&claims.sub).await? {
        Some(user) => Caller::from_user(user),
        None => Err(ServiceError::refuse(
            Code::UserNotFound,
            format!("the bearer token is for user {:?}, who does not exist", claims.sub),
        )),
    }
}

/// SHA-256 of a text, as lowercase hex (how API key secrets are stored).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub(crate) fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Refusal;

    #[test]
    fn api_keys_parse_and_hash() {
        let (key, record) = new_api_key("alice", Some("scripts"), None);
        let (key_id, secret) = parse_api_key(&key).unwrap();
        assert_eq!(key_id, record.key_id);
        assert_eq!(sha256_hex(secret), record.secret_hash);
        assert_eq!(record.user_id, "alice");
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "URL-safe: {key}");
        assert_ne!(new_api_key("alice", None, None).0, key, "random");
        for bad in ["", "aao_", "aao_abc", "aao__x", "aao_x_", "xyz_a_b", "aao_a_b c", "aao_ä_b"] {
            assert!(parse_api_key(bad).is_none(), "{bad:?}");
        }
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn tokens_carry_the_aao_claims() {
        let user = User {
            id: "u1".into(),
            full_name: "Zoë Ünal ~?>".into(),
            enabled: true,
            role: "admin".into(),
            primary_email: None,
        };
        let tokens = Tokens::new("s3cret".to_string().into(), 60);
        let token = tokens.mint(&user);
        // The AAO's way, checked independently: standard base64 of ASCII JSON, and the hex SHA-256
        // of "header.payload.secret" (its utils/jwt.py).
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let hex_of =
            |text: String| Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let expected = hex_of(format!("{}.{}.s3cret", parts[0], parts[1]));
        assert_eq!(parts[2], expected);
        let payload = STANDARD.decode(parts[1]).expect("standard base64, as atob reads it");
        assert!(payload.is_ascii() && !parts[1].contains(['-', '_']), "atob-safe: {}", parts[1]);
        let claims: Claims = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str(), claims.full_name.as_str(), claims.enabled),
            ("u1", "admin", "Zoë Ünal ~?>", true)
        );
        assert_eq!(claims.exp, claims.iat + 60);
        assert_eq!(tokens.verify(&token).unwrap().full_name, "Zoë Ünal ~?>");
        assert!(Tokens::new(String::new().into(), 60).verify(&token).is_err(), "an empty secret verifies nothing");
        assert!(Tokens::new("other".to_string().into(), 60).verify(&token).is_err(), "another secret");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            STANDARD.encode(String::from_utf8(payload).unwrap().replace("admin", "guest!")),
            parts[2]
        );
        assert!(tokens.verify(&tampered).is_err(), "a changed payload");
        assert!(!format!("{tokens:?}").contains("s3cret"));

        // A token the AAO's API made (Python's json.dumps spacing), and an expired one.
        let aao = |exp: u64| {
            let header = STANDARD.encode(r#"{"alg": "HS256", "typ": "JWT"}"#);
            let body = format!(
                r#"{{"sub": "u1", "iat": 1, "exp": {exp}, "role": "user", "full_name": "U", "enabled": true, "provider": "local"}}"#
            );
            let payload = STANDARD.encode(body);
            let signature = hex_of(format!("{header}.{payload}.s3cret"));
            format!("{header}.{payload}.{signature}")
        };
        let verified = tokens.verify(&aao(u64::MAX / 2)).unwrap();
        assert_eq!((verified.sub.as_str(), verified.provider.as_deref()), ("u1", Some("local")));
        assert!(
            tokens
                .verify(&aao(1000))
                .is_err_and(|e| matches!(e, ServiceError::Refused(Refusal { code: Code::SessionTokenExpired, .. })))
        );

        // A standard HS256 token signed with the secret (e.g. by another tool) is accepted too.
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &Claims { exp: u64::MAX / 2, ..claims },
            &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert_eq!(tokens.verify(&hs256).unwrap().sub, "u1");
    }

    #[test]
    fn issuer_and_audience_are_checked_only_when_configured() {
        let user =
            User { id: "u1".into(), full_name: "U".into(), enabled: true, role: "user".into(), primary_email: None };
        let open = Tokens::new("s3cret".to_string().into(), 60);
        let scoped = Tokens::new("s3cret".to_string().into(), 60)
            .with_issuer_and_audience(Some("https://aao.example/".into()), Some("aao-export".into()));
        let plain = open.mint(&user);
        let own = scoped.mint(&user);
        let claims = scoped.verify(&own).unwrap();
        assert_eq!((claims.iss.as_deref(), claims.aud.as_deref()), (Some("https://aao.example/"), Some("aao-export")));
        assert!(open.verify(&own).is_ok(), "unset: not asked for (the AAO's tokens carry neither)");
        assert_eq!(open.verify(&plain).unwrap().iss, None, "unset: not written");
        let refused = |token: &str| match scoped.verify(token) {
            Err(ServiceError::Refused(Refusal { code: Code::Unauthorised, message, .. })) => message,
            other => panic!("refused, not {other:?}"),
        };
        assert!(refused(&plain).contains("its iss claim is not \"https://aao.example/\""));
        let other_audience = Tokens::new("s3cret".to_string().into(), 60)
            .with_issuer_and_audience(Some("https://aao.example/".into()), Some("another-service".into()))
            .mint(&user);
        assert!(refused(&other_audience).contains("its aud claim is not \"aao-export\""));
        // The same rule for a standard HS256 token.
        let hs256 = |aud: &str| {
            let claims = Claims {
                iss: Some("https://aao.example/".into()),
                aud: Some(aud.into()),
                ..scoped.verify(&own).unwrap()
            };
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
            )
            .unwrap()
        };
        assert!(scoped.verify(&hs256("aao-export")).is_ok());
        assert!(refused(&hs256("someone-else")).contains("aud"));
    }
}
