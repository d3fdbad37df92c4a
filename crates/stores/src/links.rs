//! Download links of exports kept in a local folder: `{base_url}/downloads/{export_id}?expires=
//! {unix_s}&signature={hex HMAC-SHA256 of "{export_id}:{expires}"}`. The API serves them without
//! other credentials: the signature is the credential, so the key never leaves this type.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Signs and checks local download links.
#[derive(Clone)]
pub struct LocalLinks {
    base_url: String,
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for LocalLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLinks").field("base_url", &self.base_url).field("key", &"[redacted]").finish()
    }
}

impl LocalLinks {
    /// Links under `base_url` (the API's public URL), signed with `key`.
    pub fn new(base_url: &str, key: Vec<u8>) -> Self {
        LocalLinks { base_url: base_url.trim_end_matches('/').to_string(), key: key.into() }
    }

    /// The signature of a link: hex HMAC-SHA256 of `"{export_id}:{expires}"`.
    pub fn signature(&self, export_id: &str, expires: i64) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.expose_secret()).expect("HMAC takes keys of any length");
        mac.update(format!("{export_id}:{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The link to an export's file, valid until `expires` (Unix seconds).
    pub fn url(&self, export_id: &str, expires: i64) -> String {
        format!(
            "{}/downloads/{export_id}?expires={expires}&signature={}",
            self.base_url,
            self.signature(export_id, expires)
        )
    }

    /// True when `signature` is this key's signature of the link (compared in constant time).
    /// An empty key verifies nothing.
    pub fn verify(&self, export_id: &str, expires: i64, signature: &str) -> bool {
        !self.key.expose_secret().is_empty()
            && bool::from(self.signature(export_id, expires).as_bytes().ct_eq(signature.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_id_and_expiry() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let links = LocalLinks::new("http://h/", b"k".to_vec());
        let a = links.signature("id", 10);
        assert_eq!(a.len(), 64);
        assert_ne!(a, links.signature("id", 11));
        assert_ne!(a, LocalLinks::new("http://h", b"k2".to_vec()).signature("id", 10));
        assert!(links.verify("id", 10, &a) && !links.verify("id", 11, &a) && !links.verify("id", 10, "00"));
        assert!(!LocalLinks::new("http://h", Vec::new()).verify(
            "id",
            10,
            &LocalLinks::new("x", Vec::new()).signature("id", 10)
        ));
        assert_eq!(links.url("id", 10), format!("http://h/downloads/id?expires=10&signature={a}"));
        assert!(!format!("{links:?}").contains("107"), "the key never prints");
    }
}
