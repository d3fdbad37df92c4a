//! One ad: its RDO (who saw it, when, where, the keyframes' OCR text, the ad library
//! enrichment) and its curation rows, drawn from the ad's own stream so that ads can be built in
//! any order, on any thread.

use bytes::Bytes;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::rng::{DOMAIN_AD, distinct_indices, pick, pick_weighted, rng_for, round, uuid_v4};
use crate::vocabulary::{
    ADVERTISERS, Advertiser, CLASSIFICATION_LABELS, CTAS, Device, FORMULA_LIKE, OCR_NOISE, PLATFORMS,
    STRESS_ADVERTISERS, STRESS_OCR, UNICODE_BITS,
};
use crate::{
    DemoAd, DemoAttribute, DemoClassification, DemoData, FIRST_OBSERVATION_S, LAST_OBSERVATION_S, N_OBSERVERS,
    Observer, POOL_SLOTS,
};

/// Share of ads whose RDO sits at the old key layout.
const OLD_LAYOUT_SHARE: f64 = 0.05;
/// Share of ads with CSV-hostile page names / OCR text (commas, quotes, newlines).
const CSV_STRESS_SHARE: f64 = 0.005;

/// Who saw an ad, when, and under which key its RDO sits.
struct Sighting<'a> {
    observer: &'a Observer,
    ad_uuid: String,
    observed_s: i64,
    ts_ms: i64,
    submitted_s: i64,
    /// `observation.uuid`: `{ts_ms}.{ad_uuid}`.
    obs_uuid: String,
    rdo_key: String,
    /// CSV-hostile text in this ad (see [`CSV_STRESS_SHARE`]).
    stress: bool,
}

/// What an ad is: where it ran, whose it is, its size and its video.
struct Creative {
    platform: &'static str,
    ad_format: &'static str,
    exposure: &'static str,
    adv_index: usize,
    advertiser: Advertiser,
    ad_w: u32,
    ad_h: u32,
    video: Option<Value>,
}

/// An ad's curation rows (relational, beside the RDO).
struct Curation {
    tag_ids: Vec<String>,
    attributes: Vec<DemoAttribute>,
    classifications: Vec<DemoClassification>,
}

impl DemoData {
    /// The ad at `index`; without `with_images` its image bytes are left empty. Every part is
    /// drawn from the ad's own stream in a fixed order, so the same seed builds the same ad.
    pub(crate) fn build_ad(&self, index: usize, with_images: bool) -> DemoAd {
        let mut rng = rng_for(self.config.seed, DOMAIN_AD, index as u64);
        let r = &mut rng;
        let seen = self.sighting(r);
        let mut creative = creative(r, seen.observer.device, seen.stress);

        // --- media and keyframes ------------------------------------------------------------
        let n_images = r.random_range(1..=self.config.images_per_ad.max(1));
        let media_dir = uuid_v4(r);
        let step = *pick(r, &[120u32, 240, 480]);
        let media: Vec<String> = (0..n_images)
            .map(|j| format!("{}/temp-v2/{}/{}.jpg", seen.observer.uuid, media_dir, (j as u32 + 1) * step))
            .collect();
        let pool_slots: Vec<usize> = (0..n_images).map(|_| r.random_range(0..POOL_SLOTS)).collect();
        let mut all_text: Vec<String> = Vec::new();
        let keyframes = self.keyframes(r, &seen, &creative, &media, &mut all_text);
        let video = creative.video.take();
        let observation = observation(r, &seen, &creative, video, keyframes);
        let enrichment = self.enrichment(r, &seen, &creative, &media[0], &all_text);
        let rdo = rdo(seen.observer, observation, enrichment, &media);
        let curation = self.curation(r, seen.ts_ms, creative.advertiser);

        // With no images per ad, the RDO still names its images (as an ad whose uploads failed
        // does) but none is written: a bucket of RDOs alone, for measuring what reads RDOs.
        let written_media = if self.config.images_per_ad == 0 { &media[..0] } else { &media[..] };
        let images = written_media
            .iter()
            .zip(&pool_slots)
            .map(|(k, &slot)| (k.clone(), if with_images { self.pool_image(slot) } else { Bytes::new() }))
            .collect();

        DemoAd {
            observation_id: seen.ad_uuid,
            observer_id: seen.observer.uuid.clone(),
            timestamp_ms: seen.ts_ms,
            rdo_key: seen.rdo_key,
            rdo: to_pretty_json(&rdo),
            images,
            tag_ids: curation.tag_ids,
            attributes: curation.attributes,
            classifications: curation.classifications,
        }
    }

