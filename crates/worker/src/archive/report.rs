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

use super::zip_stream::{Method, ZipStreamWriter};
use aao_export_core::api::ExportDetails;
use aao_export_core::archive::{CSV_ENTRY, DETAILS_ENTRY, REPORT_ADS_PER_PAGE, report_page_entry};
use aao_export_core::catalogue::display_page_name;
use aao_export_core::html::escape_into as escape;
use aao_export_core::query::describe;
use aao_export_core::time::human_bytes;
use maud::{DOCTYPE, Markup, PreEscaped, Render, html};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::LazyLock;

/// RDO parts the cards show besides the requested fields: the platform and the page names (with
/// only the two parts of the rankings that pick the best candidate, so the rest is skipped unparsed).
pub(super) const CARD_RDO_PATHS: [&str; 4] = [
    "observation.platform",
    "enrichment.meta_adlibrary_scrape.candidates.data.page_name",
    "enrichment.meta_adlibrary_scrape.rankings.this_selected_candidate_i",
    "enrichment.meta_adlibrary_scrape.rankings.ranking_pct",
];

/// A value longer than this (in characters) is folded behind its first words.
const FOLD_CHARS: usize = 240;
/// What a folded value shows before it is opened.
const FOLD_PREVIEW_CHARS: usize = 120;

const CSS: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--link:#0a58ad}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0 auto;max-width:72rem;padding:1rem 1.25rem 3rem;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:#fff}
a{color:var(--link)}
h1{font-size:1.5rem;line-height:1.25;margin:.25rem 0 .75rem;overflow-wrap:anywhere}
h2{font-size:1.2rem;margin:2rem 0 .75rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
pre{white-space:pre-wrap;background:var(--soft);padding:.75rem;border-radius:6px;margin:.5rem 0}
.crumbs{margin:0;color:var(--muted)}
.lead{font-size:1.1rem;margin:.25rem 0 1rem}
.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem 1.25rem;margin:0}
.facts dt{font-weight:600}
.facts dd{margin:0;overflow-wrap:anywhere}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .6rem;border-bottom:1px solid var(--line)}
th{background:var(--soft)}
.muted{color:var(--muted)}
.pager{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;margin:1rem 0;padding:.5rem .75rem;background:var(--soft);border-radius:6px}
.pager .next{margin-left:auto}
.pages{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.35rem 1.25rem;margin:0;padding:0;list-style:none}
.pages .range{color:var(--muted);font-size:.9em}
.ad{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;margin:1rem 0;break-inside:avoid}
.ad .n{color:var(--muted);font-size:.9em}
.ad h3{font-size:1rem;margin:0;overflow-wrap:anywhere}
.ad .meta{margin:.15rem 0 .6rem;color:var(--muted)}
.ad .meta b{color:var(--fg);font-weight:600}
.ad dl{display:grid;grid-template-columns:minmax(7rem,13rem) minmax(0,1fr);gap:.2rem 1rem;margin:0}
.ad dt{color:var(--muted)}
.ad dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
.ad dd:empty::before{content:"—";color:var(--muted)}
summary{cursor:pointer}
.thumbs{display:flex;flex-wrap:wrap;gap:.5rem;margin:.75rem 0 0}
.thumbs a{display:block;line-height:0}
.thumbs img{height:160px;min-width:60px;max-width:100%;width:auto;object-fit:contain;border:1px solid var(--line);border-radius:4px;background:var(--soft)}
.note{margin:.5rem 0 0;color:var(--muted);font-size:.9em}
@media (max-width:40rem){
body{padding:.75rem .75rem 2rem}
.facts,.ad dl{grid-template-columns:minmax(0,1fr)}
.facts dd,.ad dd{margin-bottom:.4rem}
.thumbs img{height:120px}
}
@media print{
body{max-width:none;padding:0;font-size:11pt}
.pager,.skip{display:none}
a{color:inherit;text-decoration:none}
.ad{border-color:#999}
details::details-content{content-visibility:visible;display:block}
.thumbs img{height:110px}
}
"#;

/// The policy every page carries: nothing runs, nothing is fetched but the archive's own image
/// files, and the only style is this one stylesheet (by hash).
static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; img-src 'self'; style-src 'sha256-{}'; base-uri 'self'; form-action 'none'",
        base64(&Sha256::digest(CSS.as_bytes()))
    )
});

