//! Deterministic, realistic demo data for the export service.
//!
//! This module only *generates* data; it performs no I/O. [`DemoData::ad`] is a pure function of
//! `(seed, index)`: it returns the ad's RDO (version 2, shaped like the AAO's `sample-rdo.json`), the
//! object keys and JPEG bytes of its images, and the relational curation data (tags, attributes,
//! classifications) that the AAO keeps in PostgreSQL. Callers store the output wherever they like.
//!
//! Images come from a pool of [`POOL_SLOTS`] distinct JPEGs per seed. Each slot is encoded at most
//! once, lazily on first use (or eagerly, in parallel, by [`DemoData::new`] when the configuration
//! needs many images, or by [`DemoData::warm_up`]), so the bytes of slot `j` never depend on the
//! configured number of ads: the same `(seed, index)` always yields byte-identical images.

use std::sync::OnceLock;

use bytes::Bytes;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Number of ads (`DemoData::ad` accepts indices `0..ads`, and in fact any index).
    pub ads: usize,
    /// Maximum number of images per ad (at least 1 is always generated).
    pub images_per_ad: usize,
    pub seed: u64,
}

/// A row of the AAO's `users` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    pub id: String,
    pub full_name: String,
    /// `"admin"` or `"user"`.
    pub role: String,
    pub email: Option<String>,
}

/// A row of the AAO's `tags` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTag {
    pub id: String,
    pub name: String,
    pub description: String,
    pub hex: String,
}

/// A row of `ad_attributes` (the observation id is the owning ad's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAttribute {
    /// `"starred"` or `"hidden"`.
    pub key: String,
    /// `"true"` or `"false"`.
    pub value: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub created_by: String,
    /// Epoch milliseconds, `>= created_at`.
    pub modified_at: i64,
    pub modified_by: String,
}

/// A row of `ad_classifications` (the observation id is the owning ad's).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoClassification {
    pub label: String,
    pub score: f64,
}

/// One generated ad.
#[derive(Debug, Clone)]
pub struct DemoAd {
    /// The ad UUID (the part of `observation.uuid` after the timestamp).
    pub observation_id: String,
    /// `observer.uuid`.
    pub observer_id: String,
    /// The observation time in epoch milliseconds (the timestamp in `observation.uuid`; the
    /// `observations.timestamp` column). `observation.observed_on_device_at` is this / 1000.
    pub timestamp_ms: i64,
    /// `"{observer_uuid}/rdo/{timestamp_ms}.{ad_uuid}/output.json"`, or for about 5% of ads the old
    /// layout `"{observer_uuid}/rdo/{ad_uuid}/output.json"`.
    pub rdo_key: String,
    /// The RDO as pretty-printed JSON (3-space indent, like the AAO's).
    pub rdo: Vec<u8>,
    /// `(key as listed in the RDO's media[], JPEG bytes)`, in `media[]` order.
    pub images: Vec<(String, Bytes)>,
    pub tag_ids: Vec<String>,
    pub attributes: Vec<DemoAttribute>,
    pub classifications: Vec<DemoClassification>,
}

/// Number of distinct JPEGs in a seed's image pool.
pub const POOL_SLOTS: usize = 48;

/// Earliest observation time generated (2025-01-01T00:00:00Z), epoch seconds.
pub const FIRST_OBSERVATION_S: i64 = 1_735_689_600;
/// Latest observation time generated (2026-10-01T00:00:00Z), epoch seconds (exclusive).
pub const LAST_OBSERVATION_S: i64 = 1_790_812_800;

const N_OBSERVERS: usize = 12;
/// Share of ads that belong to the withdrawn participant.
const WITHDRAWN_SHARE: f64 = 0.01;
/// Share of ads whose RDO sits at the old key layout.
const OLD_LAYOUT_SHARE: f64 = 0.05;
/// Share of ads with CSV-hostile page names / OCR text (commas, quotes, newlines).
const CSV_STRESS_SHARE: f64 = 0.005;

// Domains that separate the RNG streams derived from one seed.
const DOMAIN_OBSERVERS: u64 = 1;
const DOMAIN_AD: u64 = 2;
const DOMAIN_POOL: u64 = 3;
const DOMAIN_ADVERTISERS: u64 = 4;

/// The deterministic demo data set of one seed.
pub struct DemoData {
    config: DemoConfig,
    observers: Vec<Observer>,
    /// Cumulative selection weights of `observers`, ending at 1.0.
    observer_cdf: Vec<f64>,
    users: Vec<DemoUser>,
    tags: Vec<DemoTag>,
    /// Page ids of [`ADVERTISERS`], seeded.
    page_ids: Vec<String>,
    pool: Vec<OnceLock<Bytes>>,
}

struct Observer {
    uuid: String,
    withdrawn: bool,
    joined_at_ms: i64,
    device: &'static Device,
}

struct Device {
    model: &'static str,
    device: &'static str,
    os_version: &'static str,
    api_level: u32,
    w: u32,
    h: u32,
}

const DEVICES: &[Device] = &[
    Device {
        model: "Pixel 8a (akita)",
        device: "akita",
        os_version: "5.15.148-android14-11-ge358535bc9c0-ab12324526(12470370)",
        api_level: 35,
        w: 1080,
        h: 2400,
    },
    Device {
        model: "Pixel 7 (panther)",
        device: "panther",
        os_version: "5.10.198-android13-4-00050-g12f3388846c3-ab11920634(11920634)",
        api_level: 34,
        w: 1080,
        h: 2400,
    },
    Device {
        model: "SM-S921B",
        device: "e1s",
        os_version: "5.15.123-android14-11-28943201-abS921BXXS2AXD1",
        api_level: 34,
        w: 1080,
        h: 2340,
    },
    Device {
        model: "SM-A546E",
        device: "a54x",
        os_version: "5.10.177-android13-4-27427046-abA546EXXS5BXB1",
        api_level: 34,
        w: 1080,
        h: 2340,
    },
    Device {
        model: "SM-A145F",
        device: "a14",
        os_version: "4.19.191-27516853",
        api_level: 33,
        w: 1080,
        h: 2408,
    },
    Device {
        model: "moto g54 5G",
        device: "cancunf",
        os_version: "5.10.168-android12-9-00016-g3c4c7ad1bf7b",
        api_level: 34,
        w: 1080,
        h: 2400,
    },
    Device {
        model: "CPH2483",
        device: "OP5A0BL1",
        os_version: "5.4.210-qgki-g1e5d7b1c5c9b",
        api_level: 33,
        w: 720,
        h: 1612,
    },
    Device {
        model: "Redmi Note 12",
        device: "tapas",
        os_version: "4.19.157-perf-g0a8c8a5d9b3f",
        api_level: 33,
        w: 1080,
        h: 2400,
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sector {
    Finance,
    Retail,
    Food,
    Political,
    Housing,
    Employment,
    Gambling,
    Alcohol,
    Travel,
    Apps,
    Health,
    Energy,
}

impl Sector {
    fn label(self) -> &'static str {
        match self {
            Sector::Finance => "finance",
            Sector::Retail => "retail",
            Sector::Food => "food",
            Sector::Political => "political",
            Sector::Housing => "real_estate",
            Sector::Employment => "employment",
            Sector::Gambling => "gambling",
            Sector::Alcohol => "alcohol",
            Sector::Travel => "travel",
            Sector::Apps => "apps",
            Sector::Health => "health",
            Sector::Energy => "energy",
        }
    }

    fn phrases(self) -> &'static [&'static str] {
        match self {
            Sector::Finance => &[
                "Ever thought your spare change could build your future?",
                "Invest from just $5",
                "0% p.a. intro rate for 12 months",
                "Comparison rate 6.24% p.a.",
                "Your super, simplified",
                "Round up every purchase",
                "Fees apply. Read the PDS before investing.",
                "Capital at risk",
            ],
            Sector::Retail => &[
                "MID-SEASON SALE",
                "Up to 50% off everything",
                "Free shipping over $79",
                "New arrivals just dropped",
                "Only $29.95",
                "Was $89 now $59",
                "Afterpay available",
                "Limited stock – don't miss out",
            ],
            Sector::Food => &[
                "Crème brûlée, now on the menu",
                "Café-quality coffee at home",
                "Order now, delivered in 30 min",
                "2 for $15 this week",
                "Fresh. Local. Delicious.",
                "Try our new plant-based range",
                "Brunch all day at the café",
            ],
            Sector::Political => &[
                "Authorised by J. Citizen, Canberra ACT",
                "Cost of living relief now",
                "Have your say before Saturday",
                "Vote 1 for real change",
                "Protect local jobs",
                "Paid for by the campaign committee",
                "Enrol to vote by 8pm Friday",
            ],
            Sector::Housing => &[
                "Brand new 3 bedroom homes from $549,000",
                "Display village open this weekend",
                "First home buyer? Save on stamp duty",
                "Auction Saturday 11am",
                "Rent to own — ask us how",
                "Land packages selling fast",
            ],
            Sector::Employment => &[
                "We're hiring! Apply today",
                "Casual & part-time roles available",
                "$38/hr + super",
                "Start your nursing career",
                "No experience needed",
                "Join our team in Western Sydney",
            ],
            Sector::Gambling => &[
                "Bet $50, get $50 in bonus bets",
                "Gamble responsibly. 18+ only.",
                "What's it really costing you?",
                "Same game multi boost",
                "Chances are you're about to lose",
                "For free and confidential support call 1800 858 858",
            ],
            Sector::Alcohol => &[
                "Drink responsibly",
                "Summer cases from $49",
                "Craft lagers brewed in Victoria",
                "Rosé season is here",
                "Free delivery on mixed dozens",
                "Not for sale to persons under 18",
            ],
            Sector::Travel => &[
                "Fly to Bali from $199*",
                "Europe sale: Paris from €699",
                "Book now, pay later",
                "5 nights in Fiji, all inclusive",
                "Weekend getaways from $149pp",
                "Fares selling fast",
            ],
            Sector::Apps => &[
                "POV: What would you tell your 20 year old self?",
                "Download free on Google Play",
                "4.8 ★ from 20k reviews",
                "Learn a language in 10 minutes a day",
                "Track every dollar automatically",
                "Try Premium free for 30 days",
            ],
            Sector::Health => &[
                "Bulk billed telehealth in minutes",
                "Feel better, naturally",
                "Results may vary",
                "Book your free hearing check",
                "Always read the label and follow directions for use",
                "Sleep better tonight",
            ],
            Sector::Energy => &[
                "Save up to $600 on your power bill",
                "Solar + battery from $0 upfront",
                "100% GreenPower options",
                "Switch in 5 minutes",
                "Government rebates available",
                "Compare plans in your postcode",
            ],
        }
    }
}

