//! An ad projected onto the requested fields: its `data.json`, its CSV row and its report card,
//! made by the export and, to weigh them, by the preview.

use crate::layout::ad_folder;
use crate::report::{CARD_RDO_PATHS, CardAd, render_card};
use aao_export_core::catalogue::{Media, is_withdrawn, media_keys};
use aao_export_core::csv_cell::csv_cell;
use aao_export_core::document::{Curation, RdoPaths, export_document, extract, nest};
use serde_json::Value;
use std::io::{self, Write};

/// One ad as the archive holds it, but for its images (still to fetch) and the card's number and
/// thumbnails (added by the report, see [`crate::report::ReportWriter::add`]).
#[derive(Debug, Clone)]
pub struct ProjectedAd {
    /// `ads/{observation_id}/`.
    pub folder: String,
    pub observation_id: String,
    /// `observation.observed_on_device_at`, epoch seconds.
    pub observed_at: f64,
    pub data_json: Vec<u8>,
    pub csv_record: Vec<u8>,
    pub card: String,
    /// Its images in the observations store, in `media[]`'s order (see [`Media::own`]).
    pub media: Vec<Media>,
}

/// An ad as the catalogue stores it.
#[derive(Debug, Clone, Copy)]
pub struct StoredAd<'a> {
    pub observation_id: &'a str,
    pub observed_at: f64,
    pub rdo: &'a [u8],
}

/// What became of an ad.
#[derive(Debug)]
pub enum Projected {
    Ad(Box<ProjectedAd>),
    /// A withdrawn participant's ad: never exported.
    Withdrawn,
    /// An RDO that no longer parses (the indexer only stores RDOs it parsed), with why.
    Unreadable(String),
}

/// Projects ads onto one export's fields; reuses its CSV writer from ad to ad.
pub struct Projector {
    fields: Vec<String>,
    /// The fields' names, for the cards.
    names: Vec<String>,
    needed: RdoPaths,
    csv: csv::Writer<RecordBuffer>,
    record: RecordBuffer,
}

impl Projector {
    pub fn new(fields: &[String], names: &[String]) -> Self {
        let record = RecordBuffer::default();
        let needed = RdoPaths::for_fields(&fields.iter().map(String::as_str).chain(CARD_RDO_PATHS).collect::<Vec<_>>());
        Projector { fields: fields.to_vec(), names: names.to_vec(), needed, csv: csv_writer(record.clone()), record }
    }

    pub fn project(&mut self, ad: StoredAd<'_>, curation: &Curation) -> io::Result<Projected> {
        let rdo = match self.needed.parse(ad.rdo) {
            Ok(rdo) => rdo,
            Err(e) => return Ok(Projected::Unreadable(e)),
        };
        if is_withdrawn(&rdo) {
            return Ok(Projected::Withdrawn);
        }
        let media = media_keys(&rdo);
        let document = export_document(rdo, ad.observation_id, curation);
        let values: Vec<Option<Value>> = self.fields.iter().map(|f| extract(&document, f)).collect();
        let data_json = serde_json::to_vec_pretty(&nest(&self.fields, &values)).map_err(io::Error::other)?;
        self.csv.write_record(values.iter().map(|v| csv_cell(v.as_ref()).into_owned())).map_err(io::Error::other)?;
        self.csv.flush()?;
        let csv_record = self.record.take();
        let folder = ad_folder(ad.observation_id);
        let card_ad = CardAd {
            observation_id: ad.observation_id,
            folder: &folder,
            observed_at: ad.observed_at,
            document: &document,
        };
        let card = render_card(&card_ad, &self.names, &values);
        Ok(Projected::Ad(Box::new(ProjectedAd {
            folder,
            observation_id: ad.observation_id.to_string(),
            observed_at: ad.observed_at,
            data_json,
            csv_record,
            card,
            media,
        })))
    }
}

/// The CSV writer of `all_data.csv`: quoted as needed, CRLF.
pub fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out)
}

/// `all_data.csv`'s header: the fields' paths.
pub fn csv_header(fields: &[impl AsRef<str>]) -> io::Result<Vec<u8>> {
    let mut header = csv_writer(Vec::new());
    header.write_record(fields.iter().map(AsRef::as_ref)).map_err(io::Error::other)?;
    header.into_inner().map_err(|e| io::Error::other(e.to_string()))
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
