//! The parts of the archive's layout that `export_details.json` (and so the API's types) name:
//! the report's pages, missing images and field descriptions. The rest of the format (entry
//! names, projection, deflaters, ZIP writer, report) lives in the `aao-export-archive` crate.

use serde::Serialize;

/// The report's first page, at the archive's root next to `all_data.csv`.
pub const REPORT_ENTRY: &str = "report.html";
/// Ads per report page: a page of cards with lazy thumbnails opens at once, whatever the
/// export's size, and the last page of a million ads is still only a click or two away.
pub const REPORT_ADS_PER_PAGE: u64 = 100;

/// The entry of report page `page` (from 1): `report.html`, then `report/page-0002.html`, ...
pub fn report_page_entry(page: u64) -> String {
    if page <= 1 { REPORT_ENTRY.to_string() } else { format!("report/page-{page:04}.html") }
}

/// Report pages for `ad_count` ads (an empty export still has its summary page).
pub fn report_page_count(ad_count: u64) -> u64 {
    ad_count.div_ceil(REPORT_ADS_PER_PAGE).max(1)
}

/// The report as `export_details.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ReportListing {
    /// `report.html`: open it in a browser.
    pub path: String,
    pub page_count: u64,
    pub ads_per_page: u64,
    /// Every page's entry, in order (the first is `path`).
    pub pages: Vec<String>,
}

impl ReportListing {
    pub fn for_ads(ad_count: u64) -> Self {
        let page_count = report_page_count(ad_count);
        ReportListing {
            path: REPORT_ENTRY.to_string(),
            page_count,
            ads_per_page: REPORT_ADS_PER_PAGE,
            pages: (1..=page_count).map(report_page_entry).collect(),
        }
    }
}

/// An image the export could not include.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MissingImage {
    pub observation_id: String,
    pub key: String,
    pub error: String,
}

/// A field as `export_details.json` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FieldDescription {
    pub path: String,
    pub name: String,
    pub description: String,
}

impl From<&crate::fields::ExportableField> for FieldDescription {
    fn from(f: &crate::fields::ExportableField) -> Self {
        FieldDescription { path: f.path.clone(), name: f.name.clone(), description: f.description.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_pages_are_numbered_from_the_root_page() {
        assert_eq!(report_page_entry(1), "report.html");
        assert_eq!(report_page_entry(2), "report/page-0002.html");
        assert_eq!(report_page_entry(12_345), "report/page-12345.html");
        assert_eq!((report_page_count(0), report_page_count(100), report_page_count(101)), (1, 1, 2));
        let listing = ReportListing::for_ads(3000);
        assert_eq!((listing.page_count, listing.pages.len()), (30, 30));
        assert_eq!(listing.pages.last().unwrap(), "report/page-0030.html");
    }
}
