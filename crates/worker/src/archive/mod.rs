//! Builds one export's ZIP and streams it into the exports store.
//!
//! Five stages joined by bounded channels, so memory stays flat whatever the export's size:
//! 1. pages of matching ads from the catalogue (keyset cursor) with their curation (async);
//! 2. projection of each RDO onto the fields: `data.json`, a CSV record and a report card
//!    (blocking threads, the archive crate's [`Projector`]);
//! 3. the ad's images from the observations store, several at a time, in order (async);
//! 4. the ZIP itself (blocking thread; the archive crate's [`ArchiveWriter`]);
//! 5. a multipart upload of the ZIP's bytes into the exports store (async).
//!
//! Any failure aborts the upload, so no partial object is ever left behind.

use aao_export_archive::project::{Projected, ProjectedAd, Projector, StoredAd};
use aao_export_archive::report::ReportContext;
use aao_export_archive::writer::{ArchiveWriter, ImageBody};
use aao_export_core::api::ExportStatusObject;
use aao_export_core::catalogue::{DEFAULT_MAX_IMAGE_BYTES, NOT_OWN_MEDIA};
use aao_export_core::document::Curation;
use aao_export_core::export::{ExportRecord, ExportStatus};
use aao_export_core::fields::ExportableField;
use aao_export_core::fields::resolve_fields;
use aao_export_core::query::Query;
use aao_export_core::time::{millis, now_ms};
use aao_export_db::{CatalogueDb, CatalogueRow};
use bytes::Bytes;
use chrono::{Datelike, Timelike};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMultipartOptions, WriteMultipart};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Ads fetched from the catalogue per query.
const PAGE_SIZE: u32 = 500;
/// Ads whose images are fetched at the same time.
const IMAGE_CONCURRENCY: usize = 8;
/// Ads handed between stages at once: many without images (fewer wake-ups), few with images
/// (a batch's images are all in memory together).
const BATCH_WITHOUT_IMAGES: usize = 256;
const BATCH_WITH_IMAGES: usize = 8;
/// Multipart part size (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// The ZIP's bytes travel from the writer to the upload in chunks this big; the upload gathers
/// them into parts without copying. Small chunks keep the bytes waiting between the two stages few.
const CHUNK_SIZE: usize = 1024 * 1024;
/// Images up to this size wait for the archive in memory; larger ones in a spool file, so memory
/// stays bounded (ads in flight × images × this) whatever `EXPORT_MAX_IMAGE_BYTES` allows.
const IMAGE_IN_MEMORY_BYTES: u64 = 1024 * 1024;
/// Chunks waiting between the writer and the upload.
const CHUNKS_QUEUED: usize = 4;

/// What to export: the export as recorded, its query parsed and its fields resolved.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub record: ExportRecord,
    pub query: Query,
    pub fields: Vec<ExportableField>,
    /// How long after completion the service deletes the export (`EXPORT_EXPIRATION_DAYS`), for
    /// `expires_at`; `None` for an export made outside the service.
    pub expiration: Option<std::time::Duration>,
    /// Images larger than this are left out, listed as missing.
    pub max_image_bytes: u64,
}

/// Why an export's recorded parameters cannot be run (a retry would not help).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the export's query cannot be run: {0}")]
    Query(#[from] aao_export_core::query::QueryError),
    #[error("the export's fields cannot be exported: {0}")]
    Fields(#[from] aao_export_core::fields::FieldsError),
}

impl ExportJob {
    /// The job of a recorded export: its query parsed and its fields resolved against `catalogue`.
    pub fn new(record: ExportRecord, catalogue: &[ExportableField]) -> Result<Self, JobError> {
        let query = Query::from_json(&record.parameters.query)?;
        let fields = resolve_fields(Some(&record.parameters.fields), catalogue)?;
        Ok(ExportJob { record, query, fields, expiration: None, max_image_bytes: DEFAULT_MAX_IMAGE_BYTES })
    }

    pub fn include_images(&self) -> bool {
        self.record.parameters.include_images
    }

    /// Which images to fetch: none, or those up to this many bytes.
    fn images(&self) -> Option<u64> {
        self.include_images().then_some(self.max_image_bytes)
    }
}

/// Live counters, readable while the export runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub processed: AtomicU64,
    pub images: AtomicU64,
    pub bytes: AtomicU64,
}

