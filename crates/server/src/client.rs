//! Where a request comes from, for counting sign-ins per address: the connection's peer
//! (`ConnectInfo`, which the Lambda front door fills from API Gateway's `sourceIp`), or, when that
//! peer is a configured trusted proxy, the last address in `X-Forwarded-For` that is not one of
//! the trusted proxies. A client cannot choose its address by sending the header itself.

use crate::state::Shared;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The requesting client's address, `None` when nothing tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<Shared> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientAddress(peer.map(|peer| behind_proxies(peer, &parts.headers, &state.trusted_proxies))))
    }
}

/// The client behind a chain of trusted proxies: `peer` itself unless it is trusted; then the
/// last `X-Forwarded-For` address that is not trusted (each proxy appends the address it saw).
fn behind_proxies(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded.into_iter().rev().find(|a| !trusted.contains(a)).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 1.2.3.4"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(behind_proxies(ip("9.9.9.9"), &headers, &trusted), ip("9.9.9.9"), "an untrusted peer is the client");
        assert_eq!(
            behind_proxies(ip("10.0.0.1"), &headers, &trusted),
            ip("1.2.3.4"),
            "the last address a trusted proxy did not add; the client's own claim (6.6.6.6) is not it"
        );
        assert_eq!(behind_proxies(ip("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"), "no header: the proxy");
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", HeaderValue::from_static("not an address, , 10.0.0.2"));
        assert_eq!(behind_proxies(ip("10.0.0.1"), &junk, &trusted), ip("10.0.0.1"), "nothing usable");
    }
}
