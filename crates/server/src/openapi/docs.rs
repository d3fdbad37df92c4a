//! `GET /docs`: the OpenAPI document as one self-contained HTML page (no script, nothing fetched),
//! rendered with maud, which escapes every text it is given.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Map, Value};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}\
h2{border-bottom:1px solid #ccc;padding-bottom:.3rem;margin-top:2.5rem}section.op{border:1px solid #ddd;border-radius:6px;padding:.2rem 1rem 1rem;margin:1rem 0}\
.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-weight:600;padding:.1rem .4rem;margin-right:.5rem}\
.get{background:#2b6cb0}.post{background:#2f855a}.delete{background:#c53030}.put,.patch{background:#b7791f}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border:1px solid #e2e2e2;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f6f6}code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}pre{background:#f6f6f6;padding:.6rem;overflow:auto}\
.lock{color:#805ad5;font-size:.9rem}";

/// A string of a JSON value ("" when absent).
fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Follows a local `$ref` (`#/a/b/c`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

/// A schema as a short type: a link to a named schema, `array of …`, `string (uuid) | null`.
fn type_of(schema: &Value) -> Markup {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return html! { a href={ "#schema-" (name) } { (name) } };
    }
    if let Some(c) = schema.get("const") {
        return html! { code { (c.to_string()) } };
    }
    if let Some(alternatives) =
        schema.get("oneOf").or_else(|| schema.get("anyOf")).or_else(|| schema.get("allOf")).and_then(Value::as_array)
    {
        return html! { @for (i, a) in alternatives.iter().enumerate() { @if i > 0 { " | " } (type_of(a)) } };
    }
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(k)) => vec![k.as_str()],
        Some(Value::Array(ks)) => ks.iter().filter_map(Value::as_str).collect(),
        _ => vec!["any"],
    };
    html! {
        @for (i, k) in kinds.iter().enumerate() {
            @if i > 0 { " | " }
            @if *k == "array" {
                "array of " @match schema.get("items") { Some(items) => { (type_of(items)) } None => { "any" } }
            } @else {
                (k) @if let Some(f) = schema.get("format").and_then(Value::as_str) { " (" (f) ")" }
            }
        }
    }
}

/// A field's description, allowed values and default.
fn details(schema: &Value) -> Markup {
    let mut notes: Vec<Markup> = Vec::new();
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        notes.push(html! { (d) });
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        notes.push(html! {
            "one of " @for (i, v) in values.iter().enumerate() { @if i > 0 { ", " } code { (v.as_str().unwrap_or_default()) } }
        });
    }
    if let Some(d) = schema.get("default") {
        notes.push(html! { "default " code { (d.to_string()) } });
    }
    html! { @for (i, note) in notes.iter().enumerate() { @if i > 0 { "; " } (note) } }
}

/// The page.
pub(super) fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " API" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) " " small { (text(&doc["info"], "version")) } }
                p { (text(&doc["info"], "description")) }
                p { "The machine-readable document is " a href="/openapi.json" { "/openapi.json" } "." }
                (authentication(doc))
                h2 id="endpoints" { "Endpoints" }
                (endpoints(doc))
                h2 id="schemas" { "Schemas" }
                @for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
                    (schema_section(name, schema))
                }
            }
        }
    };
    page.into_string()
}

fn authentication(doc: &Value) -> Markup {
    html! {
        h2 id="auth" { "Authentication" }
        table {
            tr { th { "Scheme" } th { "How" } th { "Description" } }
            @for (name, scheme) in doc["components"]["securitySchemes"].as_object().into_iter().flatten() {
                tr {
                    td { (name) }
                    td {
                        @if scheme["type"].as_str() == Some("apiKey") {
                            (scheme["in"].as_str().unwrap_or("header")) " " code { (text(scheme, "name")) }
                        } @else {
                            code { "Authorization: Bearer <" (scheme["bearerFormat"].as_str().unwrap_or("token")) ">" }
                        }
                    }
                    td { (text(scheme, "description")) }
                }
            }
        }
        p { "Every endpoint needs one of these unless marked " em { "public" } "." }
    }
}