/// What a finished export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub ad_count: u64,
    pub image_count: u64,
    pub missing_image_count: u64,
    /// Size of the ZIP.
    pub size_bytes: u64,
    pub csv_sha256: String,
    /// Epoch milliseconds.
    pub completed_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the catalogue failed: {0}")]
    Catalogue(#[from] aao_export_db::DbError),
    #[error("writing the export to the exports store failed: {0}")]
    Upload(#[from] object_store::Error),
    #[error("building the archive failed: {0}")]
    Archive(#[from] io::Error),
    #[error("the export was stopped while {stage}: {source}")]
    Interrupted {
        stage: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("the export was cancelled")]
    Cancelled,
}

/// One ad ready for the archive.
struct ArchivedAd {
    ad: ProjectedAd,
    images: Vec<(String, Result<ImageBody, String>)>,
}

/// Where the ZIP goes: a key in the exports store, with the upload's options (on S3 the
/// download name and content type).
pub struct UploadTarget<'a> {
    pub store: Arc<dyn ObjectStore>,
    pub key: &'a Path,
    pub options: PutMultipartOptions,
}

impl<'a> UploadTarget<'a> {
    pub fn new(store: Arc<dyn ObjectStore>, key: &'a Path) -> Self {
        Self { store, key, options: PutMultipartOptions::default() }
    }
}

/// Builds the export into `exports` at `key`. Either the whole ZIP lands or nothing does.
pub async fn build_export(
    storage: Arc<dyn CatalogueDb>,
    observations: Arc<dyn ObjectStore>,
    target: UploadTarget<'_>,
    job: &ExportJob,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<ExportSummary, ExportError> {
    let total = storage.count_matching(&job.query).await?;
    progress.total.store(total, Ordering::Relaxed);
    let upload = target.store.put_multipart_opts(target.key, target.options).await?;

    // Projection is the heaviest CPU step: one projector per core, fed pages round-robin, and
    // read back in the same rotation so the archive keeps newest-first order.
    let projectors = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let (page_txs, page_rxs): (Vec<_>, Vec<_>) = (0..projectors).map(|_| mpsc::channel::<Page>(1)).unzip();
    let (projected_txs, projected_rxs): (Vec<_>, Vec<_>) =
        (0..projectors).map(|_| mpsc::channel::<Vec<ProjectedAd>>(1)).unzip();
    let (archived_tx, archived_rx) = mpsc::channel::<Vec<ArchivedAd>>(2);
    let (chunk_tx, mut chunk_rx) = mpsc::channel::<Bytes>(CHUNKS_QUEUED);

    // Every stage logs inside the caller's span (the runner's carries the export id).
    let span = tracing::Span::current();
    let pages = tokio::spawn(read_pages(storage, job.query.clone(), page_txs).instrument(span.clone()));
    let fields: Arc<[String]> = job.fields.iter().map(|f| f.path.clone()).collect();
    let names: Arc<[String]> = job.fields.iter().map(|f| f.name.clone()).collect();
    let projector_tasks: Vec<_> = page_rxs
        .into_iter()
        .zip(projected_txs)
        .map(|(rx, tx)| {
            let (fields, names) = (fields.clone(), names.clone());
            let span = span.clone();
            tokio::task::spawn_blocking(move || span.in_scope(|| project_pages(&fields, &names, rx, tx)))
        })
        .collect();
    let batch = if job.include_images() { BATCH_WITH_IMAGES } else { BATCH_WITHOUT_IMAGES };
    let images = tokio::spawn(
        fetch_images(observations, job.images(), batch, projected_rxs, archived_tx).instrument(span.clone()),
    );
    let writer_job = job.clone();
    let writer_progress = progress.clone();
    let writer = tokio::task::spawn_blocking(move || {
        span.in_scope(|| write_archive(&writer_job, archived_rx, ChunkSink::new(chunk_tx), &writer_progress))
    });

    let mut multipart = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut upload_error = None;
    loop {
        let chunk = tokio::select! {
            chunk = chunk_rx.recv() => chunk,
            () = cancel.cancelled() => {
                upload_error = Some(ExportError::Cancelled);
                break;
            }
        };
        let Some(chunk) = chunk else { break };
        if let Err(e) = multipart.wait_for_capacity(2).await {
            upload_error = Some(ExportError::Upload(e));
            break;
        }
        progress.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        multipart.put(chunk);
    }
    drop(chunk_rx); // stops the writer if the upload failed or was cancelled

    let mut projected = Ok(());
    for task in projector_tasks {
        projected = projected.and(join(task, "projecting ads").await);
    }
    let stage_results = (
        join(pages, "reading the catalogue").await,
        projected,
        join(images, "fetching images").await,
        join(writer, "writing the archive").await,
    );
    let outcome = match (upload_error, stage_results) {
        (Some(e), _) => Err(e),
        (None, (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e))) => Err(e),
        (None, (Ok(()), Ok(()), Ok(()), Ok(summary))) => Ok(summary),
    };
    match outcome {
        Ok(summary) => {
            multipart.finish().await?;
            Ok(summary)
        }
        Err(e) => {
            if let Err(abort) = multipart.abort().await {
                tracing::warn!(error = %abort, "aborting the upload failed");
            }
            Err(e)
        }
    }
}

async fn join<T>(
    handle: tokio::task::JoinHandle<Result<T, ExportError>>,
    stage: &'static str,
) -> Result<T, ExportError> {
    handle.await.map_err(|source| ExportError::Interrupted { stage, source })?
}

/// A page of matching ads and their curation.
type Page = (Vec<CatalogueRow>, HashMap<String, Curation>);

async fn read_pages(
    storage: Arc<dyn CatalogueDb>,
    query: Query,
    projectors: Vec<mpsc::Sender<Page>>,
) -> Result<(), ExportError> {
    let mut rows = storage.search_page(&query, None, PAGE_SIZE).await?;
    for projector in projectors.iter().cycle() {
        let Some(last) = rows.last() else { break };
        let full_page = rows.len() == PAGE_SIZE as usize;
        let cursor = last.cursor();
        let ids: Vec<String> = rows.iter().map(|r| r.observation_id.clone()).collect();
        // The next page is read while this one's curation is: on PostgreSQL that is two
        // connections, and two of the database's cores at work.
        let next_page = async {
            if full_page { storage.search_page(&query, Some(&cursor), PAGE_SIZE).await } else { Ok(Vec::new()) }
        };
        let (curation, next) = tokio::try_join!(storage.curation(&ids), next_page)?;
        if projector.send((rows, curation)).await.is_err() || !full_page {
            break;
        }
        rows = next;
    }
    Ok(())
}

fn project_pages(
    fields: &[String],
    names: &[String],
    mut pages: mpsc::Receiver<Page>,
    tx: mpsc::Sender<Vec<ProjectedAd>>,
) -> Result<(), ExportError> {
    while let Some((rows, curation)) = pages.blocking_recv() {
        if tx.blocking_send(project_rows(&rows, &curation, fields, names)?).is_err() {
            break;
        }
    }
    Ok(())
}

/// Projects catalogue rows onto the fields (`names` are their names, for the report), in order.
fn project_rows(
    rows: &[CatalogueRow],
    curation: &HashMap<String, Curation>,
    fields: &[String],
    names: &[String],
) -> io::Result<Vec<ProjectedAd>> {
    let mut projector = Projector::new(fields, names);
    let empty = Curation::default();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let stored =
            StoredAd { observation_id: &row.observation_id, observed_at: row.observed_at, rdo: row.rdo.as_bytes() };
        match projector.project(stored, curation.get(&row.observation_id).unwrap_or(&empty))? {
            Projected::Ad(ad) => out.push(*ad),
            Projected::Withdrawn => {}
            Projected::Unreadable(e) => {
                tracing::warn!(observation_id = %row.observation_id, error = %e, "skipping an unreadable catalogue row");
            }
        }
    }
    Ok(out)
}

