//! The report for people: `report.html` (the summary, the page index and the first page of ads)
//! and `report/page-0002.html`, ... (the following pages), written by the export's one streaming
//! pass.
//!
//! - The projectors render each ad's card (the part that depends on the ad alone) in parallel;
//!   the writer adds the ad's number and the thumbnails of the images it really stored.
//! - A page is emitted into the ZIP as soon as the first ad of the next page arrives (so its
//!   "Next" link never points to a page that does not exist). Page 1's cards wait in memory
//!   (a fixed 100 ads) for `report.html`, which is written at the end, like
//!   `export_details.json`, once the counts are known. The page index is spooled to a temporary
//!   file, so memory stays flat whatever the number of pages.
//! - Every value comes from ad text, which is hostile input: all of it goes through `maud`, which
//!   escapes by default. Each page carries a Content-Security-Policy that allows no script at
//!   all, no fetch, images only from the archive's own files and only the page's own stylesheet
//!   (by hash); every link is relative and points inside the archive.
//! - Pages below `report/` carry `<base href="../">`, so every link is written the same way on
//!   every page: relative to the archive's root.

mod card;
mod page;
mod summary;

pub use card::{CARD_RDO_PATHS, CardAd, frame_card, render_card};
use page::{date_range, document_parts, pager, split_document};
use summary::summary;

use crate::layout::{REPORT_ADS_PER_PAGE, report_page_entry};
use crate::zip_stream::{Method, ZipStreamWriter};
use aao_export_core::api::ExportDetails;
use maud::{PreEscaped, Render, html};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

/// What the report needs to know about the export beyond `export_details.json`.
pub struct ReportContext {
    pub export_id: String,
    pub include_images: bool,
}

/// One page's worth of cards, and where the report stands.
pub struct ReportWriter {
    ctx: ReportContext,
    /// The page being filled (from 1).
    page: u64,
    /// Ads in the page being filled, and the newest and oldest observation times on it.
    on_page: u64,
    page_newest: f64,
    page_oldest: f64,
    /// Ads so far.
    ads: u64,
    newest: Option<f64>,
    oldest: Option<f64>,
    cards: String,
    /// Page 1's cards and whether a page 2 follows, for `report.html` at the end.
    first_page: Option<(String, bool)>,
    /// The page index, one `<li>` per finished page.
    index: BufWriter<std::fs::File>,
    scratch: String,
    /// A later page's HTML, assembled here before it is deflated.
    page_html: String,
}

impl ReportWriter {
    pub fn new(ctx: ReportContext) -> io::Result<Self> {
        Ok(Self {
            ctx,
            page: 1,
            on_page: 0,
            page_newest: 0.0,
            page_oldest: 0.0,
            ads: 0,
            newest: None,
            oldest: None,
            cards: String::with_capacity(256 * 1024),
            first_page: None,
            index: BufWriter::with_capacity(16 * 1024, tempfile::tempfile()?),
            scratch: String::new(),
            page_html: String::with_capacity(256 * 1024),
        })
    }

    /// Adds the next ad's card: `card` from [`render_card`], `images` the entries of the images
    /// the archive holds for it, `missing` how many it could not include.
    pub fn add<W: Write>(
        &mut self,
        zip: &mut ZipStreamWriter<W>,
        card: &str,
        observed_at: f64,
        images: &[String],
        missing: usize,
    ) -> io::Result<()> {
        if self.on_page == REPORT_ADS_PER_PAGE {
            self.finish_page(zip, true)?;
        }
        self.ads += 1;
        if self.on_page == 0 {
            self.page_newest = observed_at;
        }
        self.on_page += 1;
        self.page_oldest = observed_at;
        self.newest.get_or_insert(observed_at);
        self.oldest = Some(observed_at);
        frame_card(&mut self.cards, self.ads, card, self.ctx.include_images, images, missing);
        Ok(())
    }

