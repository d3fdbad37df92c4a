//! The indexer: scans the observations store for RDOs (both AAO key layouts) and brings the
//! catalogue up to date. Unchanged objects are skipped by version; withdrawn participants' ads
//! are removed, and so are the ads of RDOs gone from the store; RDOs that cannot be read are
//! reported by key and the scan goes on.
//!
//! For each new or changed RDO it also records the ad's images (its `media[]` keys, in the same
//! bucket) found in the store and their bytes, so that a preview can estimate an export's size as
//! a sum over the catalogue. Sizes come from a `head` per media key, a few at a time, rather than
//! from the listing: the listing reaches an observer's `rdo/` keys before its `temp-v2/` images
//! (and media may live anywhere in the bucket), so matching them up would mean holding every
//! image's size of the bucket in memory. Heads are paid once per new or changed RDO; on local
//! folders a head is a `stat`. A missing image counts 0.

use aao_export_core::catalogue::catalogue_entry;
use aao_export_core::document::parse_rdo;
use aao_export_db::{CatalogueDb, DbError, ObjectOutcome, OutcomeKind};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// RDOs recorded per transaction.
pub const BATCH: usize = 1000;
/// Batches in hand at once: while one is written, the next is looked up, read and parsed.
const BATCHES_AHEAD: usize = 2;
/// RDOs of one batch read at the same time.
const FETCH_CONCURRENCY: usize = 16;
/// Heads of one ad's images at the same time (so at most 16 × 4 requests in flight).
const HEAD_CONCURRENCY: usize = 4;
/// Recorded keys read at once when looking for the ones a full listing no longer holds.
const SWEEP_PAGE: u32 = 5000;

/// What one run of the indexer did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexReport {
    /// RDO objects found in the store.
    pub scanned: u64,
    /// New or changed RDOs now in the catalogue.
    pub indexed: u64,
    pub unchanged: u64,
    /// Withdrawn participants' ads removed or kept out.
    pub withdrawn: u64,
    /// RDOs gone from the store whose ads left the catalogue.
    pub removed: u64,
    /// RDOs that cannot be read (found in this run or earlier and unchanged since), with the reason.
    pub unparseable: Vec<(String, String)>,
}

/// `{observer_uuid}/rdo/{timestamp_ms}.{ad_uuid}/output.json` or the older
/// `{observer_uuid}/rdo/{ad_uuid}/output.json`.
pub fn is_rdo_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    matches!(parts.as_slice(), [observer, "rdo", ad, "output.json"] if !observer.is_empty() && !ad.is_empty())
}

fn version(meta: &ObjectMeta) -> String {
    meta.e_tag.clone().unwrap_or_else(|| format!("{}-{}", meta.size, meta.last_modified.timestamp_millis()))
}

