//! The frame every page shares (header, navigation, sign-out), and small pieces several pages
//! use: timestamps the browser shows in local time, status words with their icons, sizes.

use aao_export_core::export::ExportStatus;
use aao_export_service::Caller;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Exports,
    New,
    Users,
    None,
}

/// A whole page: `title` names it (the brand follows), `body` goes in `<main>`, `scripts` are asset
/// names loaded at the end (deferred).
pub fn page(title: &str, caller: Option<&Caller>, nav: Nav, scripts: &[&str], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · AAO exports" }
                link rel="stylesheet" href="/assets/app.css";
                link rel="icon" href="data:,";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        span.brand { "AAO exports" }
                        @if let Some(caller) = caller {
                            a href="/exports" aria-current=[(nav == Nav::Exports).then_some("page")] { "Exports" }
                            a href="/exports/new" aria-current=[(nav == Nav::New).then_some("page")] { "New export" }
                            @if caller.is_admin() {
                                a href="/admin/users" aria-current=[(nav == Nav::Users).then_some("page")] { "Users" }
                            }
                            span.who { "Signed in as " (caller.full_name) }
                            form method="post" action="/signout" { button type="submit" { "Sign out" } }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                @for script in scripts {
                    script src={ "/assets/" (script) } defer {}
                }
            }
        }
    }
}

/// A timestamp: RFC 3339 in `datetime`, shown in UTC until the page's script turns it into the
/// browser's local time.
pub fn time(rfc3339: &str) -> Markup {
    let shown = rfc3339.replace('T', " ").replace('Z', " UTC");
    html! { time datetime=(rfc3339) data-local { (shown) } }
}

/// A timestamp that may be missing.
pub fn maybe_time(rfc3339: Option<&str>) -> Markup {
    match rfc3339 {
        Some(t) => time(t),
        None => html! { "—" },
    }
}

/// The status word with its icon (the word is the accessible text; the icon is decoration).
pub fn status(status: ExportStatus) -> Markup {
    let (icon, class) = match status {
        ExportStatus::Pending => (ICON_CLOCK, ""),
        ExportStatus::Processing => (ICON_SPINNER, "spin"),
        ExportStatus::Completed => (ICON_CHECK, ""),
        ExportStatus::Failed => (ICON_CROSS, ""),
        ExportStatus::Expired => (ICON_ARCHIVE, ""),
    };
    html! {
        span class={ "status status-" (status.as_str()) } {
            svg.icon class=(class) viewBox="0 0 24 24" aria-hidden="true" focusable="false" { (PreEscaped(icon)) }
            span.word { (status.as_str()) }
        }
    }
}

const ICON_CLOCK: &str = r#"<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/><path d="M12 7v5l3 3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>"#;
const ICON_SPINNER: &str =
    r#"<path d="M12 3a9 9 0 1 1-9 9" fill="none" stroke="currentColor" stroke-width="2.5" stroke-linecap="round"/>"#;
const ICON_CHECK: &str = r#"<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/><path d="M7.5 12.5l3 3 6-7" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>"#;
const ICON_CROSS: &str = r#"<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/><path d="M9 9l6 6M15 9l-6 6" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>"#;
const ICON_ARCHIVE: &str = r#"<rect x="3" y="4" width="18" height="5" rx="1" fill="none" stroke="currentColor" stroke-width="2"/><path d="M5 9v10h14V9M10 13h4" fill="none" stroke="currentColor" stroke-width="2"/>"#;

/// Bytes for people: `13.0 MB`.
pub fn size(bytes: u64) -> String {
    aao_export_core::time::human_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(13_000_000), "13.0 MB");
        assert_eq!(
            time("2030-03-17T17:46:40Z").into_string(),
            r#"<time datetime="2030-03-17T17:46:40Z" data-local>2030-03-17 17:46:40 UTC</time>"#
        );
    }

    #[test]
    fn the_frame_escapes_the_callers_name() {
        let caller = Caller { id: "x".into(), full_name: "<script>alert(1)</script>".into(), role: "user".into() };
        let html = page("T", Some(&caller), Nav::Exports, &[], html! { p { "body" } }).into_string();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"), "{html}");
        assert!(html.contains(r#"<a href="/exports" aria-current="page">Exports</a>"#), "{html}");
    }
}
