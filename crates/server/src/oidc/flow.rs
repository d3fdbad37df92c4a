//! The flow cookie: what the callback needs to finish a sign-in this browser started (the state,
//! the nonce, the PKCE verifier and where to go afterwards), signed with HMAC-SHA256 so that only
//! this service can have written it, and dated so that it is good for [`FLOW_TTL_SECS`] only.
//! The provider's answer arrives by a cross-site navigation, so the cookie is `SameSite=Lax`
//! (sent on that top-level GET) while the session cookie stays `Strict`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

/// How long a sign-in may take at the provider.
pub const FLOW_TTL_SECS: i64 = 600;
/// The cookie's name over plain http, and (with `__Host-`) over https, as the session cookie's.
pub const FLOW_COOKIE: &str = "aao_oidc_flow";
const SECURE_FLOW_COOKIE: &str = "__Host-aao_oidc_flow";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// One sign-in in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A local path (the sign-in page's `next`, already checked).
    pub next: String,
    /// Epoch seconds after which the cookie is refused.
    pub expires_at: i64,
}

/// The cookie's value: `payload.signature`, both base64url.
pub fn seal(key: &[u8], flow: &Flow) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(flow).expect("a flow serialises"));
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &payload).finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// The flow a cookie holds, if this service signed it and it is still good at `now` (epoch s).
pub fn open(key: &[u8], value: &str, now: i64) -> Option<Flow> {
    let (payload, signature) = value.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    mac(key, payload).verify_slice(&signature).ok()?;
    let flow: Flow = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (flow.expires_at > now).then_some(flow)
}

fn mac(key: &[u8], payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(payload.as_bytes());
    mac
}

/// The cookie's name on a server reached over https (`secure`) or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_FLOW_COOKIE } else { FLOW_COOKIE }
}

/// The `Set-Cookie` text that stores `value` for [`FLOW_TTL_SECS`] (or, with `max_age` 0, clears
/// it).
pub fn cookie_text(value: &str, max_age: i64, secure: bool) -> String {
    let tail = if secure { "; Secure" } else { "" };
    format!("{}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{tail}", cookie_name(secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(expires_at: i64) -> Flow {
        Flow { state: "s".into(), nonce: "n".into(), pkce_verifier: "v".into(), next: "/exports".into(), expires_at }
    }

    #[test]
    fn only_a_cookie_this_service_signed_and_still_good_opens() {
        let sealed = seal(b"key", &flow(1_000));
        assert_eq!(open(b"key", &sealed, 999), Some(flow(1_000)));
        assert_eq!(open(b"key", &sealed, 1_000), None, "expired");
        assert_eq!(open(b"other key", &sealed, 0), None, "signed with another key");
        let (payload, signature) = sealed.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&flow(9_999)).unwrap());
        assert_eq!(open(b"key", &format!("{forged}.{signature}"), 0), None, "a payload changed");
        for bad in ["", ".", "x", &format!("{payload}."), &format!("{payload}.%%")] {
            assert_eq!(open(b"key", bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn the_cookie_is_lax_http_only_and_host_bound_over_https() {
        assert_eq!(cookie_text("v", 600, false), "aao_oidc_flow=v; HttpOnly; SameSite=Lax; Path=/; Max-Age=600");
        assert_eq!(
            cookie_text("", 0, true),
            "__Host-aao_oidc_flow=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Secure"
        );
    }
}