fn endpoints(doc: &Value) -> Markup {
    let global_security = !doc["security"].as_array().is_none_or(Vec::is_empty);
    html! {
        @for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            @for method in ["get", "post", "put", "patch", "delete"] {
                @if let Some(op) = item.get(method) {
                    @let public = op.get("security").and_then(Value::as_array).map_or(!global_security, Vec::is_empty);
                    section.op id=(op["operationId"].as_str().unwrap_or(method)) {
                        h3 {
                            span class={ "m " (method) } { (method.to_uppercase()) }
                            code { (path) } " "
                            span.lock { @if public { "public" } @else { "needs credentials" } }
                        }
                        p { strong { (text(op, "summary")) } }
                        @if let Some(d) = op["description"].as_str() { p { (d) } }
                        (operation(doc, item, op))
                    }
                }
            }
        }
    }
}

/// An operation's parameters, body and responses.
fn operation(doc: &Value, item: &Value, op: &Value) -> Markup {
    let params: Vec<&Value> = [item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .map(|p| resolve(doc, p))
        .collect();
    let body = op.get("requestBody").and_then(|b| Some((b, b["content"].as_object()?.iter().next()?)));
    html! {
        @if !params.is_empty() {
            h4 { "Parameters" }
            table {
                tr { th { "Name" } th { "In" } th { "Required" } th { "Type" } th { "Description" } }
                @for p in &params {
                    tr {
                        td { code { (text(p, "name")) } }
                        td { (text(p, "in")) }
                        td { @if p["required"].as_bool().unwrap_or(false) { "yes" } @else { "no" } }
                        td { (type_of(&p["schema"])) }
                        td { (text(p, "description")) }
                    }
                }
            }
        }
        @if let Some((body, (media, media_type))) = body {
            h4 { "Body" }
            p { code { (media) } ": " (type_of(&media_type["schema"])) " — " (text(body, "description")) }
            @if let Some(example) = resolve(doc, &media_type["schema"]).get("example") {
                pre { (serde_json::to_string_pretty(example).unwrap_or_default()) }
            }
        }
        h4 { "Responses" }
        table {
            tr { th { "Status" } th { "Description" } th { "Body" } }
            @for (status, r) in op["responses"].as_object().into_iter().flatten() {
                @let r = resolve(doc, r);
                tr {
                    td { (status) }
                    td { (text(r, "description")) }
                    td {
                        @for (i, (media, m)) in r["content"].as_object().into_iter().flatten().enumerate() {
                            @if i > 0 { br; }
                            code { (media) } " " (type_of(&m["schema"]))
                        }
                    }
                }
            }
        }
    }
}

fn schema_section(name: &str, s: &Value) -> Markup {
    let required: Vec<&str> = s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let empty = Map::new();
    let props = s["properties"].as_object().unwrap_or(&empty);
    html! {
        section.op id={ "schema-" (name) } {
            h3 { (name) }
            @if let Some(d) = s["description"].as_str() { p { (d) } }
            @if !props.is_empty() {
                table {
                    tr { th { "Field" } th { "Type" } th { "Required" } th { "Description" } }
                    @for (field, p) in props {
                        tr {
                            td { code { (field) } }
                            td { (type_of(p)) }
                            td { @if required.contains(&field.as_str()) { "yes" } @else { "no" } }
                            td { (details(p)) }
                        }
                    }
                }
            }
            @if s.get("additionalProperties") == Some(&Value::Bool(false)) { p { "No other keys are accepted." } }
            @if let Some(example) = s.get("example") {
                p { "Example:" }
                pre { (serde_json::to_string_pretty(example).unwrap_or_default()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_lists_every_operation_and_escapes_text() {
        let doc = super::super::document();
        let page = render(doc);
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                let escaped = maud::html! { (path) }.into_string();
                assert!(
                    page.contains(&format!("{}</span><code>{escaped}</code>", method.to_uppercase())),
                    "{method} {path}"
                );
            }
        }
        assert!(page.contains("id=\"schema-ExportStatus\"") && page.contains("<code>user_id</code>"));
        assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "self-contained");
        // Text from the document is escaped wherever it lands: a title, a description, a field.
        let hostile = json!({
            "info": {"title": "<b>&'", "description": "<script>x</script>"},
            "paths": {"/a/<x>": {"get": {"summary": "\"quoted\"", "responses": {}}}},
            "components": {"schemas": {"S": {"properties": {"<f>": {"type": "string", "description": "a & b"}}}}}
        });
        let page = render(&hostile);
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<x>") && !page.contains("<f>"));
        for escaped in ["&lt;b&gt;&amp;'", "&lt;script&gt;", "/a/&lt;x&gt;", "&quot;quoted&quot;", "a &amp; b"] {
            assert!(page.contains(escaped), "{escaped} in {page}");
        }
    }
}