    fn sighting(&self, r: &mut ChaCha8Rng) -> Sighting<'_> {
        let x = r.random::<f64>();
        let oi = self.observer_cdf.iter().position(|c| x < *c).unwrap_or(N_OBSERVERS - 1);
        let observer = &self.observers[oi];
        let ad_uuid = uuid_v4(r);
        let observed_s = r.random_range(FIRST_OBSERVATION_S..LAST_OBSERVATION_S);
        let ms_part = if r.random_bool(0.6) { 0 } else { r.random_range(0..1000i64) };
        let ts_ms = observed_s * 1000 + ms_part;
        let submitted_s = observed_s + r.random_range(20..4 * 3600i64);
        let obs_uuid = format!("{ts_ms}.{ad_uuid}");
        let rdo_key = if r.random_bool(OLD_LAYOUT_SHARE) {
            format!("{}/rdo/{}/output.json", observer.uuid, ad_uuid)
        } else {
            format!("{}/rdo/{}/output.json", observer.uuid, obs_uuid)
        };
        let stress = r.random_bool(CSV_STRESS_SHARE);
        Sighting { observer, ad_uuid, observed_s, ts_ms, submitted_s, obs_uuid, rdo_key, stress }
    }

    fn keyframes(
        &self,
        r: &mut ChaCha8Rng,
        seen: &Sighting<'_>,
        creative: &Creative,
        media: &[String],
        all_text: &mut Vec<String>,
    ) -> Vec<Value> {
        let n_keyframes = r.random_range(1..=3usize);
        let mut keyframes = Vec::with_capacity(n_keyframes);
        let mut kf_at = seen.observed_s - r.random_range(0..20i64);
        let mut y_offset = 0i64;
        for k in 0..n_keyframes {
            let frame = &media[k % media.len()];
            let (w, h) = (creative.ad_w, creative.ad_h);
            let ocr = self.ocr_boxes(r, creative.advertiser, w, h, seen.stress && k == 0, all_text);
            keyframes.push(json!({
                "observed_at": kf_at,
                "y_offset": y_offset,
                "screenshot_cropped": frame,
                "frame": frame,
                "ocr_data": ocr,
            }));
            kf_at += r.random_range(0..4i64);
            y_offset += r.random_range(0..h as i64 / 2);
        }
        keyframes
    }

    /// The ad library enrichment: 0 to 3 candidates (the ad's own advertiser first), their
    /// rankings, and the query that found them.
    fn enrichment(
        &self,
        r: &mut ChaCha8Rng,
        seen: &Sighting<'_>,
        creative: &Creative,
        first_image: &str,
        all_text: &[String],
    ) -> Value {
        let n_candidates = if seen.stress {
            r.random_range(1..=3usize)
        } else {
            *pick_weighted(r, &[(0usize, 0.35), (1, 0.35), (2, 0.2), (3, 0.1)])
        };
        let mut candidates = Vec::with_capacity(n_candidates);
        for i in 0..n_candidates {
            let (ci, adv) = if i == 0 || r.random_bool(0.5) {
                (creative.adv_index, creative.advertiser)
            } else {
                let k = r.random_range(0..ADVERTISERS.len());
                (k, ADVERTISERS[k])
            };
            candidates.push(self.candidate(r, i, ci, adv, seen.observed_s, all_text));
        }
        let mut pcts: Vec<f64> = (0..n_candidates).map(|_| round(r.random_range(5.0f64..99.0), 2)).collect();
        pcts.sort_by(|a, b| b.total_cmp(a));
        let rankings: Vec<Value> =
            pcts.iter().enumerate().map(|(i, p)| json!({ "this_selected_candidate_i": i, "ranking_pct": p })).collect();
        let scraped = n_candidates > 0;
        let reference_part = |scraped: bool| {
            if scraped {
                json!({ "observer_uuid": seen.observer.uuid, "tentative_ad": seen.obs_uuid })
            } else {
                json!({ "observer_uuid": "unknown", "tentative_ad": "unknown" })
            }
        };
        let query = if scraped {
            json!({
                "restitched_image_key": first_image,
                "value": all_text.iter().take(3).cloned().collect::<Vec<_>>().join(" "),
                "confidence": round(r.random_range(0.5f64..1.0), 4),
            })
        } else {
            json!({ "restitched_image_key": "unknown", "value": "unknown", "confidence": 0.0 })
        };
        let scraped_at = if scraped { seen.submitted_s + r.random_range(60..86_400i64) } else { 0 };
        json!({
            "ccl_v2": {},
            "ccl": {},
            "meta_adlibrary_scrape": {
                "comparisons": {
                    "ocr": [],
                    "image": { "comparisons": [], "ad_scrape_sources": {} },
                    "video": { "comparisons": [], "ad_scrape_sources": {} },
                },
                "candidates": candidates,
                "rankings": rankings,
                "scraped_at": scraped_at,
                "reference": { "caller": reference_part(scraped), "scrape": reference_part(scraped) },
                "query": query,
            },
            "media": {},
        })
    }

    /// Tags, the starred / hidden attributes and classifications, each for some ads only.
    fn curation(&self, r: &mut ChaCha8Rng, ts_ms: i64, advertiser: Advertiser) -> Curation {
        let tag_ids = if r.random_bool(0.3) {
            let k = r.random_range(1..=3usize);
            distinct_indices(r, self.tags.len(), k).into_iter().map(|i| self.tags[i].id.clone()).collect()
        } else {
            Vec::new()
        };
        let mut attributes = Vec::new();
        for (key, p) in [("starred", 0.2), ("hidden", 0.1)] {
            if r.random_bool(p) {
                // Epoch seconds, as the AAO's `ad_attributes` keeps them.
                let created_at = ts_ms / 1000 + r.random_range(3_600..60 * 86_400i64);
                let created_by = pick(r, &self.users).id.clone();
                let (modified_at, modified_by, value) = if r.random_bool(0.15) {
                    // Changed its mind later.
                    (created_at + r.random_range(60..20 * 86_400i64), pick(r, &self.users).id.clone(), "false")
                } else {
                    (created_at, created_by.clone(), "true")
                };
                attributes.push(DemoAttribute {
                    key: key.to_string(),
                    value: value.to_string(),
                    created_at,
                    created_by,
                    modified_at,
                    modified_by,
                });
            }
        }
        let classifications = if r.random_bool(0.4) {
            let k = r.random_range(1..=4usize);
            let mut labels = vec![advertiser.2.label()];
            for i in distinct_indices(r, CLASSIFICATION_LABELS.len(), k) {
                if labels.len() < k && !labels.contains(&CLASSIFICATION_LABELS[i]) {
                    labels.push(CLASSIFICATION_LABELS[i]);
                }
            }
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| DemoClassification {
                    label: l.to_string(),
                    score: if i == 0 { r.random_range(0.55f64..1.0) } else { r.random_range(0.0f64..0.6) },
                })
                .collect()
        } else {
            Vec::new()
        };
        Curation { tag_ids, attributes, classifications }
    }

    fn ocr_boxes(
        &self,
        r: &mut ChaCha8Rng,
        advertiser: Advertiser,
        ad_w: u32,
        ad_h: u32,
        stress: bool,
        all_text: &mut Vec<String>,
    ) -> Vec<Value> {
        let n = r.random_range(3..=15usize);
        let (_, brand, sector, _) = advertiser;
        let mut y = r.random_range(10..60u32);
        let row_step = (ad_h.saturating_sub(100) / n as u32).max(20);
        (0..n)
            .map(|i| {
                let text: String = match i {
                    0 => brand.to_string(),
                    1 => "Sponsored".to_string(),
                    _ if stress && i == 2 => pick(r, STRESS_OCR).to_string(),
                    _ if i == n - 1 => pick(r, CTAS).to_string(),
                    _ => {
                        let x = r.random::<f64>();
                        if x < 0.5 {
                            pick(r, sector.phrases()).to_string()
                        } else if x < 0.62 {
                            format!("Paid for by {}", advertiser.0)
                        } else if x < 0.8 {
                            pick(r, OCR_NOISE).to_string()
                        } else if x < 0.87 {
                            pick(r, UNICODE_BITS).to_string()
                        } else if x < 0.93 {
                            format!("${}.{:02}", r.random_range(5..500u32), *pick(r, &[0u32, 95, 99, 49]))
                        } else {
                            pick(r, FORMULA_LIKE).to_string()
                        }
                    }
                };
                let char_w = r.random_range(14..30u32);
                let h = r.random_range(26..90u32);
                let w = ((text.chars().count() as u32 * char_w).min(ad_w.saturating_sub(40))).max(20);
                let x = r.random_range(0..(ad_w.saturating_sub(w)).max(1)).min(ad_w / 2);
                let conf = if r.random_bool(0.8) { r.random_range(0.85f64..1.0) } else { r.random_range(0.3f64..0.85) };
                let b = json!({ "x": x, "y": y, "w": w, "h": h, "text": text, "confidence": conf });
                all_text.push(text);
                y = (y + r.random_range(row_step / 2..row_step + 1)).min(ad_h.saturating_sub(h));
                b
            })
            .collect()
    }
}