/// An advertiser: `(page_name, brand as shown on the ad, sector, domain)`.
type Advertiser = (&'static str, &'static str, Sector, &'static str);

/// Fictional (but realistic) Australian advertisers. Several share words ("Solar", "Energy",
/// "Party", "Homes", "Bank") so that PAGE_NAME_CONTAINS matches several pages.
#[rustfmt::skip]
const ADVERTISERS: &[Advertiser] = &[
    ("Roundup Invest Australia", "Roundup", Sector::Finance, "roundup.com.au"),
    ("Harbourside Bank", "Harbourside", Sector::Finance, "harboursidebank.com.au"),
    ("Wattle Super", "Wattle Super", Sector::Finance, "wattlesuper.com.au"),
    ("Mintly Money", "Mintly", Sector::Finance, "mintly.money"),
    ("Koala Sleep Co", "Koala Sleep", Sector::Retail, "koalasleep.com.au"),
    ("Outback Outfitters", "Outback", Sector::Retail, "outbackoutfitters.com.au"),
    ("The Iconic Threads", "Iconic Threads", Sector::Retail, "iconicthreads.com.au"),
    ("Bunyip Hardware", "Bunyip", Sector::Retail, "bunyiphardware.com.au"),
    ("Bondi Bites", "Bondi Bites", Sector::Food, "bondibites.com.au"),
    ("Café Mélange", "Café Mélange", Sector::Food, "cafemelange.com.au"),
    ("GreenBowl Meal Kits", "GreenBowl", Sector::Food, "greenbowl.com.au"),
    ("Australian Progress Party", "Progress Party", Sector::Political, "progressparty.org.au"),
    ("Coalition for Fair Energy", "Fair Energy", Sector::Political, "fairenergy.org.au"),
    ("Independent for Warringah", "Vote Independent", Sector::Political, "voteindependent.au"),
    ("Australian Workers First Party", "Workers First", Sector::Political, "workersfirst.org.au"),
    ("Climate Action Now", "Climate Action", Sector::Political, "climateactionnow.org.au"),
    ("Riverlea Homes", "Riverlea", Sector::Housing, "riverleahomes.com.au"),
    ("Sunbury Estate Homes", "Sunbury Estate", Sector::Housing, "sunburyestate.com.au"),
    ("Brick & Beam Realty", "Brick & Beam", Sector::Housing, "brickandbeam.com.au"),
    ("CareerLink Australia", "CareerLink", Sector::Employment, "careerlink.com.au"),
    ("NSW Health Careers", "Health Careers", Sector::Employment, "healthcareers.example.gov.au"),
    ("QuickShift Staffing", "QuickShift", Sector::Employment, "quickshift.com.au"),
    ("PuntKing", "PuntKing", Sector::Gambling, "puntking.com.au"),
    ("BetRoo", "BetRoo", Sector::Gambling, "betroo.com.au"),
    ("Lucky Strike Pokies", "Lucky Strike", Sector::Gambling, "luckystrike.com.au"),
    ("Gippsland Brewing Co", "Gippsland Brewing", Sector::Alcohol, "gippslandbrewing.com.au"),
    ("Cellar Door Direct", "Cellar Door", Sector::Alcohol, "cellardoordirect.com.au"),
    ("SkyWallaby Airlines", "SkyWallaby", Sector::Travel, "skywallaby.com.au"),
    ("Island Escapes Travel", "Island Escapes", Sector::Travel, "islandescapes.com.au"),
    ("Raiz & Shine Fitness", "Raiz & Shine", Sector::Health, "raizshine.com.au"),
    ("MediNow Telehealth", "MediNow", Sector::Health, "medinow.com.au"),
    ("LingoLeap", "LingoLeap", Sector::Apps, "lingoleap.app"),
    ("Pocketbook Budget", "Pocketbook", Sector::Apps, "pocketbook.app"),
    ("Sundial Solar", "Sundial Solar", Sector::Energy, "sundialsolar.com.au"),
    ("Southern Cross Energy", "Southern Cross Energy", Sector::Energy, "southerncrossenergy.com.au"),
    ("BrightSpark Solar & Batteries", "BrightSpark", Sector::Energy, "brightspark.com.au"),
];

/// Advertisers whose page names are hostile to naive CSV writers; used only by the ~0.5% of
/// "CSV stress" ads.
#[rustfmt::skip]
const STRESS_ADVERTISERS: &[Advertiser] = &[
    ("Smith, Jones & \"Partners\" Pty Ltd", "Smith, Jones", Sector::Finance, "smithjones.com.au"),
    ("Café \"Le Nord\", Fitzroy", "Le Nord", Sector::Food, "lenord.com.au"),
    ("Residents' Action Group\nNorthern Beaches", "Residents' Action", Sector::Political, "rag.org.au"),
    ("=Totally Legit Deals, \"Inc\"", "Legit Deals", Sector::Retail, "legitdeals.example"),
];

const STRESS_OCR: &[&str] = &[
    "Say \"hello\" to savings,\nthen relax",
    "Terms, conditions & \"fine print\"\napply",
    "Line one\r\nLine two, with a \"comma\"",
    "\"Quoted\", unquoted,\n\"\"doubled\"\"",
];

const CTAS: &[&str] = &[
    "Learn more",
    "Shop now",
    "Install now",
    "Sign up",
    "Book now",
    "Apply now",
    "Get offer",
    "Order now",
    "Donate now",
    "Watch more",
    "Download",
    "Contact us",
];

/// Text that starts like a spreadsheet formula, so CSV writers' formula escaping gets exercised.
const FORMULA_LIKE: &[&str] = &[
    "=SUM(A1:A9)",
    "+61 400 123 456",
    "-50% today only",
    "@koalasleepco",
    "=HYPERLINK(\"http://example.com\")",
    "+ Free delivery",
    "-$20 off your first order",
    "@everyone",
];

const OCR_NOISE: &[&str] = &[
    "4",
    "Q1",
    "0221",
    "|",
    "•••",
    "12:45",
    "5G",
    "87%",
    "…",
    "x",
    "◀",
    "lll",
    "Reels",
    "Like",
    "Comment",
    "Share",
    "Follow",
    "Home",
    "Search",
];

const UNICODE_BITS: &[&str] = &[
    "café",
    "Only €19",
    "naïve pricing",
    "Jalapeño & lime",
    "Über-fast delivery",
    "🔥 Hot deal",
    "★★★★★",
    "Māori-owned business",
    "日本語 lessons",
    "£5 off",
];

const CLASSIFICATION_LABELS: &[&str] = &[
    "political",
    "gambling",
    "alcohol",
    "finance",
    "health",
    "real_estate",
    "employment",
    "food",
    "retail",
    "travel",
    "apps",
    "energy",
];

const PLATFORMS: &[(&str, f64)] = &[
    ("FACEBOOK", 0.40),
    ("INSTAGRAM", 0.30),
    ("TIKTOK", 0.17),
    ("YOUTUBE", 0.13),
];

/// A ChaCha8 stream for `(seed, domain, index)`; distinct triples give independent streams.
fn rng_for(seed: u64, domain: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[0..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&domain.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..32].copy_from_slice(b"aaodemo1");
    ChaCha8Rng::from_seed(key)
}

fn uuid_v4(rng: &mut impl Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn pick_weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// Distinct indices `< n`, `k` of them (k <= n), in drawing order.
fn distinct_indices(rng: &mut impl Rng, n: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    while out.len() < k.min(n) {
        let i = rng.random_range(0..n);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Rounds to `d` decimals (keeps JSON short, like device-produced numbers).
fn round(x: f64, d: i32) -> f64 {
    let m = 10f64.powi(d);
    (x * m).round() / m
}

impl DemoData {
    /// Builds observers, users and tags, and, when the configuration needs at least
    /// [`POOL_SLOTS`] images, encodes the whole image pool (in parallel). Smaller configurations
    /// encode pool images lazily, on first use.
    pub fn new(config: &DemoConfig) -> DemoData {
        let data = Self::new_lazy(config);
        if config.ads.saturating_mul(config.images_per_ad.max(1)) >= POOL_SLOTS {
            data.warm_up();
        }
        data
    }

    /// Like [`DemoData::new`] but never encodes images up front.
    pub fn new_lazy(config: &DemoConfig) -> DemoData {
        let seed = config.seed;
        let mut rng = rng_for(seed, DOMAIN_OBSERVERS, 0);
        let withdrawn_at = rng.random_range(0..N_OBSERVERS);
        let mut observers = Vec::with_capacity(N_OBSERVERS);
        let mut weights = Vec::with_capacity(N_OBSERVERS);
        for i in 0..N_OBSERVERS {
            let uuid = uuid_v4(&mut rng);
            // Joined between 2024-10-01 and 2024-12-31.
            let joined_at_ms = rng.random_range(1_727_740_800_000i64..1_735_603_200_000);
            let device = pick(&mut rng, DEVICES);
            let withdrawn = i == withdrawn_at;
            // Uneven activity: a few heavy observers and a long tail.
            let w = if withdrawn {
                0.0
            } else {
                rng.random_range(0.15f64..1.0).powi(2)
            };
            observers.push(Observer {
                uuid,
                withdrawn,
                joined_at_ms,
                device,
            });
            weights.push(w);
        }
        let active_total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let observer_cdf = observers
            .iter()
            .zip(&weights)
            .map(|(o, w)| {
                acc += if o.withdrawn {
                    WITHDRAWN_SHARE
                } else {
                    w / active_total * (1.0 - WITHDRAWN_SHARE)
                };
                acc
            })
            .collect::<Vec<_>>();

        let mut rng = rng_for(seed, DOMAIN_ADVERTISERS, 0);
        let page_ids = ADVERTISERS
            .iter()
            .chain(STRESS_ADVERTISERS)
            .map(|_| {
                rng.random_range(100_000_000_000_000u64..999_999_999_999_999)
                    .to_string()
            })
            .collect();

        DemoData {
            config: config.clone(),
            observers,
            observer_cdf,
            users: demo_users(),
            tags: demo_tags(),
            page_ids,
            pool: (0..POOL_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The configuration this data set was built with.
    pub fn config(&self) -> &DemoConfig {
        &self.config
    }

    /// Encodes every pool image not encoded yet, using all available cores.
    pub fn warm_up(&self) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if j >= POOL_SLOTS {
                            break;
                        }
                        self.pool_image(j);
                    }
                });
            }
        });
    }

    /// The JPEG of pool slot `j` (`j < POOL_SLOTS`), encoding it on first use.
    pub fn pool_image(&self, j: usize) -> Bytes {
        self.pool[j]
            .get_or_init(|| Bytes::from(render_pool_jpeg(self.config.seed, j as u64)))
            .clone()
    }

    /// 3-4 researchers; `researcher-1` is an admin.
    pub fn users(&self) -> &[DemoUser] {
        &self.users
    }

    pub fn tags(&self) -> &[DemoTag] {
        &self.tags
    }

    /// `(observer uuid, withdrawn)`; exactly one observer is a withdrawn participant.
    pub fn observers(&self) -> Vec<(String, bool)> {
        self.observers
            .iter()
            .map(|o| (o.uuid.clone(), o.withdrawn))
            .collect()
    }

    /// The ad at `index`: a deterministic function of `(seed, index)`.
    pub fn ad(&self, index: usize) -> DemoAd {
        self.build_ad(index, true)
    }

    /// Like [`DemoData::ad`] but with empty image bytes (the keys are listed all the same), for
    /// callers that only need the metadata; never encodes a pool image.
    pub fn ad_without_image_bytes(&self, index: usize) -> DemoAd {
        self.build_ad(index, false)
    }

    fn build_ad(&self, index: usize, with_images: bool) -> DemoAd {
        let mut rng = rng_for(self.config.seed, DOMAIN_AD, index as u64);
        let r = &mut rng;

        // --- who and when ------------------------------------------------------------------
        let x = r.random::<f64>();
        let oi = self
            .observer_cdf
            .iter()
            .position(|c| x < *c)
            .unwrap_or(N_OBSERVERS - 1);
        let observer = &self.observers[oi];
        let ad_uuid = uuid_v4(r);
        let observed_s = r.random_range(FIRST_OBSERVATION_S..LAST_OBSERVATION_S);
        let ms_part = if r.random_bool(0.6) {
            0
        } else {
            r.random_range(0..1000i64)
        };
        let ts_ms = observed_s * 1000 + ms_part;
        let submitted_s = observed_s + r.random_range(20..4 * 3600i64);
        let obs_uuid = format!("{ts_ms}.{ad_uuid}");
        let rdo_key = if r.random_bool(OLD_LAYOUT_SHARE) {
            format!("{}/rdo/{}/output.json", observer.uuid, ad_uuid)
        } else {
            format!("{}/rdo/{}/output.json", observer.uuid, obs_uuid)
        };
        let stress = r.random_bool(CSV_STRESS_SHARE);

        // --- what ---------------------------------------------------------------------------
        let platform = *pick_weighted(r, PLATFORMS);
        let ad_format = match platform {
            "TIKTOK" | "YOUTUBE" => *pick_weighted(r, &[("REEL_BASED", 0.7), ("FEED_BASED", 0.3)]),
            _ => *pick_weighted(
                r,
                &[
                    ("FEED_BASED", 0.7),
                    ("REEL_BASED", 0.2),
                    ("STORY_BASED", 0.1),
                ],
            ),
        };
        let exposure = *pick_weighted(r, &[("unknown", 0.8), ("full", 0.12), ("partial", 0.08)]);
        let (adv_index, advertiser) = if stress {
            let k = r.random_range(0..STRESS_ADVERTISERS.len());
            (ADVERTISERS.len() + k, STRESS_ADVERTISERS[k])
        } else {
            let k = r.random_range(0..ADVERTISERS.len());
            (k, ADVERTISERS[k])
        };
        let dev = observer.device;
        let (ad_w, ad_h) = if r.random_bool(0.7) {
            (dev.w, dev.h)
        } else {
            (dev.w, r.random_range(dev.h / 3..dev.h * 9 / 10))
        };
        let video = if ad_format == "REEL_BASED" || r.random_bool(0.25) {
            let fps = *pick(r, &[30.0f64, 60.0, 24.0, 29.97, 59.94]);
            let n_seconds = round(r.random_range(2.0f64..60.0), 3);
            let n_frames = (fps * n_seconds * r.random_range(0.85f64..1.0)).floor() as u64;
            Some(json!({ "fps": fps, "n_frames": n_frames, "n_seconds": n_seconds }))
        } else {
            None
        };

        // --- media and keyframes ------------------------------------------------------------
        let n_images = r.random_range(1..=self.config.images_per_ad.max(1));
        let media_dir = uuid_v4(r);
        let step = *pick(r, &[120u32, 240, 480]);
        let media: Vec<String> = (0..n_images)
            .map(|j| {
                format!(
                    "{}/temp-v2/{}/{}.jpg",
                    observer.uuid,
                    media_dir,
                    (j as u32 + 1) * step
                )
            })
            .collect();
        let pool_slots: Vec<usize> = (0..n_images)
            .map(|_| r.random_range(0..POOL_SLOTS))
            .collect();

        let n_keyframes = r.random_range(1..=3usize);
        let mut keyframes = Vec::with_capacity(n_keyframes);
        let mut kf_at = observed_s - r.random_range(0..20i64);
        let mut y_offset = 0i64;
        let mut all_text: Vec<String> = Vec::new();
        for k in 0..n_keyframes {
            let frame = &media[k % media.len()];
            let ocr = self.ocr_boxes(r, advertiser, ad_w, ad_h, stress && k == 0, &mut all_text);
            keyframes.push(json!({
                "observed_at": kf_at,
                "y_offset": y_offset,
                "screenshot_cropped": frame,
                "frame": frame,
                "ocr_data": ocr,
            }));
            kf_at += r.random_range(0..4i64);
            y_offset += r.random_range(0..ad_h as i64 / 2);
        }

        let mut observation = json!({
            "uuid": obs_uuid,
            "observed_on_device_at": observed_s,
            "observed_on_device_at_decimal": ts_ms as f64 / 1000.0,
            "submitted_from_device_at": submitted_s,
            "platform": platform,
            "ad_format": ad_format,
            "exposure": exposure,
            "media_bounds": [],
            "whitespace_derived_color": "unknown",
            "whitespace_derived_signature": [],
            "ad_dimensions": { "w": ad_w.to_string(), "h": ad_h.to_string() },
        });
        match video {
            Some(v) => {
                observation["video"] = v;
            }
            // Some RDOs have no video block at all, a few have an explicit null.
            None if r.random_bool(0.2) => {
                observation["video"] = Value::Null;
            }
            None => {}
        }
        observation["keyframes"] = Value::Array(keyframes);

        // --- enrichment ---------------------------------------------------------------------
        let n_candidates = if stress {
            r.random_range(1..=3usize)
        } else {
            *pick_weighted(r, &[(0usize, 0.35), (1, 0.35), (2, 0.2), (3, 0.1)])
        };
        let mut candidates = Vec::with_capacity(n_candidates);
        for i in 0..n_candidates {
            let (ci, adv) = if i == 0 || r.random_bool(0.5) {
                (adv_index, advertiser)
            } else {
                let k = r.random_range(0..ADVERTISERS.len());
                (k, ADVERTISERS[k])
            };
            candidates.push(self.candidate(r, i, ci, adv, observed_s, &all_text));
        }
        let mut pcts: Vec<f64> = (0..n_candidates)
            .map(|_| round(r.random_range(5.0f64..99.0), 2))
            .collect();
        pcts.sort_by(|a, b| b.total_cmp(a));
        let rankings: Vec<Value> = pcts
            .iter()
            .enumerate()
            .map(|(i, p)| json!({ "this_selected_candidate_i": i, "ranking_pct": p }))
            .collect();
        let scraped = n_candidates > 0;
        let reference_part = |scraped: bool| {
            if scraped {
                json!({ "observer_uuid": observer.uuid, "tentative_ad": obs_uuid })
            } else {
                json!({ "observer_uuid": "unknown", "tentative_ad": "unknown" })
            }
        };
        let query = if scraped {
            json!({
                "restitched_image_key": media[0],
                "value": all_text.iter().take(3).cloned().collect::<Vec<_>>().join(" "),
                "confidence": round(r.random_range(0.5f64..1.0), 4),
            })
        } else {
            json!({ "restitched_image_key": "unknown", "value": "unknown", "confidence": 0.0 })
        };
        let scraped_at = if scraped {
            submitted_s + r.random_range(60..86_400i64)
        } else {
            0
        };
        let enrichment = json!({
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
        });

        let rdo = json!({
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
        });

        // --- curation (relational) ----------------------------------------------------------
        let tag_ids = if r.random_bool(0.3) {
            let k = r.random_range(1..=3usize);
            distinct_indices(r, self.tags.len(), k)
                .into_iter()
                .map(|i| self.tags[i].id.clone())
                .collect()
        } else {
            Vec::new()
        };
        let mut attributes = Vec::new();
        for (key, p) in [("starred", 0.2), ("hidden", 0.1)] {
            if r.random_bool(p) {
                let created_at = ts_ms + r.random_range(3_600_000..60 * 86_400_000i64);
                let created_by = pick(r, &self.users).id.clone();
                let (modified_at, modified_by, value) = if r.random_bool(0.15) {
                    // Changed its mind later.
                    (
                        created_at + r.random_range(60_000..20 * 86_400_000i64),
                        pick(r, &self.users).id.clone(),
                        "false",
                    )
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
                    score: if i == 0 {
                        r.random_range(0.55f64..1.0)
                    } else {
                        r.random_range(0.0f64..0.6)
                    },
                })
                .collect()
        } else {
            Vec::new()
        };

        let images = media
            .iter()
            .zip(&pool_slots)
            .map(|(k, &slot)| {
                (
                    k.clone(),
                    if with_images {
                        self.pool_image(slot)
                    } else {
                        Bytes::new()
                    },
                )
            })
            .collect();

        DemoAd {
            observation_id: ad_uuid,
            observer_id: observer.uuid.clone(),
            timestamp_ms: ts_ms,
            rdo_key,
            rdo: to_pretty_json(&rdo),
            images,
            tag_ids,
            attributes,
            classifications,
        }
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
                            format!(
                                "${}.{:02}",
                                r.random_range(5..500u32),
                                *pick(r, &[0u32, 95, 99, 49])
                            )
                        } else {
                            pick(r, FORMULA_LIKE).to_string()
                        }
                    }
                };
                let char_w = r.random_range(14..30u32);
                let h = r.random_range(26..90u32);
                let w =
                    ((text.chars().count() as u32 * char_w).min(ad_w.saturating_sub(40))).max(20);
                let x = r
                    .random_range(0..(ad_w.saturating_sub(w)).max(1))
                    .min(ad_w / 2);
                let conf = if r.random_bool(0.8) {
                    r.random_range(0.85f64..1.0)
                } else {
                    r.random_range(0.3f64..0.85)
                };
                let b = json!({ "x": x, "y": y, "w": w, "h": h, "text": text, "confidence": conf });
                all_text.push(text);
                y = (y + r.random_range(row_step / 2..row_step + 1)).min(ad_h.saturating_sub(h));
                b
            })
            .collect()
    }

    fn candidate(
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
            let spend = [
                "<$100",
                "$100 - $199",
                "$200 - $299",
                "$500 - $599",
                "$1K - $2K",
                "$5K - $10K",
            ][bucket];
            let reach = if r.random_bool(0.6) {
                Value::from(
                    [
                        "<1K",
                        "1K - 5K",
                        "5K - 10K",
                        "10K - 50K",
                        "50K - 100K",
                        "100K - 500K",
                    ][bucket],
                )
            } else {
                Value::Null
            };
            (
                Value::from(imp),
                bucket as i64,
                reach,
                Value::from(spend),
                "AUD",
            )
        } else {
            (
                Value::Null,
                -1,
                Value::Null,
                Value::Null,
                if r.random_bool(0.2) { "AUD" } else { "" },
            )
        };
        let publisher_platform: Vec<&str> = match r.random_range(0..5u32) {
            0 => vec!["FACEBOOK"],
            1 => vec!["INSTAGRAM"],
            2 => vec!["FACEBOOK", "INSTAGRAM"],
            3 => vec!["FACEBOOK", "INSTAGRAM", "MESSENGER"],
            _ => vec!["FACEBOOK", "MESSENGER"],
        };
        let body = all_text
            .iter()
            .filter(|t| t.len() > 12)
            .take(2)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let body = if body.is_empty() {
            pick(r, sector.phrases()).to_string()
        } else {
            body
        };
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