/// Fetches the images of the projected ads (`images`: none, or those up to this many bytes) and
/// hands the ads on in order.
async fn fetch_images(
    observations: Arc<dyn ObjectStore>,
    images: Option<u64>,
    batch_size: usize,
    mut projected: Vec<mpsc::Receiver<Vec<ProjectedAd>>>,
    tx: mpsc::Sender<Vec<ArchivedAd>>,
) -> Result<(), ExportError> {
    // Pages went to the projectors in rotation; taking them back in the same rotation restores
    // their order. The first projector with nothing more marks the end.
    for turn in (0..projected.len()).cycle() {
        let Some(page) = projected[turn].recv().await else { break };
        let mut ads = page.into_iter().peekable();
        while ads.peek().is_some() {
            let batch: Vec<ProjectedAd> = ads.by_ref().take(batch_size).collect();
            let archived: Vec<ArchivedAd> = if let Some(max_image_bytes) = images {
                futures::stream::iter(batch)
                    .map(|ad| {
                        let store = observations.clone();
                        async move {
                            let mut images = Vec::with_capacity(ad.media.len());
                            for media in &ad.media {
                                let image = if media.own {
                                    fetch_image(store.as_ref(), &media.key, max_image_bytes).await
                                } else {
                                    Err(NOT_OWN_MEDIA.to_string())
                                };
                                images.push((media.key.clone(), image));
                            }
                            ArchivedAd { ad, images }
                        }
                    })
                    .buffered(IMAGE_CONCURRENCY)
                    .collect()
                    .await
            } else {
                batch.into_iter().map(|ad| ArchivedAd { ad, images: Vec::new() }).collect()
            };
            if tx.send(archived).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// An image's bytes, or why it is missing in words for the export's users (`missing_images`):
/// the store's own error goes to the log only. An object larger than `max_bytes` is left out
/// before its body is read (and if it grows past that while streaming, then).
async fn fetch_image(store: &dyn ObjectStore, key: &str, max_bytes: u64) -> Result<ImageBody, String> {
    let path = Path::parse(key).map_err(|_| "not a valid object key".to_string())?;
    let result = store.get(&path).await.map_err(|e| missing(key, e))?;
    let size = result.meta.size;
    if size > max_bytes {
        return Err(too_large(size, max_bytes));
    }
    let mut body = if size <= IMAGE_IN_MEMORY_BYTES {
        ImageSpool::Memory(Vec::with_capacity(size as usize))
    } else {
        let file = tempfile::tempfile().map_err(|e| spool_failed(key, &e))?;
        ImageSpool::File { file: tokio::fs::File::from_std(file), crc: crc32fast::Hasher::new(), len: 0 }
    };
    let mut chunks = result.into_stream();
    let mut read = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| missing(key, e))?;
        read += chunk.len() as u64;
        if read > max_bytes {
            return Err(too_large(read, max_bytes));
        }
        body.append(&chunk).await.map_err(|e| spool_failed(key, &e))?;
    }
    body.finish().await.map_err(|e| spool_failed(key, &e))
}

/// An image's body as it streams in from the store.
enum ImageSpool {
    Memory(Vec<u8>),
    File { file: tokio::fs::File, crc: crc32fast::Hasher, len: u64 },
}

impl ImageSpool {
    async fn append(&mut self, chunk: &[u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match self {
            ImageSpool::Memory(bytes) => bytes.extend_from_slice(chunk),
            ImageSpool::File { file, crc, len } => {
                crc.update(chunk);
                *len += chunk.len() as u64;
                file.write_all(chunk).await?;
            }
        }
        Ok(())
    }

    async fn finish(self) -> io::Result<ImageBody> {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        Ok(match self {
            ImageSpool::Memory(bytes) => ImageBody::Memory(bytes.into()),
            ImageSpool::File { mut file, crc, len } => {
                // tokio's writes finish in the background: flush surfaces a failed last one (a
                // full disk) here, as this image's trouble, not as a short entry later.
                file.flush().await?;
                file.rewind().await?;
                ImageBody::Spooled { file: file.into_std().await, len, crc32: crc.finalize() }
            }
        })
    }
}

/// A spool file that could not be written: the worker's own trouble, logged; the image is missing.
fn spool_failed(key: &str, e: &io::Error) -> String {
    tracing::warn!(%key, error = %e, "spooling an image failed");
    "could not be copied into the export".into()
}

/// Why an image over the size cap is missing.
pub fn too_large(size: u64, max_bytes: u64) -> String {
    format!("{size} bytes, more than the {max_bytes} an image may be, so it was left out")
}

fn missing(key: &str, e: object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => "not found in the observations store".into(),
        other => {
            tracing::warn!(%key, error = %other, "reading an image failed");
            "could not be read from the observations store".into()
        }
    }
}

/// Feeds the ZIP's bytes to the upload in chunks.
struct ChunkSink {
    buffer: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
}

impl ChunkSink {
    fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self { buffer: Vec::with_capacity(CHUNK_SIZE), tx }
    }
    fn send(&mut self) -> io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_SIZE)));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for ChunkSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK_SIZE - self.buffer.len();
        let n = room.min(buf.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK_SIZE {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() { Ok(()) } else { self.send() }
    }
}

