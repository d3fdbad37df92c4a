//! The indexer records each ad's images (its `media[]` objects found in the store) and their
//! bytes, and its RDO's size, on every backend: the totals equal what the store holds, a missing
//! image counts 0, an image the store cannot answer for makes the next run look again, and a
//! catalogue indexed before migration 0005 is re-read once by the next run and then skipped.
//! And a run that stops between batches keeps the batches it recorded; the next run finishes.

use aao_export_core::query::Query;
use aao_export_db::{CatalogueTotals, Database};
use aao_export_demo::{DemoConfig, DemoData, SeedProgress, seed_demo_data};
use aao_export_stores::open_store;
use aao_export_testkit::TestDatabase;
use aao_export_worker::index::{BATCH, IndexError, index_observations, is_rdo_key};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const ADS: usize = 40;

/// A store whose heads fail (not "not found": the store is away) while `failing` is set, whose
/// listing fails after `list_fails_after` objects, and leaves out the keys in `unlisted` (as a
/// listing does that passed their place before they were written).
#[derive(Debug)]
struct FailingHeads {
    inner: Arc<dyn ObjectStore>,
    failing: AtomicBool,
    list_fails_after: AtomicUsize,
    unlisted: std::sync::Mutex<Vec<String>>,
}

impl FailingHeads {
    fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FailingHeads {
            inner,
            failing: AtomicBool::new(false),
            list_fails_after: AtomicUsize::new(usize::MAX),
            unlisted: Default::default(),
        }
    }
}

