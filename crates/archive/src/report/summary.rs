//! The summary at the top of `report.html`: what was exported, when, and which files hold it.

use super::ReportContext;
use super::page::{date_range, in_words};
use crate::layout::{CSV_ENTRY, DETAILS_ENTRY, REPORT_ADS_PER_PAGE};
use aao_export_core::api::ExportDetails;
use aao_export_core::query::describe;
use aao_export_core::time::human_bytes;
use maud::{Markup, html};

/// The summary at the top of `report.html`.
pub(super) fn summary(
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
