//! The archive layout of the spec: `all_data.csv`, `export_details.json` and
//! `ads/{observation_id}/{data.json, image_1.jpg, ...}`, with entry names that can never escape;
//! plus the report for people: `report.html` (summary, page index, first page of ads) and
//! `report/page-0002.html`, ... (the following pages).

pub use aao_export_core::archive::{
    FieldDescription, MissingImage, REPORT_ADS_PER_PAGE, REPORT_ENTRY, ReportListing, report_page_count,
    report_page_entry,
};
use aao_export_core::catalogue::media_type;
use std::hash::Hasher;

pub const CSV_ENTRY: &str = "all_data.csv";
pub const DETAILS_ENTRY: &str = "export_details.json";

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

/// `image_{n}.{ext}` (n from 1), the extension kept from the media key when it is an image's
/// ([`media_type`]), `.bin` otherwise: an entry's name never claims to be what it is not.
pub fn image_entry(index: usize, media_key: &str) -> String {
    let ext = media_type(media_key).map_or("bin", |(ext, _)| ext);
    format!("image_{}.{ext}", index + 1)
}

/// FNV-1a (64 bit) of the id, in hex: tells apart ids that sanitise alike, and is stable across
/// versions (folder names must not change between exports).
fn short_hash(s: &str) -> String {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(s.as_bytes());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_hash_is_fnv1a_64() {
        // The values the hand-written FNV-1a gave before the `fnv` crate: folder names stay put.
        assert_eq!(short_hash(""), "cbf29ce484222325");
        assert_eq!(short_hash("a"), "af63dc4c8601ec8c");
        assert_eq!(ad_folder("a/b"), "ads/a_b~e620c3190468cf61/");
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
        assert_eq!(image_entry(1, "o/temp-v2/u/480.JPEG"), "image_2.jpeg");
        for (key, ext) in [("a.webp", "webp"), ("a.gif", "gif"), ("clip.MP4", "mp4")] {
            assert_eq!(image_entry(0, &format!("o/{key}")), format!("image_1.{ext}"));
        }
        for key in
            ["o/temp-v2/u/480", "o/x.../../evil", "o/x.j/pg", "o/.jpeg", "o/rdo.json", "o/x.html", "o/x.svg", "o/x.exe"]
        {
            assert_eq!(image_entry(2, key), "image_3.bin", "{key}");
        }
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
