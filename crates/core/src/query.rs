//! The AAO query language (aao-contracts.md §3): parsing, validation and limits.
//!
//! A query arrives as JSON (`{"method": NAME, "args": [...]}`) and becomes a [`Query`] tree that the
//! database layer compiles to SQL. Every error names the node it is about
//! (`query.args[1].method: unknown method "FOO"`), so a researcher can find the mistake.

use crate::export::kind;
use serde_json::Value;
use std::fmt;

/// Limits that keep a single request from costing the database more than a person could mean.
pub const MAX_DEPTH: usize = 32;
pub const MAX_NODES: usize = 500;
pub const MAX_ARGS_PER_NODE: usize = 200;
pub const MAX_ARG_CHARS: usize = 500;

/// A validated query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    All,
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
    /// `observed_on_device_at` compared with an instant given in epoch milliseconds.
    ObservedAt {
        bound: TimeBound,
        epoch_ms: i64,
    },
    /// Matches when the target text contains (or equals) any of the phrases. Phrases of
    /// case-insensitive targets are already lower-cased.
    Text(TextMatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// `observed_on_device_at >= ms / 1000`
    AtOrAfter,
    /// `observed_on_device_at <= ms / 1000`
    AtOrBefore,
}

impl TimeBound {
    /// The instant in seconds, as the AAO compares it.
    pub fn seconds(epoch_ms: i64) -> f64 {
        epoch_ms as f64 / 1000.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    pub target: TextTarget,
    pub exact: bool,
    pub phrases: Vec<String>,
}

/// What a text method looks at in an RDO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTarget {
    /// `observer.uuid`
    ObserverId,
    /// `observation.uuid` (`{timestamp_ms}.{ad_uuid}`)
    ObservationUuid,
    /// every candidate's `data.page_name`
    PageNames,
    /// every entry of every candidate's `data.categories`
    Categories,
    /// every string value anywhere in the RDO
    AnyText,
}

impl TextTarget {
    pub fn case_insensitive(self) -> bool {
        matches!(self, TextTarget::PageNames | TextTarget::Categories | TextTarget::AnyText)
    }
}

/// Separates the values of a multi-valued target in the catalogue's search columns. Query
/// arguments may not contain control characters, so a phrase can never match across two values.
pub const VALUE_SEPARATOR: char = '\u{1f}';

/// A query that could not be accepted, with the path of the node at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for QueryError {}

/// The methods a query may use, with the names the AAO dashboard shows people.
pub const METHODS: &[(&str, &str)] = &[
    ("AND", "all of"),
    ("OR", "any of"),
    ("NOT", "not"),
    ("ALL", "everything"),
    ("DATETIME_AFTER", "TIME AFTER"),
    ("DATETIME_BEFORE", "TIME BEFORE"),
    ("OBSERVER_ID_CONTAINS", "ACTIVATION CODE CONTAINS"),
    ("OBSERVER_ID_EQUALS", "OBSERVER ID EQUALS"),
    ("OBSERVATION_ID_CONTAINS", "OBSERVATION ID CONTAINS"),
    ("PAGE_NAME_CONTAINS", "PAGE NAME CONTAINS"),
    ("CATEGORIES_CONTAINS", "CATEGORIES CONTAINS"),
    ("ANYTHING_CONTAINS", "ANYTHING CONTAINS"),
];

impl Query {
    /// Parses and validates a query given as JSON.
    pub fn from_json(value: &Value) -> Result<Query, QueryError> {
        let mut parser = Parser { nodes: 0 };
        parser.node(value, "query", 1)
    }

    /// Parses a query given as JSON text (the CLI's `--query`).
    pub fn from_json_str(text: &str) -> Result<Query, QueryError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| QueryError { path: "query".into(), message: format!("not valid JSON: {e}") })?;
        Query::from_json(&value)
    }
}