/// Why an indexing run stopped (an unreadable RDO does not stop it: it is reported).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("reading the observations store failed: {0}")]
    Listing(#[from] object_store::Error),
    #[error("recording the catalogue failed: {0}")]
    Db(#[from] DbError),
    #[error("reading a batch of RDOs stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Indexes the whole store; `on_progress` hears the number of RDO objects looked at so far.
///
/// The listing is cut into batches of [`BATCH`] keys; each batch is recorded in one transaction,
/// so a run that stops midway keeps every batch before it and the next run skips those as
/// unchanged. Batches are read in spawned tasks ([`BATCHES_AHEAD`] in hand), so the store's
/// reads and the parsing (on the blocking pool, every core) overlap the database's writes.
/// Once the whole listing is read, the recorded RDOs it did not hold are gone ([`sweep_gone`]).
pub async fn index_observations(
    storage: Arc<dyn CatalogueDb>,
    observations: Arc<dyn ObjectStore>,
    on_progress: impl Fn(u64),
) -> Result<IndexReport, IndexError> {
    let mut report = IndexReport::default();
    let mut listed = HashSet::new();
    let mut batches = observations
        .list(None)
        .try_filter(|m| futures::future::ready(is_rdo_key(m.location.as_ref())))
        .chunks(BATCH)
        .map(|listed| tokio::spawn(read_batch(storage.clone(), observations.clone(), listed)))
        .buffered(BATCHES_AHEAD);
    while let Some(batch) = batches.next().await {
        let batch = batch??;
        report.scanned += batch.keys.len() as u64;
        report.unchanged += (batch.keys.len() - batch.outcomes.len()) as u64;
        listed.extend(batch.keys);
        report.count(&batch.outcomes);
        storage.record_objects(&batch.outcomes).await?;
        on_progress(report.scanned);
    }
    // A listing without a single RDO is an empty or wrong store (a folder not mounted, say) far
    // more likely than every RDO deleted: it takes nothing out.
    if listed.is_empty() {
        tracing::warn!("the observations store lists no RDO; the catalogue is left as it is");
    } else {
        report.removed = sweep_gone(storage.as_ref(), observations.as_ref(), &listed).await?;
    }
    // Every RDO still unreadable, including those skipped as unchanged, so each run reports them.
    report.unparseable = storage.unparseable_objects().await?;
    Ok(report)
}

/// One batch of the listing: its keys (as [`key_hash`]es) and what is new or changed since the
/// catalogue last saw it.
struct ReadBatch {
    keys: Vec<u64>,
    outcomes: Vec<ObjectOutcome>,
}

/// A listed key, in 8 bytes: a full listing of a million keys is remembered in a few MB. Two keys
/// sharing a hash (odds about 1 in 10^7 at a million keys) only keep a gone RDO's ad one run longer.
fn key_hash(key: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// After a complete listing, the recorded keys it did not hold: each is checked with a `head`
/// (an RDO written since the listing passed its place is there, and kept for the next run), and
/// those the store no longer has leave the catalogue with their ads. How many left.
async fn sweep_gone(
    storage: &dyn CatalogueDb,
    store: &dyn ObjectStore,
    listed: &HashSet<u64>,
) -> Result<u64, IndexError> {
    let mut gone = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let keys = storage.object_keys(after.as_deref(), SWEEP_PAGE).await?;
        let full_page = keys.len() == SWEEP_PAGE as usize;
        after = keys.last().cloned();
        for key in keys.into_iter().filter(|k| !listed.contains(&key_hash(k))) {
            let found = match Path::parse(&key) {
                Ok(path) => match store.head(&path).await {
                    Ok(_) => true,
                    Err(object_store::Error::NotFound { .. }) => false,
                    Err(e) => return Err(e.into()),
                },
                Err(_) => false,
            };
            if !found {
                gone.push(ObjectOutcome { key, version: String::new(), kind: OutcomeKind::Removed });
            }
        }
        if !full_page {
            break;
        }
    }
    for chunk in gone.chunks(BATCH) {
        storage.record_objects(chunk).await?;
    }
    Ok(gone.len() as u64)
}

async fn read_batch(
    storage: Arc<dyn CatalogueDb>,
    observations: Arc<dyn ObjectStore>,
    listed: Vec<object_store::Result<ObjectMeta>>,
) -> Result<ReadBatch, IndexError> {
    let metas: Vec<ObjectMeta> = listed.into_iter().collect::<Result<_, _>>()?;
    let keys: Vec<String> = metas.iter().map(|m| m.location.to_string()).collect();
    let known = storage.object_versions(&keys).await?;
    let hashes = keys.iter().map(|k| key_hash(k)).collect();
    let changed: Vec<ObjectMeta> =
        metas.into_iter().filter(|m| known.get(m.location.as_ref()) != Some(&version(m))).collect();
    let outcomes = futures::stream::iter(changed)
        .map(|meta| {
            let store = observations.clone();
            async move { read_rdo(store, meta).await }
        })
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    Ok(ReadBatch { keys: hashes, outcomes })
}

/// Indexes just these keys (an S3 event's, or `index --key`): an RDO that is there is read
/// (whatever its version), one that is gone takes its ad out of the catalogue. Keys that are not
/// RDO keys are skipped. The report's `unparseable` lists only these keys' problems.
pub async fn index_keys(
    storage: Arc<dyn CatalogueDb>,
    observations: Arc<dyn ObjectStore>,
    keys: &[String],
) -> Result<IndexReport, IndexError> {
    let mut report = IndexReport::default();
    let mut outcomes = Vec::new();
    for key in keys.iter().filter(|k| is_rdo_key(k)) {
        report.scanned += 1;
        let Ok(path) = Path::parse(key) else { continue };
        let outcome = match observations.head(&path).await {
            Ok(meta) => read_rdo(observations.clone(), meta).await,
            Err(object_store::Error::NotFound { .. }) => {
                ObjectOutcome { key: key.clone(), version: String::new(), kind: OutcomeKind::Removed }
            }
            Err(e) => return Err(IndexError::Listing(e)),
        };
        if let OutcomeKind::Unparseable(reason) = &outcome.kind {
            report.unparseable.push((key.clone(), reason.clone()));
        }
        outcomes.push(outcome);
    }
    report.count(&outcomes);
    storage.record_objects(&outcomes).await?;
    Ok(report)
}

impl IndexReport {
    fn count(&mut self, outcomes: &[ObjectOutcome]) {
        for o in outcomes {
            match &o.kind {
                OutcomeKind::Indexed(..) => self.indexed += 1,
                OutcomeKind::Withdrawn { .. } => self.withdrawn += 1,
                OutcomeKind::Removed => self.removed += 1,
                OutcomeKind::Unparseable(reason) => tracing::warn!(key = %o.key, %reason, "RDO could not be indexed"),
            }
        }
    }
}

// Owned arguments: the futures of a batch run in a spawned task, which must be `Send` for every
// lifetime (borrowed ones trip the compiler's higher-ranked `Send` check).
async fn read_rdo(store: Arc<dyn ObjectStore>, meta: ObjectMeta) -> ObjectOutcome {
    let key = meta.location.to_string();
    let mut version = version(&meta);
    let bytes = match store.get(&meta.location).await {
        Ok(result) => result.bytes().await,
        Err(e) => Err(e),
    };
    let mut kind = match bytes {
        Err(e) => OutcomeKind::Unparseable(format!("could not be read: {e}")),
        // Parsing is the indexer's CPU work: on the blocking pool it runs on every core.
        Ok(bytes) => tokio::task::spawn_blocking(move || classify(&bytes))
            .await
            .unwrap_or_else(|e| OutcomeKind::Unparseable(format!("could not be parsed: {e}"))),
    };
    if let OutcomeKind::Indexed(entry, _) = &mut kind {
        let sizes = image_sizes(store, entry.media.clone()).await;
        (entry.image_count, entry.image_bytes) = (sizes.count, sizes.bytes);
        if sizes.unknown > 0 {
            // Not the image's fault but the store's: an empty version makes the next run read
            // this RDO and size its images again, instead of keeping a count that is too low.
            tracing::warn!(%key, unknown = sizes.unknown, "some of the ad's images could not be sized; the next run tries again");
            version = String::new();
        }
    }
    ObjectOutcome { key, version, kind }
}

/// The images of an ad found in the store and their bytes; `unknown` counts those the store
/// could not answer for (an error other than "not found").
#[derive(Debug, Default, PartialEq)]
struct ImageSizes {
    count: u64,
    bytes: u64,
    unknown: u64,
}

async fn image_sizes(store: Arc<dyn ObjectStore>, media: Vec<String>) -> ImageSizes {
    futures::stream::iter(media)
        .map(|key| {
            let store = store.clone();
            async move {
                // A key that is no object key names no image, as for the export.
                let Ok(path) = Path::parse(&key) else { return Ok(None) };
                match store.head(&path).await {
                    Ok(meta) => Ok(Some(meta.size)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .fold(ImageSizes::default(), |mut sizes, found| async move {
            match found {
                Ok(Some(size)) => {
                    sizes.count += 1;
                    sizes.bytes += size;
                }
                Ok(None) => {}
                Err(_) => sizes.unknown += 1,
            }
            sizes
        })
        .await
}

fn classify(bytes: &[u8]) -> OutcomeKind {
    let rdo = match parse_rdo(bytes) {
        Ok(rdo) => rdo,
        Err(e) => return OutcomeKind::Unparseable(e),
    };
    match catalogue_entry(&rdo) {
        Err(e) => OutcomeKind::Unparseable(format!("the RDO has {e}")),
        Ok(entry) if entry.withdrawn => OutcomeKind::Withdrawn { observation_id: Some(entry.observation_id) },
        // Stored compact (key order kept): exports read every stored byte, and phones pretty-print.
        Ok(entry) => OutcomeKind::Indexed(Box::new(entry), serde_json::Value::Object(rdo).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_both_key_layouts() {
        assert!(is_rdo_key("48734387-5226/rdo/1759583019000.e60b8866/output.json"));
        assert!(is_rdo_key("48734387-5226/rdo/e60b8866/output.json"));
        assert!(!is_rdo_key("48734387-5226/temp-v2/x/480.jpg"));
        assert!(!is_rdo_key("rdo/x/output.json"));
        assert!(!is_rdo_key("a/rdo/b/c/output.json"));
    }

    #[test]
    fn classifies_bad_and_withdrawn_rdos() {
        assert!(matches!(classify(b"not json"), OutcomeKind::Unparseable(r) if r.contains("not valid JSON")));
        assert!(matches!(classify(b"{}"), OutcomeKind::Unparseable(r) if r.contains("observation")));
        let withdrawn = br#"{"is_user_disabled":true,"observer":{"uuid":"o"},"observation":{"uuid":"1.a","observed_on_device_at":1}}"#;
        assert_eq!(classify(withdrawn), OutcomeKind::Withdrawn { observation_id: Some("a".into()) });
    }
}
