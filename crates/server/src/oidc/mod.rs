//! Signing in through an OpenID Connect provider: CILogon, as the Ad Observatory's researchers
//! already do on its dashboard. The `openidconnect` crate does the protocol (discovery, the code
//! flow with PKCE and a nonce, the ID token's signature and claims checked against the provider's
//! keys, userinfo) over our reqwest client; this module keeps the provider's metadata, carries a
//! flow across the redirect in a signed cookie ([`flow`]), and says what went wrong in a
//! researcher's words ([`OidcError`]). Who the person is then becomes the service's question
//! ([`aao_export_service::Service::sign_in_with_provider`]).
//!
//! The provider is discovered on first use and kept; an ID token signed with a key it does not
//! list (the provider rotated its keys) re-reads the key set once.

pub mod flow;

pub use openidconnect::ClientSecret;

use crate::state::PublicOrigin;
use aao_export_core::time::now_ms;
use axum::http::StatusCode;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, CsrfToken,
    EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
    UserInfoClaims,
};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::RwLock;

/// The `user_identities.provider` of the AAO's CILogon identities, and what the pages call it.
pub const DEFAULT_PROVIDER: &str = "cilogon";
pub const DEFAULT_DISPLAY_NAME: &str = "CILogon";
/// CILogon's scopes, as the AAO's API asks for them.
pub const DEFAULT_SCOPES: &str = "openid email profile org.cilogon.userinfo";
/// Where the provider sends the browser back, under the public URL.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// The most of a provider's answer that is read.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// How the service signs in through the provider (`OIDC_*` settings).
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer, e.g. `https://cilogon.org`; its discovery document is
    /// `{issuer}/.well-known/openid-configuration` (a URL ending so is taken as the issuer's).
    pub issuer_url: String,
    pub client_id: String,
    /// `None`: a public client (PKCE alone).
    pub client_secret: Option<ClientSecret>,
    /// The `user_identities.provider` its identities are stored under.
    pub provider: String,
    /// What the button and the messages call it ("CILogon").
    pub display_name: String,
    pub scopes: Vec<String>,
    /// The service's public URL; the redirect URI is [`CALLBACK_PATH`] under it.
    pub public_url: String,
    /// Signs the flow cookie.
    pub flow_key: Vec<u8>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("provider", &self.provider)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A sign-in through the provider that went wrong, in words a researcher understands; each has
/// its HTTP status (4xx, or 502 when the provider does not answer as it should).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error(
        "This sign-in was started in another browser or more than 10 minutes ago, so it cannot be finished. Start again."
    )]
    FlowLost,
    #[error(
        "The answer from {0} does not belong to the sign-in this browser started (state mismatch), so it was not used. Start again."
    )]
    StateMismatch(String),
    #[error("{provider} did not sign you in: {reason}")]
    Refused { provider: String, reason: String },
    #[error("{0} no longer accepts this sign-in: it was already used or has expired. Start again.")]
    CodeRefused(String),
    #[error(
        "The answer from {provider} could not be trusted ({why}), so you were not signed in. If this keeps happening, tell the service's administrators."
    )]
    Untrusted { provider: String, why: String },
    #[error("{provider} did not answer as expected ({why}). Try again in a few minutes.")]
    Unreachable { provider: String, why: String },
}