    /// Closes the page being filled: page 1 waits for `report.html`, later pages go into the
    /// ZIP now; either way the page index learns of it.
    fn finish_page<W: Write>(&mut self, zip: &mut ZipStreamWriter<W>, has_next: bool) -> io::Result<()> {
        let page = self.page;
        let first_ad = self.ads + 1 - self.on_page;
        let last_ad = self.ads;
        let entry = report_page_entry(page);
        let dates = date_range(self.page_newest, self.page_oldest);
        html! {
            li {
                a href=(if page == 1 { "report.html#ads".to_string() } else { entry.clone() }) { "Page " (page) }
                " " span.range { "ads " (first_ad) "–" (last_ad) ", " (dates) }
            }
        }
        .render_to(&mut self.scratch);
        self.index.write_all(self.scratch.as_bytes())?;
        self.scratch.clear();

        if page == 1 {
            self.first_page = Some((std::mem::take(&mut self.cards), has_next));
        } else {
            let title = format!("Ads {first_ad}–{last_ad} · export {}", self.ctx.export_id);
            let pager = pager(page, has_next);
            // Assembled in one reused buffer: the cards are copied once, not through a markup
            // value and then a document.
            let (before, after) = document_parts(&title, true);
            let html = &mut self.page_html;
            html.clear();
            html.push_str(&before);
            html! {
                header {
                    p.crumbs { a href="report.html" { "Export " (self.ctx.export_id) } " › page " (page) }
                    h1 { "Ads " (first_ad) "–" (last_ad) }
                    p.muted { "Observed " (dates) ", newest first." }
                    (pager)
                }
            }
            .render_to(html);
            html.push_str("<main>");
            html.push_str(&self.cards);
            html.push_str("</main>");
            html! { footer { (pager) } }.render_to(html);
            html.push_str(&after);
            zip.add(&entry, html.as_bytes(), Method::Deflated)?;
            self.cards.clear();
        }
        self.page += 1;
        self.on_page = 0;
        Ok(())
    }

