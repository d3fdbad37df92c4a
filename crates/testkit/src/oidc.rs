//! A real OpenID Connect provider on loopback for the tests: the npm package `oidc-provider` (a
//! certified implementation) run by `tests/ui/oidc-provider.mjs`, with the clients `aao-export`
//! and `someone-else` and the accounts `nina`, `omar` and `ahmed`. In front of it, a
//! [`ProviderProxy`] is the network between the service and the provider: it passes everything
//! through, or spoils the token endpoint's answer the ways a broken or hostile provider would.

use crate::require_external;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The service's client at the provider.
pub const CLIENT_ID: &str = "aao-export";
pub const CLIENT_SECRET: &str = "aao-export-test-secret";
/// Another client of the same provider: its ID tokens are genuine, for another audience.
pub const OTHER_CLIENT_ID: &str = "someone-else";
pub const OTHER_CLIENT_SECRET: &str = "someone-else-secret";

/// The provider, stopped when dropped (and, if this process dies, when its stdin closes).
pub struct OidcProvider {
    /// Where it listens.
    pub url: String,
    /// What it calls itself (the proxy's URL when it is behind one).
    pub issuer: String,
    child: Child,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui/oidc-provider.mjs")
}

impl OidcProvider {
    /// Starts the provider for a client redirecting to `redirect_uri`, calling itself `issuer`
    /// (a proxy's URL) or its own URL. `None` (the test skips) without node or the npm test
    /// packages, a failed assertion instead when `AAO_REQUIRE_EXTERNAL=1`.
    pub fn start(redirect_uri: &str, issuer: Option<&str>) -> Option<OidcProvider> {
        let installed = script().with_file_name("node_modules").join("oidc-provider").is_dir();
        if !installed {
            assert!(!require_external(), "tests/ui/node_modules/oidc-provider is missing (npm ci in tests/ui)");
            eprintln!("oidc-provider is not installed (npm ci in tests/ui): skipping");
            return None;
        }
        let node = std::env::var("AAO_NODE").unwrap_or_else(|_| "node".into());
        let mut command = Command::new(&node);
        command
            .arg(script())
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(issuer) = issuer {
            command.env("OIDC_PUBLIC_ISSUER", issuer);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                assert!(!require_external(), "running {node} for the OIDC provider: {e}");
                eprintln!("{node} cannot run ({e}): skipping");
                return None;
            }
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("the provider's first line");
        // "oidc provider on http://127.0.0.1:PORT issuer ISSUER"
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(url), Some(issuer)) = (words.get(3), words.get(5)) else {
            let _ = child.kill();
            panic!("the OIDC provider did not start: {line:?}");
        };
        Some(OidcProvider { url: url.to_string(), issuer: issuer.to_string(), child })
    }

    /// Has the provider sign with a new key (a kid nobody has seen); answers the new kid.
    pub async fn rotate_keys(&self) -> String {
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/test/rotate-keys", self.url))
            .send()
            .await
            .expect("rotating the provider's keys")
            .json()
            .await
            .expect("the new kid");
        answer["kid"].as_str().expect("a kid").to_string()
    }
}

/// What the proxy does to the token endpoint's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Spoil {
    /// Nothing: the provider's answer as it is.
    #[default]
    Nothing,
    /// The ID token's payload changed (another `sub`), its signature left as it was.
    TamperIdToken,
    /// The ID token's `sub` taken out (its signature left as it was).
    DropSubject,
    /// The ID token replaced by this one (e.g. a genuine one issued to another client).
    SwapIdToken(String),
    /// The token endpoint down: 503 and no tokens.
    TokenEndpointDown,
}

/// A pass-through proxy on loopback in front of the provider, whose token answers can be spoiled.
pub struct ProviderProxy {
    pub url: String,
    spoil: Arc<Mutex<Spoil>>,
    hits: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct Upstream {
    target: Arc<Mutex<String>>,
    spoil: Arc<Mutex<Spoil>>,
    hits: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    public_host: String,
    http: reqwest::Client,
}

impl ProviderProxy {
    /// A proxy bound to `listener`; it forwards to the provider once [`ProviderProxy::forward_to`]
    /// names it (the provider must know the proxy's URL before it starts).
    pub fn start(listener: tokio::net::TcpListener) -> (ProviderProxy, impl FnOnce(&str)) {
        let address = listener.local_addr().expect("a bound listener");
        let target = Arc::new(Mutex::new(String::new()));
        let spoil = Arc::new(Mutex::new(Spoil::Nothing));
        let hits = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let upstream = Upstream {
            target: target.clone(),
            spoil: spoil.clone(),
            hits: hits.clone(),
            public_host: address.to_string(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client"),
        };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        let set_target = move |url: &str| *target.lock().expect("not poisoned") = url.to_string();
        (ProviderProxy { url: format!("http://{address}"), spoil, hits, _stop: stop }, set_target)
    }

    /// How many requests for this path passed through.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().expect("not poisoned").get(path).copied().unwrap_or(0)
    }

    /// Spoils the token endpoint's answers from now on (or stops, with [`Spoil::Nothing`]).
    pub fn spoil(&self, spoil: Spoil) {
        *self.spoil.lock().expect("not poisoned") = spoil;
    }
}

async fn forward(State(up): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let spoil = up.spoil.lock().expect("not poisoned").clone();
    *up.hits.lock().expect("not poisoned").entry(parts.uri.path().to_string()).or_default() += 1;
    let is_token = parts.method == axum::http::Method::POST && parts.uri.path().ends_with("/token");
    if is_token && spoil == Spoil::TokenEndpointDown {
        return Response::builder().status(503).body(Body::from("down for maintenance")).expect("a response");
    }
    let target = up.target.lock().expect("not poisoned").clone();
    let mut outgoing = up.http.request(parts.method.clone(), format!("{target}{path}"));
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    // The provider builds its URLs from these (it trusts a proxy when it was given an issuer).
    outgoing = outgoing.header("x-forwarded-host", &up.public_host).header("x-forwarded-proto", "http");
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return Response::builder().status(502).body(Body::from(e.to_string())).expect("a response"),
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let mut bytes = answer.bytes().await.unwrap_or_default().to_vec();
    if is_token && spoil != Spoil::Nothing {
        bytes = spoiled(&bytes, &spoil);
    }
    response.body(Body::from(bytes)).expect("a response")
}

fn spoiled(answer: &[u8], spoil: &Spoil) -> Vec<u8> {
    let Ok(mut tokens) = serde_json::from_slice::<serde_json::Value>(answer) else { return answer.to_vec() };
    let Some(id_token) = tokens["id_token"].as_str().map(str::to_string) else { return answer.to_vec() };
    let replaced = match spoil {
        Spoil::SwapIdToken(other) => other.clone(),
        Spoil::TamperIdToken | Spoil::DropSubject => {
            use base64::Engine;
            use base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let parts: Vec<&str> = id_token.split('.').collect();
            let mut claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url")).expect("JSON claims");
            if *spoil == Spoil::DropSubject {
                claims.as_object_mut().expect("claims").remove("sub");
            } else {
                claims["sub"] = "ahmed".into();
            }
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("JSON"));
            format!("{}.{payload}.{}", parts[0], parts[2])
        }
        Spoil::Nothing | Spoil::TokenEndpointDown => id_token,
    };
    tokens["id_token"] = replaced.into();
    serde_json::to_vec(&tokens).expect("JSON")
}
