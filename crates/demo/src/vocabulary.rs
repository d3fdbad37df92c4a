//! The vocabulary ads are made of: phones, advertisers by sector, their phrases, OCR noise, calls
//! to action, platforms, and the researchers and tags of the AAO tables. Fixed tables: only the
//! choices among them are seeded.

use crate::{DemoTag, DemoUser};

/// A phone participants use, as the RDO's `observer.device` reports it; `w` x `h` is its screen.
pub(crate) struct Device {
    pub(crate) model: &'static str,
    pub(crate) device: &'static str,
    pub(crate) os_version: &'static str,
    pub(crate) api_level: u32,
    pub(crate) w: u32,
    pub(crate) h: u32,
}

pub(crate) const DEVICES: &[Device] = &[
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
    Device { model: "SM-A145F", device: "a14", os_version: "4.19.191-27516853", api_level: 33, w: 1080, h: 2408 },
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

/// What an advertiser sells: picks its phrases, classification label and ad library categories.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sector {
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
    pub(crate) fn label(self) -> &'static str {
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

    /// Phrases an ad of this sector says (OCR text, candidates' bodies).
    pub(crate) fn phrases(self) -> &'static [&'static str] {
        match self {
            Sector::Finance => FINANCE_PHRASES,
            Sector::Retail => RETAIL_PHRASES,
            Sector::Food => FOOD_PHRASES,
            Sector::Political => POLITICAL_PHRASES,
            Sector::Housing => HOUSING_PHRASES,
            Sector::Employment => EMPLOYMENT_PHRASES,
            Sector::Gambling => GAMBLING_PHRASES,
            Sector::Alcohol => ALCOHOL_PHRASES,
            Sector::Travel => TRAVEL_PHRASES,
            Sector::Apps => APPS_PHRASES,
            Sector::Health => HEALTH_PHRASES,
            Sector::Energy => ENERGY_PHRASES,
        }
    }
}

const FINANCE_PHRASES: &[&str] = &[
    "Ever thought your spare change could build your future?",
    "Invest from just $5",
    "0% p.a. intro rate for 12 months",
    "Comparison rate 6.24% p.a.",
    "Your super, simplified",
    "Round up every purchase",
    "Fees apply. Read the PDS before investing.",
    "Capital at risk",
];
const RETAIL_PHRASES: &[&str] = &[
    "MID-SEASON SALE",
    "Up to 50% off everything",
    "Free shipping over $79",
    "New arrivals just dropped",
    "Only $29.95",
    "Was $89 now $59",
    "Afterpay available",
    "Limited stock – don't miss out",
];
const FOOD_PHRASES: &[&str] = &[
    "Crème brûlée, now on the menu",
    "Café-quality coffee at home",
    "Order now, delivered in 30 min",
    "2 for $15 this week",
    "Fresh. Local. Delicious.",
    "Try our new plant-based range",
    "Brunch all day at the café",
];
const POLITICAL_PHRASES: &[&str] = &[
    "Authorised by J. Citizen, Canberra ACT",
    "Cost of living relief now",
    "Have your say before Saturday",
    "Vote 1 for real change",
    "Protect local jobs",
    "Paid for by the campaign committee",
    "Enrol to vote by 8pm Friday",
];
const HOUSING_PHRASES: &[&str] = &[
    "Brand new 3 bedroom homes from $549,000",
    "Display village open this weekend",
    "First home buyer? Save on stamp duty",
    "Auction Saturday 11am",
    "Rent to own — ask us how",
    "Land packages selling fast",
];
const EMPLOYMENT_PHRASES: &[&str] = &[
    "We're hiring! Apply today",
    "Casual & part-time roles available",
    "$38/hr + super",
    "Start your nursing career",
    "No experience needed",
    "Join our team in Western Sydney",
];
const GAMBLING_PHRASES: &[&str] = &[
    "Bet $50, get $50 in bonus bets",
    "Gamble responsibly. 18+ only.",
    "What's it really costing you?",
    "Same game multi boost",
    "Chances are you're about to lose",
    "For free and confidential support call 1800 858 858",
];
const ALCOHOL_PHRASES: &[&str] = &[
    "Drink responsibly",
    "Summer cases from $49",
    "Craft lagers brewed in Victoria",
    "Rosé season is here",
    "Free delivery on mixed dozens",
    "Not for sale to persons under 18",
];
const TRAVEL_PHRASES: &[&str] = &[
    "Fly to Bali from $199*",
    "Europe sale: Paris from €699",
    "Book now, pay later",
    "5 nights in Fiji, all inclusive",
    "Weekend getaways from $149pp",
    "Fares selling fast",
];
const APPS_PHRASES: &[&str] = &[
    "POV: What would you tell your 20 year old self?",
    "Download free on Google Play",
    "4.8 ★ from 20k reviews",
    "Learn a language in 10 minutes a day",
    "Track every dollar automatically",
    "Try Premium free for 30 days",
];
const HEALTH_PHRASES: &[&str] = &[
    "Bulk billed telehealth in minutes",
    "Feel better, naturally",
    "Results may vary",
    "Book your free hearing check",
    "Always read the label and follow directions for use",
    "Sleep better tonight",
];
const ENERGY_PHRASES: &[&str] = &[
    "Save up to $600 on your power bill",
    "Solar + battery from $0 upfront",
    "100% GreenPower options",
    "Switch in 5 minutes",
    "Government rebates available",
    "Compare plans in your postcode",
];

