//! Previews of an export request, before it is made: how many ads and images it would hold, what
//! its ZIP would weigh with and without images, and its first ads; and those ads' images,
//! streamed from the observations store for the preview to show.
//!
//! How the size is estimated (the API's description says the same): the catalogue records each
//! ad's stored RDO size, image count and image bytes when it indexes them, so one statement sums
//! them over the ads the query selects. The listed ads (up to [`PREVIEW_ADS`]) are then projected
//! onto the requested fields by the archive's own code (`data.json`, the CSV row and the report
//! card) and weighed as the archive stores them; what that takes per byte of their RDOs, times the
//! selected RDOs' bytes, is the ads' content. To it come the ZIP's own bytes, computed by the
//! archive crate rather than guessed: each entry's records and name, the CSV header,
//! `export_details.json`, the report's summary and the end records. With images, add the images'
//! recorded bytes (they are stored uncompressed) and their entries' records.

use crate::Service;
use crate::auth::Caller;
use crate::error::{Code, ServiceError, ServiceResult};
use crate::exports::has_control;
use aao_export_archive::estimate::{Sampler, deflated_len, report_summary_bytes};
use aao_export_archive::layout::{
    CSV_ENTRY, DETAILS_ENTRY, FieldDescription, REPORT_ENTRY, image_entry, report_page_count, report_page_entry,
};
use aao_export_archive::project::{StoredAd, csv_header};
use aao_export_archive::report::ReportContext;
use aao_export_archive::zip_stream::{end_records, entry_overhead};
use aao_export_core::api::{
    ArchiveContents, EstimatedBytes, ExportDetails, ExportStatusObject, Preview, PreviewAd, PreviewRequest,
};
use aao_export_core::catalogue::{Media, NOT_OWN_MEDIA, display_page_name, is_withdrawn, media_keys, media_type};
use aao_export_core::document::{Curation, parse_rdo};
use aao_export_core::export::{ExportRecord, ExportRequest, ExportStatus};
use aao_export_core::time::{now_ms, rfc3339};
use aao_export_db::{CatalogueRow, CatalogueTotals};
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::collections::HashMap;

/// The most ads a preview lists.
pub const PREVIEW_ADS: u32 = 24;
/// About how many ads, spread over the catalogue, an estimate looks at.
pub const ESTIMATE_SAMPLE: u32 = 10_000;

/// `ads/{36-character UUID}/`, the folder name when no ad was sampled.
const UUID_FOLDER_CHARS: usize = 41;

/// One of an ad's images, ready to stream.
pub struct AdImage {
    /// From the key's extension: image/jpeg, image/png, image/webp, else application/octet-stream.
    pub content_type: &'static str,
    pub size: u64,
    pub bytes: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

impl std::fmt::Debug for AdImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdImage").field("content_type", &self.content_type).field("size", &self.size).finish()
    }
}

