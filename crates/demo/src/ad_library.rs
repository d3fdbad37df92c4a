//! What the Meta Ad Library scrape found for an ad: candidate pages with their categories, spend,
//! reach and snapshot. The first candidate is the ad's own advertiser; page ids are the data set's,
//! so the same page keeps its id across ads.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::DemoData;
use crate::rng::pick;
use crate::vocabulary::{Advertiser, CTAS, Sector};

impl DemoData {
    /// Candidate `i`: `advertiser` (`advertiser_index` finds its page id) with its categories,
    /// stats and snapshot, whose body reuses the ad's OCR text.
    pub(crate) fn candidate(
        &self,
        r: &mut ChaCha8Rng,
        i: usize,
        advertiser_index: usize,
        advertiser: Advertiser,
        observed_s: i64,
        all_text: &[String],
    ) -> Value {
        let (page_name, brand, sector, domain) = advertiser;
        let categories: Vec<&str> = match sector {
            Sector::Political => {
                if r.random_bool(0.2) {
                    vec!["POLITICAL", *pick(r, &["HOUSING", "EMPLOYMENT"])]
                } else {
                    vec!["POLITICAL"]
                }
            }
            Sector::Housing => vec!["HOUSING"],
            Sector::Employment => vec!["EMPLOYMENT"],
            Sector::Finance if r.random_bool(0.4) => vec!["CREDIT"],
            _ if r.random_bool(0.05) => vec!["UNKNOWN", "POLITICAL"],
            _ => vec!["UNKNOWN"],
        };
        let political = categories.contains(&"POLITICAL");
        let start = observed_s - r.random_range(0..60 * 86_400i64);
        let is_active = r.random_bool(0.4);
        let end = if is_active {
            observed_s + r.random_range(0..30 * 86_400i64)
        } else {
            observed_s + r.random_range(0..10 * 86_400i64)
        };
        let with_stats = political || r.random_bool(0.1);
        let (impressions_text, impressions_index, reach, spend, currency) = if with_stats {
            let bucket = r.random_range(0..6usize);
            let imp = ["<1K", "1K-5K", "5K-10K", "10K-50K", "50K-100K", "100K-200K"][bucket];
            let spend = ["<$100", "$100 - $199", "$200 - $299", "$500 - $599", "$1K - $2K", "$5K - $10K"][bucket];
            let reach = if r.random_bool(0.6) {
                Value::from(["<1K", "1K - 5K", "5K - 10K", "10K - 50K", "50K - 100K", "100K - 500K"][bucket])
            } else {
                Value::Null
            };
            (Value::from(imp), bucket as i64, reach, Value::from(spend), "AUD")
        } else {
            (Value::Null, -1, Value::Null, Value::Null, if r.random_bool(0.2) { "AUD" } else { "" })
        };
        let publisher_platform: Vec<&str> = match r.random_range(0..5u32) {
            0 => vec!["FACEBOOK"],
            1 => vec!["INSTAGRAM"],
            2 => vec!["FACEBOOK", "INSTAGRAM"],
            3 => vec!["FACEBOOK", "INSTAGRAM", "MESSENGER"],
            _ => vec!["FACEBOOK", "MESSENGER"],
        };
        let body = all_text.iter().filter(|t| t.len() > 12).take(2).cloned().collect::<Vec<_>>().join(" ");
        let body = if body.is_empty() { pick(r, sector.phrases()).to_string() } else { body };
        let page_id = &self.page_ids[advertiser_index];
        let cta = *pick(r, CTAS);
        json!({
            "ad_library_scrape_candidates_i": i,
            "data": {
                "ad_archive_id": r.random_range(1_000_000_000_000_000u64..2_000_000_000_000_000).to_string(),
                "ad_id": null,
                "page_id": page_id,
                "page_name": page_name,
                "page_is_deleted": false,
                "categories": categories,
                "collation_count": r.random_range(1..12u32),
                "collation_id": r.random_range(1_000_000_000_000_000u64..2_000_000_000_000_000).to_string(),
                "contains_sensitive_content": false,
                "currency": currency,
                "start_date": start,
                "end_date": end,
                "entity_type": "PERSON_PROFILE",
                "impressions_with_index": {
                    "impressions_text": impressions_text,
                    "impressions_index": impressions_index,
                },
                "is_active": is_active,
                "publisher_platform": publisher_platform,
                "reach_estimate": reach,
                "spend": spend,
                "snapshot": {
                    "body": { "text": body },
                    "title": format!("{brand} | {}", pick(r, sector.phrases())),
                    "caption": domain,
                    "cta_text": cta,
                    "cta_type": cta.to_uppercase().replace(' ', "_"),
                    "display_format": *pick(r, &["IMAGE", "VIDEO", "DCO", "CAROUSEL"]),
                    "link_url": format!("https://www.{domain}/?utm_source=facebook&utm_campaign=c{}", r.random_range(100..999u32)),
                    "link_description": null,
                    "page_name": page_name,
                    "page_profile_uri": format!("https://www.facebook.com/{page_id}/"),
                    "page_like_count": r.random_range(50..500_000u32),
                    "images": [],
                    "videos": [],
                    "cards": [],
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{data, parse};

    #[test]
    fn page_names_are_shared_between_ads() {
        let d = data(400, 1, 5);
        let mut names = std::collections::HashMap::new();
        for i in 0..400 {
            let v = parse(&d.ad_without_image_bytes(i));
            for c in v["enrichment"]["meta_adlibrary_scrape"]["candidates"].as_array().unwrap() {
                *names.entry(c["data"]["page_name"].as_str().unwrap().to_string()).or_insert(0) += 1;
            }
        }
        let solar = names.iter().filter(|(k, _)| k.to_lowercase().contains("solar")).map(|(_, c)| c).sum::<usize>();
        assert!(solar >= 3);
        assert!(names.values().filter(|c| **c >= 3).count() >= 10);
    }
}
