//! The exportable field catalogue (aao-contracts.md §4) and the resolution of a request's `fields`.
//!
//! [`SEED`] is the one list of fields this project ships; the database seeds `exportable_fields`
//! from it when it migrates, and everything else reads the table.

use serde::Serialize;
use std::collections::HashSet;
use std::fmt;

/// A field a user can export: a dot path into the export document (see [`crate::document`]).
/// Serialised as `GET /exports/fields` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExportableField {
    pub field_id: uuid::Uuid,
    pub name: String,
    pub description: String,
    /// Dot path into the export document, as requests name it
    pub path: String,
    pub group: String,
    /// Exported when a request names no fields
    pub is_default: bool,
}

/// One row of the shipped catalogue: (group, path, name, description, is_default).
pub type SeedField = (&'static str, &'static str, &'static str, &'static str, bool);

const CANDIDATE: &str = "enrichment.meta_adlibrary_scrape.candidates.data.";

/// The shipped catalogue, in the order the dashboard shows it.
pub const SEED: &[SeedField] = &[
    (
        "Identifiers",
        "observation_id",
        "Observation ID",
        "The ad's UUID (the part of observation.uuid after the timestamp)",
        false,
    ),
    ("Identifiers", "observer_id", "Observer ID", "UUID of the participant whose phone captured the ad", false),
    ("Observer", "observer.uuid", "Observer UUID", "Unique identifier for the observer who submitted the ad", true),
    (
        "Observer",
        "observer.joined_at",
        "Observer Joined At",
        "When the observer joined the study (epoch seconds)",
        false,
    ),
    (
        "Observer",
        "observer.device_dimensions.w",
        "Device Width",
        "Screen width of the observer's device in pixels",
        false,
    ),
    (
        "Observer",
        "observer.device_dimensions.h",
        "Device Height",
        "Screen height of the observer's device in pixels",
        false,
    ),
    ("Observer", "observer.device.model", "Observer Device Model", "Model of the device used by the observer", false),
    (
        "Observer",
        "observer.device.os_version",
        "Device OS Version",
        "Operating system version of the observer's device",
        false,
    ),
    ("Observer", "observer.device.api_level", "Device API Level", "Android API level of the observer's device", false),
    ("Observer", "observer.device.device", "Device Codename", "Codename of the observer's device", false),
    (
        "Observation",
        "observation.uuid",
        "Observation UUID",
        "Timestamp and UUID of the observation ({timestamp_ms}.{ad_uuid})",
        true,
    ),
    (
        "Observation",
        "observation.observed_on_device_at",
        "Observed At",
        "When the ad was seen on the device (epoch seconds)",
        true,
    ),
    (
        "Observation",
        "observation.submitted_from_device_at",
        "Submitted At",
        "When the device submitted the ad (epoch seconds)",
        false,
    ),
    (
        "Observation",
        "observation.platform",
        "Platform",
        "Platform the ad was seen on (FACEBOOK, INSTAGRAM, TIKTOK, YOUTUBE)",
        true,
    ),
    ("Observation", "observation.ad_format", "Ad Format", "Format of the ad, e.g. FEED_BASED", false),
    ("Observation", "observation.exposure", "Exposure", "How much of the ad was on screen", false),
    ("Observation", "observation.ad_dimensions.w", "Ad Width", "Width of the captured ad in pixels", false),
    ("Observation", "observation.ad_dimensions.h", "Ad Height", "Height of the captured ad in pixels", false),
    ("Observation", "observation.video.fps", "Video FPS", "Frames per second of the screen recording", false),
    ("Observation", "observation.video.n_frames", "Video Frames", "Number of frames in the screen recording", false),
    ("Observation", "observation.video.n_seconds", "Video Seconds", "Length of the screen recording in seconds", false),
    (
        "Observation",
        "observation.keyframes",
        "Keyframes",
        "Keyframes of the recording with their OCR data (JSON)",
        false,
    ),
    ("OCR", "ocr.x", "OCR X", "Left edge of each OCR text box, over all keyframes", false),
    ("OCR", "ocr.y", "OCR Y", "Top edge of each OCR text box, over all keyframes", false),
    ("OCR", "ocr.w", "OCR Width", "Width of each OCR text box, over all keyframes", false),
    ("OCR", "ocr.h", "OCR Height", "Height of each OCR text box, over all keyframes", false),
    ("OCR", "ocr.text", "OCR Text", "Text extracted from the ad image using OCR, one entry per box", false),
    ("OCR", "ocr.confidence", "OCR Confidence", "Confidence of each OCR text box (0 to 1)", false),
    ("Curation", "tags", "Tags", "Names of the tags researchers applied to the ad", true),
    ("Curation", "attributes.starred.value", "Starred", "Whether a researcher starred the ad", false),
    (
        "Curation",
        "attributes.starred.modified_at",
        "Starred Modified At",
        "When the starred flag last changed (epoch ms)",
        false,
    ),
    ("Curation", "attributes.starred.modified_by", "Starred Modified By", "Who last changed the starred flag", false),
    ("Curation", "attributes.hidden.value", "Hidden", "Whether a researcher hid the ad", false),
    (
        "Curation",
        "attributes.hidden.modified_at",
        "Hidden Modified At",
        "When the hidden flag last changed (epoch ms)",
        false,
    ),
    ("Curation", "attributes.hidden.modified_by", "Hidden Modified By", "Who last changed the hidden flag", false),
    (
        "Curation",
        "classifications",
        "Classifications",
        "Labels and scores from classifiers ({label, score} list)",
        false,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.ad_archive_id",
        "Ad Archive ID",
        "Meta Ad Library ID of each matched candidate",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.page_name",
        "Page Name",
        "Advertiser page name of each matched candidate",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.start_date",
        "Start Date",
        "When each candidate started running (epoch seconds)",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.end_date",
        "End Date",
        "When each candidate stopped running (epoch seconds)",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.currency",
        "Currency",
        "Currency of each candidate's spend",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.impressions_with_index.impressions_text",
        "Impressions",
        "Impressions range of each candidate",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.reach_estimate",
        "Reach Estimate",
        "Estimated reach of each candidate",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.spend",
        "Spend",
        "Spend range of each candidate",
        true,
    ),
    (
        "Meta Ad Library",
        "enrichment.meta_adlibrary_scrape.candidates.data.categories",
        "Categories",
        "Ad Library categories of each candidate, e.g. POLITICAL",
        false,
    ),
];