impl Service {
    /// What an export of this request would hold and weigh, and its first ads. The request is
    /// checked exactly as [`Service::create`] checks it; nothing is recorded.
    pub async fn preview(&self, caller: &Caller, request: &PreviewRequest) -> ServiceResult<Preview> {
        let limit = self.settings.preview_limit;
        self.count_hit(&format!("preview:{}", caller.id), limit, |wait| {
            ServiceError::too_many(
                Code::TooManyPreviews,
                format!("at most {} previews in {} s per user; try again in {wait} s", limit.hits, limit.per.as_secs()),
                wait,
            )
        })
        .await?;
        let catalogue = self.catalogue.exportable_fields().await?;
        let request = ExportRequest::resolve(request, &catalogue).map_err(|e| ServiceError::invalid(e.0))?;
        // Bounded: a query too broad to count in time (a phrase of one or two characters over a
        // million ads, say) is estimated from a sample instead, and its ads may go unlisted,
        // rather than holding a connection for seconds. The export itself always counts.
        let budget = self.settings.preview_budget;
        let query = &request.query;
        let (totals, counted, rows) = match self.catalogue.catalogue_totals_within(query, budget).await? {
            Some(totals) => {
                let rows = self.catalogue.first_page(query, PREVIEW_ADS, Some(totals.ads), budget / 2).await?;
                (totals, true, rows)
            }
            // Out of time: the estimate and the newest matching ads at once (a count too slow to
            // finish means many matches, or a query that no order makes quick).
            None => {
                let (totals, rows) = futures::try_join!(
                    self.catalogue.estimate_totals(query, ESTIMATE_SAMPLE),
                    self.catalogue.first_page(query, PREVIEW_ADS, None, budget / 2),
                )?;
                (totals, false, rows)
            }
        };
        let listed = rows.is_some();
        let rows = rows.unwrap_or_default();
        let ids: Vec<String> = rows.iter().map(|r| r.observation_id.clone()).collect();
        let curation = self.catalogue.curation(&ids).await?;
        let fields: Vec<String> = request.fields.iter().map(|f| f.path.clone()).collect();
        let names: Vec<String> = request.fields.iter().map(|f| f.name.clone()).collect();
        let include_images = request.include_images;
        let sample = Sample::measure(&rows, &curation, &fields, &names, include_images);
        let details = details(caller, &request, &totals, self.settings.max_retries);
        let report = ReportContext { export_id: uuid::Uuid::nil().to_string(), include_images };
        let fixed = FixedParts {
            // Written to memory (and, for the report's page index, a temporary file): a failure
            // leaves that part out of the estimate rather than failing the preview.
            csv_header: csv_header(&fields).map_or(0, |header| deflated_len(&header)),
            details: deflated_len(&serde_json::to_vec_pretty(&details).unwrap_or_default()),
            report_summary: report_summary_bytes(report, &details).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "weighing the report's summary failed");
                0
            }),
        };
        Ok(Preview {
            ad_count: totals.ads,
            image_count: totals.images,
            estimated_bytes: estimate(&totals, &sample, &fixed),
            ads: sample.ads,
            estimated: !(counted && listed),
        })
    }

    /// The `n`-th image (from 1) of an ad in the catalogue, from the observations store. An
    /// unknown ad, an `n` out of range, a withdrawn participant's ad or an image missing from
    /// the store are all "not found".
    pub async fn ad_image(&self, _caller: &Caller, observation_id: &str, n: &str) -> ServiceResult<AdImage> {
        let no_ad = || ServiceError::not_found(format!("no ad {observation_id:?} in the catalogue"));
        // Ids never hold control characters (and PostgreSQL cannot even compare text with NUL).
        if has_control(observation_id) {
            return Err(no_ad());
        }
        let Some(row) = self.catalogue.catalogue_ad(observation_id).await? else { return Err(no_ad()) };
        let Ok(rdo) = parse_rdo(row.rdo.as_bytes()) else { return Err(no_ad()) };
        // Withdrawn participants' ads never reach the catalogue; should one, it still shows nothing.
        if is_withdrawn(&rdo) {
            return Err(no_ad());
        }
        let media = media_keys(&rdo);
        // Only the number as the preview writes it ("1", not "01" or "+1") names an image.
        let index = n.parse::<usize>().ok().filter(|i| (1..=media.len()).contains(i) && i.to_string() == n);
        let index = index.ok_or_else(|| {
            ServiceError::not_found(format!(
                "ad {observation_id:?} has {} image{}; there is no image {n:?} (images are numbered from 1)",
                media.len(),
                if media.len() == 1 { "" } else { "s" }
            ))
        })?;
        let Media { key, own } = &media[index - 1];
        let missing = |why: &str| ServiceError::not_found(format!("image {index} of ad {observation_id:?} is {why}"));
        if !own {
            return Err(missing(NOT_OWN_MEDIA));
        }
        let path = Path::parse(key).map_err(|_| missing("not in the observations store"))?;
        let found = match self.observations.get(&path).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Err(missing("not in the observations store")),
            Err(e) => return Err(e.into()),
        };
        let max = self.settings.max_image_bytes;
        if found.meta.size > max {
            return Err(missing(&format!("{} bytes, more than the {max} an image may be", found.meta.size)));
        }
        Ok(AdImage { content_type: content_type(key), size: found.meta.size, bytes: found.into_stream() })
    }
}

/// The URL of an ad's `n`-th image (from 1), relative to the API.
pub fn image_url(observation_id: &str, n: usize) -> String {
    format!("/ads/{}/images/{n}", percent_encode(observation_id))
}

/// Everything but unreserved characters (RFC 3986) percent-encoded, so any id is one path segment.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn percent_encode(segment: &str) -> String {
    utf8_percent_encode(segment, NOT_UNRESERVED).to_string()
}

