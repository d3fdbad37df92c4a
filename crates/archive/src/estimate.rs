//! What an archive's parts weigh, measured by running the code that writes them into byte
//! counters: the preview's estimate cannot drift from the archive.

use crate::deflate::{Deflater, stream_encoder};
use crate::layout::image_entry;
use crate::project::{Projected, ProjectedAd, Projector, StoredAd};
use crate::report::{ReportContext, ReportWriter, frame_card};
use crate::zip_stream::ZipStreamWriter;
use aao_export_core::api::ExportDetails;
use aao_export_core::document::Curation;
use flate2::write::DeflateEncoder;
use std::io::{self, Write};

/// A sink that only counts what it is given.
#[derive(Debug, Default, Clone, Copy)]
pub struct ByteCount(pub u64);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One ad's share of the archive as the writer stores it, the ZIP's records aside.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AdBytes {
    /// Its `data.json` entry's data (deflated, or as it is when that is not smaller).
    pub data_json: u64,
    /// Its row of `all_data.csv`, before the file is deflated.
    pub csv_record: u64,
    /// Its card on a report page (all its images present), before the page is deflated.
    pub card: u64,
    /// The length of its folder's name (`ads/{id}/`).
    pub folder: u64,
}

/// Projects ads as the export does and weighs what they would add to the archive.
pub struct Sampler {
    projector: Projector,
    include_images: bool,
    deflater: Deflater,
    deflated: Vec<u8>,
    card: String,
    images: Vec<String>,
    /// The CSV rows, then the cards, deflated as streams as `all_data.csv` and `report.html` are.
    csv: DeflateEncoder<ByteCount>,
    cards: DeflateEncoder<ByteCount>,
    ads: u64,
}

impl Sampler {
    pub fn new(fields: &[String], names: &[String], include_images: bool) -> Self {
        Sampler {
            projector: Projector::new(fields, names),
            include_images,
            deflater: Deflater::default(),
            deflated: Vec::new(),
            card: String::new(),
            images: Vec::new(),
            csv: stream_encoder(ByteCount::default()),
            cards: stream_encoder(ByteCount::default()),
            ads: 0,
        }
    }

    /// The ad projected and weighed; `None` when the export would leave it out (withdrawn or
    /// unreadable).
    pub fn add(&mut self, ad: StoredAd<'_>, curation: &Curation) -> io::Result<Option<(ProjectedAd, AdBytes)>> {
        let Projected::Ad(ad) = self.projector.project(ad, curation)? else { return Ok(None) };
        self.ads += 1;
        let data_json = if self.deflater.deflate(&ad.data_json, &mut self.deflated) {
            self.deflated.len()
        } else {
            ad.data_json.len()
        };
        // The archive holds the participant's own images; the others are listed as missing.
        self.images.clear();
        self.images.extend(
            ad.media
                .iter()
                .enumerate()
                .filter(|(_, m)| m.own)
                .map(|(i, m)| format!("{}{}", ad.folder, image_entry(i, &m.key))),
        );
        let not_own = ad.media.len() - self.images.len();
        self.card.clear();
        frame_card(&mut self.card, self.ads, &ad.card, self.include_images, &self.images, not_own);
        self.csv.write_all(&ad.csv_record)?;
        self.cards.write_all(self.card.as_bytes())?;
        let bytes = AdBytes {
            data_json: data_json as u64,
            csv_record: ad.csv_record.len() as u64,
            card: self.card.len() as u64,
            folder: ad.folder.len() as u64,
        };
        Ok(Some((*ad, bytes)))
    }

    /// The CSV rows and the cards so far, deflated as streams.
    pub fn finish(self) -> io::Result<u64> {
        Ok(self.csv.finish()?.0 + self.cards.finish()?.0)
    }
}

/// `report.html` of an export without ads, deflated as the archive's: its summary (with the
/// field table and the query) and the page's frame.
pub fn report_summary_bytes(context: ReportContext, details: &ExportDetails) -> io::Result<u64> {
    let mut zip = ZipStreamWriter::new(io::sink(), (1980, 1, 1, 0, 0, 0))?;
    let mut page = stream_encoder(ByteCount::default());
    ReportWriter::new(context)?.finish(&mut zip, details, &mut page)?;
    Ok(page.finish()?.0)
}