fn write_archive(
    job: &ExportJob,
    mut batches: mpsc::Receiver<Vec<ArchivedAd>>,
    sink: ChunkSink,
    progress: &Progress,
) -> Result<ExportSummary, ExportError> {
    let t = chrono::DateTime::from_timestamp_millis(job.record.created_at).unwrap_or_default();
    let stamp = (t.year() as u16, t.month() as u8, t.day() as u8, t.hour() as u8, t.minute() as u8, t.second() as u8);
    let report = ReportContext { export_id: job.record.export_id.to_string(), include_images: job.include_images() };
    let mut archive = ArchiveWriter::new(sink, stamp, report, &job.fields)?;
    let mut pending = Vec::new().into_iter();
    while let Some(ArchivedAd { ad, images }) = next_ad(&mut batches, &mut pending) {
        archive.add_ad(&ad, images)?;
        let (ads, images) = archive.counts();
        progress.processed.store(ads, Ordering::Relaxed);
        progress.images.store(images, Ordering::Relaxed);
    }
    let mut completed_at = 0;
    let (mut sink, summary) = archive.finish(|| {
        completed_at = now_ms();
        completed_status(job, completed_at)
    })?;
    sink.flush()?;
    Ok(ExportSummary {
        ad_count: summary.ad_count,
        image_count: summary.image_count,
        missing_image_count: summary.missing_image_count,
        size_bytes: summary.size_bytes,
        csv_sha256: summary.csv_sha256,
        completed_at,
    })
}

fn next_ad(
    batches: &mut mpsc::Receiver<Vec<ArchivedAd>>,
    pending: &mut std::vec::IntoIter<ArchivedAd>,
) -> Option<ArchivedAd> {
    loop {
        if let Some(ad) = pending.next() {
            return Some(ad);
        }
        *pending = batches.blocking_recv()?.into_iter();
    }
}

/// The export's status object as it will read once completed at `completed_at` (started now if
/// no worker recorded a start, as for a one-off export from the command line, which has no
/// expiry either).
fn completed_status(job: &ExportJob, completed_at: i64) -> ExportStatusObject {
    let record = &job.record;
    let mut done = record.clone();
    done.status = ExportStatus::Completed;
    done.started_at = Some(record.started_at.unwrap_or(completed_at));
    done.completed_at = Some(completed_at);
    done.updated_at = completed_at;
    done.message = None;
    let mut status = ExportStatusObject::new(&done, None, completed_at, job.expiration.map_or(i64::MAX, millis));
    if job.expiration.is_none() {
        status.expires_at = None;
    }
    status
}
