//! One export's archive, ad by ad: each ad's `data.json`, images and report card go in as they
//! come; `all_data.csv` is deflated into a spool file as it goes and appended at the end with
//! `report.html` and `export_details.json`.

use crate::deflate::stream_encoder;
use crate::layout::{CSV_ENTRY, DETAILS_ENTRY, FieldDescription, MissingImage, REPORT_ENTRY, image_entry};
use crate::project::{ProjectedAd, csv_header};
use crate::report::{ReportContext, ReportWriter};
use crate::zip_stream::{Method, RawEntry, ZipStreamWriter};
use aao_export_core::api::{ArchiveContents, ExportDetails, ExportStatusObject};
use aao_export_core::fields::ExportableField;
use sha2::{Digest, Sha256};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

/// The longest list of unreadable images `export_details.json` spells out; the count is always exact.
const MAX_LISTED_MISSING: usize = 10_000;

/// An image's bytes as the fetcher hands them over. Bodies are read from the store in chunks:
/// a small one is kept in memory until its turn, a larger one streams into a spool file with its
/// CRC computed on the way, so no large object is ever held whole in memory. Stored either way
/// (images are compressed already).
pub enum ImageBody {
    Memory(bytes::Bytes),
    Spooled {
        /// Positioned at the start of the bytes.
        file: std::fs::File,
        len: u64,
        crc32: u32,
    },
}

impl ImageBody {
    pub fn len(&self) -> u64 {
        match self {
            ImageBody::Memory(bytes) => bytes.len() as u64,
            ImageBody::Spooled { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<u8>> for ImageBody {
    fn from(bytes: Vec<u8>) -> Self {
        ImageBody::Memory(bytes.into())
    }
}

impl From<bytes::Bytes> for ImageBody {
    fn from(bytes: bytes::Bytes) -> Self {
        ImageBody::Memory(bytes)
    }
}

/// What a finished archive holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveSummary {
    pub ad_count: u64,
    pub image_count: u64,
    pub missing_image_count: u64,
    /// Size of the ZIP.
    pub size_bytes: u64,
    pub csv_sha256: String,
}

/// The archive being written into `W`.
pub struct ArchiveWriter<W: Write> {
    zip: ZipStreamWriter<W>,
    csv: Spool,
    report: ReportWriter,
    fields: Vec<FieldDescription>,
    /// The entries of the images stored for the ad being added.
    shown: Vec<String>,
    ad_count: u64,
    image_count: u64,
    missing_count: u64,
    image_bytes: u64,
    missing: Vec<MissingImage>,
}

impl<W: Write> ArchiveWriter<W> {
    /// `modified` is the time every entry carries (see [`ZipStreamWriter::new`]).
    pub fn new(
        out: W,
        modified: (u16, u8, u8, u8, u8, u8),
        report: ReportContext,
        fields: &[ExportableField],
    ) -> io::Result<Self> {
        let mut csv = Spool::new()?;
        csv.append(&csv_header(&fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>())?)?;
        Ok(Self {
            zip: ZipStreamWriter::new(out, modified)?,
            csv,
            report: ReportWriter::new(report)?,
            fields: fields.iter().map(FieldDescription::from).collect(),
            shown: Vec::new(),
            ad_count: 0,
            image_count: 0,
            missing_count: 0,
            image_bytes: 0,
            missing: Vec::new(),
        })
    }

    /// Adds the next ad with its images (by media key: the bytes, or why they could not be read).
    pub fn add_ad<B: Into<ImageBody>>(
        &mut self,
        ad: &ProjectedAd,
        images: impl IntoIterator<Item = (String, Result<B, String>)>,
    ) -> io::Result<()> {
        self.zip.add(&format!("{}data.json", ad.folder), &ad.data_json, Method::Deflated)?;
        self.shown.clear();
        let mut missing_here = 0;
        for (index, (key, bytes)) in images.into_iter().enumerate() {
            match bytes {
                Ok(body) => {
                    let entry = format!("{}{}", ad.folder, image_entry(index, &key));
                    let body = body.into();
                    self.image_bytes += body.len();
                    match body {
                        ImageBody::Memory(bytes) => self.zip.add(&entry, &bytes, Method::Stored)?,
                        ImageBody::Spooled { file, len, crc32 } => self.zip.add_raw(
                            &entry,
                            RawEntry {
                                method: Method::Stored,
                                crc32,
                                uncompressed_size: len,
                                compressed_size: len,
                                data: io::BufReader::with_capacity(256 * 1024, file),
                            },
                        )?,
                    }
                    self.shown.push(entry);
                    self.image_count += 1;
                }
                Err(error) => {
                    self.missing_count += 1;
                    missing_here += 1;
                    if self.missing.len() < MAX_LISTED_MISSING {
                        self.missing.push(MissingImage { observation_id: ad.observation_id.clone(), key, error });
                    }
                }
            }
        }
        self.csv.append(&ad.csv_record)?;
        self.report.add(&mut self.zip, &ad.card, ad.observed_at, &self.shown, missing_here)?;
        self.ad_count += 1;
        Ok(())
    }

    /// Ads and images added so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.ad_count, self.image_count)
    }

    /// Appends `all_data.csv`, `report.html` and `export_details.json` (with the status `status`
    /// gives, asked once the CSV is in) and the central directory; returns the sink.
    pub fn finish(mut self, status: impl FnOnce() -> ExportStatusObject) -> io::Result<(W, ArchiveSummary)> {
        let csv_bytes = self.csv.len;
        let (csv_entry, csv_sha256) = self.csv.into_entry()?;
        self.zip.add_raw(CSV_ENTRY, csv_entry)?;
        let contents = ArchiveContents {
            fields: self.fields,
            ad_count: self.ad_count,
            image_count: self.image_count,
            image_bytes: self.image_bytes,
            csv_bytes,
            all_data_csv_sha256: csv_sha256.clone(),
            missing_image_count: self.missing_count,
            missing_images: self.missing,
        };
        let details = ExportDetails::new(status(), contents);
        let mut report_spool = Spool::new()?;
        self.report.finish(&mut self.zip, &details, &mut report_spool)?;
        self.zip.add_raw(REPORT_ENTRY, report_spool.into_entry()?.0)?;
        let details_json = serde_json::to_vec_pretty(&details).map_err(io::Error::other)?;
        self.zip.add(DETAILS_ENTRY, &details_json, Method::Deflated)?;
        let (sink, size_bytes) = self.zip.finish()?;
        let summary = ArchiveSummary {
            ad_count: self.ad_count,
            image_count: self.image_count,
            missing_image_count: self.missing_count,
            size_bytes,
            csv_sha256,
        };
        Ok((sink, summary))
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
        Ok(Self { encoder: stream_encoder(file), crc: crc32fast::Hasher::new(), sha: Sha256::new(), len: 0 })
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
        let sha = hex::encode(self.sha.finalize());
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
