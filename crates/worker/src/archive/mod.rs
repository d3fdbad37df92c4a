//! Builds one export's ZIP and streams it into the exports store.
//!
//! Five stages joined by bounded channels, so memory stays flat whatever the export's size:
//! 1. pages of matching ads from the catalogue (keyset cursor) with their curation (async);
//! 2. projection of each RDO onto the fields: `data.json` and a CSV record (blocking thread);
//! 3. the ad's images from the observations store, several at a time, in order (async);
//! 4. the ZIP itself (blocking thread; `all_data.csv` is deflated into a spool file as it goes
//!    and appended at the end with `report.html` and `export_details.json`; the report's later
//!    pages go in as they fill, see `report.rs`);
//! 5. a multipart upload of the ZIP's bytes into the exports store (async).
//!
//! Any failure aborts the upload, so no partial object is ever left behind.

mod report;
pub mod zip_stream;

use aao_export_core::api::{ArchiveContents, ExportDetails, ExportStatusObject};
use aao_export_core::archive::{
    CSV_ENTRY, DETAILS_ENTRY, FieldDescription, MissingImage, REPORT_ENTRY, STREAM_DEFLATE_LEVEL, ad_folder,
    image_entry,
};
use aao_export_core::csv_cell::csv_cell;
use aao_export_core::document::{Curation, RdoPaths, export_document, extract, nest};
use aao_export_core::export::{ExportRecord, ExportStatus};
use aao_export_core::fields::ExportableField;
use aao_export_core::fields::resolve_fields;
use aao_export_core::query::Query;
use aao_export_core::time::{hex, millis, now_ms};
use aao_export_db::{CatalogueDb, CatalogueRow};
use bytes::Bytes;
use chrono::{Datelike, Timelike};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMultipartOptions, WriteMultipart};
use report::{CARD_RDO_PATHS, CardAd, ReportContext, ReportWriter, render_card};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zip_stream::{Method, RawEntry, ZipStreamWriter};

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
/// Chunks waiting between the writer and the upload.
const CHUNKS_QUEUED: usize = 4;
/// The longest list of unreadable images `export_details.json` spells out; the count is always exact.
const MAX_LISTED_MISSING: usize = 10_000;

/// What to export: the export as recorded, its query parsed and its fields resolved.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub record: ExportRecord,
    pub query: Query,
    pub fields: Vec<ExportableField>,
    /// How long after completion the service deletes the export (`EXPORT_EXPIRATION_DAYS`), for
    /// `expires_at`; `None` for an export made outside the service.
    pub expiration: Option<std::time::Duration>,
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
        Ok(ExportJob { record, query, fields, expiration: None })
    }

    pub fn include_images(&self) -> bool {
        self.record.parameters.include_images
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

/// One ad, projected, with the images still to fetch.
struct ProjectedAd {
    folder: String,
    observation_id: String,
    /// `observation.observed_on_device_at`, epoch seconds.
    observed_at: f64,
    data_json: Vec<u8>,
    csv_record: Vec<u8>,
    /// Its report card, but for the number and the thumbnails (see `report.rs`).
    card: String,
    media: Vec<String>,
}

/// One ad ready for the archive.
struct ArchivedAd {
    ad: ProjectedAd,
    images: Vec<(String, Result<Bytes, String>)>,
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
        fetch_images(observations, job.include_images(), batch, projected_rxs, archived_tx).instrument(span.clone()),
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
    let record_buffer = RecordBuffer::default();
    let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(record_buffer.clone());
    let empty = Curation::default();
    let needed = RdoPaths::for_fields(&fields.iter().map(String::as_str).chain(CARD_RDO_PATHS).collect::<Vec<_>>());
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let rdo = match needed.parse(row.rdo.as_bytes()) {
            Ok(rdo) => rdo,
            // The indexer only stores RDOs it parsed; a row that no longer parses is skipped.
            Err(e) => {
                tracing::warn!(observation_id = %row.observation_id, error = %e, "skipping an unreadable catalogue row");
                continue;
            }
        };
        if rdo.get("is_user_disabled").and_then(Value::as_bool) == Some(true) {
            continue; // withdrawn participant: never exported
        }
        let media: Vec<String> = rdo
            .get("media")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect();
        let document = export_document(rdo, &row.observation_id, curation.get(&row.observation_id).unwrap_or(&empty));
        let values: Vec<Option<Value>> = fields.iter().map(|f| extract(&document, f)).collect();
        let data_json = serde_json::to_vec_pretty(&nest(fields, &values)).map_err(io::Error::other)?;
        csv.write_record(values.iter().map(|v| csv_cell(v.as_ref()).into_owned())).map_err(io::Error::other)?;
        csv.flush()?;
        let csv_record = record_buffer.take();
        let folder = ad_folder(&row.observation_id);
        let card = render_card(
            &CardAd {
                observation_id: &row.observation_id,
                folder: &folder,
                observed_at: row.observed_at,
                document: &document,
            },
            names,
            &values,
        );
        out.push(ProjectedAd {
            folder,
            observation_id: row.observation_id.clone(),
            observed_at: row.observed_at,
            data_json,
            csv_record,
            card,
            media,
        });
    }
    Ok(out)
}

