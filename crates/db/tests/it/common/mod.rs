//! Helpers shared by the db crate's integration tests: RDOs built as JSON, turned into indexer
//! outcomes the way the indexer does it, and a search that pages through every result.

#![allow(dead_code)]

use aao_export_core::catalogue::catalogue_entry;
use aao_export_core::query::Query;
use aao_export_db::{CatalogueRow, Database, ObjectOutcome, OutcomeKind};
use serde_json::{Value, json};

/// An RDO of version 2 with the parts the catalogue and the query language look at.
pub fn rdo(
    observer: &str,
    observation_uuid: &str,
    observed_on_device_at: Value,
    candidates: Vec<Value>,
    ocr: &[&str],
) -> Value {
    let ocr_data: Vec<Value> = ocr
        .iter()
        .enumerate()
        .map(|(i, text)| json!({"x": 10 * i, "y": 25, "w": 80, "h": 38, "text": text, "confidence": 0.99}))
        .collect();
    json!({
        "version": "2.0",
        "is_user_disabled": false,
        "observer": {"uuid": observer, "joined_at": 1759582902.322, "device": {"model": "Pixel 8a (akita)", "api_level": 35}},
        "observation": {
            "uuid": observation_uuid,
            "observed_on_device_at": observed_on_device_at,
            "platform": "INSTAGRAM",
            "ad_format": "FEED_BASED",
            "keyframes": [{"observed_at": 1759583011, "frame": format!("{observer}/temp-v2/frame.jpg"), "ocr_data": ocr_data}]
        },
        "enrichment": {"meta_adlibrary_scrape": {"candidates": candidates, "rankings": [], "scraped_at": 0}},
        "media": [format!("{observer}/temp-v2/480.jpg")]
    })
}

/// A Meta Ad Library candidate.
pub fn candidate(page_name: &str, categories: &[&str]) -> Value {
    json!({
        "ad_library_scrape_candidates_i": 0,
        "data": {
            "ad_archive_id": "1234567890",
            "page_id": "987",
            "page_name": page_name,
            "categories": categories,
            "currency": "AUD",
            "publisher_platform": ["FACEBOOK"],
            "spend": null
        }
    })
}

/// What the indexer records for an RDO held at `key` (as `crates/worker/src/index.rs` classifies it).
pub fn outcome(key: &str, version: &str, rdo: &Value) -> ObjectOutcome {
    let text = serde_json::to_string(rdo).unwrap();
    let Value::Object(map) = rdo else { panic!("an RDO is an object") };
    let kind = match catalogue_entry(map) {
        Err(e) => OutcomeKind::Unparseable(format!("the RDO has {e}")),
        Ok(entry) if entry.withdrawn => OutcomeKind::Withdrawn { observation_id: Some(entry.observation_id) },
        Ok(entry) => OutcomeKind::Indexed(Box::new(entry), text),
    };
    ObjectOutcome { key: key.into(), version: version.into(), kind }
}

/// Every row matching `query`, page by page with the cursor; panics (naming the backend) on error.
pub async fn search_all(storage: &dyn Database, query: &Query, page_size: u32) -> Vec<CatalogueRow> {
    try_search_all(storage, query, page_size).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Every row matching `query`, page by page with the cursor, checking each page on the way: a
/// page larger than asked, or a row seen twice (paging that does not move on), is an error.
pub async fn try_search_all(
    storage: &dyn Database,
    query: &Query,
    page_size: u32,
) -> Result<Vec<CatalogueRow>, String> {
    let backend = storage.backend();
    let mut rows: Vec<CatalogueRow> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let page = storage
            .search_page(query, cursor.as_ref(), page_size)
            .await
            .map_err(|e| format!("[{backend}] search_page({query:?}) failed: {e}"))?;
        if page.len() > page_size as usize {
            return Err(format!("[{backend}] a page holds at most {page_size} rows, got {}", page.len()));
        }
        let last = page.len() < page_size as usize;
        cursor = page.last().map(CatalogueRow::cursor);
        for row in page {
            if !seen.insert(row.observation_id.clone()) {
                return Err(format!(
                    "[{backend}] paging by {page_size} returned {} a second time (after {} rows) for {query:?}",
                    row.observation_id,
                    rows.len()
                ));
            }
            rows.push(row);
        }
        if last || cursor.is_none() {
            return Ok(rows);
        }
    }
}

/// The observation ids of rows, in order.
pub fn ids(rows: &[CatalogueRow]) -> Vec<String> {
    rows.iter().map(|r| r.observation_id.clone()).collect()
}

/// Newest first: `observed_at` descending, then `observation_id` descending (byte order).
pub fn newest_first(a: &(f64, String), b: &(f64, String)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1))
}