/// Standard base64 with padding (the CSP's hash source).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// When an ad was observed (epoch seconds), as `<time datetime="2026-03-03T14:05:09Z">Tue 3 Mar
/// 2026, 14:05:09 UTC</time>`, written digit by digit: it runs once per ad, and going through
/// `format!` (or chrono's `format`, which parses its pattern every time) was a visible share of
/// the report's cost.
struct ObservedAt(f64);

impl Render for ObservedAt {
    fn render_to(&self, out: &mut String) {
        use chrono::{Datelike, Timelike};
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let t = chrono::DateTime::from_timestamp_millis((self.0 * 1000.0).round() as i64).unwrap_or_default();
        let (year, month, day) = (t.year(), t.month(), t.day());
        let (hms, two) = ([t.hour(), t.minute(), t.second()], |out: &mut String, n: u32| {
            out.push(char::from(b'0' + (n / 10 % 10) as u8));
            out.push(char::from(b'0' + (n % 10) as u8));
        });
        let time = |out: &mut String| {
            for (i, n) in hms.into_iter().enumerate() {
                if i > 0 {
                    out.push(':');
                }
                two(out, n);
            }
        };
        let Ok(year @ 0..=9999) = u32::try_from(year) else {
            // Beyond four digits (no phone's clock is, but the catalogue takes any number).
            let _ = write!(
                out,
                r#"<time datetime="{}">{}</time>"#,
                t.format("%Y-%m-%dT%H:%M:%SZ"),
                t.format("%a %-d %b %Y, %H:%M:%S UTC")
            );
            return;
        };
        out.push_str(r#"<time datetime=""#);
        two(out, year / 100);
        two(out, year % 100);
        out.push('-');
        two(out, month);
        out.push('-');
        two(out, day);
        out.push('T');
        time(out);
        out.push_str(r#"Z">"#);
        out.push_str(DAYS[t.weekday().num_days_from_monday() as usize]);
        out.push(' ');
        if day >= 10 {
            out.push(char::from(b'0' + (day / 10) as u8));
        }
        out.push(char::from(b'0' + (day % 10) as u8));
        out.push(' ');
        out.push_str(MONTHS[month as usize - 1]);
        out.push(' ');
        two(out, year / 100);
        two(out, year % 100);
        out.push_str(", ");
        time(out);
        out.push_str(" UTC</time>");
    }
}

/// An RFC 3339 timestamp as people read it: `3 Mar 2026, 14:05 UTC`.
fn in_words(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map_or_else(|_| rfc3339.to_string(), |t| t.format("%-d %b %Y, %H:%M UTC").to_string())
}

/// `3 Mar 2026` for a page's range of observation times.
fn day(observed_at: f64) -> String {
    chrono::DateTime::from_timestamp(observed_at.floor() as i64, 0).unwrap_or_default().format("%-d %b %Y").to_string()
}

/// What a card shows of one ad, besides the requested fields.
pub(super) struct CardAd<'a> {
    pub observation_id: &'a str,
    pub folder: &'a str,
    pub observed_at: f64,
    /// The export document (the pruned RDO plus the derived fields).
    pub document: &'a Map<String, Value>,
}

/// Renders the part of an ad's card that depends on the ad alone (the projector's share): its
/// id, when and where it was seen, a link to its `data.json`, and the requested fields.
pub(super) fn render_card(ad: &CardAd<'_>, names: &[String], values: &[Option<Value>]) -> String {
    let platform = ad.document.get("observation").and_then(|o| o.get("platform")).and_then(Value::as_str);
    let pages = page_names(ad.document);
    html! {
        h3 { code { (Text(ad.observation_id)) } }
        p.meta {
            (ObservedAt(ad.observed_at))
            @if let Some(platform) = platform { " · " b { (Text(platform)) } }
            @if !pages.is_empty() {
                " · " (if pages.len() == 1 { "Page " } else { "Pages " })
                @for (i, page) in pages.iter().enumerate() { @if i > 0 { ", " } b { (Text(page)) } }
            }
            " · " a href={ (Text(ad.folder)) "data.json" } { "data.json" }
        }
        @if !names.is_empty() {
            dl {
                @for (name, value) in names.iter().zip(values) { dt { (Text(name)) } (FieldValue(value.as_ref())) }
            }
        }
    }
    .into_string()
}

/// Text spliced into a card, escaped by [`escape`] (the same escaping as maud's, faster on ad text).
struct Text<'a>(&'a str);

impl Render for Text<'_> {
    fn render_to(&self, out: &mut String) {
        escape(self.0, out);
    }
}