/// What `data` weighs as an entry deflated whole (as [`crate::zip_stream::ZipStreamWriter::add`]
/// stores it).
pub fn deflated_len(data: &[u8]) -> u64 {
    let mut deflated = Vec::new();
    let len = if Deflater::default().deflate(data, &mut deflated) { deflated.len() } else { data.len() };
    len as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::REPORT_ENTRY;
    use crate::writer::ArchiveWriter;
    use aao_export_core::api::ExportStatusObject;
    use aao_export_core::catalogue::NOT_OWN_MEDIA;
    use aao_export_core::export::{ExportParameters, ExportRecord};
    use aao_export_core::fields::ExportableField;
    use serde_json::json;
    use std::io::Read;

    fn rdo(i: usize) -> Vec<u8> {
        let disabled = i == 2;
        let mut media: Vec<String> = (0..i % 3).map(|m| format!("o/temp-v2/u{i}/{m}.jpg")).collect();
        if i == 4 {
            media.insert(0, "someone-else/temp-v2/u/0.jpg".into());
        }
        serde_json::to_vec(&json!({
            "is_user_disabled": disabled,
            "observer": {"uuid": "o"},
            "observation": {"uuid": format!("1.a{i}"), "platform": "FACEBOOK", "observed_on_device_at": 1_759_583_019 - i},
            "enrichment": {"ocr": {"text": "Buy now <b>& save</b> ".repeat(i * 7 + 1)},
                           "meta_adlibrary_scrape": {"candidates": [{"data": {"page_name": format!("Page \"{i}\"")}}]}},
            "media": media,
        }))
        .unwrap()
    }

    fn stored((id, at, rdo): &(String, f64, Vec<u8>)) -> StoredAd<'_> {
        StoredAd { observation_id: id, observed_at: *at, rdo }
    }

    fn field(path: &str, name: &str) -> ExportableField {
        let (path, name) = (path.to_string(), name.to_string());
        ExportableField {
            field_id: uuid::Uuid::nil(),
            name,
            description: "d".into(),
            path,
            group: "g".into(),
            is_default: true,
        }
    }

    /// The sampler's bytes per ad are the archive's: each `data.json` entry's stored size, each
    /// CSV row, each card on the report page; for ads with and without images.
    #[test]
    fn the_sampler_weighs_each_ad_as_the_archive_stores_it() {
        let fields = [field("observation.platform", "Platform"), field("enrichment.ocr.text", "Text")];
        let paths: Vec<String> = fields.iter().map(|f| f.path.clone()).collect();
        let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        for include_images in [false, true] {
            let rdos: Vec<(String, f64, Vec<u8>)> =
                (0..6).map(|i| (format!("ad-{i}"), 1_759_583_019.0 - i as f64, rdo(i))).collect();
            let mut sampler = Sampler::new(&paths, &names, include_images);
            let mut projector = Projector::new(&paths, &names);
            let report = ReportContext { export_id: "e".into(), include_images };
            let mut archive = ArchiveWriter::new(Vec::new(), (2026, 1, 2, 3, 4, 5), report, &fields).unwrap();
            let mut weighed = Vec::new();
            for ad in &rdos {
                let sampled = sampler.add(stored(ad), &Curation::default()).unwrap();
                let Projected::Ad(projected) = projector.project(stored(ad), &Curation::default()).unwrap() else {
                    assert!(sampled.is_none(), "{}: left out of the archive, and of the sample", ad.0);
                    continue;
                };
                let images: Vec<(String, Result<Vec<u8>, String>)> = projected
                    .media
                    .iter()
                    .map(|m| (m.key.clone(), if m.own { Ok(vec![0xFF; 10]) } else { Err(NOT_OWN_MEDIA.to_string()) }))
                    .collect();
                archive.add_ad(&projected, if include_images { images } else { Vec::new() }).unwrap();
                weighed.push((projected.observation_id.clone(), sampled.unwrap().1));
            }
            assert_eq!(weighed.len(), 5, "the withdrawn ad is left out");
            let parameters =
                ExportParameters { query: json!({"method": "ALL"}), include_images, fields: paths.clone() };
            let record = ExportRecord::pending(uuid::Uuid::nil(), "me", parameters, 3, 0);
            let (bytes, _) = archive.finish(|| ExportStatusObject::new(&record, None, 0, i64::MAX)).unwrap();

            let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
            let read = |zip: &mut zip::ZipArchive<io::Cursor<Vec<u8>>>, name: &str| {
                let mut text = String::new();
                zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
                text
            };
            let csv = read(&mut zip, CSV_ENTRY_NAME);
            let rows: Vec<&str> = csv.split_inclusive("\r\n").skip(1).collect();
            let report = read(&mut zip, REPORT_ENTRY);
            let cards: Vec<&str> = report
                .split("<article class=\"ad\"")
                .skip(1)
                .map(|c| &c[..c.find("</article>\n").unwrap() + 11])
                .collect();
            assert_eq!((rows.len(), cards.len()), (5, 5));
            for (i, (id, bytes)) in weighed.iter().enumerate() {
                let data_json = zip.by_name(&format!("ads/{id}/data.json")).unwrap().compressed_size();
                let card = "<article class=\"ad\"".len() + cards[i].len();
                let archived = AdBytes {
                    data_json,
                    csv_record: rows[i].len() as u64,
                    card: card as u64,
                    folder: format!("ads/{id}/").len() as u64,
                };
                assert_eq!(*bytes, archived, "{id}, images {include_images}");
            }
        }
    }

    const CSV_ENTRY_NAME: &str = crate::layout::CSV_ENTRY;

    #[test]
    fn the_report_summary_is_weighed_deflated() {
        let parameters = ExportParameters { query: json!({"method": "ALL"}), include_images: false, fields: vec![] };
        let record = ExportRecord::pending(uuid::Uuid::nil(), "me", parameters, 3, 0);
        let details = ExportDetails::new(ExportStatusObject::new(&record, None, 0, i64::MAX), Default::default());
        let context = || ReportContext { export_id: "e".into(), include_images: false };
        let bytes = report_summary_bytes(context(), &details).unwrap();
        assert!((500..5_000).contains(&bytes), "{bytes}");
        assert_eq!(deflated_len(b"x"), 1);
        assert!(deflated_len("ab".repeat(1000).as_bytes()) < 100);
    }
}