/// A query node's method and arguments, or what is wrong with its shape.
fn method_and_args<'v>(value: &'v Value, path: &str) -> Result<(&'v str, &'v [Value]), QueryError> {
    let err = |at: String, message: String| QueryError { path: at, message };
    let Value::Object(object) = value else {
        return Err(err(
            path.into(),
            format!("expected an object like {{\"method\": \"ALL\", \"args\": []}}, found {}", kind(value)),
        ));
    };
    if let Some(key) = object.keys().find(|k| *k != "method" && *k != "args") {
        return Err(err(format!("{path}.{key}"), "unknown key; a query node has only \"method\" and \"args\"".into()));
    }
    let method = match object.get("method") {
        Some(Value::String(m)) => m.as_str(),
        Some(other) => {
            return Err(err(format!("{path}.method"), format!("expected a string, found {}", kind(other))));
        }
        None => return Err(err(path.into(), "missing \"method\"".into())),
    };
    let args: &[Value] = match object.get("args") {
        Some(Value::Array(args)) => args,
        None | Some(Value::Null) => &[],
        Some(other) => return Err(err(format!("{path}.args"), format!("expected a list, found {}", kind(other)))),
    };
    if args.len() > MAX_ARGS_PER_NODE {
        return Err(err(
            format!("{path}.args"),
            format!("at most {MAX_ARGS_PER_NODE} arguments are allowed, found {}", args.len()),
        ));
    }
    Ok((method, args))
}

/// A `DATETIME_*` argument: epoch milliseconds in a string.
fn epoch_ms(arg: &Value, at: &str) -> Result<i64, QueryError> {
    let err = |message: String| QueryError { path: at.to_string(), message };
    let Value::String(s) = arg else {
        return Err(err(format!("expected a string of epoch milliseconds, found {}", kind(arg))));
    };
    s.trim().parse().map_err(|_| err(format!("expected epoch milliseconds such as \"1759583019000\", found {s:?}")))
}

struct Parser {
    nodes: usize,
}

impl Parser {
    fn node(&mut self, value: &Value, path: &str, depth: usize) -> Result<Query, QueryError> {
        let err = |at: String, message: String| QueryError { path: at, message };
        if depth > MAX_DEPTH {
            return Err(err(path.into(), format!("queries may nest at most {MAX_DEPTH} levels deep")));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(err(path.into(), format!("queries may have at most {MAX_NODES} nodes")));
        }
        let (method, args) = method_and_args(value, path)?;
        let arity = |min: usize, max: Option<usize>| -> Result<(), QueryError> {
            let n = args.len();
            let ok = n >= min && max.is_none_or(|m| n <= m);
            if ok {
                return Ok(());
            }
            let wanted = match (min, max) {
                (a, Some(b)) if a == b && a == 0 => "no arguments".to_string(),
                (a, Some(b)) if a == b => format!("exactly {a} argument{}", if a == 1 { "" } else { "s" }),
                (a, _) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
            };
            Err(err(format!("{path}.args"), format!("{method} takes {wanted}, found {n}")))
        };
        let text = |parser: &mut Self, target: TextTarget, exact: bool, min: usize| -> Result<Query, QueryError> {
            arity(min, None)?;
            let phrases = parser.strings(args, path, target.case_insensitive())?;
            Ok(Query::Text(TextMatch { target, exact, phrases }))
        };
        match method {
            "ALL" => {
                arity(0, Some(0))?;
                Ok(Query::All)
            }
            "AND" | "OR" => {
                arity(1, None)?;
                let children = args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| self.node(a, &format!("{path}.args[{i}]"), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if method == "AND" { Query::And(children) } else { Query::Or(children) })
            }
            "NOT" => {
                arity(1, Some(1))?;
                Ok(Query::Not(Box::new(self.node(&args[0], &format!("{path}.args[0]"), depth + 1)?)))
            }
            "DATETIME_AFTER" | "DATETIME_BEFORE" => {
                arity(1, Some(1))?;
                let epoch_ms = epoch_ms(&args[0], &format!("{path}.args[0]"))?;
                let bound = if method == "DATETIME_AFTER" { TimeBound::AtOrAfter } else { TimeBound::AtOrBefore };
                Ok(Query::ObservedAt { bound, epoch_ms })
            }
            "OBSERVER_ID_CONTAINS" => text(self, TextTarget::ObserverId, false, 0),
            "OBSERVER_ID_EQUALS" => text(self, TextTarget::ObserverId, true, 0),
            "OBSERVATION_ID_CONTAINS" => text(self, TextTarget::ObservationUuid, false, 1),
            "PAGE_NAME_CONTAINS" => text(self, TextTarget::PageNames, false, 1),
            "CATEGORIES_CONTAINS" => text(self, TextTarget::Categories, false, 1),
            "ANYTHING_CONTAINS" => text(self, TextTarget::AnyText, false, 1),
            "REFERENCE QUERY" | "REFERENCE_QUERY" => Err(err(
                format!("{path}.method"),
                format!(
                    "unknown method {method:?}: saved project queries are not available to exports; copy the project's query instead"
                ),
            )),
            other => {
                let known: Vec<&str> = METHODS.iter().map(|(m, _)| *m).collect();
                Err(err(
                    format!("{path}.method"),
                    format!("unknown method {:?}; known methods are {}", truncate(other, 60), known.join(", ")),
                ))
            }
        }
    }