/// The ad's page names: the best-ranked candidate's first, then the others' once each.
fn page_names(document: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = display_page_name(document).into_iter().collect();
    let candidates = document
        .get("enrichment")
        .and_then(|e| e.get("meta_adlibrary_scrape"))
        .and_then(|m| m.get("candidates"))
        .and_then(Value::as_array);
    for name in candidates.into_iter().flatten().filter_map(|c| c.get("data")?.get("page_name")?.as_str()) {
        if !name.trim().is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// A requested field's value as a `<dd>`: text as it is, lists of plain values one after the
/// other, anything else as compact JSON; long values folded behind their beginning.
struct FieldValue<'a>(Option<&'a Value>);

impl Render for FieldValue<'_> {
    fn render_to(&self, out: &mut String) {
        let mut joined = String::new();
        let text: &str = match self.0 {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s,
            Some(Value::Array(items)) if items.iter().all(|v| !v.is_array() && !v.is_object()) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        joined.push_str(" · ");
                    }
                    match item {
                        Value::String(s) => joined.push_str(s),
                        Value::Null => joined.push('—'),
                        other => {
                            let _ = write!(joined, "{other}");
                        }
                    }
                }
                &joined
            }
            Some(other) => {
                let _ = write!(joined, "{other}");
                &joined
            }
        };
        // Nothing, or only blanks, is an empty <dd>, which the stylesheet shows as a dash.
        if text.trim().is_empty() {
            out.push_str("<dd></dd>");
            return;
        }
        out.push_str("<dd>");
        if text.len() > FOLD_CHARS && text.chars().nth(FOLD_CHARS).is_some() {
            let cut = text.char_indices().nth(FOLD_PREVIEW_CHARS).map_or(text.len(), |(i, _)| i);
            out.push_str("<details><summary>");
            escape(&text[..cut], out);
            let _ = write!(out, r#"… <span class="muted">({} characters)</span></summary>"#, text.chars().count());
            escape(text, out);
            out.push_str("</details>");
        } else {
            escape(text, out);
        }
        out.push_str("</dd>");
    }
}

/// What the report needs to know about the export beyond `export_details.json`.
pub(super) struct ReportContext {
    pub export_id: String,
    pub include_images: bool,
}

/// One page's worth of cards, and where the report stands.
pub(super) struct ReportWriter {
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
        let n = self.ads;
        let _ = write!(self.cards, r#"<article class="ad" id="ad-{n}"><div class="n">Ad {n}</div>"#);
        self.cards.push_str(card);
        if self.ctx.include_images {
            if !images.is_empty() {
                self.cards.push_str(r#"<div class="thumbs">"#);
                for (i, entry) in images.iter().enumerate() {
                    html! {
                        a href=(entry) {
                            img src=(entry) loading="lazy" decoding="async" alt={ "Image " (i + 1) " of ad " (n) };
                        }
                    }
                    .render_to(&mut self.cards);
                }
                self.cards.push_str("</div>");
            }
            match (images.len(), missing) {
                (0, 0) => self.cards.push_str(r#"<p class="note">No images.</p>"#),
                (_, 0) => {}
                (_, m) => {
                    let _ = write!(
                        self.cards,
                        r#"<p class="note">{m} image{} could not be included (listed in {DETAILS_ENTRY}).</p>"#,
                        if m == 1 { "" } else { "s" }
                    );
                }
            }
        }
        self.cards.push_str("</article>\n");
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

/// `on 3 Mar 2026` or `from 28 Feb 2026 to 3 Mar 2026`: in time order, though the ads are
/// newest first.
fn date_range(newest: f64, oldest: f64) -> String {
    let (newest, oldest) = (day(newest), day(oldest));
    if newest == oldest { format!("on {newest}") } else { format!("from {oldest} to {newest}") }
}

/// Previous, the summary and index, and next.
fn pager(page: u64, has_next: bool) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if page > 1 {
                a rel="prev" href=(report_page_entry(page - 1)) { "← Previous (page " (page - 1) ")" }
            }
            @if page > 1 { a href="report.html#pages" { "Summary and all pages" } }
            @else { span { "Page 1" } }
            @if has_next {
                a.next rel="next" href=(report_page_entry(page + 1)) { "Next (page " (page + 1) ") →" }
            }
        }
    }
}

/// `report.html` up to the page index, and its end.
fn split_document(title: &str, head: Markup) -> (String, String) {
    let (mut before, after) = document_parts(title, false);
    before.push_str(&head.into_string());
    (before, after)
}

fn document_parts(title: &str, below_root: bool) -> (String, String) {
    let before = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(*CSP);
                meta name="referrer" content="no-referrer";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Pages below report/ link relative to the archive's root, as report.html does.
                @if below_root { base href="../"; }
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
        }
    }
    .into_string();
    // maud closes every element; the body goes between the head and the closing tags.
    let cut = before.rfind("</html>").unwrap_or(before.len());
    let (head, _) = before.split_at(cut);
    (format!("{head}<body>"), "</body></html>\n".to_string())
}

