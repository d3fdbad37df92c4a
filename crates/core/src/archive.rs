//! The archive layout of the spec: `all_data.csv`, `export_details.json` and
//! `ads/{observation_id}/{data.json, image_1.jpg, ...}`, with entry names that can never escape;
//! plus the report for people: `report.html` (summary, page index, first page of ads) and
//! `report/page-0002.html`, ... (the following pages).

use serde::Serialize;
use sha2_free_hash::short_hash;

pub const CSV_ENTRY: &str = "all_data.csv";
pub const DETAILS_ENTRY: &str = "export_details.json";
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

/// libdeflate level 1 for the entries deflated whole (each `data.json`, the report's pages,
/// `export_details.json`): as small as zlib's level 2 on these files at twice its speed (the
/// export is CPU-bound without images, and zlib spent more time clearing its tables between two
/// 1 kB entries than compressing them). Previews estimate with the same [`Deflater`].
pub const DEFLATE_LEVEL: i32 = 1;

/// zlib level 2 for the entries deflated as they stream (`all_data.csv`, `report.html`), which
/// libdeflate cannot do: they still shrink about sixfold at a fraction of level 6's CPU time.
pub const STREAM_DEFLATE_LEVEL: u32 = 2;

/// Deflates an entry whose bytes are all in hand, in one call.
pub struct Deflater(libdeflater::Compressor);

impl Default for Deflater {
    fn default() -> Self {
        Self(libdeflater::Compressor::new(
            libdeflater::CompressionLvl::new(DEFLATE_LEVEL).unwrap_or_else(|_| libdeflater::CompressionLvl::fastest()),
        ))
    }
}

impl Deflater {
    /// `data` deflated into `out` (replacing what it held), when that is smaller than `data`;
    /// `false` (and `out` empty) when it is not, and the entry is better stored as it is.
    pub fn deflate(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        // libdeflate stops, answering 0, as soon as its output would not fit: a buffer one byte
        // shorter than the input asks exactly "does it shrink?".
        out.resize(data.len().saturating_sub(1), 0);
        let written = self.0.deflate_compress(data, out).unwrap_or(0);
        out.truncate(written);
        written > 0
    }
}

/// The bytes a ZIP entry costs beside its data: its local header (30) and its central directory
/// record (46), each with the entry's name. (Entries past 4 GiB carry 12 more for ZIP64.)
pub fn entry_overhead(name_len: usize) -> u64 {
    76 + 2 * name_len as u64
}

/// The folder of an ad: `ads/{observation_id}/`. Anything but ASCII letters, digits, `-`, `_` and
/// inner dots is replaced by `_`; a changed name gets a hash of the original so two ids never
/// share a folder.
pub fn ad_folder(observation_id: &str) -> String {
    let cleaned: String = observation_id
        .chars()
        .take(100)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    let cleaned = cleaned.trim_matches('.');
    if cleaned == observation_id && !cleaned.is_empty() {
        format!("ads/{cleaned}/")
    } else {
        format!("ads/{}~{}/", if cleaned.is_empty() { "_" } else { cleaned }, short_hash(observation_id))
    }
}

/// `image_{n}.{ext}` (n from 1), the extension kept from the media key when it is a plain one.
pub fn image_entry(index: usize, media_key: &str) -> String {
    let file = media_key.rsplit('/').next().unwrap_or("");
    let ext = match file.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty() && (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            ext.to_ascii_lowercase()
        }
        _ => "jpg".to_string(),
    };
    format!("image_{}.{ext}", index + 1)
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

/// Totals the archive reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArchiveCounts {
    pub ad_count: u64,
    pub image_count: u64,
    /// Bytes of images and `data.json` files (uncompressed) and of `all_data.csv`.
    pub content_bytes: u64,
}

/// Small, dependency-free hash for folder names (FNV-1a, 64 bit): collision-resistant enough to
/// tell apart ids that sanitise alike, and stable across versions.
mod sha2_free_hash {
    pub fn short_hash(s: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_costs_its_headers_and_its_name_twice() {
        assert_eq!(entry_overhead(CSV_ENTRY.len()), 76 + 24);
    }

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

    #[test]
    fn deflated_entries_inflate_back_and_what_would_not_shrink_is_left_alone() {
        let mut deflater = Deflater::default();
        let mut out = vec![1, 2, 3];
        let text = "{\"observation\": {\"platform\": \"FACEBOOK\"}}\n".repeat(40);
        assert!(deflater.deflate(text.as_bytes(), &mut out));
        assert!(out.len() < text.len() / 10, "{} bytes", out.len());
        let mut back = vec![0; text.len()];
        let n = libdeflater::Decompressor::new().deflate_decompress(&out, &mut back).unwrap();
        assert_eq!(&back[..n], text.as_bytes());
        // Bytes that do not shrink (a short or random-looking entry), and nothing at all.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        for data in [&b"x"[..], &noise, &[]] {
            assert!(!deflater.deflate(data, &mut out), "{} bytes", data.len());
            assert!(out.is_empty());
        }
    }

    #[test]
    fn plain_ids_are_kept() {
        assert_eq!(ad_folder("e60b8866-daa0-40de-821b-80d8863db2b6"), "ads/e60b8866-daa0-40de-821b-80d8863db2b6/");
    }

    #[test]
    fn hostile_ids_cannot_escape() {
        for id in ["../../etc/passwd", "..", ".", "", "a/b", "a\\b", "/abs", "C:\\x", "ü", "a\0b", "..."] {
            let f = ad_folder(id);
            assert!(f.starts_with("ads/") && f.ends_with('/'), "{f}");
            let inner = &f[4..f.len() - 1];
            assert!(
                !inner.is_empty() && !inner.contains('/') && !inner.contains('\\') && inner != "." && inner != "..",
                "{id:?} -> {f}"
            );
            assert!(inner.contains('~'), "changed names carry a hash: {f}");
        }
        assert_ne!(ad_folder("a/b"), ad_folder("a\\b"));
    }

    #[test]
    fn image_names_keep_plain_extensions() {
        assert_eq!(image_entry(0, "o/temp-v2/u/480.jpg"), "image_1.jpg");
        assert_eq!(image_entry(1, "o/temp-v2/u/480.PNG"), "image_2.png");
        assert_eq!(image_entry(2, "o/temp-v2/u/480"), "image_3.jpg");
        assert_eq!(image_entry(0, "o/x.../../evil"), "image_1.jpg");
        assert_eq!(image_entry(0, "o/x.j/pg"), "image_1.jpg");
        assert_eq!(image_entry(0, "o/.jpeg"), "image_1.jpg");
    }

    proptest::proptest! {
        #[test]
        fn folders_are_always_safe(id in "\\PC{0,40}") {
            let f = ad_folder(&id);
            let inner = &f[4..f.len() - 1];
            proptest::prop_assert!(inner.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)));
            proptest::prop_assert!(!inner.starts_with('.') && !inner.is_empty());
        }
    }
}