fn to_pretty_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * 1024);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser)
        .expect("serialising a serde_json::Value cannot fail");
    out
}

fn demo_users() -> Vec<DemoUser> {
    [
        (
            "researcher-1",
            "Dr Aisha Rahman",
            "admin",
            Some("a.rahman@example.edu.au"),
        ),
        (
            "researcher-2",
            "Tom O'Connell",
            "user",
            Some("t.oconnell@example.edu.au"),
        ),
        (
            "researcher-3",
            "Mei Lin Zhou",
            "user",
            Some("meilin.zhou@example.edu.au"),
        ),
        ("researcher-4", "José Álvarez", "user", None),
    ]
    .into_iter()
    .map(|(id, name, role, email)| DemoUser {
        id: id.to_string(),
        full_name: name.to_string(),
        role: role.to_string(),
        email: email.map(str::to_string),
    })
    .collect()
}

fn demo_tags() -> Vec<DemoTag> {
    [
        (
            "Political",
            "Political or issue-based advertising",
            "#d62728",
        ),
        ("Gambling", "Betting, wagering and pokies", "#9467bd"),
        ("Alcohol", "Alcoholic drinks and venues", "#ff7f0e"),
        (
            "Misleading",
            "Possibly misleading or deceptive claims",
            "#8c564b",
        ),
        (
            "Greenwashing",
            "Environmental claims worth a closer look",
            "#2ca02c",
        ),
        ("Health claims", "Therapeutic or health claims", "#17becf"),
        ("Follow up", "Needs another look by the team", "#7f7f7f"),
    ]
    .into_iter()
    .map(|(name, description, hex)| DemoTag {
        id: uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("aao-demo-tag:{name}").as_bytes(),
        )
        .to_string(),
        name: name.to_string(),
        description: description.to_string(),
        hex: hex.to_string(),
    })
    .collect()
}

