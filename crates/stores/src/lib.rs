//! The object stores, by location: a local folder (`data/observations`, `./x`, `/abs`, `file:///abs`)
//! or S3 (`s3://bucket[/prefix]`, or a bare bucket name). One code path serves both, through
//! `object_store`. The exports store also makes download links: presigned GETs on S3, HMAC-signed
//! links served by the API for a local folder ([`links`]).

pub mod bucket_rules;
pub mod links;

pub use aao_export_aws::{AwsSettings, sdk_config};
pub use links::LocalLinks;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store location {location:?}: {source}")]
    Open { location: String, source: object_store::Error },
    #[error("object store location {location:?}: {message}")]
    Invalid { location: String, message: String },
    #[error("object store location {location:?}: {source}")]
    Folder { location: String, source: std::io::Error },
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
pub fn open_store(location: &str, s3: &AwsSettings) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let open_err = |source| StoreError::Open { location: location.into(), source };
    match StoreLocation::parse(location)? {
        StoreLocation::Local(dir) => {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Folder { location: location.into(), source })?;
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
    pub fn open(location: &str, s3: &AwsSettings) -> Result<Self, StoreError> {
        let store = open_store(location, s3)?;
        let backing = match StoreLocation::parse(location)? {
            StoreLocation::Local(root) => ExportsBacking::Local { root },
            StoreLocation::S3 { bucket, prefix } => {
                let signer = s3_builder(&bucket, s3)
                    .build()
                    .map_err(|source| StoreError::Open { location: location.into(), source })?;
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

    /// A download link for the object at `key`, valid for `valid_for` from `now_ms`: a presigned GET
    /// on S3, a link signed by `local` for a local folder.
    pub async fn download_link(
        &self,
        local: &LocalLinks,
        export_id: uuid::Uuid,
        key: &str,
        now_ms: i64,
        valid_for: std::time::Duration,
    ) -> Result<String, object_store::Error> {
        use object_store::signer::Signer;
        match &self.backing {
            ExportsBacking::S3 { signer, prefix } => {
                let full = if prefix.is_empty() { key.to_string() } else { format!("{prefix}/{key}") };
                let url =
                    signer.signed_url(http::Method::GET, &object_store::path::Path::from(full), valid_for).await?;
                Ok(url.to_string())
            }
            ExportsBacking::Local { .. } => {
                let expires = now_ms.saturating_add(aao_export_core::time::millis(valid_for)).div_euclid(1000);
                Ok(local.url(&export_id.to_string(), expires))
            }
        }
    }

    /// The file of a key in a local exports folder; `None` on S3 or for a key that would leave the folder.
    pub fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        let ExportsBacking::Local { root } = &self.backing else { return None };
        let key = std::path::Path::new(key);
        key.components().all(|c| matches!(c, std::path::Component::Normal(_))).then(|| root.join(key))
    }

    /// True when downloads are served by presigned S3 URLs (not by the API).
    pub fn is_s3(&self) -> bool {
        matches!(self.backing, ExportsBacking::S3 { .. })
    }
}

fn s3_builder(bucket: &str, s3: &AwsSettings) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(region) = s3.region() {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = s3.endpoint() {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            StoreLocation::parse("data/observations").unwrap(),
            StoreLocation::Local("data/observations".into())
        );
        assert_eq!(StoreLocation::parse("/abs").unwrap(), StoreLocation::Local("/abs".into()));
        assert_eq!(StoreLocation::parse("file:///x/y").unwrap(), StoreLocation::Local("/x/y".into()));
        assert_eq!(
            StoreLocation::parse("s3://b/p/q/").unwrap(),
            StoreLocation::S3 { bucket: "b".into(), prefix: "p/q".into() }
        );
        assert_eq!(
            StoreLocation::parse("my-bucket").unwrap(),
            StoreLocation::S3 { bucket: "my-bucket".into(), prefix: "".into() }
        );
        assert!(StoreLocation::parse("s3://").unwrap_err().to_string().contains("no bucket name"));
        assert!(StoreLocation::parse("  ").is_err());
    }

    #[test]
    fn keys_never_leave_the_root() {
        let dir = std::env::temp_dir().join(format!("aao-stores-{}", uuid::Uuid::new_v4()));
        let store = ExportsStore::open(dir.to_str().unwrap(), &AwsSettings::default()).unwrap();
        assert_eq!(store.local_path("outputs/a.zip"), Some(dir.join("outputs/a.zip")));
        assert_eq!(store.local_path("../etc/passwd"), None);
        assert_eq!(store.local_path("/etc/passwd"), None);
        assert_eq!(store.local_path("outputs/../../x"), None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
