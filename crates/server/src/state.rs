//! What every handler shares: the service layer and the HTTP-only settings.

use crate::oidc::Oidc;
use aao_export_service::Service;
use axum::http::Uri;
use std::sync::Arc;

/// The largest request body accepted, unless configured (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The router's state. Cheap to clone: the parts are shared.
#[derive(Clone, Debug)]
pub struct AppState {
    pub service: Service,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Where browsers reach the service, from its public URL: the session cookie is `Secure` when
    /// it is https, and requests that change state with the cookie must come from this origin.
    /// `None` (no public URL): such requests are refused.
    pub public_origin: Option<PublicOrigin>,
    /// Other sites' origins whose pages may call the API with a bearer token or an API key
    /// (CORS; the AAO's dashboard) and sign in there (`SERVER_CORS_ORIGINS`). Never with the
    /// session cookie: that stays with the public URL's origin.
    pub cors_origins: Vec<String>,
    /// Proxies in front of the service whose `X-Forwarded-For` is believed
    /// (`SERVER_TRUSTED_PROXIES`); from anyone else the header is ignored, so a client cannot
    /// choose the address its sign-ins are counted against.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Signing in through an OpenID Connect provider (CILogon), when configured: the sign-in
    /// page shows its button and `/auth/oidc/*` answers. `None`: neither.
    pub oidc: Option<Arc<Oidc>>,
}

impl AppState {
    /// The service behind the API, with the default body limit and no public URL (see
    /// [`AppState::with_public_url`]).
    pub fn new(service: Service) -> Self {
        AppState {
            service,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            public_origin: None,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            oidc: None,
        }
    }

    /// The same state, reached by browsers at `public_url` (e.g. `https://aao.example.org/`). A
    /// URL that is not http(s) leaves the origin unset.
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_origin = PublicOrigin::parse(public_url);
        self
    }

    /// The same state, signing in through this OpenID Connect provider too.
    pub fn with_oidc(mut self, oidc: Oidc) -> Self {
        self.oidc = Some(Arc::new(oidc));
        self
    }

    /// The same state, believing `X-Forwarded-For` from these proxies (see
    /// [`AppState::trusted_proxies`]).
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The same state, letting pages of these origins call the API (see
    /// [`AppState::cors_origins`]); each is `scheme://host[:port]`, as [`PublicOrigin::parse`]
    /// reads it, or the list is refused naming the one at fault.
    pub fn with_cors_origins(mut self, origins: &[String]) -> Result<Self, String> {
        self.cors_origins = origins
            .iter()
            .map(|o| {
                PublicOrigin::parse(o)
                    .filter(|p| p.origin.eq_ignore_ascii_case(o.trim().trim_end_matches('/')))
                    .map(|p| p.origin)
                    .ok_or_else(|| {
                        format!(
                            "{o:?} is not an origin: write scheme://host[:port], e.g. https://dashboard.example.org"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Whether a request's `Origin` is one of [`AppState::cors_origins`].
    pub fn is_cors_origin(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o.eq_ignore_ascii_case(origin.trim()))
    }
}

/// The origin of the service's public URL (`scheme://host[:port]`, lowercase, no default port),
/// as browsers send it in `Origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin {
    pub origin: String,
    /// The URL is https: the session cookie gets `Secure`.
    pub https: bool,
}

impl PublicOrigin {
    /// The origin of an http or https URL; `None` for anything else.
    pub fn parse(public_url: &str) -> Option<PublicOrigin> {
        let uri: Uri = public_url.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let https = match scheme.as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = uri.host().filter(|h| !h.is_empty())?.to_ascii_lowercase();
        let port = match uri.port_u16() {
            Some(443) if https => String::new(),
            Some(80) if !https => String::new(),
            Some(port) => format!(":{port}"),
            None => String::new(),
        };
        Some(PublicOrigin { origin: format!("{scheme}://{host}{port}"), https })
    }
}

/// The router's state: one shared [`AppState`].
pub(crate) type Shared = Arc<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_origin_is_what_browsers_send() {
        let origin = |url: &str| PublicOrigin::parse(url).map(|o| (o.origin, o.https));
        assert_eq!(origin("https://AAO.example.org/exports?x=1"), Some(("https://aao.example.org".into(), true)));
        assert_eq!(origin("https://aao.example.org:443"), Some(("https://aao.example.org".into(), true)));
        assert_eq!(origin("http://127.0.0.1:8080/"), Some(("http://127.0.0.1:8080".into(), false)));
        assert_eq!(origin("HTTP://h:80"), Some(("http://h".into(), false)));
        assert_eq!(origin("https://h:8443"), Some(("https://h:8443".into(), true)));
        assert_eq!(origin("http://[::1]:8080"), Some(("http://[::1]:8080".into(), false)));
        for bad in ["", "aao.example.org", "ftp://h", "/exports", "http://"] {
            assert_eq!(origin(bad), None, "{bad:?}");
        }
    }
}
