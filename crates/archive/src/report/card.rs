//! An ad's card: the part that depends on the ad alone (rendered by the projectors, in
//! parallel) and its frame with the ad's number and thumbnails (added by the writer).

use crate::layout::DETAILS_ENTRY;
use aao_export_core::catalogue::display_page_name;
use aao_export_core::html::escape_into as escape;
use maud::{Render, html};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// RDO parts the cards show besides the requested fields: the platform and the page names (with
/// only the two parts of the rankings that pick the best candidate, so the rest is skipped unparsed).
pub const CARD_RDO_PATHS: [&str; 4] = [
    "observation.platform",
    "enrichment.meta_adlibrary_scrape.candidates.data.page_name",
    "enrichment.meta_adlibrary_scrape.rankings.this_selected_candidate_i",
    "enrichment.meta_adlibrary_scrape.rankings.ranking_pct",
];

/// A value longer than this (in characters) is folded behind its first words.
const FOLD_CHARS: usize = 240;
/// What a folded value shows before it is opened.
const FOLD_PREVIEW_CHARS: usize = 120;

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

/// What a card shows of one ad, besides the requested fields.
pub struct CardAd<'a> {
    pub observation_id: &'a str,
    pub folder: &'a str,
    pub observed_at: f64,
    /// The export document (the pruned RDO plus the derived fields).
    pub document: &'a Map<String, Value>,
}

/// Renders the part of an ad's card that depends on the ad alone (the projector's share): its
/// id, when and where it was seen, a link to its `data.json`, and the requested fields.
pub fn render_card(ad: &CardAd<'_>, names: &[String], values: &[Option<Value>]) -> String {
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

/// Ad `n`'s card as a report page holds it: `card` (from [`render_card`]) framed, with the
/// thumbnails of `images` (the entries stored for it) and a note of the `missing` ones.
pub fn frame_card(out: &mut String, n: u64, card: &str, include_images: bool, images: &[String], missing: usize) {
    let _ = write!(out, r#"<article class="ad" id="ad-{n}"><div class="n">Ad {n}</div>"#);
    out.push_str(card);
    if include_images {
        if !images.is_empty() {
            out.push_str(r#"<div class="thumbs">"#);
            for (i, entry) in images.iter().enumerate() {
                html! {
                    a href=(entry) {
                        img src=(entry) loading="lazy" decoding="async" alt={ "Image " (i + 1) " of ad " (n) };
                    }
                }
                .render_to(out);
            }
            out.push_str("</div>");
        }
        match (images.len(), missing) {
            (0, 0) => out.push_str(r#"<p class="note">No images.</p>"#),
            (_, 0) => {}
            (_, m) => {
                let _ = write!(
                    out,
                    r#"<p class="note">{m} image{} could not be included (listed in {DETAILS_ENTRY}).</p>"#,
                    if m == 1 { "" } else { "s" }
                );
            }
        }
    }
    out.push_str("</article>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
