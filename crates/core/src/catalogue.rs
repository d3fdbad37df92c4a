//! What the observation catalogue stores about an RDO so that queries run in the database: the
//! identifiers, the observation time, and lower-cased search text for the CONTAINS methods.

use crate::query::VALUE_SEPARATOR;
use serde_json::{Map, Value};

/// One ad as the catalogue indexes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueEntry {
    /// The ad UUID (`observation.uuid` after the timestamp).
    pub observation_id: String,
    pub observer_id: String,
    /// `observation.uuid` as the RDO gives it (`{timestamp_ms}.{ad_uuid}`).
    pub observation_uuid: String,
    /// Milliseconds since the epoch (the AAO's `observations.timestamp`).
    pub timestamp_ms: i64,
    /// `observation.observed_on_device_at`, epoch seconds.
    pub observed_at: f64,
    pub platform: Option<String>,
    /// Lower-cased candidate page names, joined by [`VALUE_SEPARATOR`].
    pub page_names: String,
    /// Lower-cased candidate categories, joined by [`VALUE_SEPARATOR`].
    pub categories: String,
    /// Every string value of the RDO, lower-cased, joined by [`VALUE_SEPARATOR`].
    pub search_text: String,
    /// `is_user_disabled`: a withdrawn participant's ad, never to be exported.
    pub withdrawn: bool,
    /// The ad's images: the `media[]` keys (in the same bucket), in order.
    pub media: Vec<String>,
    /// How many of `media` the observations store holds, and their bytes: 0 until the indexer
    /// has looked them up (the RDO alone cannot say).
    pub image_count: u64,
    pub image_bytes: u64,
}

/// Reads the catalogue columns out of a parsed RDO; the error says what is missing.
pub fn catalogue_entry(rdo: &Map<String, Value>) -> Result<CatalogueEntry, String> {
    let observation = rdo.get("observation").and_then(Value::as_object).ok_or("no \"observation\" object")?;
    let observation_uuid = observation.get("uuid").and_then(Value::as_str).ok_or("no \"observation.uuid\" string")?;
    let observer_id =
        rdo.get("observer").and_then(|o| o.get("uuid")).and_then(Value::as_str).ok_or("no \"observer.uuid\" string")?;
    let (prefix_ms, observation_id) = match observation_uuid.split_once('.') {
        Some((ts, id)) if !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()) => (ts.parse::<i64>().ok(), id),
        _ => (None, observation_uuid),
    };
    if observation_id.is_empty() {
        return Err("\"observation.uuid\" has no ad UUID".into());
    }
    let observed_at = observation
        .get("observed_on_device_at")
        .and_then(Value::as_f64)
        .or(prefix_ms.map(|ms| ms as f64 / 1000.0))
        .ok_or("no \"observation.observed_on_device_at\" number")?;
    let timestamp_ms = prefix_ms.unwrap_or((observed_at * 1000.0).round() as i64);
    let candidates: Vec<&Value> = rdo
        .get("enrichment")
        .and_then(|e| e.get("meta_adlibrary_scrape"))
        .and_then(|m| m.get("candidates"))
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(|c| c.get("data")).collect())
        .unwrap_or_default();
    let page_names = join_lower(candidates.iter().filter_map(|d| d.get("page_name")?.as_str()));
    let categories = join_lower(
        candidates.iter().filter_map(|d| d.get("categories")?.as_array()).flatten().filter_map(Value::as_str),
    );
    let mut texts = Vec::new();
    rdo.values().for_each(|v| collect_strings(v, &mut texts));
    Ok(CatalogueEntry {
        observation_id: observation_id.to_string(),
        observer_id: observer_id.to_string(),
        observation_uuid: observation_uuid.to_string(),
        timestamp_ms,
        observed_at,
        platform: observation.get("platform").and_then(Value::as_str).map(str::to_string),
        page_names,
        categories,
        search_text: join_lower(texts.into_iter()),
        withdrawn: is_withdrawn(rdo),
        media: media_keys(rdo).into_iter().filter(|m| m.own).map(|m| m.key).collect(),
        image_count: 0,
        image_bytes: 0,
    })
}

/// A withdrawn participant's ad (`is_user_disabled`): never indexed, exported or shown.
pub fn is_withdrawn(rdo: &Map<String, Value>) -> bool {
    rdo.get("is_user_disabled").and_then(Value::as_bool) == Some(true)
}

/// One entry of an RDO's `media[]`: the object key it names and whether that object is the
/// participant's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub key: String,
    /// Under the participant's folder, `{observer.uuid}/…`, where the app uploads every image.
    /// Anything else (another participant's objects, a withdrawn participant's screenshots, an
    /// RDO) is never fetched: an ad's `media[]` is data the phone sent, not a path to trust.
    pub own: bool,
}

