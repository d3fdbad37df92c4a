//! Deterministic, realistic demo data for the export service, and writing it into a store.
//!
//! The generator performs no I/O. [`DemoData::ad`] is a pure function of `(seed, index)`: it
//! returns the ad's RDO (version 2, shaped like the AAO's `sample-rdo.json`), the object keys and
//! JPEG bytes of its images, and the relational curation data (tags, attributes, classifications)
//! that the AAO keeps in PostgreSQL. Callers store the output wherever they like, or let
//! [`seed_demo_data`] write it into an observations store and the AAO tables. Seeding does not
//! index: the indexer belongs to the job runner, which this crate must not depend on, so callers
//! run it themselves afterwards.
//!
//! Images come from a pool of [`POOL_SLOTS`] distinct JPEGs per seed. Each slot is encoded at most
//! once, lazily on first use (or eagerly, in parallel, by [`DemoData::new`] when the configuration
//! needs many images, or by [`DemoData::warm_up`]), so the bytes of slot `j` never depend on the
//! configured number of ads: the same `(seed, index)` always yields byte-identical images.
//!
//! Modules: `vocabulary` (devices, advertisers, phrases, users and tags ads are made of), `ad` (one
//! ad's RDO and curation), `ad_library` (its Meta Ad Library candidates), `images` (the JPEG pool),
//! `rng` (the seeded random streams), `seed` (writing to stores).

mod ad;
mod ad_library;
mod images;
mod rng;
mod seed;
mod vocabulary;

pub use seed::{SeedError, SeedProgress, SeedReport, seed_demo_data};

use std::sync::OnceLock;

use bytes::Bytes;
use rand::RngExt;

use crate::images::render_pool_jpeg;
use crate::rng::{DOMAIN_ADVERTISERS, DOMAIN_OBSERVERS, pick, rng_for, uuid_v4};
use crate::vocabulary::{ADVERTISERS, DEVICES, Device, STRESS_ADVERTISERS, demo_tags, demo_users};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Number of ads (`DemoData::ad` accepts indices `0..ads`, and in fact any index).
    pub ads: usize,
    /// Maximum number of images per ad (at least 1 is always generated).
    pub images_per_ad: usize,
    pub seed: u64,
}

/// A row of the AAO's `users` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    pub id: String,
    pub full_name: String,
    /// `"admin"` or `"user"`.
    pub role: String,
    pub email: Option<String>,
}

/// A row of the AAO's `tags` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTag {
    pub id: String,
    pub name: String,
    pub description: String,
    pub hex: String,
}

/// A row of `ad_attributes` (the observation id is the owning ad's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAttribute {
    /// `"starred"` or `"hidden"`.
    pub key: String,
    /// `"true"` or `"false"`.
    pub value: String,
    /// Epoch seconds (as the AAO's `ad_attributes` keeps them).
    pub created_at: i64,
    pub created_by: String,
    /// Epoch seconds, `>= created_at`.
    pub modified_at: i64,
    pub modified_by: String,
}

/// A row of `ad_classifications` (the observation id is the owning ad's).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoClassification {
    pub label: String,
    pub score: f64,
}

/// One generated ad.
#[derive(Debug, Clone)]
pub struct DemoAd {
    /// The ad UUID (the part of `observation.uuid` after the timestamp).
    pub observation_id: String,
    /// `observer.uuid`.
    pub observer_id: String,
    /// The observation time in epoch milliseconds (the timestamp in `observation.uuid`; the
    /// `observations.timestamp` column). `observation.observed_on_device_at` is this / 1000.
    pub timestamp_ms: i64,
    /// `"{observer_uuid}/rdo/{timestamp_ms}.{ad_uuid}/output.json"`, or for about 5% of ads the old
    /// layout `"{observer_uuid}/rdo/{ad_uuid}/output.json"`.
    pub rdo_key: String,
    /// The RDO as pretty-printed JSON (3-space indent, like the AAO's).
    pub rdo: Vec<u8>,
    /// `(key as listed in the RDO's media[], JPEG bytes)`, in `media[]` order.
    pub images: Vec<(String, Bytes)>,
    pub tag_ids: Vec<String>,
    pub attributes: Vec<DemoAttribute>,
    pub classifications: Vec<DemoClassification>,
}

