//! How a projected value becomes a CSV cell (DESIGN.md §6).

use serde_json::Value;
use std::borrow::Cow;

/// Empty for null or missing, the plain text for a string, number or boolean, compact JSON for a
/// list or object. Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
/// `@`, tab or carriage return) gets a leading `'`; numbers are never altered.
pub fn csv_cell(value: Option<&Value>) -> Cow<'_, str> {
    match value {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => escape_formula(s),
        Some(Value::Number(n)) => Cow::Owned(n.to_string()),
        Some(Value::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(v @ (Value::Array(_) | Value::Object(_))) => Cow::Owned(v.to_string()),
    }
}

fn escape_formula(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_follow_the_rules() {
        assert_eq!(csv_cell(None), "");
        assert_eq!(csv_cell(Some(&Value::Null)), "");
        assert_eq!(csv_cell(Some(&json!("Raiz"))), "Raiz");
        assert_eq!(csv_cell(Some(&json!(""))), "");
        assert_eq!(csv_cell(Some(&json!(0.9999802112579346))), "0.9999802112579346");
        assert_eq!(csv_cell(Some(&json!(-5))), "-5");
        assert_eq!(csv_cell(Some(&json!(true))), "true");
        assert_eq!(csv_cell(Some(&json!(["a", 1, null]))), r#"["a",1,null]"#);
        assert_eq!(csv_cell(Some(&json!({"label": "x", "score": 0.5}))), r#"{"label":"x","score":0.5}"#);
    }

    #[test]
    fn formulas_are_defused_but_numbers_are_not() {
        for s in ["=SUM(A1)", "+61 400", "-1", "@cmd", "\tx", "\rx"] {
            assert_eq!(csv_cell(Some(&json!(s))), format!("'{s}"));
        }
        assert_eq!(csv_cell(Some(&json!(-1.5))), "-1.5");
        assert_eq!(csv_cell(Some(&json!("a=b"))), "a=b");
    }

    proptest::proptest! {
        #[test]
        fn text_cells_never_start_a_formula(s in "\\PC{0,20}") {
            let value = Value::String(s.clone());
            let cell = csv_cell(Some(&value));
            proptest::prop_assert!(!matches!(cell.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')));
            proptest::prop_assert!(cell.ends_with(s.as_str()));
        }
    }
}