/// What an image is, by its key's extension: the extension an archive's entry keeps and the
/// media type the API serves it as. Only these; any other file is no image (`.bin` in an archive,
/// `application/octet-stream` from the API), whatever its key claims.
pub fn media_type(key: &str) -> Option<(&'static str, &'static str)> {
    let file = key.rsplit('/').next().unwrap_or_default();
    let (stem, extension) = file.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    const TYPES: [(&str, &str); 6] = [
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("png", "image/png"),
        ("webp", "image/webp"),
        ("gif", "image/gif"),
        ("mp4", "video/mp4"),
    ];
    TYPES.into_iter().find(|(known, _)| extension.eq_ignore_ascii_case(known))
}

/// An image larger than this (50 MiB, `EXPORT_MAX_IMAGE_BYTES`) is left out unless configured
/// otherwise: no screenshot or short clip is near it.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 50 * 1024 * 1024;

/// Why an image named outside its participant's folder is missing (export details, the API).
pub const NOT_OWN_MEDIA: &str = "not in the participant's own folder of the observations store, so it was not read";

/// The `media[]` entries of an RDO, in order (entries that are not strings are no images).
pub fn media_keys(rdo: &Map<String, Value>) -> Vec<Media> {
    let folder = rdo
        .get("observer")
        .and_then(|o| o.get("uuid"))
        .and_then(Value::as_str)
        .filter(|uuid| !uuid.is_empty() && !uuid.contains('/'));
    rdo.get("media")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|key| Media { key: key.to_string(), own: folder.is_some_and(|folder| is_under(key, folder)) })
        .collect()
}

/// Whether `key` is an object inside `folder/`: plain segments only (no empty, `.` or `..` one
/// that a store might resolve elsewhere).
fn is_under(key: &str, folder: &str) -> bool {
    key.strip_prefix(folder)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| rest.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != ".."))
}