impl std::fmt::Display for FailingHeads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FailingHeads({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FailingHeads {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        if options.head && self.failing.load(Ordering::SeqCst) {
            return Err(object_store::Error::Generic { store: "test", source: "the store is away".into() });
        }
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let unlisted = self.unlisted.lock().unwrap().clone();
        let listed = self
            .inner
            .list(prefix)
            .try_filter(move |m| futures::future::ready(!unlisted.contains(&m.location.to_string())))
            .boxed();
        match self.list_fails_after.load(Ordering::SeqCst) {
            usize::MAX => listed,
            n => {
                let failure = object_store::Error::Generic { store: "test", source: "the listing broke off".into() };
                listed.take(n).chain(futures::stream::once(async move { Err(failure) })).boxed()
            }
        }
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Per ad (observation id): the sizes the store holds for its `media[]`, and its stored RDO's size.
async fn expected(storage: &dyn Database, store: &dyn ObjectStore) -> HashMap<String, CatalogueTotals> {
    let sizes: HashMap<String, u64> =
        store.list(None).map_ok(|m| (m.location.to_string(), m.size)).try_collect().await.unwrap();
    let rows = storage.search_page(&Query::All, None, 10_000).await.unwrap();
    rows.iter()
        .map(|row| {
            let rdo: Value = serde_json::from_str(&row.rdo).unwrap();
            let found: Vec<u64> = rdo["media"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| sizes.get(m.as_str().unwrap()).copied())
                .collect();
            let totals = CatalogueTotals {
                ads: 1,
                images: found.len() as u64,
                image_bytes: found.iter().sum(),
                rdo_bytes: row.rdo.len() as u64,
            };
            (row.observation_id.clone(), totals)
        })
        .collect()
}

/// What the catalogue says of each ad, one query per ad (the totals of its id).
async fn recorded(storage: &dyn Database, ids: impl Iterator<Item = &String>) -> HashMap<String, CatalogueTotals> {
    let mut out = HashMap::new();
    for id in ids {
        let query = Query::from_json(&serde_json::json!({"method": "OBSERVATION_ID_CONTAINS", "args": [id]})).unwrap();
        out.insert(id.clone(), storage.catalogue_totals(&query).await.unwrap());
    }
    out
}

fn sum(per_ad: &HashMap<String, CatalogueTotals>) -> CatalogueTotals {
    per_ad.values().fold(CatalogueTotals::default(), |a, t| CatalogueTotals {
        ads: a.ads + t.ads,
        images: a.images + t.images,
        image_bytes: a.image_bytes + t.image_bytes,
        rdo_bytes: a.rdo_bytes + t.rdo_bytes,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexer_records_what_the_store_holds_of_each_ads_images() {
    // Our own databases: the test undoes one of their migrations (the attached flavour has its own).
    for db in TestDatabase::ours().await {
        let storage = db.storage.clone();
        let b = storage.backend();
        let dir = tempfile::tempdir().unwrap();
        let plain = open_store(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let store = Arc::new(FailingHeads::new(plain.clone()));
        let quiet = |_: u64| {};
        let config = DemoConfig { ads: ADS, images_per_ad: 3, seed: 5 };
        let seeded =
            seed_demo_data(storage.as_ref(), plain.clone(), &config, SeedProgress { written: &quiet }).await.unwrap();

        // One ad loses an image before indexing: it counts 0.
        let rows_before: Vec<String> = {
            let keys: Vec<String> = plain.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
            keys.into_iter().filter(|k| k.ends_with(".jpg")).collect()
        };
        plain.delete(&Path::from(rows_before[0].as_str())).await.unwrap();

        let report = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!(report.indexed + report.withdrawn, ADS as u64, "[{b}] {report:?}");
        let want = expected(storage.as_ref(), plain.as_ref()).await;
        assert_eq!(want.len() as u64, report.indexed, "[{b}] every indexed ad");
        assert_eq!(recorded(storage.as_ref(), want.keys()).await, want, "[{b}] each ad's sizes");
        let all = storage.catalogue_totals(&Query::All).await.unwrap();
        assert_eq!(all, sum(&want), "[{b}] the totals of the whole catalogue");
        assert!(
            all.images < seeded.images && all.images > 0 && all.image_bytes > 0,
            "[{b}] the withdrawn participant's images and the deleted one are not counted: {all:?} of {} images",
            seeded.images
        );

        // The catalogue as an indexer before migration 0005 left it: no size columns, the
        // versions it saw recorded. Migrating adds the columns (all 0) and forgets those versions.
        downgrade_to_before_0005(&db).await;
        storage.migrate().await.unwrap();
        assert_eq!(
            storage.catalogue_totals(&Query::All).await.unwrap(),
            CatalogueTotals { ads: all.ads, ..Default::default() },
            "[{b}] migrated: the ads are there, their sizes not yet"
        );
        let again = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!(
            (again.indexed, again.unchanged),
            (report.indexed, report.withdrawn),
            "[{b}] re-read once: {again:?}"
        );
        assert_eq!(recorded(storage.as_ref(), want.keys()).await, want, "[{b}] each ad's sizes, after the re-read");
        let once_more = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!((once_more.indexed, once_more.unchanged), (0, ADS as u64), "[{b}] then skipped: {once_more:?}");

        // An RDO whose images the store cannot answer for is recorded, and read again next time.
        let first = storage.search_page(&Query::All, None, 1).await.unwrap().remove(0);
        let rdo_key = Path::from(first.rdo_key.as_str());
        let text = plain.get(&rdo_key).await.unwrap().bytes().await.unwrap();
        plain.put(&rdo_key, PutPayload::from(text)).await.unwrap(); // a new version, same content
        store.failing.store(true, Ordering::SeqCst);
        let away = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!(away.indexed, 1, "[{b}] the changed RDO is indexed: {away:?}");
        let during = recorded(storage.as_ref(), [&first.observation_id].into_iter()).await;
        assert_eq!(during[&first.observation_id].images, 0, "[{b}] no size known while the store is away");
        store.failing.store(false, Ordering::SeqCst);
        let back = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!((back.indexed, back.unchanged), (1, ADS as u64 - 1), "[{b}] read again: {back:?}");
        assert_eq!(recorded(storage.as_ref(), want.keys()).await, want, "[{b}] and sized");
    }
}

/// The indexer records the listing batch by batch, each in one transaction: a run that stops
/// between batches (here the listing breaks off in the second batch) keeps the first batch whole
/// and nothing of the second, and the next run skips the first and indexes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_between_batches_keeps_its_batches_and_the_next_run_finishes() {
    let ads = BATCH + BATCH / 2;
    let dir = tempfile::tempdir().unwrap();
    let plain = open_store(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let quiet = |_: u64| {};
    // RDOs alone (no images), written once: each database indexes the same bucket.
    let demo = DemoData::new_lazy(&DemoConfig { ads, images_per_ad: 0, seed: 9 });
    for i in 0..ads {
        let ad = demo.ad(i);
        plain.put(&Path::from(ad.rdo_key.as_str()), PutPayload::from(ad.rdo)).await.unwrap();
    }
    for db in TestDatabase::all().await {
        let storage = db.storage.clone();
        let b = storage.backend();
        // The listing's order, as this run of the indexer will see it (a deleted and restored
        // RDO may come elsewhere in it).
        let listed: Vec<ObjectMeta> = plain.list(None).try_collect().await.unwrap();
        assert!(listed.len() == ads && listed.iter().all(|m| is_rdo_key(m.location.as_ref())), "[{b}] RDOs only");
        let keys: Vec<String> = listed.iter().map(|m| m.location.to_string()).collect();
        let mut stored = Vec::new();
        for key in &keys {
            let bytes = plain.get(&Path::from(key.as_str())).await.unwrap().bytes().await.unwrap();
            stored.push(serde_json::from_slice::<Value>(&bytes).unwrap());
        }
        let exportable: Vec<bool> = stored.iter().map(|rdo| rdo["is_user_disabled"] != Value::Bool(true)).collect();
        let exportable_in = |range: std::ops::Range<usize>| exportable[range].iter().filter(|e| **e).count() as u64;

        let store = Arc::new(FailingHeads::new(plain.clone()));
        store.list_fails_after.store(BATCH + BATCH / 5, Ordering::SeqCst);
        let stopped = index_observations(storage.clone(), store.clone(), quiet).await;
        assert!(matches!(stopped, Err(IndexError::Listing(_))), "[{b}] the run stops: {stopped:?}");
        let versions = storage.object_versions(&keys).await.unwrap();
        let recorded: Vec<bool> = keys.iter().map(|k| versions.contains_key(k)).collect();
        assert!(recorded[..BATCH].iter().all(|r| *r), "[{b}] every key of the first batch is recorded");
        assert!(recorded[BATCH..].iter().all(|r| !*r), "[{b}] no key of the broken batch is");
        assert_eq!(storage.catalogue_size().await.unwrap(), exportable_in(0..BATCH), "[{b}] the first batch's ads");
        assert_eq!(
            storage.catalogue_totals(&Query::All).await.unwrap().ads,
            exportable_in(0..BATCH),
            "[{b}] the totals agree with the rows"
        );

        store.list_fails_after.store(usize::MAX, Ordering::SeqCst);
        let finished = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!(
            (finished.scanned, finished.unchanged, finished.indexed, finished.withdrawn),
            (ads as u64, BATCH as u64, exportable_in(BATCH..ads), (ads - BATCH) as u64 - exportable_in(BATCH..ads)),
            "[{b}] the next run reads only what the first did not record"
        );
        assert_eq!(storage.catalogue_size().await.unwrap(), exportable_in(0..ads), "[{b}] every exportable ad");
        let rows = storage.search_page(&Query::All, None, ads as u32).await.unwrap();
        assert_eq!(rows.len() as u64, exportable_in(0..ads), "[{b}] and each is found");
        for i in [0, BATCH, ads - 1] {
            if let Some(row) = rows.iter().find(|r| r.rdo_key == keys[i]) {
                let rdo: Value = serde_json::from_str(&row.rdo).unwrap();
                assert_eq!(rdo, stored[i], "[{b}] {}: the RDO as stored", keys[i]);
            }
        }

        // RDOs gone from the store leave the catalogue with the next full scan; one that the
        // listing missed but the store holds (written after the listing passed it) stays.
        let (gone, missed) = ([1, BATCH + 1], 2);
        for i in gone {
            plain.delete(&Path::from(keys[i].as_str())).await.unwrap();
        }
        *store.unlisted.lock().unwrap() = vec![keys[missed].clone()];
        let swept = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        let left = gone.iter().filter(|i| exportable[**i]).count() as u64;
        assert_eq!(
            (swept.scanned, swept.removed, swept.unchanged),
            (ads as u64 - 3, 2, ads as u64 - 3),
            "[{b}] the gone RDOs are removed: {swept:?}"
        );
        assert_eq!(storage.catalogue_size().await.unwrap(), exportable_in(0..ads) - left, "[{b}] their ads leave");
        let versions = storage.object_versions(&keys).await.unwrap();
        assert!(gone.iter().all(|i| !versions.contains_key(&keys[*i])), "[{b}] and their keys are forgotten");
        assert!(versions.contains_key(&keys[missed]), "[{b}] the missed RDO is kept");
        // A store that lists no RDO at all (a folder not mounted, say) takes nothing out.
        *store.unlisted.lock().unwrap() = keys.clone();
        let empty = index_observations(storage.clone(), store.clone(), quiet).await.unwrap();
        assert_eq!((empty.scanned, empty.removed), (0, 0), "[{b}] {empty:?}");
        assert_eq!(storage.catalogue_size().await.unwrap(), exportable_in(0..ads) - left, "[{b}] nothing left");
        *store.unlisted.lock().unwrap() = Vec::new();
        for i in gone {
            plain
                .put(&Path::from(keys[i].as_str()), PutPayload::from(serde_json::to_vec(&stored[i]).unwrap()))
                .await
                .unwrap();
        }
    }
}

/// Takes a test database back to before migration 0005: the catalogue as one `observations`
/// table without the size columns (as 0009 found it, less those), and 0005, 0008 and 0009
/// forgotten, so that migrating runs them again on the ads it holds.
async fn downgrade_to_before_0005(db: &TestDatabase) {
    let mut statements = vec![
        "CREATE TABLE observations AS SELECT c.observation_id, c.observer_id, c.timestamp, c.observation_uuid, \
         c.observed_at, c.platform, c.rdo_key, d.rdo, c.page_names, c.categories, c.search_text \
         FROM catalogue c JOIN catalogue_documents d ON d.observation_id = c.observation_id",
        "DROP TABLE catalogue_documents",
        "DROP TABLE catalogue",
        "DROP TABLE catalogue_totals",
        "DELETE FROM _sqlx_migrations WHERE version IN (5, 8, 9)",
    ];
    statements.push(if db.url.starts_with("sqlite:") {
        "DROP TABLE catalogue_text"
    } else {
        "DROP FUNCTION catalogue_totals_follow"
    });
    if db.url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        for s in statements {
            sqlx::query(s).execute(&mut c).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for s in statements {
            sqlx::query(s).execute(&mut c).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
}