/// Number of distinct JPEGs in a seed's image pool.
pub const POOL_SLOTS: usize = 48;

/// Earliest observation time generated (2025-01-01T00:00:00Z), epoch seconds.
pub const FIRST_OBSERVATION_S: i64 = 1_735_689_600;
/// Latest observation time generated (2026-10-01T00:00:00Z), epoch seconds (exclusive).
pub const LAST_OBSERVATION_S: i64 = 1_790_812_800;

const N_OBSERVERS: usize = 12;
/// Share of ads that belong to the withdrawn participant.
const WITHDRAWN_SHARE: f64 = 0.01;

/// The deterministic demo data set of one seed.
pub struct DemoData {
    config: DemoConfig,
    observers: Vec<Observer>,
    /// Cumulative selection weights of `observers`, ending at 1.0.
    observer_cdf: Vec<f64>,
    users: Vec<DemoUser>,
    tags: Vec<DemoTag>,
    /// Page ids of [`ADVERTISERS`] then [`STRESS_ADVERTISERS`], seeded.
    page_ids: Vec<String>,
    pool: Vec<OnceLock<Bytes>>,
}

struct Observer {
    uuid: String,
    withdrawn: bool,
    joined_at_ms: i64,
    device: &'static Device,
}

impl DemoData {
    /// Builds observers, users and tags, and, when the configuration needs at least
    /// [`POOL_SLOTS`] images, encodes the whole image pool (in parallel). Smaller configurations
    /// encode pool images lazily, on first use.
    pub fn new(config: &DemoConfig) -> DemoData {
        let data = Self::new_lazy(config);
        if config.ads.saturating_mul(config.images_per_ad) >= POOL_SLOTS {
            data.warm_up();
        }
        data
    }

