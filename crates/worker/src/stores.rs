//! The object stores, by location: a local folder (`data/observations`, `./x`, `/abs`, `file:///abs`)
//! or S3 (`s3://bucket[/prefix]`, or a bare bucket name). One code path serves both.

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use std::sync::Arc;

/// Where S3 lives and how to reach it (credentials come from the usual AWS variables).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub region: String,
    /// An S3-compatible endpoint such as an emulator on loopback; plain http is then allowed.
    pub endpoint_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store location {location:?}: {source}")]
    Open { location: String, source: object_store::Error },
    #[error("object store location {location:?}: {message}")]
    Invalid { location: String, message: String },
}

/// A location, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Local(std::path::PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StoreLocation {
    pub fn parse(location: &str) -> Result<Self, StoreError> {
        let invalid = |message: &str| StoreError::Invalid { location: location.into(), message: message.into() };
        let location = location.trim();
        if location.is_empty() {
            return Err(invalid("empty"));
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket name after s3://"));
            }
            return Ok(StoreLocation::S3 { bucket: bucket.into(), prefix: prefix.trim_matches('/').into() });
        }
        if let Some(path) = location.strip_prefix("file://") {
            return Ok(StoreLocation::Local(path.into()));
        }
        let looks_like_path = location.contains('/') || location.starts_with('.') || location.starts_with('~');
        if looks_like_path {
            Ok(StoreLocation::Local(location.into()))
        } else {
            Ok(StoreLocation::S3 { bucket: location.into(), prefix: String::new() })
        }
    }
}

/// Opens (and for a local folder, creates) the store at a location.
pub fn open_store(location: &str, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let open_err = |source| StoreError::Open { location: location.into(), source };
    match StoreLocation::parse(location)? {
        StoreLocation::Local(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::Invalid { location: location.into(), message: e.to_string() })?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir).map_err(open_err)?.with_automatic_cleanup(true)))
        }
        StoreLocation::S3 { bucket, prefix } => {
            let store = s3_builder(&bucket, s3).build().map_err(open_err)?;
            Ok(if prefix.is_empty() { Arc::new(store) } else { Arc::new(PrefixStore::new(store, prefix.as_str())) })
        }
    }
}

/// The exports store, with what downloads need: S3 can presign a GET; a local folder is served
/// by the API itself (HMAC-signed `/downloads/...` URLs), from `local_root`.
#[derive(Clone)]
pub struct ExportsStore {
    pub store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix` or the local folder, as configured (for the `s3_url` column and logs).
    pub location: String,
    pub backing: ExportsBacking,
}

#[derive(Clone)]
pub enum ExportsBacking {
    Local { root: std::path::PathBuf },
    S3 { signer: Arc<object_store::aws::AmazonS3>, prefix: String },
}

impl ExportsStore {
    pub fn open(location: &str, s3: &S3Settings) -> Result<Self, StoreError> {
        let store = open_store(location, s3)?;
        let backing = match StoreLocation::parse(location)? {
            StoreLocation::Local(root) => ExportsBacking::Local { root },
            StoreLocation::S3 { bucket, prefix } => {
                let signer = s3_builder(&bucket, s3).build().map_err(|source| StoreError::Open { location: location.into(), source })?;
                ExportsBacking::S3 { signer: Arc::new(signer), prefix }
            }
        };
        Ok(Self { store, location: location.to_string(), backing })
    }

    /// The full location of a key: `s3://bucket/prefix/key` or the file's path.
    pub fn url_of(&self, key: &str) -> String {
        match &self.backing {
            ExportsBacking::Local { root } => root.join(key).display().to_string(),
            ExportsBacking::S3 { .. } => format!("{}/{key}", self.location.trim_end_matches('/')),
        }
    }

    /// Removes what an upload to `key` interrupted by a killed process left behind. A local
    /// folder stages multipart uploads as `{key}#{n}` beside the key; on S3 an incomplete
    /// multipart upload is invisible and the bucket's lifecycle rule (AbortIncompleteMultipartUpload)
    /// removes it.
    pub fn clear_interrupted_uploads(&self, key: &str) -> std::io::Result<usize> {
        let ExportsBacking::Local { root } = &self.backing else { return Ok(0) };
        let path = root.join(key);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return Ok(0) };
        let staged = format!("{name}#");
        let mut removed = 0;
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_str().is_some_and(|n| n.starts_with(&staged)) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A presigned GET for a key, valid for `expires_in` (S3 only).
    pub async fn presigned_get(&self, key: &str, expires_in: std::time::Duration) -> Option<Result<url::Url, object_store::Error>> {
        use object_store::signer::Signer;
        let ExportsBacking::S3 { signer, prefix } = &self.backing else { return None };
        let full = if prefix.is_empty() { key.to_string() } else { format!("{prefix}/{key}") };
        Some(signer.signed_url(http::Method::GET, &object_store::path::Path::from(full), expires_in).await)
    }
}

fn s3_builder(bucket: &str, s3: &S3Settings) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if !s3.region.is_empty() {
        builder = builder.with_region(&s3.region);
    }
    if let Some(endpoint) = s3.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(StoreLocation::parse("data/observations").unwrap(), StoreLocation::Local("data/observations".into()));
        assert_eq!(StoreLocation::parse("/abs").unwrap(), StoreLocation::Local("/abs".into()));
        assert_eq!(StoreLocation::parse("file:///x/y").unwrap(), StoreLocation::Local("/x/y".into()));
        assert_eq!(StoreLocation::parse("s3://b/p/q/").unwrap(), StoreLocation::S3 { bucket: "b".into(), prefix: "p/q".into() });
        assert_eq!(StoreLocation::parse("my-bucket").unwrap(), StoreLocation::S3 { bucket: "my-bucket".into(), prefix: "".into() });
        assert!(StoreLocation::parse("s3://").unwrap_err().to_string().contains("no bucket name"));
        assert!(StoreLocation::parse("  ").is_err());
    }
}
