//! Writes the demo data set (see [`DemoData`]) into the observations store and the AAO tables.
//! It does not index: the indexer is the job runner's, so callers run it right after, like on
//! any other bucket.

use crate::{DemoConfig, DemoData};
use aao_export_core::document::{Attribute, Classification};
use aao_export_db::{CatalogueDb, CurationRecord, DbError, Tag, User, UsersDb};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

const WRITE_CONCURRENCY: usize = 16;
const CURATION_BATCH: usize = 500;

/// Ads, images and bytes written.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub ads: u64,
    pub images: u64,
    pub bytes: u64,
    /// The demo participants (observer UUID, withdrawn).
    pub observers: Vec<(String, bool)>,
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("writing the demo tables: {0}")]
    Db(#[from] DbError),
    #[error("writing to the observations store: {0}")]
    Store(#[from] object_store::Error),
    #[error("a demo object key is not valid: {0}")]
    Key(#[from] object_store::path::Error),
    #[error("generating a demo ad: {0}")]
    Generator(#[from] tokio::task::JoinError),
}

/// Progress callback: ads written so far.
pub struct SeedProgress<'a> {
    pub written: &'a (dyn Fn(u64) + Sync),
}

/// Writes the users, tags and curation of `config`'s data set to `storage` and its RDOs and images
/// to `observations`; the catalogue stays as it was until the caller indexes.
pub async fn seed_demo_data<D: UsersDb + CatalogueDb + ?Sized>(
    storage: &D,
    observations: Arc<dyn ObjectStore>,
    config: &DemoConfig,
    progress: SeedProgress<'_>,
) -> Result<SeedReport, SeedError> {
    let demo = Arc::new(DemoData::new(config));
    let users: Vec<User> = demo
        .users()
        .iter()
        .map(|u| User {
            id: u.id.clone(),
            full_name: u.full_name.clone(),
            enabled: true,
            role: u.role.clone(),
            primary_email: u.email.clone(),
        })
        .collect();
    storage.put_users(&users).await?;
    let tags: Vec<Tag> = demo
        .tags()
        .iter()
        .map(|t| Tag {
            id: t.id.clone(),
            name: t.name.clone(),
            description: Some(t.description.clone()),
            hex: Some(t.hex.clone()),
        })
        .collect();
    storage.put_tags(&tags).await?;

    let (mut ads, mut images, mut bytes) = (0u64, 0u64, 0u64);
    let mut curation = Vec::new();
    let mut writes = futures::stream::iter(0..config.ads)
        .map(|i| {
            let demo = demo.clone();
            let store = observations.clone();
            async move {
                let ad = tokio::task::spawn_blocking(move || demo.ad(i)).await?;
                let mut written = ad.rdo.len() as u64;
                store.put(&Path::parse(&ad.rdo_key)?, PutPayload::from(ad.rdo.clone())).await?;
                for (key, image) in &ad.images {
                    written += image.len() as u64;
                    store.put(&Path::parse(key)?, PutPayload::from(image.clone())).await?;
                }
                Ok::<_, SeedError>((ad, written))
            }
        })
        .buffer_unordered(WRITE_CONCURRENCY);
    while let Some(result) = writes.next().await {
        let (ad, written) = result?;
        ads += 1;
        images += ad.images.len() as u64;
        bytes += written;
        if !ad.tag_ids.is_empty() || !ad.attributes.is_empty() || !ad.classifications.is_empty() {
            curation.push(CurationRecord {
                observation_id: ad.observation_id.clone(),
                tag_ids: ad.tag_ids,
                attributes: ad
                    .attributes
                    .into_iter()
                    .map(|a| Attribute {
                        key: a.key,
                        value: Some(a.value),
                        created_at: Some(a.created_at),
                        created_by: Some(a.created_by),
                        modified_at: Some(a.modified_at),
                        modified_by: Some(a.modified_by),
                    })
                    .collect(),
                classifications: ad
                    .classifications
                    .into_iter()
                    .map(|c| Classification { label: c.label, score: c.score })
                    .collect(),
            });
        }
        if curation.len() >= CURATION_BATCH {
            storage.put_curation(&std::mem::take(&mut curation)).await?;
        }
        (progress.written)(ads);
    }
    storage.put_curation(&curation).await?;
    Ok(SeedReport { ads, images, bytes, observers: demo.observers() })
}