/// The page name to show for an ad: that of its best-ranked Meta Ad Library candidate
/// (`rankings[].ranking_pct`, naming `this_selected_candidate_i`), else of its first candidate
/// that has one; `None` when no candidate names a page.
pub fn display_page_name(rdo: &Map<String, Value>) -> Option<String> {
    let scrape = rdo.get("enrichment")?.get("meta_adlibrary_scrape")?;
    let candidates = scrape.get("candidates").and_then(Value::as_array)?;
    let page_name =
        |c: &Value| c.get("data")?.get("page_name")?.as_str().filter(|p| !p.trim().is_empty()).map(str::to_string);
    let best = scrape
        .get("rankings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let i = usize::try_from(r.get("this_selected_candidate_i")?.as_u64()?).ok()?;
            Some((r.get("ranking_pct").and_then(Value::as_f64).unwrap_or(0.0), i))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .and_then(|(_, i)| candidates.get(i))
        .and_then(page_name);
    best.or_else(|| candidates.iter().find_map(page_name))
}

/// The values lower-cased, each once, joined by [`VALUE_SEPARATOR`]. Once: a phrase never spans
/// two values (none holds the separator), so a value's repeats (page names, captions, keys:
/// about half of an RDO's text) add nothing to a search.
fn join_lower<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for v in values {
        // Control characters become the separator: no phrase holds one, so none matches across a
        // line break (a space would let "spare change" match "Spare\nchange").
        let value: String =
            v.to_lowercase().chars().map(|c| if c.is_control() { VALUE_SEPARATOR } else { c }).collect();
        if seen.contains(&value) {
            continue;
        }
        if !seen.is_empty() {
            out.push(VALUE_SEPARATOR);
        }
        out.push_str(&value);
        seen.insert(value);
    }
    out
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::parse_rdo;

    #[test]
    fn sample_rdo_becomes_a_catalogue_entry() {
        let rdo = parse_rdo(include_bytes!("../tests/sample-rdo.json")).unwrap();
        let e = catalogue_entry(&rdo).unwrap();
        assert_eq!(e.observation_id, "e60b8866-daa0-40de-821b-80d8863db2b6");
        assert_eq!(e.observer_id, "48734387-5226-4e96-b97c-2d0747a99898");
        assert_eq!(e.timestamp_ms, 1_759_583_019_000);
        assert_eq!(e.observed_at, 1_759_583_019.0);
        assert_eq!(e.platform.as_deref(), Some("INSTAGRAM"));
        assert_eq!(e.page_names, "");
        assert!(e.search_text.contains("paid for by raiz invest australia limited"));
        assert!(e.search_text.split(VALUE_SEPARATOR).any(|t| t == "instagram"));
        // The sample holds some strings twice ("unknown", its screen's size, the media key) and
        // "Raiz" in two cases; the search text holds each lower-cased value once.
        let values: Vec<&str> = e.search_text.split(VALUE_SEPARATOR).collect();
        let distinct: std::collections::HashSet<&&str> = values.iter().collect();
        assert_eq!(values.len(), distinct.len(), "{values:?}");
        assert!(!e.withdrawn);
        assert_eq!(
            e.media,
            ["48734387-5226-4e96-b97c-2d0747a99898/temp-v2/eba33a79-58c4-4563-b746-942eb2feca4f/480.jpg"]
        );
        assert_eq!((e.image_count, e.image_bytes), (0, 0), "sizes come from the store, not the RDO");
        assert_eq!(display_page_name(&rdo), None, "the sample has no candidates");
    }

    #[test]
    fn the_page_name_shown_is_the_best_ranked_candidates() {
        let with = |candidates: Value, rankings: Value| {
            let v = serde_json::json!({"enrichment": {"meta_adlibrary_scrape": {"candidates": candidates, "rankings": rankings}}});
            display_page_name(v.as_object().unwrap())
        };
        let candidates = serde_json::json!([
            {"data": {"page_name": "First"}}, {"data": {"page_name": "Second"}}, {"data": {"page_name": " "}}
        ]);
        assert_eq!(with(candidates.clone(), serde_json::json!([])).as_deref(), Some("First"));
        let ranked = serde_json::json!([
            {"this_selected_candidate_i": 0, "ranking_pct": 12.5},
            {"this_selected_candidate_i": 1, "ranking_pct": 80.0}
        ]);
        assert_eq!(with(candidates.clone(), ranked).as_deref(), Some("Second"));
        let blank_best = serde_json::json!([{"this_selected_candidate_i": 2, "ranking_pct": 99.0}]);
        assert_eq!(with(candidates, blank_best).as_deref(), Some("First"), "a blank name falls back");
        assert_eq!(
            with(serde_json::json!([{"data": {}}]), serde_json::json!([{"this_selected_candidate_i": 7}])),
            None
        );
        let keys = |rdo: Value| -> Vec<(String, bool)> {
            media_keys(rdo.as_object().unwrap()).into_iter().map(|m| (m.key, m.own)).collect()
        };
        let own = |key: &str| (key.to_string(), true);
        let not_own = |key: &str| (key.to_string(), false);
        let observer = serde_json::json!({"uuid": "p1"});
        assert_eq!(
            keys(serde_json::json!({"observer": observer, "media": ["p1/t/a.jpg", 3, "p1/b.png"]})),
            [own("p1/t/a.jpg"), own("p1/b.png")],
            "strings only, in order"
        );
        assert_eq!(
            keys(serde_json::json!({"observer": observer, "media": [
                "p2/t/a.jpg", "p1", "p1/", "p1x/a.jpg", "/p1/a.jpg", "p1/../p2/a.jpg", "p1//a.jpg", "p1/./a.jpg",
                "p2/p1/a.jpg", "P1/a.jpg", "p1/t/x/rdo.json"
            ]})),
            [
                not_own("p2/t/a.jpg"),
                not_own("p1"),
                not_own("p1/"),
                not_own("p1x/a.jpg"),
                not_own("/p1/a.jpg"),
                not_own("p1/../p2/a.jpg"),
                not_own("p1//a.jpg"),
                not_own("p1/./a.jpg"),
                not_own("p2/p1/a.jpg"),
                not_own("P1/a.jpg"),
                own("p1/t/x/rdo.json"),
            ],
            "only objects inside the participant's folder are theirs"
        );
        for observer in [serde_json::json!({}), serde_json::json!({"uuid": ""}), serde_json::json!({"uuid": "a/b"})] {
            assert_eq!(
                keys(serde_json::json!({"observer": observer, "media": ["a/b/c.jpg", "/c.jpg"]})),
                [not_own("a/b/c.jpg"), not_own("/c.jpg")],
                "no folder, nothing is the participant's: {observer}"
            );
        }
    }

    #[test]
    fn old_layout_uuid_and_missing_parts() {
        let rdo = parse_rdo(br#"{"observer":{"uuid":"o1"},"observation":{"uuid":"abc","observed_on_device_at":12.5}}"#)
            .unwrap();
        let e = catalogue_entry(&rdo).unwrap();
        assert_eq!((e.observation_id.as_str(), e.timestamp_ms), ("abc", 12_500));
        let rdo = parse_rdo(br#"{"observer":{"uuid":"o1"},"observation":{"uuid":"abc"}}"#).unwrap();
        assert!(catalogue_entry(&rdo).unwrap_err().contains("observed_on_device_at"));
        let rdo = parse_rdo(br#"{"observation":{"uuid":"1.abc","observed_on_device_at":1}}"#).unwrap();
        assert!(catalogue_entry(&rdo).unwrap_err().contains("observer.uuid"));
    }
}