/// The content type of an image, by its key's extension.
pub fn content_type(key: &str) -> &'static str {
    media_type(key).map_or("application/octet-stream", |(_, media_type)| media_type)
}

/// The listed ads, and what their content takes in a ZIP.
#[derive(Debug, Default)]
struct Sample {
    ads: Vec<PreviewAd>,
    /// Bytes of their stored RDOs.
    rdo_bytes: u64,
    /// Their `data.json` entries, CSV rows and report cards as the archive stores them, records aside.
    content_bytes: u64,
    /// The lengths of their folder names, summed.
    folder_chars: u64,
}

/// What each report page beyond the first adds besides its cards (head, stylesheet, pager),
/// deflated; measured on demo exports (the later pages' frame is not worth a page's rendering).
const REPORT_PAGE_BYTES: u64 = 1_500;

impl Sample {
    /// The listed ads, weighed by the archive's own projection and card ([`Sampler`]).
    fn measure(
        rows: &[CatalogueRow],
        curation: &HashMap<String, Curation>,
        fields: &[String],
        names: &[String],
        include_images: bool,
    ) -> Sample {
        let mut sample = Sample::default();
        let mut sampler = Sampler::new(fields, names, include_images);
        let empty = Curation::default();
        for row in rows {
            let id = &row.observation_id;
            let stored = StoredAd { observation_id: id, observed_at: row.observed_at, rdo: row.rdo.as_bytes() };
            // As the export does: a row that no longer parses, or a withdrawn participant's, is
            // skipped (and so is one whose projection fails, which writing to memory cannot).
            let Ok(Some((ad, bytes))) = sampler.add(stored, curation.get(id).unwrap_or(&empty)) else { continue };
            let Ok(rdo) = parse_rdo(row.rdo.as_bytes()) else { continue };
            sample.ads.push(PreviewAd {
                observation_id: id.clone(),
                platform: rdo
                    .get("observation")
                    .and_then(|o| o.get("platform"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                observed_at: rfc3339((row.observed_at * 1000.0).round() as i64),
                page_name: display_page_name(&rdo),
                // Numbered by their place in `media[]`; only the participant's own are shown.
                image_urls: ad
                    .media
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.own)
                    .map(|(i, _)| image_url(id, i + 1))
                    .collect(),
            });
            sample.content_bytes += bytes.data_json;
            sample.rdo_bytes += row.rdo.len() as u64;
            sample.folder_chars += bytes.folder;
        }
        // The rows and the cards are deflated streams in the archive, as here.
        sample.content_bytes += sampler.finish().unwrap_or_default();
        sample
    }
}

/// The parts of the archive that do not grow with the ads, deflated.
struct FixedParts {
    csv_header: u64,
    details: u64,
    report_summary: u64,
}

fn estimate(totals: &CatalogueTotals, sample: &Sample, fixed: &FixedParts) -> EstimatedBytes {
    let sampled = sample.ads.len() as u64;
    let content = if sample.rdo_bytes > 0 && totals.rdo_bytes > 0 {
        scale(totals.rdo_bytes, sample.content_bytes, sample.rdo_bytes)
    } else if sampled > 0 {
        // A catalogue indexed before RDO sizes were recorded: per ad instead of per byte.
        scale(totals.ads, sample.content_bytes, sampled)
    } else {
        0
    };
    let folder = sample.folder_chars.checked_div(sampled).map_or(UUID_FOLDER_CHARS, |chars| chars as usize);
    let ad_entries = totals.ads * entry_overhead(folder + "data.json".len());
    let pages = report_page_count(totals.ads);
    let fixed_bytes = entry_overhead(CSV_ENTRY.len())
        + fixed.csv_header
        + entry_overhead(DETAILS_ENTRY.len())
        + fixed.details
        + entry_overhead(REPORT_ENTRY.len())
        + fixed.report_summary
        + (pages - 1) * (entry_overhead(report_page_entry(2).len()) + REPORT_PAGE_BYTES);
    let without = content + ad_entries + fixed_bytes;
    let without_images = without + end_records(totals.ads + 2 + pages, without);
    let image_entries = totals.images * entry_overhead(folder + image_entry(0, "x.jpg").len());
    let with = without + totals.image_bytes + image_entries;
    let with_images = with + end_records(totals.ads + totals.images + 2 + pages, with);
    EstimatedBytes { without_images, with_images }
}

/// `value × numerator / denominator`, rounded, without overflow.
fn scale(value: u64, numerator: u64, denominator: u64) -> u64 {
    let scaled = (u128::from(value) * u128::from(numerator) + u128::from(denominator) / 2) / u128::from(denominator);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// `export_details.json` as the export would write it (its sizes are all that matters here).
fn details(caller: &Caller, request: &ExportRequest, totals: &CatalogueTotals, max_retries: u32) -> ExportDetails {
    let now = now_ms();
    let mut record = ExportRecord::pending(uuid::Uuid::nil(), &caller.id, request.parameters(), max_retries, now);
    record.status = ExportStatus::Completed;
    record.started_at = Some(now);
    record.completed_at = Some(now);
    let contents = ArchiveContents {
        fields: request.fields.iter().map(FieldDescription::from).collect(),
        ad_count: totals.ads,
        image_count: totals.images,
        image_bytes: totals.image_bytes,
        csv_bytes: 0,
        all_data_csv_sha256: "0".repeat(64),
        missing_image_count: 0,
        missing_images: Vec::new(),
    };
    ExportDetails::new(ExportStatusObject::new(&record, None, now, i64::MAX), contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_urls_are_one_segment_per_id() {
        assert_eq!(
            image_url("e60b8866-daa0-40de-821b-80d8863db2b6", 2),
            "/ads/e60b8866-daa0-40de-821b-80d8863db2b6/images/2"
        );
        assert_eq!(image_url("a/b?c#d ü", 1), "/ads/a%2Fb%3Fc%23d%20%C3%BC/images/1");
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("o/temp-v2/u/480.jpg"), "image/jpeg");
        assert_eq!(content_type("o/temp-v2/u/480.JPEG"), "image/jpeg");
        assert_eq!(content_type("o/x.png"), "image/png");
        assert_eq!(content_type("o/x.webp"), "image/webp");
        assert_eq!(content_type("o/x.gif"), "image/gif");
        assert_eq!(content_type("o/x.svg"), "application/octet-stream");
        assert_eq!(content_type("o/x.html"), "application/octet-stream");
        assert_eq!(content_type("o.jpg/x"), "application/octet-stream");
    }

    #[test]
    fn an_empty_selection_weighs_only_the_archives_own_parts() {
        let fixed = FixedParts { csv_header: 100, details: 1000, report_summary: 3000 };
        let e = estimate(&CatalogueTotals::default(), &Sample::default(), &fixed);
        let own = 76 + 2 * 12 + 100 + 76 + 2 * 19 + 1000 + 76 + 2 * 11 + 3000 + 22;
        assert_eq!(e, EstimatedBytes { without_images: own, with_images: own });
    }

    #[test]
    fn the_estimate_scales_the_sample_by_rdo_bytes() {
        let fixed = FixedParts { csv_header: 0, details: 0, report_summary: 0 };
        let mut sample = Sample { rdo_bytes: 1000, content_bytes: 250, folder_chars: 41 * 2, ..Sample::default() };
        sample.ads = vec![
            PreviewAd {
                observation_id: "x".into(),
                platform: None,
                observed_at: String::new(),
                page_name: None,
                image_urls: vec![]
            };
            2
        ];
        let totals = CatalogueTotals { ads: 10, images: 20, image_bytes: 1_000_000, rdo_bytes: 8000 };
        let e = estimate(&totals, &sample, &fixed);
        // CSV, details, report.html (one page for 10 ads) and the end records.
        let own = 76 + 24 + 76 + 38 + 76 + 22 + 22;
        let without = 2000 + 10 * (76 + 2 * 50) + own;
        assert_eq!(e.without_images, without);
        assert_eq!(e.with_images, without + 1_000_000 + 20 * (76 + 2 * 52));
        // Past 65,535 entries the ZIP64 end records come too.
        let many = CatalogueTotals { ads: 70_000, images: 0, image_bytes: 0, rdo_bytes: 0 };
        let e = estimate(&many, &sample, &fixed);
        // 700 report pages: 699 beyond report.html, each an entry and its own head.
        let pages = 699 * (76 + 2 * "report/page-0002.html".len() as u64 + 1_500);
        assert_eq!(e.without_images, 70_000 * 125 + 70_000 * 176 + own + pages + 76);
    }
}