// ------------------------------------------------------------------------------------------------
// Images
// ------------------------------------------------------------------------------------------------

/// Screenshot sizes of the pool, `(w, h)`.
const POOL_DIMS: &[(u32, u32)] = &[
    (480, 854),
    (540, 960),
    (576, 1024),
    (720, 1280),
    (720, 1600),
    (864, 1536),
    (1080, 1920),
    (1080, 2340),
];

/// Target size of pool slot `j`: quantiles of a log-normal (median ~80 KB), jittered and
/// clipped to 22 KB .. 340 KB, so the pool always spans the whole range.
fn pool_target_bytes(rng: &mut impl Rng, j: u64) -> f64 {
    // Spread the quantiles over the slots in a scrambled order.
    let q = ((j * 29) % POOL_SLOTS as u64) as f64;
    let u = ((q + rng.random_range(0.1f64..0.9)) / POOL_SLOTS as f64).clamp(0.001, 0.999);
    // Tukey-lambda approximation of the standard normal quantile.
    let z = 4.91 * (u.powf(0.14) - (1.0 - u).powf(0.14));
    (80_000.0 * (0.62 * z).exp()).clamp(22_000.0, 340_000.0)
}

/// Renders and encodes pool slot `j` of `seed`.
fn render_pool_jpeg(seed: u64, j: u64) -> Vec<u8> {
    let mut rng = rng_for(seed, DOMAIN_POOL, j);
    let target = pool_target_bytes(&mut rng, j);
    // Choose a screen size and quality that can reach the target with moderate noise.
    let mut feasible = Vec::new();
    for &dims in POOL_DIMS {
        let px = (dims.0 * dims.1) as f64;
        for &q in POOL_QUALITIES {
            let f = screen_factor(dims.1);
            let (lo, hi) = (
                expected_bytes(q, 2.0, px * 0.45, px * 0.55) * f,
                expected_bytes(q, 60.0, px * 0.45, px * 0.55) * f,
            );
            if (lo..=hi).contains(&target) {
                // Prefer smaller screens: cheaper to encode, and cropped ads are common.
                feasible.push(((dims, q), 1.0 / px));
            }
        }
    }
    let (dims, quality) = if feasible.is_empty() {
        (*pick(&mut rng, POOL_DIMS), *pick(&mut rng, POOL_QUALITIES))
    } else {
        *pick_weighted(&mut rng, &feasible)
    };
    let layout = Layout::new(&mut rng, dims.0, dims.1);
    let media_px = ((layout.media_bottom - layout.media_top) * dims.0) as f64;
    let ui_px = (dims.0 * dims.1) as f64 - media_px;
    let noise_seed = seed ^ j.wrapping_mul(0x2545_F491_4F6C_DD1D);
    // Up to two correction steps keep the pool's sizes close to their targets.
    let mut asked = target / screen_factor(dims.1);
    let mut best = encode(
        &layout.render(noise_amp_for(asked, quality, ui_px, media_px), noise_seed),
        dims,
        quality,
    );
    for _ in 0..2 {
        let ratio = best.len() as f64 / target;
        if (0.85..=1.12).contains(&ratio) {
            break;
        }
        asked /= ratio;
        let again = encode(
            &layout.render(noise_amp_for(asked, quality, ui_px, media_px), noise_seed),
            dims,
            quality,
        );
        if (again.len() as f64 / target).ln().abs() < ratio.ln().abs() {
            best = again;
        }
    }
    best
}

