//! Compiles a [`Query`] to SQL over the `catalogue` table, with every argument bound.
//!
//! Both databases share the statement shape; they differ only in how "contains" is spelled:
//! PostgreSQL uses `LIKE '%…%'` (escaped, and served by trigram indexes), SQLite `instr()`
//! (which is case-sensitive, unlike SQLite's `LIKE`) behind a trigram full-text index that
//! finds the candidates (`catalogue_text`, migration 0009). Case-insensitive targets are stored
//! and searched lower-cased, so neither needs `ILIKE` or `lower()` at query time.
//!
//! Counts and sums come from the totals the triggers keep for ALL, and as those totals minus
//! the rest for NOT, so neither scans the catalogue.

use aao_export_core::query::{Query, TextMatch, TextTarget, TimeBound};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Float(f64),
    Int(i64),
}

/// A statement and its binds, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// Where the previous page ended; results continue strictly after it in newest-first order.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCursor {
    pub observed_at: f64,
    pub observation_id: String,
}

/// How a page of matching ads is found; both give the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOrder {
    /// Walk the time index from the newest (or the cursor), testing each ad: cheap when
    /// matches are common, and linear over a whole export.
    WalkNewest,
    /// Find every match (through the trigram indexes), then sort them: cheap when matches are
    /// rare, where a walk would test most of the catalogue to fill one page.
    SortMatches,
}

impl PageOrder {
    /// For a page of `limit` out of `matching` ads in a catalogue of `catalogue`: a walk tests
    /// about `limit × catalogue / matching` ads, sorting the matches touches `matching`.
    pub fn for_counts(matching: u64, catalogue: u64, limit: u32) -> Self {
        if (matching as u128).pow(2) < u128::from(limit) * catalogue as u128 {
            PageOrder::SortMatches
        } else {
            PageOrder::WalkNewest
        }
    }
}

pub const SEARCH_COLUMNS: &str = "c.observation_id, c.observer_id, c.observed_at, c.rdo_key, d.rdo";
/// What a page selects before its ads' RDOs are joined in.
const PAGE_COLUMNS: &str = "c.observation_id, c.observer_id, c.observed_at, c.rdo_key";
const NEWEST_FIRST: &str = "ORDER BY c.observed_at DESC, c.observation_id DESC";

/// One page of matching ads, newest first. The page is chosen first and only its ads' RDOs are
/// read (a sort of many matches never carries their RDOs).
pub fn page_sql(query: &Query, dialect: Dialect, after: Option<&PageCursor>, limit: u32, order: PageOrder) -> Sql {
    let mut binds = Vec::new();
    let drive = order == PageOrder::SortMatches;
    // Parenthesised: a top-level OR must not swallow the cursor condition ANDed after it.
    let mut page =
        format!("SELECT {PAGE_COLUMNS} FROM catalogue c WHERE ({})", condition(query, dialect, drive, &mut binds));
    if let Some(cursor) = after {
        binds.push(Bind::Float(cursor.observed_at));
        let at = binds.len();
        binds.push(Bind::Text(cursor.observation_id.clone()));
        let id = binds.len();
        // A row-value comparison, not `a < x OR (a = x AND b < y)`: PostgreSQL (and SQLite) serve
        // it as the start of a scan of `catalogue_newest`, where the OR form is a filter that
        // re-reads every earlier row on every page (quadratic over an export).
        page.push_str(&format!(" AND (c.observed_at, c.observation_id) < (${at}, ${id})"));
    }
    binds.push(Bind::Int(i64::from(limit)));
    // `+ 0` keeps the time index out of the sort, so that the planner starts from the matches.
    let order_by = if drive { "ORDER BY c.observed_at + 0 DESC, c.observation_id DESC" } else { NEWEST_FIRST };
    page.push_str(&format!(" {order_by} LIMIT ${}", binds.len()));
    let text = format!(
        "SELECT {SEARCH_COLUMNS} FROM ({page}) c JOIN catalogue_documents d ON d.observation_id = c.observation_id {NEWEST_FIRST}"
    );
    Sql { text, binds }
}

/// How many ads match.
pub fn count_sql(query: &Query, dialect: Dialect) -> Sql {
    let totals = totals_sql(query, dialect);
    Sql { text: format!("SELECT ads FROM ({}) totals", totals.text), binds: totals.binds }
}

/// How many ads match, with their recorded image counts and sizes: one statement, one pass at
/// most. The sums are cast back to BIGINT (PostgreSQL sums BIGINTs as NUMERIC).
pub fn totals_sql(query: &Query, dialect: Dialect) -> Sql {
    let mut binds = Vec::new();
    let text = sums(query, dialect, &mut binds);
    Sql { text, binds }
}