/// Where the ad ran, whose it is (a stress advertiser for a stress ad), its size and its video.
fn creative(r: &mut ChaCha8Rng, dev: &Device, stress: bool) -> Creative {
    let platform = *pick_weighted(r, PLATFORMS);
    let ad_format = match platform {
        "TIKTOK" | "YOUTUBE" => *pick_weighted(r, &[("REEL_BASED", 0.7), ("FEED_BASED", 0.3)]),
        _ => *pick_weighted(r, &[("FEED_BASED", 0.7), ("REEL_BASED", 0.2), ("STORY_BASED", 0.1)]),
    };
    let exposure = *pick_weighted(r, &[("unknown", 0.8), ("full", 0.12), ("partial", 0.08)]);
    let (adv_index, advertiser) = if stress {
        let k = r.random_range(0..STRESS_ADVERTISERS.len());
        (ADVERTISERS.len() + k, STRESS_ADVERTISERS[k])
    } else {
        let k = r.random_range(0..ADVERTISERS.len());
        (k, ADVERTISERS[k])
    };
    let (ad_w, ad_h) =
        if r.random_bool(0.7) { (dev.w, dev.h) } else { (dev.w, r.random_range(dev.h / 3..dev.h * 9 / 10)) };
    let video = if ad_format == "REEL_BASED" || r.random_bool(0.25) {
        let fps = *pick(r, &[30.0f64, 60.0, 24.0, 29.97, 59.94]);
        let n_seconds = round(r.random_range(2.0f64..60.0), 3);
        let n_frames = (fps * n_seconds * r.random_range(0.85f64..1.0)).floor() as u64;
        Some(json!({ "fps": fps, "n_frames": n_frames, "n_seconds": n_seconds }))
    } else {
        None
    };
    Creative { platform, ad_format, exposure, adv_index, advertiser, ad_w, ad_h, video }
}