    /// Like [`DemoData::new`] but never encodes images up front.
    pub fn new_lazy(config: &DemoConfig) -> DemoData {
        let seed = config.seed;
        let mut rng = rng_for(seed, DOMAIN_OBSERVERS, 0);
        let withdrawn_at = rng.random_range(0..N_OBSERVERS);
        let mut observers = Vec::with_capacity(N_OBSERVERS);
        let mut weights = Vec::with_capacity(N_OBSERVERS);
        for i in 0..N_OBSERVERS {
            let uuid = uuid_v4(&mut rng);
            // Joined between 2024-10-01 and 2024-12-31.
            let joined_at_ms = rng.random_range(1_727_740_800_000i64..1_735_603_200_000);
            let device = pick(&mut rng, DEVICES);
            let withdrawn = i == withdrawn_at;
            // Uneven activity: a few heavy observers and a long tail.
            let w = if withdrawn { 0.0 } else { rng.random_range(0.15f64..1.0).powi(2) };
            observers.push(Observer { uuid, withdrawn, joined_at_ms, device });
            weights.push(w);
        }
        let active_total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let observer_cdf = observers
            .iter()
            .zip(&weights)
            .map(|(o, w)| {
                acc += if o.withdrawn { WITHDRAWN_SHARE } else { w / active_total * (1.0 - WITHDRAWN_SHARE) };
                acc
            })
            .collect::<Vec<_>>();

        let mut rng = rng_for(seed, DOMAIN_ADVERTISERS, 0);
        let page_ids = ADVERTISERS
            .iter()
            .chain(STRESS_ADVERTISERS)
            .map(|_| rng.random_range(100_000_000_000_000u64..999_999_999_999_999).to_string())
            .collect();

        DemoData {
            config: config.clone(),
            observers,
            observer_cdf,
            users: demo_users(),
            tags: demo_tags(),
            page_ids,
            pool: (0..POOL_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The configuration this data set was built with.
    pub fn config(&self) -> &DemoConfig {
        &self.config
    }

    /// Encodes every pool image not encoded yet, using all available cores.
    pub fn warm_up(&self) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if j >= POOL_SLOTS {
                            break;
                        }
                        self.pool_image(j);
                    }
                });
            }
        });
    }

    /// The JPEG of pool slot `j` (`j < POOL_SLOTS`), encoding it on first use.
    pub fn pool_image(&self, j: usize) -> Bytes {
        self.pool[j].get_or_init(|| Bytes::from(render_pool_jpeg(self.config.seed, j as u64))).clone()
    }

    /// 3-4 researchers; `researcher-1` is an admin.
    pub fn users(&self) -> &[DemoUser] {
        &self.users
    }

    pub fn tags(&self) -> &[DemoTag] {
        &self.tags
    }

    /// `(observer uuid, withdrawn)`; exactly one observer is a withdrawn participant.
    pub fn observers(&self) -> Vec<(String, bool)> {
        self.observers.iter().map(|o| (o.uuid.clone(), o.withdrawn)).collect()
    }

    /// The ad at `index`: a deterministic function of `(seed, index)`.
    pub fn ad(&self, index: usize) -> DemoAd {
        self.build_ad(index, true)
    }

    /// Like [`DemoData::ad`] but with empty image bytes (the keys are listed all the same), for
    /// callers that only need the metadata; never encodes a pool image.
    pub fn ad_without_image_bytes(&self, index: usize) -> DemoAd {
        self.build_ad(index, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Lazy: only the tests that look at images pay for encoding them.
    pub(crate) fn data(ads: usize, images_per_ad: usize, seed: u64) -> DemoData {
        DemoData::new_lazy(&DemoConfig { ads, images_per_ad, seed })
    }

    pub(crate) fn parse(ad: &DemoAd) -> Value {
        serde_json::from_slice(&ad.rdo).expect("RDO is valid JSON")
    }

    #[test]
    fn demo_data_is_sync_and_send() {
        fn check<T: Sync + Send>() {}
        check::<DemoData>();
    }

    #[test]
    fn no_images_per_ad_writes_rdos_alone() {
        let (none, one) = (data(20, 0, 7), data(20, 1, 7));
        for i in 0..20 {
            let (x, y) = (none.ad(i), one.ad(i));
            assert!(x.images.is_empty(), "ad {i} has no image to write");
            assert_eq!(x.rdo, y.rdo, "ad {i}: the same RDO, naming its images all the same");
            assert!(!parse(&x)["media"].as_array().unwrap().is_empty());
        }
    }

    #[test]
    fn deterministic_per_seed_and_index() {
        let a = data(8, 2, 42);
        let b = data(1000, 2, 42);
        // Any order, any configured size: same bytes.
        for i in [7usize, 0, 3, 5, 1] {
            let (x, y) = (a.ad_without_image_bytes(i), b.ad_without_image_bytes(i));
            assert_eq!(x.rdo, y.rdo);
            assert_eq!(x.rdo_key, y.rdo_key);
            assert_eq!(x.tag_ids, y.tag_ids);
            assert_eq!(x.attributes, y.attributes);
            assert_eq!(x.classifications, y.classifications);
            assert_eq!(x.observation_id, y.observation_id);
            assert_eq!(
                x.images.iter().map(|i| &i.0).collect::<Vec<_>>(),
                y.images.iter().map(|i| &i.0).collect::<Vec<_>>()
            );
        }
        let (x, y) = (a.ad(3), b.ad(3));
        assert_eq!(x.rdo, y.rdo);
        assert_eq!(x.images, y.images);
        assert_eq!(a.observers(), b.observers());
        assert_eq!(a.ad_without_image_bytes(2).rdo, a.ad_without_image_bytes(2).rdo);
        // From several threads at once.
        let from_threads: Vec<Vec<u8>> = std::thread::scope(|s| {
            let b = &b;
            let hs: Vec<_> = (0..4).map(|i| s.spawn(move || b.ad_without_image_bytes(i).rdo)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, rdo) in from_threads.iter().enumerate() {
            assert_eq!(*rdo, a.ad_without_image_bytes(i).rdo);
        }
        // Another seed: other data, other pictures.
        let c = data(8, 2, 43);
        assert_ne!(a.observers(), c.observers());
        for i in 0..8 {
            assert_ne!(a.ad_without_image_bytes(i).rdo, c.ad_without_image_bytes(i).rdo);
        }
        assert_ne!(a.pool_image(0), c.pool_image(0));
        // Other indices: other ads.
        assert_ne!(a.ad_without_image_bytes(0).observation_id, a.ad_without_image_bytes(1).observation_id);
    }
}
