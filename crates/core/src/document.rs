//! The export document (DESIGN.md §6): one JSON document per ad, the RDO plus what the AAO knows
//! about it, and the projection of field paths onto it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What researchers recorded about an ad in the relational tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Curation {
    /// Tag names, sorted.
    pub tags: Vec<String>,
    /// `ad_attributes` rows, sorted by key.
    pub attributes: Vec<Attribute>,
    /// `ad_classifications` rows, sorted by label.
    pub classifications: Vec<Classification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub key: String,
    pub value: Option<String>,
    pub created_at: Option<i64>,
    pub created_by: Option<String>,
    pub modified_at: Option<i64>,
    pub modified_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub label: String,
    pub score: f64,
}

/// Builds the export document: the RDO with `observation_id`, `observer_id`, `ocr`, `attributes`,
/// `tags` and `classifications` added at the top level.
pub fn export_document(mut rdo: Map<String, Value>, observation_id: &str, curation: &Curation) -> Map<String, Value> {
    let observer_id = rdo.get("observer").and_then(|o| o.get("uuid")).cloned().unwrap_or(Value::Null);
    let ocr: Vec<Value> = rdo
        .get("observation")
        .and_then(|o| o.get("keyframes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| k.get("ocr_data").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    let attributes: Map<String, Value> = curation
        .attributes
        .iter()
        .map(|a| {
            let fields = serde_json::json!({
                "value": a.value, "created_at": a.created_at, "created_by": a.created_by,
                "modified_at": a.modified_at, "modified_by": a.modified_by,
            });
            (a.key.clone(), fields)
        })
        .collect();
    let classifications: Vec<Value> =
        curation.classifications.iter().map(|c| serde_json::json!({"label": c.label, "score": c.score})).collect();
    rdo.insert("observation_id".into(), Value::String(observation_id.into()));
    rdo.insert("observer_id".into(), observer_id);
    rdo.insert("ocr".into(), Value::Array(ocr));
    rdo.insert("attributes".into(), Value::Object(attributes));
    rdo.insert("tags".into(), curation.tags.iter().cloned().map(Value::String).collect());
    rdo.insert("classifications".into(), Value::Array(classifications));
    rdo
}

/// The value at a dot path. A path that crosses an array collects every match, in order, into a
/// list (so `ocr.text` is every OCR text); elements without the rest of the path are skipped.
/// `None` means the path leads nowhere (a CSV shows an empty cell, `data.json` a null).
pub fn extract(document: &Map<String, Value>, path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.split('.').collect();
    let (first, rest) = segments.split_first()?;
    match resolve(document.get(*first)?, rest) {
        Found::None => None,
        Found::One(v) => Some(v.clone()),
        Found::Many(vs) => Some(Value::Array(vs.into_iter().cloned().collect())),
    }
}

enum Found<'a> {
    None,
    One(&'a Value),
    Many(Vec<&'a Value>),
}

fn resolve<'a>(value: &'a Value, rest: &[&str]) -> Found<'a> {
    let Some((segment, tail)) = rest.split_first() else {
        return Found::One(value);
    };
    match value {
        Value::Object(map) => match map.get(*segment) {
            Some(next) => resolve(next, tail),
            None => Found::None,
        },
        Value::Array(items) => {
            let mut matches = Vec::new();
            for item in items {
                match resolve(item, rest) {
                    Found::None => {}
                    Found::One(v) => matches.push(v),
                    Found::Many(vs) => matches.extend(vs),
                }
            }
            Found::Many(matches)
        }
        _ => Found::None,
    }
}

/// `data.json`: the requested paths as a nested object (`ocr.text` → `{"ocr": {"text": [...]}}`),
/// null where a path leads nowhere. A path inside another requested path adds nothing new.
pub fn project(document: &Map<String, Value>, paths: &[impl AsRef<str>]) -> Map<String, Value> {
    let values: Vec<Option<Value>> = paths.iter().map(|p| extract(document, p.as_ref())).collect();
    nest(paths, &values)
}

/// Nests already extracted values (`values[i]` belongs to `paths[i]`) as [`project`] does.
pub fn nest(paths: &[impl AsRef<str>], values: &[Option<Value>]) -> Map<String, Value> {
    let mut out = Map::new();
    for (path, value) in paths.iter().zip(values) {
        insert_path(&mut out, path.as_ref(), value.clone().unwrap_or(Value::Null));
    }
    out
}

fn insert_path(out: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            // A whole value replaces any partial object built from narrower paths.
            out.insert(path.into(), value);
        }
        Some((head, tail)) => {
            let slot = out.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            // If a wider path already put the whole value here, it holds this one too.
            if let Value::Object(inner) = slot {
                insert_path(inner, tail, value);
            }
        }
    }
}