/// The summary at the top of `report.html`.
fn summary(
    details: &ExportDetails,
    ctx: &ReportContext,
    newest: Option<f64>,
    oldest: Option<f64>,
    pages: u64,
) -> Markup {
    let query = &details.export_parameters.query;
    let query_json = serde_json::to_string_pretty(query).unwrap_or_default();
    let images = if !ctx.include_images {
        "not included".to_string()
    } else if details.missing_image_count == 0 {
        format!("{} ({})", details.image_count, human_bytes(details.image_bytes))
    } else {
        format!(
            "{} ({}); {} could not be included and are listed in {DETAILS_ENTRY}",
            details.image_count,
            human_bytes(details.image_bytes),
            details.missing_image_count
        )
    };
    html! {
        header {
            p.crumbs { "Australian Ad Observatory · data export" }
            h1 { "Export " (details.export_id) }
            p.lead {
                @match details.ad_count {
                    0 => { "No ads" }
                    1 => { "1 ad" }
                    n => { (n) " ads" }
                }
                @if let (Some(newest), Some(oldest)) = (newest, oldest) { ", observed " (date_range(newest, oldest)) }
                @if details.ad_count > 1 { ", newest first" }
                "."
            }
        }
        dl.facts {
            dt { "Query" } dd { (describe(query)) }
            dt { "Ads" } dd { (details.ad_count) }
            dt { "Images" } dd { (images) }
            dt { "Made" } dd { (details.completed_at.as_deref().map(in_words).unwrap_or_default()) }
            dt { "Requested" } dd { (in_words(&details.created_at)) " by " (details.creator_id) }
            dt { "Expires" } dd {
                @if let Some(expires) = &details.expires_at {
                    (in_words(expires)) span.muted { " (the service deletes its copy then; this one is yours)" }
                } @else {
                    span.muted { "not set (made outside the service)" }
                }
            }
            @if !details.shared_with.is_empty() {
                dt { "Shared with" } dd { (details.shared_with.join(", ")) }
            }
            dt { "Files" } dd {
                a href=(CSV_ENTRY) { (CSV_ENTRY) } " (" (human_bytes(details.csv_bytes)) ", one row per ad, in this order) · "
                a href=(DETAILS_ENTRY) { (DETAILS_ENTRY) } " (everything above, for programs) · "
                code { "ads/" } " (one folder per ad: its " code { "data.json" }
                @if ctx.include_images { " and images" } ")"
            }
            @if pages > 1 {
                dt { "Pages" } dd { a href="#pages" { (pages) " pages" } " of up to " (REPORT_ADS_PER_PAGE) " ads" }
            }
        }
        details { summary { "The query as JSON" } pre { code { (query_json) } } }
        h2 { "Fields" }
        div.table {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Path" } th scope="col" { "Description" } } }
                tbody {
                    @for f in &details.fields {
                        tr { td { (f.name) } td { code { (f.path) } } td { (f.description) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, output) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn the_policy_names_the_stylesheet_by_its_hash() {
        let hash = base64(&Sha256::digest(CSS.as_bytes()));
        assert!(CSP.contains(&format!("style-src 'sha256-{hash}'")), "{}", *CSP);
        assert!(CSP.starts_with("default-src 'none';"));
        assert!(!CSP.contains("script-src") && !CSP.contains("unsafe"));
    }

    fn card(document: Value, names: &[&str], values: &[Option<Value>]) -> String {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let ad = CardAd {
            observation_id: "ad-1",
            folder: "ads/ad-1/",
            observed_at: 1_759_583_019.0,
            document: document.as_object().unwrap(),
        };
        render_card(&ad, &names, values)
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let hostile = r#"<img src=x onerror=alert(1)></script>"&'"#;
        let html = card(
            json!({"observation": {"platform": hostile},
                   "enrichment": {"meta_adlibrary_scrape": {"candidates": [{"data": {"page_name": hostile}}]}}}),
            &[hostile],
            &[Some(json!([hostile, "x"]))],
        );
        assert!(!html.contains("<img") && !html.contains("</script>") && !html.contains("\"&"), "{html}");
        assert_eq!(html.matches("&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&quot;&amp;'").count(), 4, "{html}");
    }

    #[test]
    fn values_read_as_people_expect() {
        let html = card(
            json!({}),
            &["A", "B", "C", "D", "E"],
            &[None, Some(json!("text")), Some(json!(["a", 1, true])), Some(json!([{"label": "x"}])), Some(json!([]))],
        );
        assert!(html.contains(r#"<dt>A</dt><dd></dd>"#), "{html}");
        assert!(html.contains("<dt>B</dt><dd>text</dd>"), "{html}");
        assert!(html.contains("<dt>C</dt><dd>a · 1 · true</dd>"), "{html}");
        assert!(html.contains(r#"<dt>D</dt><dd>[{&quot;label&quot;:&quot;x&quot;}]</dd>"#), "{html}");
        assert!(html.contains(r#"<dt>E</dt><dd></dd>"#), "{html}");
        assert!(
            html.contains(r#"<time datetime="2025-10-04T13:03:39Z">Sat 4 Oct 2025, 13:03:39 UTC</time>"#),
            "{html}"
        );
        assert!(html.contains(r#"<a href="ads/ad-1/data.json">data.json</a>"#), "{html}");
    }

    #[test]
    fn observed_times_read_like_chrono_would_write_them() {
        for secs in [
            0.0,
            1_759_583_019.0,
            1_767_864_478.4,
            1_900_000_000.999,
            951_782_400.0,
            -62_135_596_800.0,
            -62_135_596_801.0,
            253_402_300_800.0,
        ] {
            let t = chrono::DateTime::from_timestamp_millis((secs * 1000.0_f64).round() as i64).unwrap();
            let want = format!(
                r#"<time datetime="{}">{}</time>"#,
                t.format("%Y-%m-%dT%H:%M:%SZ"),
                t.format("%a %-d %b %Y, %H:%M:%S UTC")
            );
            assert_eq!(ObservedAt(secs).render().into_string(), want);
        }
    }

    #[test]
    fn escaping_is_maud_s_on_random_text() {
        // Random mixes of plain ASCII, the four specials and multi-byte characters, at every
        // length around the eight-byte words.
        let alphabet = ['a', ' ', '&', '<', '>', '"', '\'', 'é', '😀', '\n', '/'];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for len in 0..200 {
            for _ in 0..20 {
                let text: String = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Mostly plain, as ad text is.
                        let pick = (state >> 40) as usize % 41;
                        alphabet[pick.saturating_sub(30)]
                    })
                    .collect();
                let (mut ours, mut maud) = (String::new(), String::new());
                escape(&text, &mut ours);
                let _ = maud::Escaper::new(&mut maud).write_str(&text);
                assert_eq!(ours, maud, "{text:?}");
            }
        }
    }

    #[test]
    fn escaping_is_maud_s() {
        for text in [
            "",
            "plain",
            "&",
            "<>",
            r#""q""#,
            "a&b<c>d\"e",
            "é<ü>&😀\"",
            "<img src=x onerror=alert(1)></script>",
            "&&&&",
        ] {
            let (mut ours, mut maud) = (String::from("x"), String::from("x"));
            escape(text, &mut ours);
            let _ = maud::Escaper::new(&mut maud).write_str(text);
            assert_eq!(ours, maud, "{text:?}");
        }
    }

    #[test]
    fn long_values_fold_behind_their_beginning() {
        let long = "é".repeat(FOLD_CHARS + 1);
        let html = card(json!({}), &["Long"], &[Some(json!(long))]);
        let preview = "é".repeat(FOLD_PREVIEW_CHARS);
        assert!(
            html.contains(&format!(
                "<dd><details><summary>{preview}… <span class=\"muted\">({} characters)</span></summary>{long}</details></dd>",
                FOLD_CHARS + 1
            )),
            "{html}"
        );
        let short = "é".repeat(FOLD_CHARS);
        assert!(card(json!({}), &["Short"], &[Some(json!(short))]).contains(&format!("<dd>{short}</dd>")));
    }

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

    #[test]
    fn page_names_put_the_best_ranked_first_once_each() {
        let doc = json!({"enrichment": {"meta_adlibrary_scrape": {
            "candidates": [{"data": {"page_name": "A"}}, {"data": {"page_name": "B"}}, {"data": {"page_name": "A"}},
                           {"data": {"page_name": " "}}],
            "rankings": [{"this_selected_candidate_i": 1, "ranking_pct": 0.9}]}}});
        assert_eq!(page_names(doc.as_object().unwrap()), ["B", "A"]);
        assert!(page_names(&Map::new()).is_empty());
    }
}