    fn strings(&mut self, args: &[Value], path: &str, lowercase: bool) -> Result<Vec<String>, QueryError> {
        args.iter()
            .enumerate()
            .map(|(i, arg)| {
                let at = format!("{path}.args[{i}]");
                let Value::String(s) = arg else {
                    return Err(QueryError { path: at, message: format!("expected a string, found {}", kind(arg)) });
                };
                if s.chars().count() > MAX_ARG_CHARS {
                    return Err(QueryError {
                        path: at,
                        message: format!("arguments may be at most {MAX_ARG_CHARS} characters long"),
                    });
                }
                if s.is_empty() {
                    return Err(QueryError { path: at, message: "arguments may not be empty".into() });
                }
                if s.chars().any(char::is_control) {
                    return Err(QueryError {
                        path: at,
                        message: "arguments may not contain control characters (tabs, newlines, ...)".into(),
                    });
                }
                Ok(if lowercase { s.to_lowercase() } else { s.clone() })
            })
            .collect()
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

/// A query in words, as people read it: `PAGE NAME CONTAINS "bank" AND NOT TIME BEFORE 1 Jan 2026`.
/// Works on any JSON (a stored query, or one still being written): what it cannot read it shows
/// as compact JSON. Times are UTC.
pub fn describe(value: &Value) -> String {
    describe_node(value, 0)
}

fn describe_node(value: &Value, depth: usize) -> String {
    let method = value.get("method").and_then(Value::as_str).unwrap_or_default();
    let args: &[Value] = value.get("args").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let label = METHODS.iter().find(|(m, _)| *m == method).map(|(_, label)| *label);
    let group = |joiner: &str| {
        let parts: Vec<String> = args.iter().map(|a| describe_node(a, depth + 1)).collect();
        let text = parts.join(joiner);
        if depth > 0 && parts.len() > 1 { format!("({text})") } else { text }
    };
    match (method, label) {
        ("ALL", _) => "ALL ADS".to_string(),
        ("AND", _) if !args.is_empty() => group(" AND "),
        ("OR", _) if !args.is_empty() => group(" OR "),
        ("NOT", _) if args.len() == 1 => format!("NOT {}", describe_node(&args[0], depth + 1)),
        ("DATETIME_AFTER" | "DATETIME_BEFORE", Some(label)) if args.len() == 1 => {
            format!("{label} {}", instant(&args[0]))
        }
        (_, Some(label)) if !args.is_empty() && args.iter().all(Value::is_string) => {
            let phrases: Vec<String> = args.iter().filter_map(Value::as_str).map(|p| format!("{p:?}")).collect();
            format!("{label} {}", phrases.join(" OR "))
        }
        _ => value.to_string(),
    }
}

/// Epoch milliseconds (a string, as the AAO sends them) as a date in words: `1 Jan 2026`, with the
/// time when it is not midnight (UTC).
fn instant(arg: &Value) -> String {
    let ms = match arg {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) if t.format("%H:%M:%S").to_string() == "00:00:00" => t.format("%-d %b %Y").to_string(),
        Some(t) => t.format("%-d %b %Y %H:%M UTC").to_string(),
        None => arg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Query, String> {
        Query::from_json(&v).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_method() {
        let q = parse(json!({"method": "AND", "args": [
            {"method": "OBSERVER_ID_CONTAINS", "args": ["48734387"]},
            {"method": "OR", "args": [
                {"method": "PAGE_NAME_CONTAINS", "args": ["Raiz Invest"]},
                {"method": "CATEGORIES_CONTAINS", "args": ["Political"]},
                {"method": "ANYTHING_CONTAINS", "args": ["SPARE change"]}
            ]},
            {"method": "NOT", "args": [{"method": "OBSERVATION_ID_CONTAINS", "args": ["e60b"]}]},
            {"method": "DATETIME_AFTER", "args": ["1759583019000"]},
            {"method": "DATETIME_BEFORE", "args": ["1759583019999"]},
            {"method": "OBSERVER_ID_EQUALS", "args": ["48734387-5226-4e96-b97c-2d0747a99898"]},
            {"method": "ALL", "args": []}
        ]}))
        .unwrap();
        let Query::And(children) = q else { panic!("expected AND") };
        assert_eq!(children.len(), 7);
        assert_eq!(
            children[0],
            Query::Text(TextMatch { target: TextTarget::ObserverId, exact: false, phrases: vec!["48734387".into()] })
        );
        let Query::Or(or) = &children[1] else { panic!() };
        // case-insensitive targets are lower-cased once, here
        assert_eq!(
            or[0],
            Query::Text(TextMatch { target: TextTarget::PageNames, exact: false, phrases: vec!["raiz invest".into()] })
        );
        assert_eq!(
            or[2],
            Query::Text(TextMatch { target: TextTarget::AnyText, exact: false, phrases: vec!["spare change".into()] })
        );
        assert_eq!(children[3], Query::ObservedAt { bound: TimeBound::AtOrAfter, epoch_ms: 1_759_583_019_000 });
        assert_eq!(children[6], Query::All);
    }

    #[test]
    fn observer_methods_accept_no_args_and_all_accepts_missing_args() {
        assert!(
            matches!(parse(json!({"method": "OBSERVER_ID_CONTAINS", "args": []})).unwrap(), Query::Text(t) if t.phrases.is_empty())
        );
        assert_eq!(parse(json!({"method": "ALL"})).unwrap(), Query::All);
    }

    #[test]
    fn errors_name_the_offending_node() {
        let cases = [
            (
                json!({"method": "AND", "args": [{"method": "ALL"}, {"method": "FOO", "args": []}]}),
                "query.args[1].method: unknown method \"FOO\"",
            ),
            (json!({"method": "NOT", "args": []}), "query.args: NOT takes exactly 1 argument, found 0"),
            (
                json!({"method": "NOT", "args": [{"method": "ALL"}, {"method": "ALL"}]}),
                "query.args: NOT takes exactly 1 argument, found 2",
            ),
            (json!({"method": "AND", "args": []}), "query.args: AND takes at least 1 argument, found 0"),
            (json!({"method": "ALL", "args": ["x"]}), "query.args: ALL takes no arguments, found 1"),
            (
                json!({"method": "PAGE_NAME_CONTAINS", "args": []}),
                "query.args: PAGE_NAME_CONTAINS takes at least 1 argument",
            ),
            (json!({"method": "PAGE_NAME_CONTAINS", "args": [5]}), "query.args[0]: expected a string, found a number"),
            (json!({"method": "OR", "args": ["ALL"]}), "query.args[0]: expected an object"),
            (json!({"method": "DATETIME_AFTER", "args": ["yesterday"]}), "query.args[0]: expected epoch milliseconds"),
            (
                json!({"method": "DATETIME_AFTER", "args": [1759583019000u64]}),
                "query.args[0]: expected a string of epoch milliseconds, found a number",
            ),
            (
                json!({"method": "REFERENCE QUERY", "args": ["abc"]}),
                "query.method: unknown method \"REFERENCE QUERY\": saved project queries",
            ),
            (json!({"method": 3}), "query.method: expected a string, found a number"),
            (json!({"args": []}), "query: missing \"method\""),
            (json!({"method": "ALL", "args": {}}), "query.args: expected a list, found an object"),
            (json!({"method": "ALL", "arg": []}), "query.arg: unknown key"),
            (json!([1, 2]), "query: expected an object"),
            (json!({"method": "OBSERVER_ID_CONTAINS", "args": [""]}), "query.args[0]: arguments may not be empty"),
            (
                json!({"method": "ANYTHING_CONTAINS", "args": ["a\nb"]}),
                "query.args[0]: arguments may not contain control characters",
            ),
        ];
        for (input, expected) in cases {
            let got = parse(input.clone()).expect_err(&format!("{input} should be refused"));
            assert!(got.starts_with(expected), "{input}: got {got:?}, expected it to start with {expected:?}");
        }
    }

    #[test]
    fn limits_refuse_abusive_queries() {
        let mut deep = json!({"method": "ALL"});
        for _ in 0..MAX_DEPTH {
            deep = json!({"method": "NOT", "args": [deep]});
        }
        let e = parse(deep).unwrap_err();
        assert!(e.contains("nest at most 32 levels"), "{e}");

        let pair = json!({"method": "OR", "args": [{"method": "ALL"}, {"method": "ALL"}]});
        let wide = json!({"method": "OR", "args": vec![pair; MAX_ARGS_PER_NODE]});
        assert!(parse(wide).unwrap_err().contains("at most 500 nodes"));

        let many_args = json!({"method": "ANYTHING_CONTAINS", "args": vec!["x"; MAX_ARGS_PER_NODE + 1]});
        assert!(parse(many_args).unwrap_err().starts_with("query.args: at most 200 arguments"));

        let long = json!({"method": "ANYTHING_CONTAINS", "args": ["x".repeat(MAX_ARG_CHARS + 1)]});
        assert!(parse(long).unwrap_err().starts_with("query.args[0]: arguments may be at most 500 characters"));

        // exactly at the limits is fine
        let mut ok = json!({"method": "ALL"});
        for _ in 0..MAX_DEPTH - 1 {
            ok = json!({"method": "NOT", "args": [ok]});
        }
        assert!(parse(ok).is_ok());
    }

    #[test]
    fn malformed_json_text_is_reported() {
        let e = Query::from_json_str("{\"method\": ").unwrap_err();
        assert_eq!(e.path, "query");
        assert!(e.message.starts_with("not valid JSON"));
    }

    proptest::proptest! {
        /// Whatever JSON arrives, parsing answers Ok or a named error, never a panic.
        #[test]
        fn never_panics_on_arbitrary_json(text in ".{0,200}") {
            let _ = Query::from_json_str(&text);
        }

        #[test]
        fn never_panics_on_arbitrary_trees(value in arb_json()) {
            if let Err(e) = Query::from_json(&value) {
                proptest::prop_assert!(e.path.starts_with("query"));
            }
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let method = prop_oneof![
            Just("AND"),
            Just("OR"),
            Just("NOT"),
            Just("ALL"),
            Just("DATETIME_AFTER"),
            Just("PAGE_NAME_CONTAINS"),
            Just("BOGUS"),
            Just("OBSERVER_ID_EQUALS")
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z0-9 ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                (method.clone(), prop::collection::vec(inner, 0..4))
                    .prop_map(|(m, args)| json!({"method": m, "args": args})),
            ]
        })
    }

    #[test]
    fn queries_read_as_words() {
        use serde_json::json;
        let q = json!({"method": "AND", "args": [
            {"method": "PAGE_NAME_CONTAINS", "args": ["bank"]},
            {"method": "NOT", "args": [{"method": "DATETIME_BEFORE", "args": ["1767225600000"]}]}
        ]});
        assert_eq!(describe(&q), "PAGE NAME CONTAINS \"bank\" AND NOT TIME BEFORE 1 Jan 2026");
        let q = json!({"method": "OR", "args": [
            {"method": "OBSERVER_ID_CONTAINS", "args": ["4873", "a1b2"]},
            {"method": "AND", "args": [{"method": "ALL"}, {"method": "DATETIME_AFTER", "args": ["1767270600000"]}]}
        ]});
        assert_eq!(
            describe(&q),
            "ACTIVATION CODE CONTAINS \"4873\" OR \"a1b2\" OR (ALL ADS AND TIME AFTER 1 Jan 2026 12:30 UTC)"
        );
        assert_eq!(describe(&json!({"method": "FOO", "args": [1]})), r#"{"method":"FOO","args":[1]}"#);
        assert_eq!(describe(&json!("<b>")), "\"<b>\"", "anything else shows as JSON (escaping is the page's job)");
    }
}