/// Parses an RDO, which must be a JSON object.
pub fn parse_rdo(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the RDO is not a JSON object".into()),
        Err(e) => Err(format!("the RDO is not valid JSON: {e}")),
    }
}

/// The parts of an RDO an export reads: the requested paths (and what the derived fields are built
/// from). Parsing through it skips everything else without building it, which is most of an RDO
/// (Ad Library snapshots, comparisons, OCR boxes when OCR is not requested).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RdoPaths {
    /// Keep this whole subtree.
    whole: bool,
    children: std::collections::HashMap<String, RdoPaths>,
}

impl RdoPaths {
    /// The parts of the RDO that the export document needs for these field paths, plus `media`
    /// and `observer.uuid` (for images, which must be in the participant's folder) and
    /// `is_user_disabled` (withdrawn participants).
    pub fn for_fields(paths: &[impl AsRef<str>]) -> RdoPaths {
        let mut needed = RdoPaths::default();
        needed.add("media");
        needed.add("observer.uuid");
        needed.add("is_user_disabled");
        for path in paths {
            let path = path.as_ref();
            let (head, rest) = path.split_once('.').map_or((path, None), |(h, r)| (h, Some(r)));
            match head {
                "observation_id" | "attributes" | "tags" | "classifications" => {}
                "observer_id" => needed.add("observer.uuid"),
                "ocr" => needed.add(&rest.map_or("observation.keyframes.ocr_data".to_string(), |r| {
                    format!("observation.keyframes.ocr_data.{r}")
                })),
                _ => needed.add(path),
            }
        }
        needed
    }

    fn add(&mut self, path: &str) {
        let mut node = self;
        for segment in path.split('.') {
            if node.whole {
                return;
            }
            node = node.children.entry(segment.to_string()).or_default();
        }
        node.whole = true;
        node.children.clear();
    }

    /// Parses an RDO keeping only these parts; it must still be a complete JSON object.
    pub fn parse(&self, bytes: &[u8]) -> Result<Map<String, Value>, String> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = self.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        match parsed {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("the RDO is not a JSON object".into()),
            Err(e) => Err(format!("the RDO is not valid JSON: {e}")),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for &RdoPaths {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.whole {
            return <Value as Deserialize>::deserialize(deserializer);
        }
        deserializer.deserialize_any(PrunedVisitor(self))
    }
}

struct PrunedVisitor<'a>(&'a RdoPaths);

