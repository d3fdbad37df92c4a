//! What every page shares: the document around it, its stylesheet and policy, and the pager.

use crate::layout::report_page_entry;
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

pub(super) const CSS: &str = r#"
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
pub(super) static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; img-src 'self'; style-src 'sha256-{}'; base-uri 'self'; form-action 'none'",
        BASE64_STANDARD.encode(Sha256::digest(CSS.as_bytes()))
    )
});

/// An RFC 3339 timestamp as people read it: `3 Mar 2026, 14:05 UTC`.
pub(super) fn in_words(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map_or_else(|_| rfc3339.to_string(), |t| t.format("%-d %b %Y, %H:%M UTC").to_string())
}

/// `3 Mar 2026` for a page's range of observation times.
pub(super) fn day(observed_at: f64) -> String {
    chrono::DateTime::from_timestamp(observed_at.floor() as i64, 0).unwrap_or_default().format("%-d %b %Y").to_string()
}

/// `on 3 Mar 2026` or `from 28 Feb 2026 to 3 Mar 2026`: in time order, though the ads are
/// newest first.
pub(super) fn date_range(newest: f64, oldest: f64) -> String {
    let (newest, oldest) = (day(newest), day(oldest));
    if newest == oldest { format!("on {newest}") } else { format!("from {oldest} to {newest}") }
}

/// Previous, the summary and index, and next.
pub(super) fn pager(page: u64, has_next: bool) -> Markup {
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
pub(super) fn split_document(title: &str, head: Markup) -> (String, String) {
    let (mut before, after) = document_parts(title, false);
    before.push_str(&head.into_string());
    (before, after)
}

pub(super) fn document_parts(title: &str, below_root: bool) -> (String, String) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_stylesheet_by_its_hash() {
        let hash = BASE64_STANDARD.encode(Sha256::digest(CSS.as_bytes()));
        assert!(CSP.contains(&format!("style-src 'sha256-{hash}'")), "{}", *CSP);
        assert!(CSP.starts_with("default-src 'none';"));
        assert!(!CSP.contains("script-src") && !CSP.contains("unsafe"));
    }
}