/// A stable id per path, so every database and every run agrees on a field's `field_id`.
pub fn field_id(path: &str) -> uuid::Uuid {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5d6c_0e3a_4b1f_4c2e_9a77_aa0e_5e11_f1e1);
    uuid::Uuid::new_v5(&NAMESPACE, path.as_bytes())
}

/// The shipped catalogue as rows.
pub fn seed_fields() -> Vec<ExportableField> {
    debug_assert!(SEED.iter().filter(|f| f.1.starts_with(CANDIDATE)).count() == 9);
    SEED.iter()
        .map(|&(group, path, name, description, is_default)| ExportableField {
            field_id: field_id(path),
            path: path.into(),
            name: name.into(),
            description: description.into(),
            group: group.into(),
            is_default,
        })
        .collect()
}

/// A `fields` list that cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldsError {
    Unknown(Vec<String>),
    Duplicate(Vec<String>),
    NoDefaults,
}

impl fmt::Display for FieldsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldsError::Unknown(paths) => write!(
                f,
                "fields: unknown field{} {}; GET /exports/fields lists the fields that can be exported",
                if paths.len() == 1 { "" } else { "s" },
                quoted(paths)
            ),
            FieldsError::Duplicate(paths) => write!(f, "fields: {} requested more than once", quoted(paths)),
            FieldsError::NoDefaults => write!(f, "fields: none requested and the catalogue marks no default fields"),
        }
    }
}

impl std::error::Error for FieldsError {}

fn quoted(paths: &[String]) -> String {
    paths.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")
}

/// Resolves a request's `fields` against the catalogue: request order is kept; no fields (absent or
/// empty) means the catalogue's defaults in catalogue order.
pub fn resolve_fields(
    requested: Option<&[String]>,
    catalogue: &[ExportableField],
) -> Result<Vec<ExportableField>, FieldsError> {
    let requested = requested.unwrap_or_default();
    if requested.is_empty() {
        let defaults: Vec<_> = catalogue.iter().filter(|f| f.is_default).cloned().collect();
        return if defaults.is_empty() { Err(FieldsError::NoDefaults) } else { Ok(defaults) };
    }
    let unknown: Vec<String> = requested.iter().filter(|p| !catalogue.iter().any(|f| &f.path == *p)).cloned().collect();
    if !unknown.is_empty() {
        return Err(FieldsError::Unknown(unknown));
    }
    let mut seen = HashSet::new();
    let duplicates: Vec<String> = requested.iter().filter(|p| !seen.insert(p.as_str())).cloned().collect();
    if !duplicates.is_empty() {
        return Err(FieldsError::Duplicate(duplicates));
    }
    Ok(requested.iter().map(|p| catalogue.iter().find(|f| &f.path == p).cloned().expect("checked above")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn catalogue_has_the_contract_fields_and_defaults() {
        let cat = seed_fields();
        let paths: HashSet<_> = cat.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths.len(), cat.len(), "paths are unique");
        for p in [
            "observation_id",
            "observer_id",
            "ocr.x",
            "ocr.y",
            "ocr.w",
            "ocr.h",
            "ocr.text",
            "ocr.confidence",
            "observer.device.model",
            "classifications",
        ] {
            assert!(paths.contains(p), "{p} missing");
        }
        let defaults: Vec<_> = cat.iter().filter(|f| f.is_default).map(|f| f.path.as_str()).collect();
        assert_eq!(defaults.len(), 13);
        assert!(defaults.contains(&"tags") && defaults.contains(&"observation.platform"));
        assert!(!defaults.contains(&"enrichment.meta_adlibrary_scrape.candidates.data.categories"));
        assert!(cat.iter().all(|f| !f.name.is_empty() && !f.description.is_empty() && !f.group.is_empty()));
        assert_eq!(field_id("ocr.text"), field_id("ocr.text"));
        assert_ne!(field_id("ocr.text"), field_id("ocr.x"));
    }

    #[test]
    fn resolves_in_request_order_and_defaults_when_empty() {
        let cat = seed_fields();
        let got = resolve_fields(Some(&s(&["tags", "observation_id"])), &cat).unwrap();
        assert_eq!(got.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["tags", "observation_id"]);
        let defaults = resolve_fields(None, &cat).unwrap();
        assert_eq!(defaults, resolve_fields(Some(&[]), &cat).unwrap());
        assert_eq!(defaults[0].path, "observer.uuid");
    }

    #[test]
    fn unknown_and_duplicate_fields_are_named() {
        let cat = seed_fields();
        let e = resolve_fields(Some(&s(&["tags", "ocr.txt", "bogus"])), &cat).unwrap_err();
        assert_eq!(
            e.to_string(),
            "fields: unknown fields \"ocr.txt\", \"bogus\"; GET /exports/fields lists the fields that can be exported"
        );
        let e = resolve_fields(Some(&s(&["tags", "tags"])), &cat).unwrap_err();
        assert_eq!(e.to_string(), "fields: \"tags\" requested more than once");
    }
}