/// The totals of the matching ads among a sample of the catalogue (the ads whose id sorts before
/// `below`: ids are random UUIDs, so a prefix range is a uniform sample, read on the primary
/// key), with the sample's size (`sampled`) and the catalogue's (`catalogue`) to scale them by.
pub fn sample_totals_sql(query: &Query, dialect: Dialect, below: &str) -> Sql {
    let mut binds = vec![Bind::Text(below.to_string())];
    let condition = condition(query, dialect, false, &mut binds);
    let text = format!(
        "SELECT CAST(COALESCE(SUM(hit), 0) AS BIGINT) AS ads, CAST(COALESCE(SUM(hit * image_count), 0) AS BIGINT) AS images, \
         CAST(COALESCE(SUM(hit * image_bytes), 0) AS BIGINT) AS image_bytes, \
         CAST(COALESCE(SUM(hit * rdo_bytes), 0) AS BIGINT) AS rdo_bytes, COUNT(*) AS sampled, \
         (SELECT ads FROM catalogue_totals) AS catalogue \
         FROM (SELECT c.image_count, c.image_bytes, c.rdo_bytes, CASE WHEN {condition} THEN 1 ELSE 0 END AS hit \
         FROM catalogue c WHERE c.observation_id < $1) c"
    );
    Sql { text, binds }
}

/// The id prefix below which about `sample` of `catalogue` ads lie (four hex digits), or `None`
/// when the sample is the whole catalogue.
pub fn sample_prefix(sample: u64, catalogue: u64) -> Option<String> {
    if sample >= catalogue {
        return None;
    }
    let share = (sample as u128 * 0x1_0000 / catalogue.max(1) as u128).max(1);
    Some(format!("{share:04x}"))
}

fn sums(query: &Query, dialect: Dialect, binds: &mut Vec<Bind>) -> String {
    match query {
        Query::All => "SELECT ads, images, image_bytes, rdo_bytes FROM catalogue_totals".into(),
        Query::Not(child) => format!(
            "SELECT t.ads - m.ads AS ads, t.images - m.images AS images, t.image_bytes - m.image_bytes AS image_bytes, \
             t.rdo_bytes - m.rdo_bytes AS rdo_bytes FROM catalogue_totals t, ({}) m",
            sums(child, dialect, binds)
        ),
        _ => format!(
            "SELECT COUNT(*) AS ads, CAST(COALESCE(SUM(image_count), 0) AS BIGINT) AS images, \
             CAST(COALESCE(SUM(image_bytes), 0) AS BIGINT) AS image_bytes, \
             CAST(COALESCE(SUM(rdo_bytes), 0) AS BIGINT) AS rdo_bytes FROM catalogue c WHERE {}",
            condition(query, dialect, true, binds)
        ),
    }
}

/// `drive`: whether the trigram candidates drive the scan (SQLite). Else each row is tested on
/// its own (`instr`) and the trigram index is left out: a walk of the time index or a sample
/// reads few rows, and a candidate set tested per row would first be built in full, for every
/// page (50 ms for a phrase in 8% of a million ads, against 1 ms for the newest 24).
fn condition(query: &Query, dialect: Dialect, drive: bool, binds: &mut Vec<Bind>) -> String {
    match query {
        Query::All => "1 = 1".into(),
        Query::And(children) => join(children, " AND ", dialect, drive, binds),
        Query::Or(children) => join(children, " OR ", dialect, drive, binds),
        Query::Not(child) => format!("NOT ({})", condition(child, dialect, drive, binds)),
        Query::ObservedAt { bound, epoch_ms } => {
            binds.push(Bind::Float(TimeBound::seconds(*epoch_ms)));
            let op = match bound {
                TimeBound::AtOrAfter => ">=",
                TimeBound::AtOrBefore => "<=",
            };
            format!("c.observed_at {op} ${}", binds.len())
        }
        Query::Text(m) => text_condition(m, dialect, drive, binds),
    }
}

fn join(children: &[Query], op: &str, dialect: Dialect, drive: bool, binds: &mut Vec<Bind>) -> String {
    let parts: Vec<String> = children.iter().map(|c| format!("({})", condition(c, dialect, drive, binds))).collect();
    parts.join(op)
}