fn encode(rgb: &[u8], (w, h): (u32, u32), quality: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .expect("in-memory JPEG encoding cannot fail");
    out
}

const POOL_QUALITIES: &[u8] = &[62, 66, 70, 75, 80, 85, 90];
/// Noise amplitudes of the columns of [`NOISE_BPP`].
const AMPS: [f64; 6] = [0.0, 5.0, 10.0, 20.0, 40.0, 80.0];
/// Size model of this renderer, fitted by least squares on encoded layouts:
/// `bytes ~= ui_pixels * ui_bpp + media_pixels * noise_bpp(amp)`, by JPEG quality.
/// Rows: `(quality, ui_bpp, noise_bpp at each of AMPS)`.
const SIZE_MODEL: [(u8, f64, [f64; 6]); 6] = [
    (62, 0.066, [0.008, 0.028, 0.074, 0.146, 0.266, 0.395]),
    (70, 0.069, [0.008, 0.043, 0.094, 0.184, 0.313, 0.444]),
    (75, 0.072, [0.008, 0.053, 0.110, 0.215, 0.346, 0.481]),
    (80, 0.076, [0.008, 0.068, 0.138, 0.258, 0.391, 0.539]),
    (85, 0.081, [0.008, 0.091, 0.184, 0.314, 0.448, 0.625]),
    (90, 0.103, [0.029, 0.158, 0.283, 0.439, 0.656, 1.097]),
];

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// The [`SIZE_MODEL`] row of `quality`, interpolated: `(ui_bpp, noise_bpp by AMPS)`.
fn size_model(quality: u8) -> (f64, [f64; 6]) {
    let q = quality.clamp(62, 90);
    let i = SIZE_MODEL
        .iter()
        .rposition(|r| r.0 <= q)
        .unwrap()
        .min(SIZE_MODEL.len() - 2);
    let (lo, hi) = (SIZE_MODEL[i], SIZE_MODEL[i + 1]);
    let t = (q - lo.0) as f64 / (hi.0 - lo.0) as f64;
    (
        lerp(lo.1, hi.1, t),
        std::array::from_fn(|k| lerp(lo.2[k], hi.2[k], t)),
    )
}

/// Small screens cost more per pixel (their UI edges are denser) than the fit's average.
fn screen_factor(h: u32) -> f64 {
    (1400.0 / h as f64).powf(SCREEN_EXP)
}
const SCREEN_EXP: f64 = 0.35;

/// Expected JPEG size of a layout with the given pixel counts.
fn expected_bytes(quality: u8, amp: f64, ui_px: f64, media_px: f64) -> f64 {
    let (ui, row) = size_model(quality);
    let amp = amp.clamp(0.0, AMPS[5]);
    let i = AMPS.iter().rposition(|a| *a <= amp).unwrap().min(4);
    ui * ui_px
        + media_px
            * lerp(
                row[i],
                row[i + 1],
                (amp - AMPS[i]) / (AMPS[i + 1] - AMPS[i]),
            )
}

/// The noise amplitude expected to give `bytes` (inverse of [`expected_bytes`], clamped).
fn noise_amp_for(bytes: f64, quality: u8, ui_px: f64, media_px: f64) -> f64 {
    let (ui, row) = size_model(quality);
    let bpp = (bytes - ui * ui_px) / media_px;
    if bpp <= row[0] {
        return 0.0;
    }
    for i in 0..5 {
        if bpp <= row[i + 1] {
            return lerp(AMPS[i], AMPS[i + 1], (bpp - row[i]) / (row[i + 1] - row[i]));
        }
    }
    AMPS[5]
}

/// A line of text in a screenshot: `(y, height, words as (x, width))`.
type TextRow = (u32, u32, Vec<(u32, u32)>);

/// The look of one fake ad screenshot: a phone UI with a header, a photo-like media area, text
/// lines and a call-to-action button.
struct Layout {
    w: u32,
    h: u32,
    bg: [u8; 3],
    ink: [u8; 3],
    media_top: u32,
    media_bottom: u32,
    c1: [u8; 3],
    c2: [u8; 3],
    /// Rectangles in the media area: `(x, y, w, h, colour)`.
    shapes: Vec<(u32, u32, u32, u32, [u8; 3])>,
    text_rows: Vec<TextRow>,
    button: (u32, u32, u32, u32, [u8; 3]),
}

