//! Compiles a [`Query`] to SQL over the `catalogue` table, with every argument bound.
//!
//! Both databases share the statement shape; they differ only in how "contains" is spelled:
//! PostgreSQL uses `LIKE '%…%'` (escaped, and served by trigram indexes), SQLite `instr()`
//! (which is case-sensitive, unlike SQLite's `LIKE`). Case-insensitive targets are stored and
//! searched lower-cased, so neither needs `ILIKE` or `lower()` at query time.

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

pub const SEARCH_COLUMNS: &str = "observation_id, observer_id, observed_at, rdo_key, rdo";

/// One page of matching ads, newest first.
pub fn page_sql(query: &Query, dialect: Dialect, after: Option<&PageCursor>, limit: u32) -> Sql {
    let mut binds = Vec::new();
    // Parenthesised: a top-level OR must not swallow the cursor condition ANDed after it.
    let mut text = format!("SELECT {SEARCH_COLUMNS} FROM catalogue WHERE ({})", condition(query, dialect, &mut binds));
    if let Some(cursor) = after {
        binds.push(Bind::Float(cursor.observed_at));
        let at = binds.len();
        binds.push(Bind::Text(cursor.observation_id.clone()));
        let id = binds.len();
        // A row-value comparison, not `a < x OR (a = x AND b < y)`: PostgreSQL (and SQLite) serve
        // it as the start of a scan of `observations_newest`, where the OR form is a filter that
        // re-reads every earlier row on every page (quadratic over an export).
        text.push_str(&format!(" AND (observed_at, observation_id) < (${at}, ${id})"));
    }
    binds.push(Bind::Int(i64::from(limit)));
    text.push_str(&format!(" ORDER BY observed_at DESC, observation_id DESC LIMIT ${}", binds.len()));
    Sql { text, binds }
}

/// How many ads match.
pub fn count_sql(query: &Query, dialect: Dialect) -> Sql {
    let mut binds = Vec::new();
    let text = format!("SELECT COUNT(*) FROM catalogue WHERE {}", condition(query, dialect, &mut binds));
    Sql { text, binds }
}

/// How many ads match, with their recorded image counts and sizes: one statement, one pass.
/// The sums are cast back to BIGINT (PostgreSQL sums BIGINTs as NUMERIC).
pub fn totals_sql(query: &Query, dialect: Dialect) -> Sql {
    let mut binds = Vec::new();
    let text = format!(
        "SELECT COUNT(*) AS ads, CAST(COALESCE(SUM(image_count), 0) AS BIGINT) AS images, \
         CAST(COALESCE(SUM(image_bytes), 0) AS BIGINT) AS image_bytes, \
         CAST(COALESCE(SUM(rdo_bytes), 0) AS BIGINT) AS rdo_bytes FROM catalogue WHERE {}",
        condition(query, dialect, &mut binds)
    );
    Sql { text, binds }
}

fn condition(query: &Query, dialect: Dialect, binds: &mut Vec<Bind>) -> String {
    match query {
        Query::All => "1 = 1".into(),
        Query::And(children) => join(children, " AND ", dialect, binds),
        Query::Or(children) => join(children, " OR ", dialect, binds),
        Query::Not(child) => format!("NOT ({})", condition(child, dialect, binds)),
        Query::ObservedAt { bound, epoch_ms } => {
            binds.push(Bind::Float(TimeBound::seconds(*epoch_ms)));
            let op = match bound {
                TimeBound::AtOrAfter => ">=",
                TimeBound::AtOrBefore => "<=",
            };
            format!("observed_at {op} ${}", binds.len())
        }
        Query::Text(m) => text_condition(m, dialect, binds),
    }
}

fn join(children: &[Query], op: &str, dialect: Dialect, binds: &mut Vec<Bind>) -> String {
    let parts: Vec<String> = children.iter().map(|c| format!("({})", condition(c, dialect, binds))).collect();
    parts.join(op)
}

fn text_condition(m: &TextMatch, dialect: Dialect, binds: &mut Vec<Bind>) -> String {
    if m.phrases.is_empty() {
        return "1 = 0".into();
    }
    let column = match m.target {
        TextTarget::ObserverId => "observer_id",
        TextTarget::ObservationUuid => "observation_uuid",
        TextTarget::PageNames => "page_names",
        TextTarget::Categories => "categories",
        TextTarget::AnyText => "search_text",
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
                    binds.push(Bind::Text(phrase.clone()));
                    format!("instr({column}, ${}) > 0", binds.len())
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
        let pg = count_sql(&query, Dialect::Postgres);
        assert_eq!(
            pg.text,
            "SELECT COUNT(*) FROM catalogue WHERE ((page_names LIKE $1 ESCAPE '\\')) AND (NOT ((observer_id = $2))) AND (observed_at >= $3)"
        );
        assert_eq!(
            pg.binds,
            vec![
                Bind::Text("%100\\%\\_raiz\\\\%".into()),
                Bind::Text("a'; DROP TABLE x; --".into()),
                Bind::Float(1_759_583_019.5),
            ]
        );
        let lite = count_sql(&query, Dialect::Sqlite);
        assert!(lite.text.contains("(instr(page_names, $1) > 0)"), "{}", lite.text);
        assert_eq!(lite.binds[0], Bind::Text("100%_raiz\\".into()));
    }

    #[test]
    fn pages_continue_after_the_cursor() {
        let cursor = PageCursor { observed_at: 10.0, observation_id: "b".into() };
        let sql = page_sql(&Query::All, Dialect::Sqlite, Some(&cursor), 500);
        assert_eq!(
            sql.text,
            "SELECT observation_id, observer_id, observed_at, rdo_key, rdo FROM catalogue WHERE (1 = 1) AND (observed_at, observation_id) < ($1, $2) ORDER BY observed_at DESC, observation_id DESC LIMIT $3"
        );
        assert_eq!(sql.binds.len(), 3, "every $n has a bind");
    }

    #[test]
    fn totals_share_the_condition_of_counts() {
        let query = q(json!({"method": "PAGE_NAME_CONTAINS", "args": ["Raiz"]}));
        let totals = totals_sql(&query, Dialect::Postgres);
        let count = count_sql(&query, Dialect::Postgres);
        assert_eq!(totals.binds, count.binds);
        assert!(totals.text.starts_with("SELECT COUNT(*) AS ads, CAST(COALESCE(SUM(image_count), 0) AS BIGINT)"));
        assert!(totals.text.ends_with(count.text.split_once(" WHERE ").unwrap().1), "{}", totals.text);
    }

    #[test]
    fn no_phrases_match_nothing() {
        let sql = count_sql(&q(json!({"method": "OBSERVER_ID_CONTAINS", "args": []})), Dialect::Postgres);
        assert!(sql.text.ends_with("WHERE 1 = 0"));
    }
}