/// Where the CSV writer puts one record at a time, to be taken away after each.
#[derive(Clone, Default)]
struct RecordBuffer(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl RecordBuffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

impl Write for RecordBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

async fn fetch_images(
    observations: Arc<dyn ObjectStore>,
    include_images: bool,
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
            let archived: Vec<ArchivedAd> = if include_images {
                futures::stream::iter(batch)
                    .map(|ad| {
                        let store = observations.clone();
                        async move {
                            let mut images = Vec::with_capacity(ad.media.len());
                            for key in &ad.media {
                                images.push((key.clone(), fetch_image(store.as_ref(), key).await));
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

async fn fetch_image(store: &dyn ObjectStore, key: &str) -> Result<Bytes, String> {
    let path = Path::parse(key).map_err(|e| format!("not a valid object key: {e}"))?;
    let result = store.get(&path).await.map_err(describe_store_error)?;
    result.bytes().await.map_err(describe_store_error)
}

fn describe_store_error(e: object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => "not found in the observations store".into(),
        other => other.to_string(),
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

/// An entry deflated into a temporary file as its bytes arrive, with its CRC and SHA-256:
/// `all_data.csv` (rows arrive all along) and `report.html` (its page index may be long).
struct Spool {
    encoder: flate2::write::DeflateEncoder<BufWriter<std::fs::File>>,
    crc: crc32fast::Hasher,
    sha: Sha256,
    len: u64,
}

impl Spool {
    fn new() -> io::Result<Self> {
        let file = BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?);
        Ok(Self {
            encoder: flate2::write::DeflateEncoder::new(file, flate2::Compression::new(STREAM_DEFLATE_LEVEL)),
            crc: crc32fast::Hasher::new(),
            sha: Sha256::new(),
            len: 0,
        })
    }
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
        self.encoder.write_all(bytes)
    }
    fn into_entry(self) -> io::Result<(RawEntry<std::fs::File>, String)> {
        let mut file = self.encoder.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
        let compressed_size = file.stream_position()?;
        file.seek(SeekFrom::Start(0))?;
        let sha = hex(&self.sha.finalize());
        Ok((
            RawEntry {
                method: Method::Deflated,
                crc32: self.crc.finalize(),
                uncompressed_size: self.len,
                compressed_size,
                data: file,
            },
            sha,
        ))
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    let mut zip = ZipStreamWriter::new(sink, stamp)?;
    let mut csv = Spool::new()?;
    let mut report = ReportWriter::new(ReportContext {
        export_id: job.record.export_id.to_string(),
        include_images: job.include_images(),
    })?;
    let mut shown: Vec<String> = Vec::new();
    let mut header = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    header.write_record(job.fields.iter().map(|f| f.path.as_str())).map_err(io::Error::other)?;
    csv.append(&header.into_inner().map_err(|e| io::Error::other(e.to_string()))?)?;

    let (mut ad_count, mut image_count, mut missing_count, mut image_bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut missing: Vec<MissingImage> = Vec::new();
    let mut pending = Vec::new().into_iter();
    while let Some(ArchivedAd { ad, images }) = next_ad(&mut batches, &mut pending) {
        zip.add(&format!("{}data.json", ad.folder), &ad.data_json, Method::Deflated)?;
        shown.clear();
        let mut missing_here = 0;
        for (index, (key, bytes)) in images.into_iter().enumerate() {
            match bytes {
                Ok(bytes) => {
                    let entry = format!("{}{}", ad.folder, image_entry(index, &key));
                    zip.add(&entry, &bytes, Method::Stored)?;
                    shown.push(entry);
                    image_count += 1;
                    image_bytes += bytes.len() as u64;
                }
                Err(error) => {
                    missing_count += 1;
                    missing_here += 1;
                    if missing.len() < MAX_LISTED_MISSING {
                        missing.push(MissingImage { observation_id: ad.observation_id.clone(), key, error });
                    }
                }
            }
        }
        csv.append(&ad.csv_record)?;
        report.add(&mut zip, &ad.card, ad.observed_at, &shown, missing_here)?;
        ad_count += 1;
        progress.processed.store(ad_count, Ordering::Relaxed);
        progress.images.store(image_count, Ordering::Relaxed);
    }

    let csv_bytes = csv.len;
    let (csv_entry, csv_sha256) = csv.into_entry()?;
    zip.add_raw(CSV_ENTRY, csv_entry)?;
    let completed_at = now_ms();
    let contents = ArchiveContents {
        fields: job.fields.iter().map(FieldDescription::from).collect(),
        ad_count,
        image_count,
        image_bytes,
        csv_bytes,
        all_data_csv_sha256: csv_sha256.clone(),
        missing_image_count: missing_count,
        missing_images: missing,
    };
    let details = ExportDetails::new(completed_status(job, completed_at), contents);
    let mut report_spool = Spool::new()?;
    report.finish(&mut zip, &details, &mut report_spool)?;
    zip.add_raw(REPORT_ENTRY, report_spool.into_entry()?.0)?;
    zip.add(DETAILS_ENTRY, &serde_json::to_vec_pretty(&details).map_err(io::Error::other)?, Method::Deflated)?;
    let (mut sink, size_bytes) = zip.finish()?;
    sink.flush()?;
    Ok(ExportSummary {
        ad_count,
        image_count,
        missing_image_count: missing_count,
        size_bytes,
        csv_sha256,
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