fn text_condition(m: &TextMatch, dialect: Dialect, drive: bool, binds: &mut Vec<Bind>) -> String {
    if m.phrases.is_empty() {
        return "1 = 0".into();
    }
    let column = match m.target {
        TextTarget::ObserverId => "c.observer_id",
        TextTarget::ObservationUuid => "c.observation_uuid",
        TextTarget::PageNames => "c.page_names",
        TextTarget::Categories => "c.categories",
        TextTarget::AnyText => "c.search_text",
    };
    let parts: Vec<String> = m
        .phrases
        .iter()
        .map(|phrase| {
            if m.exact {
                binds.push(Bind::Text(phrase.clone()));
                return format!("{column} = ${}", binds.len());
            }
            match dialect {
                Dialect::Sqlite => {
                    let candidates = trigram_match(phrase, m.target).filter(|_| drive).map(|fts| {
                        binds.push(Bind::Text(fts));
                        format!(
                            "c.id IN (SELECT rowid FROM catalogue_text WHERE catalogue_text MATCH ${}) AND ",
                            binds.len()
                        )
                    });
                    binds.push(Bind::Text(phrase.clone()));
                    format!("{}instr({column}, ${}) > 0", candidates.unwrap_or_default(), binds.len())
                }
                Dialect::Postgres => {
                    binds.push(Bind::Text(format!("%{}%", escape_like(phrase))));
                    format!("{column} LIKE ${} ESCAPE '\\'", binds.len())
                }
            }
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// The most trigrams of a phrase a full-text query ANDs: any of them narrow the candidates
/// soundly, and each more is one more list to read.
const MAX_TRIGRAMS: usize = 8;

/// A full-text query over `catalogue_text` that every ad whose `target` contains `phrase` matches
/// (the trigrams of the phrase as the search text holds it), or `None` where there is none: a
/// phrase under 3 characters, or a case-sensitive target's phrase that is not ASCII (whose
/// lower case may differ in context).
///
/// Sound because the search text joins every string of the RDO, each lower-cased on its own as
/// the case-insensitive targets are, and no phrase holds the separator (queries refuse control
/// characters); an ASCII phrase in a case-sensitive target lower-cases the same in place.
pub fn trigram_match(phrase: &str, target: TextTarget) -> Option<String> {
    let phrase = if target.case_insensitive() {
        phrase.to_string()
    } else if phrase.is_ascii() {
        phrase.to_ascii_lowercase()
    } else {
        return None;
    };
    let chars: Vec<char> = phrase.chars().collect();
    if chars.len() < 3 || chars.iter().any(|c| c.is_control()) {
        return None;
    }
    let mut trigrams: Vec<String> = Vec::new();
    for window in chars.windows(3) {
        let trigram: String = window.iter().collect();
        if !trigrams.contains(&trigram) {
            trigrams.push(trigram);
        }
    }
    // Spread over the phrase when there are more.
    let n = trigrams.len();
    let picked: Vec<&String> = if n <= MAX_TRIGRAMS {
        trigrams.iter().collect()
    } else {
        (0..MAX_TRIGRAMS).map(|i| &trigrams[i * (n - 1) / (MAX_TRIGRAMS - 1)]).collect()
    };
    let terms: Vec<String> = picked.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect();
    Some(terms.join(" AND "))
}

/// Makes `%`, `_` and `\` in a phrase match themselves.
pub fn escape_like(phrase: &str) -> String {
    let mut out = String::with_capacity(phrase.len());
    for c in phrase.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: serde_json::Value) -> Query {
        Query::from_json(&v).unwrap()
    }

    #[test]
    fn compiles_with_bound_arguments_only() {
        let query = q(json!({"method": "AND", "args": [
            {"method": "PAGE_NAME_CONTAINS", "args": ["100%_Raiz\\"]},
            {"method": "NOT", "args": [{"method": "OBSERVER_ID_EQUALS", "args": ["a'; DROP TABLE x; --"]}]},
            {"method": "DATETIME_AFTER", "args": ["1759583019500"]}
        ]}));
        let pg = totals_sql(&query, Dialect::Postgres);
        assert!(
            pg.text.ends_with(
                "FROM catalogue c WHERE ((c.page_names LIKE $1 ESCAPE '\\')) AND (NOT ((c.observer_id = $2))) AND (c.observed_at >= $3)"
            ),
            "{}",
            pg.text
        );
        assert_eq!(
            pg.binds,
            vec![
                Bind::Text("%100\\%\\_raiz\\\\%".into()),
                Bind::Text("a'; DROP TABLE x; --".into()),
                Bind::Float(1_759_583_019.5),
            ]
        );
        let lite = totals_sql(&query, Dialect::Sqlite);
        assert!(
            lite.text.contains(
                "(c.id IN (SELECT rowid FROM catalogue_text WHERE catalogue_text MATCH $1) AND instr(c.page_names, $2) > 0)"
            ),
            "{}",
            lite.text
        );
        assert_eq!(
            lite.binds[0],
            Bind::Text(r#""100" AND "00%" AND "0%_" AND "%_r" AND "_ra" AND "rai" AND "aiz" AND "iz\""#.into())
        );
        assert_eq!(lite.binds[1], Bind::Text("100%_raiz\\".into()));
    }

    #[test]
    fn pages_continue_after_the_cursor() {
        let cursor = PageCursor { observed_at: 10.0, observation_id: "b".into() };
        let sql = page_sql(&Query::All, Dialect::Sqlite, Some(&cursor), 500, PageOrder::WalkNewest);
        assert_eq!(
            sql.text,
            "SELECT c.observation_id, c.observer_id, c.observed_at, c.rdo_key, d.rdo FROM (\
             SELECT c.observation_id, c.observer_id, c.observed_at, c.rdo_key FROM catalogue c WHERE (1 = 1) \
             AND (c.observed_at, c.observation_id) < ($1, $2) ORDER BY c.observed_at DESC, c.observation_id DESC LIMIT $3\
             ) c JOIN catalogue_documents d ON d.observation_id = c.observation_id \
             ORDER BY c.observed_at DESC, c.observation_id DESC"
        );
        assert_eq!(sql.binds.len(), 3, "every $n has a bind");
    }

    #[test]
    fn a_walk_tests_each_row_and_a_sort_starts_from_the_trigram_candidates() {
        let query = q(json!({"method": "ANYTHING_CONTAINS", "args": ["quokka"]}));
        let walk = page_sql(&query, Dialect::Sqlite, None, 24, PageOrder::WalkNewest);
        assert!(
            !walk.text.contains("catalogue_text") && walk.text.contains("(instr(c.search_text, $1) > 0)"),
            "{walk:?}"
        );
        assert!(walk.text.contains("ORDER BY c.observed_at DESC"), "{walk:?}");
        assert_eq!(walk.binds.len(), 2, "the phrase and the limit: {walk:?}");
        let sample = sample_totals_sql(&query, Dialect::Sqlite, "028d").text;
        assert!(!sample.contains("catalogue_text"), "a sample tests each of its rows: {sample}");
        let sort = page_sql(&query, Dialect::Sqlite, None, 24, PageOrder::SortMatches).text;
        assert!(sort.contains("(c.id IN (SELECT rowid") && sort.contains("ORDER BY c.observed_at + 0 DESC"), "{sort}");
        // 1M ads, a page of 24: sorting wins below about 4,899 matches.
        assert_eq!(PageOrder::for_counts(0, 1_000_000, 24), PageOrder::SortMatches);
        assert_eq!(PageOrder::for_counts(4_898, 1_000_000, 24), PageOrder::SortMatches);
        assert_eq!(PageOrder::for_counts(4_899, 1_000_000, 24), PageOrder::WalkNewest);
        assert_eq!(PageOrder::for_counts(1_000_000, 1_000_000, 24), PageOrder::WalkNewest);
    }

    #[test]
    fn all_and_not_come_from_the_kept_totals() {
        let all = totals_sql(&Query::All, Dialect::Postgres);
        assert_eq!(all.text, "SELECT ads, images, image_bytes, rdo_bytes FROM catalogue_totals");
        let not = totals_sql(
            &q(json!({"method": "NOT", "args": [{"method": "ANYTHING_CONTAINS", "args": ["x"]}]})),
            Dialect::Postgres,
        );
        assert!(not.text.starts_with("SELECT t.ads - m.ads AS ads"), "{}", not.text);
        assert!(not.text.contains("FROM catalogue_totals t, (SELECT COUNT(*) AS ads"), "{}", not.text);
        let count = count_sql(&Query::All, Dialect::Sqlite);
        assert_eq!(count.text, format!("SELECT ads FROM ({}) totals", all.text));
    }

    #[test]
    fn trigram_queries_only_where_they_are_sound() {
        use TextTarget::*;
        assert_eq!(trigram_match("ab", AnyText), None, "under 3 characters");
        assert_eq!(trigram_match("abc", AnyText).as_deref(), Some(r#""abc""#));
        assert_eq!(trigram_match("aaaa", AnyText).as_deref(), Some(r#""aaa""#), "each trigram once");
        assert_eq!(trigram_match("say \"hi\"", PageNames).unwrap().matches("\"\"").count(), 4, "quotes doubled");
        // Case-sensitive targets: searched lower-cased in the search text, ASCII only.
        assert_eq!(trigram_match("CE37", ObserverId).as_deref(), Some(r#""ce3" AND "e37""#));
        assert_eq!(trigram_match("ΑΣΑ", ObservationUuid), None);
        assert_eq!(trigram_match("ασα", Categories).as_deref(), Some(r#""ασα""#));
        let long = trigram_match("a phrase long enough to have many trigrams", AnyText).unwrap();
        assert_eq!(long.matches(" AND ").count(), MAX_TRIGRAMS - 1);
        assert!(long.starts_with(r#""a p""#) && long.ends_with(r#""ams""#), "{long}");
    }

    #[test]
    fn no_phrases_match_nothing() {
        let sql = count_sql(&q(json!({"method": "OBSERVER_ID_CONTAINS", "args": []})), Dialect::Postgres);
        assert!(sql.text.ends_with("WHERE 1 = 0) totals"), "{}", sql.text);
    }
}