fn color(rng: &mut impl Rng) -> [u8; 3] {
    [rng.random(), rng.random(), rng.random()]
}

impl Layout {
    fn new(rng: &mut impl Rng, w: u32, h: u32) -> Layout {
        let dark = rng.random_bool(0.3);
        let bg = if dark { [18, 18, 22] } else { [250, 250, 250] };
        let ink = if dark { [230, 230, 235] } else { [28, 30, 33] };
        let media_top = h * rng.random_range(8..16u32) / 100;
        let media_bottom = media_top + h * rng.random_range(40..70u32) / 100;
        let shapes = (0..rng.random_range(2..9usize))
            .map(|_| {
                let sw = rng.random_range(w / 10..w * 2 / 3);
                let sh = rng.random_range(
                    (media_bottom - media_top) / 10..(media_bottom - media_top) * 2 / 3,
                );
                let x = rng.random_range(0..w - sw);
                let y = rng.random_range(media_top..media_bottom - sh);
                (x, y, sw, sh, color(rng))
            })
            .collect();
        let line_h = (h / 64).max(8);
        let mut text_rows = Vec::new();
        let mut y = media_bottom + line_h;
        let text_end = h - h / 8;
        while y + line_h < text_end && text_rows.len() < 12 {
            let mut x = w / 24;
            let mut words = Vec::new();
            let right = w - w / 24 - rng.random_range(0..w / 3);
            while x < right {
                let ww = rng.random_range(line_h..line_h * 5);
                words.push((x, ww.min(right - x)));
                x += ww + line_h / 2;
            }
            text_rows.push((y, line_h * 2 / 3, words));
            y += line_h + line_h / 2 + rng.random_range(0..line_h);
        }
        let bw = w * rng.random_range(30..60u32) / 100;
        let button = (w / 24, h - h / 10, bw, h / 22, color(rng));
        Layout {
            w,
            h,
            bg,
            ink,
            media_top,
            media_bottom,
            c1: color(rng),
            c2: color(rng),
            shapes,
            text_rows,
            button,
        }
    }

    fn fill(&self, buf: &mut [u8], x: u32, y: u32, w: u32, h: u32, c: [u8; 3]) {
        let x1 = (x + w).min(self.w);
        let y1 = (y + h).min(self.h);
        let mut row = Vec::with_capacity(((x1 - x.min(x1)) * 3) as usize);
        for _ in x..x1 {
            row.extend_from_slice(&c);
        }
        for yy in y..y1 {
            let start = ((yy * self.w + x) * 3) as usize;
            buf[start..start + row.len()].copy_from_slice(&row);
        }
    }