/// An advertiser: `(page_name, brand as shown on the ad, sector, domain)`.
pub(crate) type Advertiser = (&'static str, &'static str, Sector, &'static str);

/// Fictional (but realistic) Australian advertisers. Several share words ("Solar", "Energy",
/// "Party", "Homes", "Bank") so that PAGE_NAME_CONTAINS matches several pages.
#[rustfmt::skip]
pub(crate) const ADVERTISERS: &[Advertiser] = &[
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
pub(crate) const STRESS_ADVERTISERS: &[Advertiser] = &[
    ("Smith, Jones & \"Partners\" Pty Ltd", "Smith, Jones", Sector::Finance, "smithjones.com.au"),
    ("Café \"Le Nord\", Fitzroy", "Le Nord", Sector::Food, "lenord.com.au"),
    ("Residents' Action Group\nNorthern Beaches", "Residents' Action", Sector::Political, "rag.org.au"),
    ("=Totally Legit Deals, \"Inc\"", "Legit Deals", Sector::Retail, "legitdeals.example"),
];

pub(crate) const STRESS_OCR: &[&str] = &[
    "Say \"hello\" to savings,\nthen relax",
    "Terms, conditions & \"fine print\"\napply",
    "Line one\r\nLine two, with a \"comma\"",
    "\"Quoted\", unquoted,\n\"\"doubled\"\"",
];

pub(crate) const CTAS: &[&str] = &[
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
pub(crate) const FORMULA_LIKE: &[&str] = &[
    "=SUM(A1:A9)",
    "+61 400 123 456",
    "-50% today only",
    "@koalasleepco",
    "=HYPERLINK(\"http://example.com\")",
    "+ Free delivery",
    "-$20 off your first order",
    "@everyone",
];

pub(crate) const OCR_NOISE: &[&str] = &[
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

pub(crate) const UNICODE_BITS: &[&str] = &[
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

pub(crate) const CLASSIFICATION_LABELS: &[&str] = &[
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

pub(crate) const PLATFORMS: &[(&str, f64)] =
    &[("FACEBOOK", 0.40), ("INSTAGRAM", 0.30), ("TIKTOK", 0.17), ("YOUTUBE", 0.13)];

/// The researchers of the `users` table.
pub(crate) fn demo_users() -> Vec<DemoUser> {
    [
        ("researcher-1", "Dr Aisha Rahman", "admin", Some("a.rahman@example.edu.au")),
        ("researcher-2", "Tom O'Connell", "user", Some("t.oconnell@example.edu.au")),
        ("researcher-3", "Mei Lin Zhou", "user", Some("meilin.zhou@example.edu.au")),
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

/// The tags of the `tags` table; ids are UUIDv5 of the name, so they are the same for every seed.
pub(crate) fn demo_tags() -> Vec<DemoTag> {
    [
        ("Political", "Political or issue-based advertising", "#d62728"),
        ("Gambling", "Betting, wagering and pokies", "#9467bd"),
        ("Alcohol", "Alcoholic drinks and venues", "#ff7f0e"),
        ("Misleading", "Possibly misleading or deceptive claims", "#8c564b"),
        ("Greenwashing", "Environmental claims worth a closer look", "#2ca02c"),
        ("Health claims", "Therapeutic or health claims", "#17becf"),
        ("Follow up", "Needs another look by the team", "#7f7f7f"),
    ]
    .into_iter()
    .map(|(name, description, hex)| DemoTag {
        id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("aao-demo-tag:{name}").as_bytes()).to_string(),
        name: name.to_string(),
        description: description.to_string(),
        hex: hex.to_string(),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use crate::tests::data;

    #[test]
    fn users_and_tags() {
        let d = data(1, 1, 1);
        assert!((3..=4).contains(&d.users().len()));
        assert!(d.users().iter().any(|u| u.role == "admin"));
        assert!(d.users().iter().all(|u| u.role == "admin" || u.role == "user"));
        assert_eq!(d.users()[0].id, "researcher-1");
        assert!((5..=8).contains(&d.tags().len()));
        for t in d.tags() {
            assert!(t.hex.starts_with('#') && t.hex.len() == 7);
        }
    }
}