impl OidcError {
    pub fn status(&self) -> StatusCode {
        match self {
            OidcError::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            OidcError::Refused { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// What the provider vouched for: who signed in and where they were going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    pub subject: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub next: String,
}

/// The provider's answer at the callback (its query string).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

type DiscoveredClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The relying party: settings, our HTTP client and the provider's metadata once discovered.
pub struct Oidc {
    pub settings: OidcSettings,
    http: Http,
    metadata: RwLock<Option<CoreProviderMetadata>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Oidc {
    /// The relying party for these settings; refused (with the setting at fault) when a URL is
    /// not one. Nothing is fetched yet.
    pub fn new(mut settings: OidcSettings) -> Result<Self, String> {
        settings.issuer_url = issuer_of(&settings.issuer_url);
        IssuerUrl::new(settings.issuer_url.clone()).map_err(|e| format!("OIDC_ISSUER_URL: {e}"))?;
        PublicOrigin::parse(&settings.public_url).ok_or("SERVER_PUBLIC_URL is not an http(s) URL")?;
        if settings.client_id.trim().is_empty() {
            return Err("OIDC_CLIENT_ID is empty".into());
        }
        let http = reqwest::Client::builder()
            // A provider's redirect is never followed (the token endpoint must answer itself).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("the HTTP client for OIDC: {e}"))?;
        Ok(Oidc { settings, http: Http(http), metadata: RwLock::new(None) })
    }

    fn redirect_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.settings.public_url.trim_end_matches('/'))
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> OidcError {
        OidcError::Unreachable { provider: self.settings.display_name.clone(), why: why.to_string() }
    }

    fn untrusted(&self, why: impl Into<String>) -> OidcError {
        OidcError::Untrusted { provider: self.settings.display_name.clone(), why: why.into() }
    }

    /// The provider's metadata (with its keys): discovered once, then kept.
    pub async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        if let Some(metadata) = self.metadata.read().await.clone() {
            return Ok(metadata);
        }
        let issuer = IssuerUrl::new(self.settings.issuer_url.clone()).map_err(|e| self.unreachable(e))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http).await.map_err(|e| {
            tracing::warn!(error = %error_chain(&e), "the identity provider's discovery failed");
            self.unreachable(format!("its discovery document could not be read: {}", error_chain(&e)))
        })?;
        *self.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Result<DiscoveredClient, OidcError> {
        let redirect = RedirectUrl::new(self.redirect_url()).map_err(|e| self.unreachable(e))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone(),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: the provider's authorization URL to send the browser to, and the flow
    /// cookie's value that the callback will need.
    pub async fn begin(&self, next: &str) -> Result<(String, String), OidcError> {
        let client = self.client(self.metadata().await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in self.settings.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let flow = flow::Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next: next.to_string(),
            expires_at: now_ms() / 1000 + flow::FLOW_TTL_SECS,
        };
        Ok((url.to_string(), flow::seal(&self.settings.flow_key, &flow)))
    }

    /// The flow this browser started, from its cookie: signed here and not expired.
    pub fn open_flow(&self, cookie: Option<&str>) -> Result<flow::Flow, OidcError> {
        cookie.and_then(|value| flow::open(&self.settings.flow_key, value, now_ms() / 1000)).ok_or(OidcError::FlowLost)
    }

    /// Finishes a sign-in at the callback: checks the answer against the flow, exchanges the code,
    /// checks the ID token and reads userinfo.
    pub async fn finish(&self, flow: flow::Flow, answer: Callback) -> Result<Vouched, OidcError> {
        let provider = self.settings.display_name.clone();
        if answer.state.as_deref() != Some(flow.state.as_str()) {
            return Err(OidcError::StateMismatch(provider));
        }
        if let Some(error) = answer.error {
            let reason = answer.error_description.filter(|d| !d.trim().is_empty()).unwrap_or(error);
            return Err(OidcError::Refused { provider, reason });
        }
        let code = answer.code.filter(|c| !c.is_empty()).ok_or_else(|| self.untrusted("it sent no code"))?;
        let metadata = self.metadata().await?;
        let tokens = self.exchange(metadata.clone(), code, flow.pkce_verifier).await?;
        let id_token = tokens.id_token().ok_or_else(|| self.untrusted("it sent no ID token"))?;
        let nonce = Nonce::new(flow.nonce);
        // A signature that does not check out against the keys we hold may be by a key the
        // provider has rotated in (a new kid, or new key material under an old one): its keys are
        // read again once, and the token checked against them.
        let claims = match self.verify(metadata.clone(), id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let refreshed = self.refresh_keys(metadata).await?;
                self.verify(refreshed, id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| self.untrusted(verification_problem(&e)))?;
        let subject = claims.subject().to_string();
        if subject.trim().is_empty() {
            return Err(self.untrusted("it named no subject"));
        }
        let info = self.userinfo(tokens.access_token().clone(), &claims).await?;
        let name_of = |name: Option<String>, given: Option<String>, family: Option<String>| {
            name.filter(|n| !n.trim().is_empty()).or_else(|| {
                let joined = format!("{} {}", given.unwrap_or_default(), family.unwrap_or_default());
                Some(joined.trim().to_string()).filter(|j| !j.is_empty())
            })
        };
        let full_name = info
            .as_ref()
            .and_then(|i| name_of(localized(i.name()), localized(i.given_name()), localized(i.family_name())))
            .or_else(|| {
                name_of(localized(claims.name()), localized(claims.given_name()), localized(claims.family_name()))
            });
        let email =
            info.as_ref().and_then(|i| i.email().map(|e| e.to_string())).or(claims.email().map(|e| e.to_string()));
        Ok(Vouched { subject, full_name, email, next: flow.next })
    }

    async fn exchange(
        &self,
        metadata: CoreProviderMetadata,
        code: String,
        verifier: String,
    ) -> Result<CoreTokenResponse, OidcError> {
        let client = self.client(metadata)?;
        let request = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| self.unreachable("its discovery document names no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier));
        request.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(answer) if answer.error().as_ref() == "invalid_grant" => {
                OidcError::CodeRefused(self.settings.display_name.clone())
            }
            // Our configuration, not the researcher's doing.
            RequestTokenError::ServerResponse(answer)
                if matches!(answer.error().as_ref(), "invalid_client" | "unauthorized_client") =>
            {
                tracing::error!(error = %answer, "the identity provider refused this client: check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET");
                self.unreachable("it does not accept this service's client")
            }
            RequestTokenError::ServerResponse(answer) => {
                tracing::warn!(error = %answer, "the identity provider refused the code");
                self.untrusted(format!("it refused the sign-in code: {}", answer.error().as_ref()))
            }
            // Tokens it sent that cannot be read (an ID token without `sub`, or not a JWT): an
            // answer of JSON with an ID token in it, that the library could not take.
            RequestTokenError::Parse(e, body) if has_id_token(&body) => {
                tracing::warn!(error = %e, "the identity provider's ID token could not be read");
                self.untrusted(format!("its ID token could not be read: {}", e.inner()))
            }
            other => {
                tracing::warn!(error = %error_chain(&other), "exchanging the code failed");
                self.unreachable(format!("its token endpoint: {}", error_chain(&other)))
            }
        })
    }

    fn verify(
        &self,
        metadata: CoreProviderMetadata,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: &Nonce,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let client = self.client(metadata).map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        id_token.claims(&client.id_token_verifier(), nonce).cloned()
    }

    /// Reads the provider's keys again (it signed with one we do not have) and keeps them.
    async fn refresh_keys(&self, metadata: CoreProviderMetadata) -> Result<CoreProviderMetadata, OidcError> {
        tracing::info!("the ID token is signed with a key the provider did not list before: reading its keys again");
        let keys = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| self.unreachable(format!("its keys could not be read: {}", error_chain(&e))))?;
        let metadata = metadata.set_jwks(keys);
        *self.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    /// Userinfo for the ID token's subject; none when the provider has no userinfo endpoint.
    async fn userinfo(
        &self,
        token: AccessToken,
        claims: &CoreIdTokenClaims,
    ) -> Result<Option<UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim>>, OidcError> {
        let client = self.client(self.metadata().await?)?;
        let Ok(request) = client.user_info(token, Some(claims.subject().clone())) else { return Ok(None) };
        match request.request_async(&self.http).await {
            Ok(info) => Ok(Some(info)),
            Err(openidconnect::UserInfoError::ClaimsVerification(e)) => {
                Err(self.untrusted(format!("its userinfo is for someone else: {e}")))
            }
            Err(openidconnect::UserInfoError::Parse(e)) => {
                Err(self.untrusted(format!("its userinfo could not be read: {}", e.inner())))
            }
            Err(e) => Err(self.unreachable(format!("its userinfo endpoint: {}", error_chain(&e)))),
        }
    }

    /// For `aao-export check`: the provider's discovery document is readable, and its token
    /// endpoint accepts this client (asked to redeem a code that was never issued, a provider
    /// answers `invalid_grant` to a client it knows and `invalid_client` to one it does not).
    pub async fn check(&self) -> Result<String, String> {
        let metadata = self.metadata().await.map_err(|e| e.to_string())?;
        let issuer = metadata.issuer().as_str().to_string();
        let client = self.client(metadata).map_err(|e| e.to_string())?;
        let request = client
            .exchange_code(AuthorizationCode::new("aao-export-check-not-a-code".into()))
            .map_err(|_| "its discovery document names no token endpoint".to_string())?
            .set_pkce_verifier(PkceCodeChallenge::new_random_sha256().1);
        match request.request_async(&self.http).await {
            Err(RequestTokenError::ServerResponse(answer)) if answer.error().as_ref() == "invalid_grant" => {
                Ok(format!(
                    "{} at {issuer}: discovered, and its token endpoint accepts client {:?}; redirect URI {}",
                    self.settings.display_name,
                    self.settings.client_id,
                    self.redirect_url()
                ))
            }
            Err(RequestTokenError::ServerResponse(answer)) => Err(format!(
                "{issuer} refused client {:?}: {answer} (check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET)",
                self.settings.client_id
            )),
            Err(other) => Err(format!("{issuer}'s token endpoint: {}", error_chain(&other))),
            Ok(_) => Err(format!("{issuer}'s token endpoint redeemed a code it never issued")),
        }
    }
}

/// Whether a token endpoint's answer is a JSON object with an `id_token`.
fn has_id_token(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|answer| answer.get("id_token").is_some())
}

/// A claim's text in the default language, if it has one.
fn localized<T: std::ops::Deref<Target = String>>(claim: Option<&openidconnect::LocalizedClaim<T>>) -> Option<String> {
    claim.and_then(|c| c.get(None)).map(|v| v.to_string())
}

/// The issuer of an issuer URL or of its discovery document's URL.
fn issuer_of(url: &str) -> String {
    let url = url.trim();
    url.strip_suffix("/.well-known/openid-configuration").unwrap_or(url).to_string()
}

/// What was wrong with an ID token, briefly.
fn verification_problem(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::InvalidAudience(_) => "the ID token was issued to another service (audience)".into(),
        ClaimsVerificationError::InvalidIssuer(_) => "the ID token comes from another issuer".into(),
        ClaimsVerificationError::InvalidNonce(_) => "the ID token is for another sign-in (nonce)".into(),
        ClaimsVerificationError::Expired(_) => "the ID token has expired".into(),
        ClaimsVerificationError::SignatureVerification(_) => "the ID token's signature is not valid".into(),
        ClaimsVerificationError::InvalidSubject(_) => "the ID token names no valid subject".into(),
        other => format!("the ID token: {other}"),
    }
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Our reqwest client as `openidconnect`'s HTTP client; answers are read up to
/// [`MAX_ANSWER_BYTES`].
struct Http(reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpFailure(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpFailure>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let failure = |e: reqwest::Error| HttpFailure(error_chain(&e));
            let request = reqwest::Request::try_from(request).map_err(failure)?;
            let mut response = self.0.execute(request).await.map_err(failure)?;
            let mut answer = axum::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failure)? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(HttpFailure(format!("an answer over {MAX_ANSWER_BYTES} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            answer.body(body).map_err(|e| HttpFailure(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aao_metadata_url_names_the_issuer() {
        assert_eq!(issuer_of("https://cilogon.org/.well-known/openid-configuration"), "https://cilogon.org");
        assert_eq!(issuer_of(" https://cilogon.org "), "https://cilogon.org");
    }
}