/// The RDO's `observation`: when and where, the video block (absent, or for some ads an
/// explicit null, when there is none) and the keyframes.
fn observation(
    r: &mut ChaCha8Rng,
    seen: &Sighting<'_>,
    creative: &Creative,
    video: Option<Value>,
    keyframes: Vec<Value>,
) -> Value {
    let mut observation = json!({
        "uuid": seen.obs_uuid,
        "observed_on_device_at": seen.observed_s,
        "observed_on_device_at_decimal": seen.ts_ms as f64 / 1000.0,
        "submitted_from_device_at": seen.submitted_s,
        "platform": creative.platform,
        "ad_format": creative.ad_format,
        "exposure": creative.exposure,
        "media_bounds": [],
        "whitespace_derived_color": "unknown",
        "whitespace_derived_signature": [],
        "ad_dimensions": { "w": creative.ad_w.to_string(), "h": creative.ad_h.to_string() },
    });
    match video {
        Some(v) => {
            observation["video"] = v;
        }
        None if r.random_bool(0.2) => {
            observation["video"] = Value::Null;
        }
        None => {}
    }
    observation["keyframes"] = Value::Array(keyframes);
    observation
}

/// The whole RDO, in the sample's key order.
fn rdo(observer: &Observer, observation: Value, enrichment: Value, media: &[String]) -> Value {
    let dev = observer.device;
    json!({
        "version": 2.0,
        "is_user_disabled": observer.withdrawn,
        "observer": {
            "uuid": observer.uuid,
            "demographic_characteristics": null,
            "joined_at": observer.joined_at_ms as f64 / 1000.0,
            "device_dimensions": { "w": dev.w.to_string(), "h": dev.h.to_string() },
            "device": {
                "dimensions": { "w": dev.w.to_string(), "h": dev.h.to_string() },
                "os_version": dev.os_version,
                "api_level": dev.api_level,
                "device": dev.device,
                "model": dev.model,
            },
        },
        "observation": observation,
        "enrichment": enrichment,
        "media": media,
    })
}

fn to_pretty_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * 1024);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serialising a serde_json::Value cannot fail");
    out
}

#[cfg(test)]
mod tests;