impl<'de> serde::de::Visitor<'de> for PrunedVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.0.children.get(key.as_ref()) {
                Some(child) => {
                    let value = access.next_value_seed(child)?;
                    map.insert(key.into_owned(), value);
                }
                None => {
                    access.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(map))
    }
    /// A path crossing an array applies to every element.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    // A scalar where the path wanted to go deeper: nothing under it to extract.
    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        let rdo = parse_rdo(include_bytes!("../tests/sample-rdo.json")).unwrap();
        let curation = Curation {
            tags: vec!["finance".into(), "youth".into()],
            attributes: vec![Attribute {
                key: "starred".into(),
                value: Some("true".into()),
                created_at: Some(1),
                created_by: Some("u1".into()),
                modified_at: Some(2),
                modified_by: Some("u2".into()),
            }],
            classifications: vec![Classification { label: "finance".into(), score: 0.75 }],
        };
        export_document(rdo, "e60b8866-daa0-40de-821b-80d8863db2b6", &curation)
    }

    #[test]
    fn document_adds_the_derived_fields() {
        let doc = sample();
        assert_eq!(doc["observation_id"], "e60b8866-daa0-40de-821b-80d8863db2b6");
        assert_eq!(doc["observer_id"], "48734387-5226-4e96-b97c-2d0747a99898");
        assert_eq!(doc["ocr"].as_array().unwrap().len(), 15);
        assert_eq!(doc["attributes"]["starred"]["modified_by"], "u2");
        assert_eq!(doc["tags"], json!(["finance", "youth"]));
        assert_eq!(doc["classifications"], json!([{"label": "finance", "score": 0.75}]));
    }

    #[test]
    fn paths_extract_scalars_and_collect_across_arrays() {
        let doc = sample();
        assert_eq!(extract(&doc, "observer.device.model"), Some(json!("Pixel 8a (akita)")));
        assert_eq!(extract(&doc, "observation.observed_on_device_at"), Some(json!(1759583019)));
        let texts = extract(&doc, "ocr.text").unwrap();
        assert_eq!(texts.as_array().unwrap().len(), 15);
        assert_eq!(texts[0], "Raiz");
        assert_eq!(extract(&doc, "observation.keyframes.ocr_data.text"), Some(texts));
        assert_eq!(extract(&doc, "enrichment.meta_adlibrary_scrape.candidates.data.page_name"), Some(json!([])));
        assert_eq!(extract(&doc, "attributes.hidden.value"), None);
        assert_eq!(extract(&doc, "observer.uuid.deeper"), None);
        assert_eq!(extract(&doc, "nothing"), None);
        assert_eq!(extract(&doc, "tags"), Some(json!(["finance", "youth"])));
    }

    #[test]
    fn projection_nests_paths_in_request_order() {
        let doc = sample();
        let out = project(
            &doc,
            &["observation_id", "ocr.text", "observer.device.model", "attributes.hidden.value", "observer"],
        );
        let keys: Vec<_> = out.keys().cloned().collect();
        assert_eq!(keys, ["observation_id", "ocr", "observer", "attributes"]);
        assert_eq!(out["ocr"]["text"][2], "Sponsored");
        assert_eq!(out["attributes"]["hidden"]["value"], Value::Null);
        // the whole observer replaced the narrower path
        assert_eq!(out["observer"]["uuid"], "48734387-5226-4e96-b97c-2d0747a99898");
        // and a narrower path after a whole value changes nothing
        let out2 = project(&doc, &["observer", "observer.device.model"]);
        assert_eq!(out2["observer"], doc["observer"]);
    }

    #[test]
    fn pruned_parsing_extracts_what_full_parsing_does() {
        let bytes = include_bytes!("../tests/sample-rdo.json");
        let curation = Curation { tags: vec!["t".into()], ..Default::default() };
        let full = export_document(parse_rdo(bytes).unwrap(), "id", &curation);
        let paths: Vec<&str> = crate::fields::SEED
            .iter()
            .map(|f| f.1)
            .chain(["observer", "observation.keyframes.frame", "nothing.here", "observer.uuid.deeper"])
            .collect();
        for chosen in [paths.clone(), vec!["ocr.text"], vec!["observer_id", "tags"], vec!["observation"]] {
            let pruned = export_document(RdoPaths::for_fields(&chosen).parse(bytes).unwrap(), "id", &curation);
            for p in &chosen {
                assert_eq!(extract(&pruned, p), extract(&full, p), "{p}");
            }
            assert_eq!(pruned.get("media"), full.get("media"));
        }
        let pruned = RdoPaths::for_fields(&["observation.platform"]).parse(bytes).unwrap();
        assert!(
            pruned.get("enrichment").is_none() && pruned["observation"].get("keyframes").is_none(),
            "unrequested parts are skipped"
        );
        assert!(RdoPaths::for_fields(&["tags"]).parse(b"{\"a\": [1,").unwrap_err().contains("not valid JSON"));
        assert!(RdoPaths::for_fields(&["tags"]).parse(b"{} trailing").unwrap_err().contains("not valid JSON"));
        assert!(RdoPaths::for_fields(&["tags"]).parse(b"[1]").is_err());
    }

    #[test]
    fn rdo_that_is_not_an_object_is_refused() {
        assert!(parse_rdo(b"[1,2]").unwrap_err().contains("not a JSON object"));
        assert!(parse_rdo(b"{\"a\":").unwrap_err().contains("not valid JSON"));
    }
}