    /// Writes the last page, then `report.html` (summary, page index, first page) into `spool`
    /// for the ZIP; returns the number of pages.
    pub fn finish<W: Write>(
        mut self,
        zip: &mut ZipStreamWriter<W>,
        details: &ExportDetails,
        spool: &mut impl Write,
    ) -> io::Result<u64> {
        if self.on_page > 0 || self.page == 1 {
            self.finish_page(zip, false)?;
        }
        let pages = self.page - 1;
        let (first_cards, has_next) = self.first_page.take().unwrap_or_default();
        let mut index = self.index.into_inner().map_err(io::IntoInnerError::into_error)?;
        let index_len = index.stream_position()?;
        index.seek(SeekFrom::Start(0))?;

        let title = format!("Export {} · Australian Ad Observatory", self.ctx.export_id);
        let summary = summary(details, &self.ctx, self.newest, self.oldest, pages);
        let first_shown = u64::from(details.ad_count > 0);
        let first_last = details.ad_count.min(REPORT_ADS_PER_PAGE);
        // The page is assembled in pieces so that the index, which grows with the export, is
        // copied from its spool rather than held in memory.
        let head = html! {
            (summary)
            @if pages > 1 {
                h2 id="pages" { "Pages" }
                p.muted { (pages) " pages of up to " (REPORT_ADS_PER_PAGE) " ads each, newest first." }
            }
        };
        let (before, after) = split_document(&title, head);
        spool.write_all(before.as_bytes())?;
        if pages > 1 {
            spool.write_all(br#"<ol class="pages">"#)?;
            io::copy(&mut (&mut index).take(index_len), spool)?;
            spool.write_all(b"</ol>")?;
        }
        let ads = html! {
            h2 id="ads" {
                @if details.ad_count == 0 { "Ads" } @else if pages > 1 { "Ads " (first_shown) "–" (first_last) } @else { "Ads" }
            }
            @if details.ad_count == 0 {
                p { "No ads matched the query." }
            } @else {
                @if pages > 1 { (pager(1, has_next)) }
                main { (PreEscaped(&first_cards)) }
                @if pages > 1 { (pager(1, has_next)) }
            }
        };
        spool.write_all(ads.into_string().as_bytes())?;
        spool.write_all(after.as_bytes())?;
        Ok(pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes `n` ads' cards; returns the pages by name (`report.html` last) and their HTML.
    fn paged(n: u64) -> Vec<(String, String)> {
        use aao_export_core::api::{ArchiveContents, ExportStatusObject};
        use aao_export_core::export::{ExportParameters, ExportRecord};
        let mut zip = ZipStreamWriter::new(Vec::new(), (2026, 1, 2, 3, 4, 5)).unwrap();
        let ctx = ReportContext { export_id: "e1".into(), include_images: false };
        let mut report = ReportWriter::new(ctx).unwrap();
        for i in 0..n {
            let card = format!("<h3><code>ad{i}</code></h3>");
            report.add(&mut zip, &card, 1_759_583_019.0 - i as f64 * 3600.0, &[], 0).unwrap();
        }
        let parameters =
            ExportParameters { query: json!({"method": "ALL"}), include_images: false, fields: Vec::new() };
        let record = ExportRecord::pending(uuid::Uuid::nil(), "me", parameters, 3, 0);
        let contents = ArchiveContents { ad_count: n, ..ArchiveContents::default() };
        let details = ExportDetails::new(ExportStatusObject::new(&record, None, 0, i64::MAX), contents);
        let mut first = Vec::new();
        let pages = report.finish(&mut zip, &details, &mut first).unwrap();
        let (bytes, _) = zip.finish().unwrap();
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        let mut out = Vec::new();
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            let mut html = String::new();
            entry.read_to_string(&mut html).unwrap();
            out.push((entry.name().unwrap().to_string(), html));
        }
        out.push((REPORT_ENTRY_NAME.to_string(), String::from_utf8(first).unwrap()));
        assert_eq!(pages, out.len() as u64, "{n} ads: pages");
        out
    }

    const REPORT_ENTRY_NAME: &str = "report.html";

    #[test]
    fn pages_hold_a_hundred_ads_and_link_only_to_pages_that_exist() {
        for (n, pages) in [(0u64, 1usize), (1, 1), (100, 1), (101, 2), (200, 2), (250, 3)] {
            let written = paged(n);
            let names: Vec<&str> = written.iter().map(|(name, _)| name.as_str()).collect();
            let mut want: Vec<String> = (2..=pages as u64).map(report_page_entry).collect();
            want.push(REPORT_ENTRY_NAME.to_string());
            assert_eq!(names, want, "{n} ads");
            let page_of = |name: &str| if name == REPORT_ENTRY_NAME { 1 } else { name[12..16].parse::<u64>().unwrap() };
            let mut ids = Vec::new();
            for (name, html) in &written {
                let page = page_of(name);
                let cards = html.matches("<article class=\"ad\"").count() as u64;
                assert_eq!(cards, (n.saturating_sub((page - 1) * 100)).min(100), "{n} ads, {name}");
                let next = format!("rel=\"next\" href=\"{}\"", report_page_entry(page + 1));
                assert_eq!(html.matches(&next).count(), if (page as usize) < pages { 2 } else { 0 }, "{n}, {name}");
                let prev = format!("rel=\"prev\" href=\"{}\"", report_page_entry(page.saturating_sub(1)));
                assert_eq!(html.matches(&prev).count(), if page > 1 { 2 } else { 0 }, "{n}, {name}");
                assert_eq!(html.contains("<ol class=\"pages\">"), page == 1 && pages > 1, "{n}, {name}: the index");
                ids.push((
                    page,
                    html.split("<h3><code>ad")
                        .skip(1)
                        .map(|c| c[..c.find('<').unwrap()].to_string())
                        .collect::<Vec<_>>(),
                ));
            }
            ids.sort();
            let ids: Vec<String> = ids.into_iter().flat_map(|(_, ids)| ids).collect();
            assert_eq!(ids, (0..n).map(|i| i.to_string()).collect::<Vec<_>>(), "{n} ads: every card once, in order");
            if n == 0 {
                assert!(written[0].1.contains("No ads matched the query."));
            }
        }
    }
}