    /// Renders the RGB pixels; `amp` is the amplitude of the photo-like noise in the media area.
    fn render(&self, amp: f64, noise_seed: u64) -> Vec<u8> {
        let (w, h) = (self.w, self.h);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        self.fill(&mut buf, 0, 0, w, h, self.bg);
        // Status bar and header: avatar + page name.
        self.fill(
            &mut buf,
            0,
            0,
            w,
            h / 40,
            self.ink.map(|c| c / 3 + self.bg[0] / 2),
        );
        let line_h = (h / 64).max(8);
        self.fill(&mut buf, w / 24, h / 30, line_h * 3, line_h * 3, self.c2);
        self.fill(
            &mut buf,
            w / 24 + line_h * 4,
            h / 30 + line_h / 2,
            w / 3,
            line_h,
            self.ink,
        );
        // Media: 2-D gradient, shapes, noise.
        let mh = (self.media_bottom - self.media_top).max(1);
        let mut grad_row = vec![0u8; (w * 3) as usize];
        for y in self.media_top..self.media_bottom {
            // The gradient changes slowly: recompute it every 4th row only.
            if (y - self.media_top).is_multiple_of(4) {
                let t = (y - self.media_top) * 256 / mh;
                for (x, px) in grad_row.chunks_exact_mut(3).enumerate() {
                    let a = (t + x as u32 * 256 / w) / 2;
                    for ((v, c1), c2) in px.iter_mut().zip(self.c1).zip(self.c2) {
                        *v = ((c1 as u32 * (256 - a) + c2 as u32 * a) / 256) as u8;
                    }
                }
            }
            let start = (y * w * 3) as usize;
            buf[start..start + grad_row.len()].copy_from_slice(&grad_row);
        }
        for &(x, y, sw, sh, c) in &self.shapes {
            self.fill(&mut buf, x, y, sw, sh, c);
        }
        if amp > 0.0 {
            // clamp(v + d, 0, 255) == CLAMP[v + d + 384] for |d| <= 384.
            let clamp: Vec<u8> = (0..1024i32)
                .map(|i| (i - 384).clamp(0, 255) as u8)
                .collect();
            let mut state = noise_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let scale = (amp.min(AMPS[5]) * 256.0 / 128.0) as i32;
            let start = (self.media_top * w * 3) as usize;
            let end = (self.media_bottom * w * 3) as usize;
            let mut coarse = 0i32;
            for (i, px) in buf[start..end].chunks_exact_mut(3).enumerate() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 8 == 0 {
                    coarse = ((state >> 40) as u8 as i32 - 128) * scale / 512;
                }
                let n = (((state as u8 as i32 - 128) * scale) >> 8) + coarse + 384;
                let chroma = ((((state >> 8) as u8 as i32) - 128) * scale) >> 10;
                px[0] = clamp[(px[0] as i32 + n + chroma) as usize];
                px[1] = clamp[(px[1] as i32 + n) as usize];
                px[2] = clamp[(px[2] as i32 + n - chroma) as usize];
            }
        }
        // Text and button.
        for (y, lh, words) in &self.text_rows {
            for &(x, ww) in words {
                self.fill(&mut buf, x, *y, ww, *lh, self.ink);
            }
        }
        let (bx, by, bw, bh, bc) = self.button;
        self.fill(&mut buf, bx, by, bw, bh, bc);
        self.fill(&mut buf, bx + bw / 4, by + bh / 3, bw / 2, bh / 3, self.bg);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(ads: usize, images_per_ad: usize, seed: u64) -> DemoData {
        DemoData::new_lazy(&DemoConfig {
            ads,
            images_per_ad,
            seed,
        })
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    fn parse(ad: &DemoAd) -> Value {
        serde_json::from_slice(&ad.rdo).expect("RDO is valid JSON")
    }

    #[test]
    fn demo_data_is_sync_and_send() {
        fn check<T: Sync + Send>() {}
        check::<DemoData>();
    }

    #[test]
    fn deterministic_per_seed_and_index() {
        let a = data(8, 2, 42);
        let b = data(1000, 2, 42);
        // Any order, any configured size: same bytes.
        for i in [7usize, 0, 3, 5, 1] {
            let (x, y) = (a.ad_without_image_bytes(i), b.ad_without_image_bytes(i));
            assert_eq!(x.rdo, y.rdo);
            assert_eq!(x.rdo_key, y.rdo_key);
            assert_eq!(x.tag_ids, y.tag_ids);
            assert_eq!(x.attributes, y.attributes);
            assert_eq!(x.classifications, y.classifications);
            assert_eq!(x.observation_id, y.observation_id);
            assert_eq!(
                x.images.iter().map(|i| &i.0).collect::<Vec<_>>(),
                y.images.iter().map(|i| &i.0).collect::<Vec<_>>()
            );
        }
        let (x, y) = (a.ad(3), b.ad(3));
        assert_eq!(x.rdo, y.rdo);
        assert_eq!(x.images, y.images);
        assert_eq!(a.observers(), b.observers());
        assert_eq!(
            a.ad_without_image_bytes(2).rdo,
            a.ad_without_image_bytes(2).rdo
        );
        // From several threads at once.
        let from_threads: Vec<Vec<u8>> = std::thread::scope(|s| {
            let b = &b;
            let hs: Vec<_> = (0..4)
                .map(|i| s.spawn(move || b.ad_without_image_bytes(i).rdo))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, rdo) in from_threads.iter().enumerate() {
            assert_eq!(*rdo, a.ad_without_image_bytes(i).rdo);
        }
        // Another seed: other data, other pictures.
        let c = data(8, 2, 43);
        assert_ne!(a.observers(), c.observers());
        for i in 0..8 {
            assert_ne!(
                a.ad_without_image_bytes(i).rdo,
                c.ad_without_image_bytes(i).rdo
            );
        }
        assert_ne!(a.pool_image(0), c.pool_image(0));
        // Other indices: other ads.
        assert_ne!(
            a.ad_without_image_bytes(0).observation_id,
            a.ad_without_image_bytes(1).observation_id
        );
    }

    #[test]
    fn rdo_follows_the_sample_structure() {
        let d = data(300, 3, 7);
        let observers = d.observers();
        for i in 0..300 {
            let ad = d.ad_without_image_bytes(i);
            let v = parse(&ad);
            assert_eq!(
                keys(&v),
                [
                    "version",
                    "is_user_disabled",
                    "observer",
                    "observation",
                    "enrichment",
                    "media"
                ]
            );
            assert_eq!(v["version"], json!(2.0));
            assert_eq!(
                keys(&v["observer"]),
                [
                    "uuid",
                    "demographic_characteristics",
                    "joined_at",
                    "device_dimensions",
                    "device"
                ]
            );
            assert_eq!(
                keys(&v["observer"]["device"]),
                ["dimensions", "os_version", "api_level", "device", "model"]
            );
            assert!(v["observer"]["device_dimensions"]["w"].is_string());
            assert!(v["observer"]["joined_at"].is_f64());
            assert_eq!(v["observer"]["uuid"], ad.observer_id.as_str());
            let withdrawn = observers
                .iter()
                .find(|(u, _)| *u == ad.observer_id)
                .expect("known observer")
                .1;
            assert_eq!(v["is_user_disabled"], withdrawn);

            let o = &v["observation"];
            let ok = keys(o);
            assert_eq!(
                ok[..11],
                [
                    "uuid",
                    "observed_on_device_at",
                    "observed_on_device_at_decimal",
                    "submitted_from_device_at",
                    "platform",
                    "ad_format",
                    "exposure",
                    "media_bounds",
                    "whitespace_derived_color",
                    "whitespace_derived_signature",
                    "ad_dimensions",
                ]
            );
            assert_eq!(*ok.last().unwrap(), "keyframes");
            assert!(ok.len() == 12 || (ok.len() == 13 && ok[11] == "video"));
            if let Some(video) = o.get("video").filter(|v| !v.is_null()) {
                assert_eq!(keys(video), ["fps", "n_frames", "n_seconds"]);
            }
            let uuid = o["uuid"].as_str().unwrap();
            let (ts, ad_uuid) = uuid.split_once('.').unwrap();
            assert_eq!(ad_uuid, ad.observation_id);
            assert_eq!(uuid, format!("{ts}.{}", ad.observation_id));
            let ts: i64 = ts.parse().unwrap();
            assert_eq!(ad.timestamp_ms, ts);
            assert_eq!(o["observed_on_device_at"].as_i64().unwrap(), ts / 1000);
            assert!((FIRST_OBSERVATION_S..LAST_OBSERVATION_S).contains(&(ts / 1000)));
            assert!(o["submitted_from_device_at"].as_i64().unwrap() > ts / 1000);
            let new_key = format!("{}/rdo/{}/output.json", ad.observer_id, uuid);
            let old_key = format!("{}/rdo/{}/output.json", ad.observer_id, ad.observation_id);
            assert!(
                ad.rdo_key == new_key || ad.rdo_key == old_key,
                "{}",
                ad.rdo_key
            );

            let media: Vec<&str> = v["media"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect();
            let image_keys: Vec<&str> = ad.images.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(media, image_keys);
            assert!((1..=3).contains(&media.len()));
            let prefix = format!("{}/temp-v2/", ad.observer_id);
            for m in &media {
                assert!(m.starts_with(&prefix) && m.ends_with(".jpg"), "{m}");
            }
            let kfs = o["keyframes"].as_array().unwrap();
            assert!((1..=3).contains(&kfs.len()));
            for kf in kfs {
                assert_eq!(
                    keys(kf),
                    [
                        "observed_at",
                        "y_offset",
                        "screenshot_cropped",
                        "frame",
                        "ocr_data"
                    ]
                );
                assert!(media.contains(&kf["frame"].as_str().unwrap()));
                let ocr = kf["ocr_data"].as_array().unwrap();
                assert!((3..=15).contains(&ocr.len()));
                for b in ocr {
                    assert_eq!(keys(b), ["x", "y", "w", "h", "text", "confidence"]);
                    let c = b["confidence"].as_f64().unwrap();
                    assert!((0.0..=1.0).contains(&c));
                }
            }

            let e = &v["enrichment"];
            assert_eq!(keys(e), ["ccl_v2", "ccl", "meta_adlibrary_scrape", "media"]);
            let m = &e["meta_adlibrary_scrape"];
            assert_eq!(
                keys(m),
                [
                    "comparisons",
                    "candidates",
                    "rankings",
                    "scraped_at",
                    "reference",
                    "query"
                ]
            );
            let cands = m["candidates"].as_array().unwrap();
            assert!(cands.len() <= 3);
            assert_eq!(m["rankings"].as_array().unwrap().len(), cands.len());
            for (ci, c) in cands.iter().enumerate() {
                assert_eq!(keys(c), ["ad_library_scrape_candidates_i", "data"]);
                assert_eq!(c["ad_library_scrape_candidates_i"], ci);
                let data = &c["data"];
                let archive_id = data["ad_archive_id"].as_str().unwrap();
                assert!(archive_id.bytes().all(|b| b.is_ascii_digit()));
                assert!(data["page_name"].is_string());
                assert!(!data["categories"].as_array().unwrap().is_empty());
                let currency = data["currency"].as_str().unwrap();
                assert!(currency == "AUD" || currency.is_empty());
                assert!(data["start_date"].as_i64().unwrap() <= data["end_date"].as_i64().unwrap());
                let imp = &data["impressions_with_index"];
                assert!(imp["impressions_text"].is_string() || imp["impressions_text"].is_null());
                assert!(imp["impressions_index"].is_i64());
                assert!(data["reach_estimate"].is_string() || data["reach_estimate"].is_null());
                assert!(data["spend"].is_string() || data["spend"].is_null());
                for p in data["publisher_platform"].as_array().unwrap() {
                    assert!(["FACEBOOK", "INSTAGRAM", "MESSENGER"].contains(&p.as_str().unwrap()));
                }
                assert!(data["is_active"].is_boolean());
                assert!(data["snapshot"]["body"]["text"].is_string());
            }
            for r in m["rankings"].as_array().unwrap() {
                assert_eq!(keys(r), ["this_selected_candidate_i", "ranking_pct"]);
            }
            // Curation data refers to known tags and users.
            for t in &ad.tag_ids {
                assert!(d.tags().iter().any(|x| x.id == *t));
            }
            for a in &ad.attributes {
                assert!(a.key == "starred" || a.key == "hidden");
                assert!(a.value == "true" || a.value == "false");
                assert!(a.modified_at >= a.created_at && a.created_at > ts);
                assert!(d.users().iter().any(|u| u.id == a.created_by));
                assert!(d.users().iter().any(|u| u.id == a.modified_by));
            }
            for c in &ad.classifications {
                assert!((0.0..=1.0).contains(&c.score));
            }
        }
    }

    /// Walks a baseline JPEG's marker segments up to the scan; returns the frame size.
    fn jpeg_frame_size(jpeg: &[u8]) -> (u16, u16) {
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "SOI");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "EOI");
        let mut i = 2;
        let mut size = None;
        loop {
            assert_eq!(jpeg[i], 0xFF, "marker at {i}");
            let marker = jpeg[i + 1];
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if marker == 0xC0 {
                let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
                let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
                assert_eq!(jpeg[i + 9], 3, "three components");
                size = Some((w, h));
            }
            if marker == 0xDA {
                return size.expect("SOF0 before SOS");
            }
            i += 2 + len;
        }
    }

    #[test]
    fn images_are_real_jpegs_of_realistic_sizes() {
        let d = data(3, 2, 11);
        let mut seen = 0;
        for i in 0..3 {
            let ad = d.ad(i);
            assert!(!ad.images.is_empty());
            for (_, jpeg) in &ad.images {
                let (w, h) = jpeg_frame_size(jpeg);
                assert!(
                    (480..=1080).contains(&w) && (854..=2400).contains(&h),
                    "{w}x{h}"
                );
                assert!(
                    (18_000..=450_000).contains(&jpeg.len()),
                    "{} bytes",
                    jpeg.len()
                );
                seen += 1;
            }
        }
        assert!(seen >= 3);
        // The whole pool: too slow for debug builds (the encoder is generic, so it is compiled
        // without optimisation there), quick in release builds.
        if !cfg!(debug_assertions) {
            let d = DemoData::new(&DemoConfig {
                ads: 1000,
                images_per_ad: 3,
                seed: 12,
            });
            let sizes: Vec<usize> = (0..POOL_SLOTS)
                .map(|j| {
                    let jpeg = d.pool_image(j);
                    jpeg_frame_size(&jpeg);
                    jpeg.len()
                })
                .collect();
            assert!(
                sizes.iter().all(|s| (18_000..=450_000).contains(s)),
                "{sizes:?}"
            );
            let mean = sizes.iter().sum::<usize>() / sizes.len();
            assert!((70_000..=130_000).contains(&mean), "mean {mean}");
            assert!(
                sizes.iter().filter(|s| **s < 40_000).count() >= 3,
                "{sizes:?}"
            );
            assert!(
                sizes.iter().filter(|s| **s > 200_000).count() >= 2,
                "{sizes:?}"
            );
            let distinct: std::collections::HashSet<_> =
                (0..POOL_SLOTS).map(|j| d.pool_image(j)).collect();
            assert_eq!(distinct.len(), POOL_SLOTS);
        }
    }

    #[test]
    fn population_statistics() {
        let n = 5000;
        let d = data(n, 3, 2025);
        let observers = d.observers();
        assert!((10..=14).contains(&observers.len()));
        assert_eq!(observers.iter().filter(|(_, w)| *w).count(), 1);
        for (u, _) in &observers {
            assert_eq!(uuid::Uuid::parse_str(u).unwrap().to_string(), *u);
        }
        struct Summary {
            withdrawn: bool,
            platform: &'static str,
            observer: String,
            old_layout: bool,
            tagged: bool,
            starred: bool,
            hidden: bool,
            classified: bool,
            stress: bool,
            formula: bool,
            unicode: bool,
        }
        let summarise = |i: usize| {
            let ad = d.ad_without_image_bytes(i);
            let text = std::str::from_utf8(&ad.rdo).unwrap();
            // Cheap checks on the serialised text keep this test fast in debug builds.
            let withdrawn = text.contains("\"is_user_disabled\": true");
            if withdrawn {
                assert!(observers.iter().any(|(u, w)| *w && *u == ad.observer_id));
            }
            Summary {
                withdrawn,
                platform: ["FACEBOOK", "INSTAGRAM", "TIKTOK", "YOUTUBE"]
                    .into_iter()
                    .find(|p| text.contains(&format!("\"platform\": \"{p}\"")))
                    .unwrap(),
                // Only the new layout has a '.' before "output.json".
                old_layout: ad.rdo_key.matches('.').count() == 1,
                tagged: !ad.tag_ids.is_empty(),
                starred: ad.attributes.iter().any(|a| a.key == "starred"),
                hidden: ad.attributes.iter().any(|a| a.key == "hidden"),
                classified: !ad.classifications.is_empty(),
                // An escaped newline inside a JSON string.
                stress: text.contains("\\n"),
                formula: text.contains("\"text\": \"=") || text.contains("\"text\": \"@"),
                unicode: text.contains('é') || text.contains('€'),
                observer: ad.observer_id,
            }
        };
        // Two threads: this is the slowest test in debug builds.
        let all: Vec<Summary> = std::thread::scope(|s| {
            let summarise = &summarise;
            let first = s.spawn(move || (0..n / 2).map(summarise).collect::<Vec<_>>());
            let mut second = (n / 2..n).map(summarise).collect::<Vec<_>>();
            let mut all = first.join().unwrap();
            all.append(&mut second);
            all
        });
        let count = |f: fn(&Summary) -> bool| all.iter().filter(|s| f(s)).count();
        let (withdrawn, old_layout, tagged) = (
            count(|s| s.withdrawn),
            count(|s| s.old_layout),
            count(|s| s.tagged),
        );
        let (starred, hidden, classified) = (
            count(|s| s.starred),
            count(|s| s.hidden),
            count(|s| s.classified),
        );
        let (stress, formula, unicode) = (
            count(|s| s.stress),
            count(|s| s.formula),
            count(|s| s.unicode),
        );
        let mut platforms = std::collections::BTreeMap::new();
        let mut per_observer = std::collections::HashMap::new();
        for s in &all {
            *platforms.entry(s.platform).or_insert(0) += 1;
            *per_observer.entry(s.observer.clone()).or_insert(0) += 1;
        }
        let pct = |x: usize| x as f64 * 100.0 / n as f64;
        assert!(
            (0.5..=1.6).contains(&pct(withdrawn)),
            "withdrawn {}%",
            pct(withdrawn)
        );
        assert_eq!(platforms.len(), 4, "{platforms:?}");
        assert!(platforms.values().all(|c| *c > n / 20), "{platforms:?}");
        assert!(
            (3.0..=7.0).contains(&pct(old_layout)),
            "old layout {}%",
            pct(old_layout)
        );
        assert!((25.0..=35.0).contains(&pct(tagged)));
        assert!((16.0..=24.0).contains(&pct(starred)));
        assert!((7.0..=13.0).contains(&pct(hidden)));
        assert!((35.0..=45.0).contains(&pct(classified)));
        assert!(stress >= 5, "CSV stress ads: {stress}");
        assert!(formula > n / 20, "formula-like OCR: {formula}");
        assert!(unicode > n / 20);
        // Uneven spread over observers.
        let max = per_observer.values().max().unwrap();
        let min_active = per_observer
            .values()
            .filter(|c| **c > n / 50)
            .min()
            .unwrap();
        assert!(*max > 2 * *min_active, "{per_observer:?}");
    }

    #[test]
    fn users_and_tags() {
        let d = data(1, 1, 1);
        assert!((3..=4).contains(&d.users().len()));
        assert!(d.users().iter().any(|u| u.role == "admin"));
        assert!(
            d.users()
                .iter()
                .all(|u| u.role == "admin" || u.role == "user")
        );
        assert_eq!(d.users()[0].id, "researcher-1");
        assert!((5..=8).contains(&d.tags().len()));
        for t in d.tags() {
            assert!(t.hex.starts_with('#') && t.hex.len() == 7);
        }
    }

    #[test]
    fn page_names_are_shared_between_ads() {
        let d = data(400, 1, 5);
        let mut names = std::collections::HashMap::new();
        for i in 0..400 {
            let v = parse(&d.ad_without_image_bytes(i));
            for c in v["enrichment"]["meta_adlibrary_scrape"]["candidates"]
                .as_array()
                .unwrap()
            {
                *names
                    .entry(c["data"]["page_name"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        let solar = names
            .iter()
            .filter(|(k, _)| k.to_lowercase().contains("solar"))
            .map(|(_, c)| c)
            .sum::<usize>();
        assert!(solar >= 3);
        assert!(names.values().filter(|c| **c >= 3).count() >= 10);
    }

    /// `cargo test -p aao-export-worker --release demo::tests::pool_report -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn pool_report() {
        for seed in [1u64, 2, 3] {
            let t = std::time::Instant::now();
            let d = DemoData::new(&DemoConfig {
                ads: 1000,
                images_per_ad: 3,
                seed,
            });
            let built = t.elapsed();
            let mut sizes: Vec<usize> = (0..POOL_SLOTS).map(|j| d.pool_image(j).len()).collect();
            sizes.sort();
            let mean = sizes.iter().sum::<usize>() / sizes.len();
            println!(
                "seed {seed}: pool built in {built:?}; KB min {} median {} mean {} max {}",
                sizes[0] / 1000,
                sizes[24] / 1000,
                mean / 1000,
                sizes[47] / 1000
            );
            let mp: usize = (0..POOL_SLOTS)
                .map(|j| {
                    let (w, h) = jpeg_frame_size(&d.pool_image(j));
                    w as usize * h as usize
                })
                .sum();
            println!("  pool megapixels {}", mp / 1_000_000);
            let t = std::time::Instant::now();
            let ads = 2000;
            let mut per_ad = Vec::with_capacity(ads * 3);
            let mut rdo_bytes = 0;
            for i in 0..ads {
                let ad = d.ad(i);
                rdo_bytes += ad.rdo.len();
                per_ad.extend(ad.images.iter().map(|(_, b)| b.len()));
            }
            let el = t.elapsed();
            per_ad.sort();
            let pct = |p: usize| per_ad[per_ad.len() * p / 100] / 1000;
            println!(
                "  {ads} ads in {el:?} ({:?}/ad), mean RDO {} B, {} images, image KB mean {} p5 {} p50 {} p95 {}",
                el / ads as u32,
                rdo_bytes / ads,
                per_ad.len(),
                per_ad.iter().sum::<usize>() / per_ad.len() / 1000,
                pct(5),
                pct(50),
                pct(95),
            );
        }
    }
}
