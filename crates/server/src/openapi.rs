//! `GET /openapi.json`: the API described in OpenAPI 3.1 (written here by hand, next to the routes
//! it describes, and checked against the running router by the tests), and `GET /docs`: a
//! self-contained HTML page rendered from that document (no script, nothing fetched).

use crate::error::codes;
use crate::state::Shared;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::fmt::Write;
use std::sync::OnceLock;

pub fn router() -> Router<Shared> {
    Router::new().route("/openapi.json", get(openapi_json)).route("/docs", get(docs))
}

async fn openapi_json() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], axum::Json(document().clone()))
}

async fn docs() -> impl IntoResponse {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| render(document())).clone())
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn ok(description: &str, body: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": body}}})
}

fn json_body(name: &str, description: &str) -> Value {
    json!({"required": true, "description": description, "content": {"application/json": {"schema": schema(name)}}})
}

fn export_id() -> Value {
    json!({"$ref": "#/components/parameters/ExportId"})
}

/// The API's document.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

fn build() -> Value {
    let authed = |mut op: Value| {
        let responses = op["responses"].as_object_mut().expect("responses");
        responses.insert("401".into(), response("Unauthorised"));
        responses.insert("403".into(), response("Forbidden"));
        responses.insert("500".into(), response("InternalError"));
        op
    };
    let public = json!([]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "aao-export",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Server-side exports for the Australian Ad Observatory: start an export of the ads a query selects, follow its status, download the ZIP, share it with other users. Errors answer {\"success\": false, \"comment\": CODE, \"message\": sentence}. Timestamps are RFC 3339 UTC. An export that the caller may not see answers exactly like one that does not exist (404); an action the caller may see but not do answers 403."
        },
        "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
        "tags": [
            {"name": "exports", "description": "Create, follow, share and delete exports"},
            {"name": "downloads", "description": "Signed download links of exports kept in a local folder"},
            {"name": "users", "description": "Users to share with"},
            {"name": "service", "description": "Health and this document"}
        ],
        "paths": {
            "/exports": {
                "post": authed(json!({
                    "tags": ["exports"],
                    "operationId": "createExport",
                    "summary": "Start an export",
                    "description": "Validates the query and fields, records a pending export and queues its job. Omitted or empty fields mean the catalogue's default fields; export_parameters in the answer shows the fields resolved.",
                    "requestBody": json_body("ExportRequest", "What to export"),
                    "responses": {
                        "201": ok("The export was created and queued", schema("CreatedExport")),
                        "400": response("BadRequest"),
                        "413": response("PayloadTooLarge"),
                        "415": response("UnsupportedMediaType"),
                        "429": response("TooManyExports")
                    }
                })),
                "get": authed(json!({
                    "tags": ["exports"],
                    "operationId": "listExports",
                    "summary": "List exports created by or shared with a user",
                    "description": "Newest first. Without user_id: the caller's. Only admins may name another user.",
                    "parameters": [{
                        "name": "user_id", "in": "query", "required": false,
                        "description": "The user whose exports to list (default: the caller; another user needs the admin role)",
                        "schema": {"type": "string"}
                    }],
                    "responses": {
                        "200": ok("The exports, as status objects", json!({"type": "array", "items": schema("ExportStatus")})),
                        "400": response("BadRequest")
                    }
                }))
            },
            "/exports/fields": {
                "get": authed(json!({
                    "tags": ["exports"],
                    "operationId": "listExportableFields",
                    "summary": "The fields an export can hold",
                    "description": "The catalogue, in display order; is_default marks the fields exported when a request names none.",
                    "responses": {"200": ok("The field catalogue", json!({"type": "array", "items": schema("ExportableField")}))}
                }))
            },
            "/exports/{export_id}": {
                "parameters": [export_id()],
                "get": authed(json!({
                    "tags": ["exports"],
                    "operationId": "getExport",
                    "summary": "An export's status",
                    "description": "For its creator, the users it is shared with and admins. A completed export carries a download link (url) valid for at most an hour and never past its expiry; ask again for a fresh one.",
                    "responses": {"200": ok("The status object", schema("ExportStatus")), "404": response("NotFound")}
                })),
                "delete": authed(json!({
                    "tags": ["exports"],
                    "operationId": "deleteExport",
                    "summary": "Delete an export and its file",
                    "description": "For its creator and admins (a user it is shared with gets 403). An export being built is cancelled.",
                    "responses": {"200": ok("Deleted", schema("Success")), "404": response("NotFound")}
                }))
            },
            "/exports/{export_id}/share": {
                "parameters": [export_id()],
                "post": authed(json!({
                    "tags": ["exports"],
                    "operationId": "shareExport",
                    "summary": "Give users access to an export",
                    "description": "For its creator and admins. Every id must name a user and none may be the creator; otherwise nothing changes.",
                    "requestBody": json_body("ShareRequest", "The users to add"),
                    "responses": {
                        "200": ok("The users the export is now shared with", schema("ShareResponse")),
                        "400": response("BadRequest"),
                        "404": response("NotFound"),
                        "413": response("PayloadTooLarge"),
                        "415": response("UnsupportedMediaType")
                    }
                }))
            },
            "/exports/{export_id}/unshare": {
                "parameters": [export_id()],
                "post": authed(json!({
                    "tags": ["exports"],
                    "operationId": "unshareExport",
                    "summary": "Remove users' access to an export",
                    "description": "For its creator and admins. Every id must name a user and none may be the creator; otherwise nothing changes. Removing a user the export is not shared with changes nothing.",
                    "requestBody": json_body("ShareRequest", "The users to remove"),
                    "responses": {
                        "200": ok("The users the export is now shared with", schema("ShareResponse")),
                        "400": response("BadRequest"),
                        "404": response("NotFound"),
                        "413": response("PayloadTooLarge"),
                        "415": response("UnsupportedMediaType")
                    }
                }))
            },
            "/downloads/{export_id}": {
                "parameters": [export_id()],
                "get": {
                    "tags": ["downloads"],
                    "operationId": "downloadExport",
                    "summary": "Download an export's ZIP (local folder storage)",
                    "description": "The link comes from an export's status (url); its signature is the credential, so it needs no other. Supports Range requests. Saved as export_{export_id}.zip (Content-Disposition).",
                    "security": public,
                    "parameters": [
                        {"name": "expires", "in": "query", "required": true, "description": "When the link stops working (Unix seconds)", "schema": {"type": "integer"}},
                        {"name": "signature", "in": "query", "required": true, "description": "Hex HMAC-SHA256 of \"{export_id}:{expires}\"", "schema": {"type": "string"}},
                        {"name": "Range", "in": "header", "required": false, "description": "A byte range, e.g. bytes=0-1023", "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "The ZIP", "headers": {"Content-Disposition": {"description": "attachment; filename=\"export_{export_id}.zip\"", "schema": {"type": "string"}}}, "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                        "206": {"description": "The requested range of the ZIP", "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                        "403": {"description": "The link is incomplete or altered (INVALID_SIGNATURE)", "content": {"application/json": {"schema": schema("Error")}}},
                        "404": response("NotFound"),
                        "410": {"description": "The link (LINK_EXPIRED) or the export (EXPORT_EXPIRED) has expired", "content": {"application/json": {"schema": schema("Error")}}},
                        "416": {"description": "The range lies outside the file", "content": {"application/json": {"schema": schema("Error")}}}
                    }
                }
            },
            "/users": {
                "get": authed(json!({
                    "tags": ["users"],
                    "operationId": "listUsers",
                    "summary": "The enabled users",
                    "description": "Ids and display names, to choose whom to share an export with.",
                    "responses": {"200": ok("The users", json!({"type": "array", "items": schema("UserSummary")}))}
                }))
            },
            "/healthz": {
                "get": {
                    "tags": ["service"], "operationId": "healthz", "summary": "Liveness: the process answers", "security": public,
                    "responses": {"200": ok("Alive", schema("Health"))}
                }
            },
            "/readyz": {
                "get": {
                    "tags": ["service"], "operationId": "readyz", "summary": "Readiness: the database answers", "security": public,
                    "responses": {
                        "200": ok("Ready", schema("Health")),
                        "503": {"description": "The database does not answer (NOT_READY)", "content": {"application/json": {"schema": schema("Error")}}}
                    }
                }
            },
            "/openapi.json": {
                "get": {
                    "tags": ["service"], "operationId": "openapi", "summary": "This document", "security": public,
                    "responses": {"200": ok("The OpenAPI document", json!({"type": "object"}))}
                }
            },
            "/docs": {
                "get": {
                    "tags": ["service"], "operationId": "docs", "summary": "This document as a web page", "security": public,
                    "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}
                }
            }
        },
        "components": {
            "securitySchemes": {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key, aao_{key_id}_{secret} (`aao-export users add` prints one)"},
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An HS256 session token with the AAO claims sub, role, full_name, enabled, iat, exp (`aao-export users token` prints one)"}
            },
            "parameters": {
                "ExportId": {"name": "export_id", "in": "path", "required": true, "description": "The export's id", "schema": {"type": "string", "format": "uuid"}}
            },
            "responses": {
                "BadRequest": error_response("The request is malformed or names something that does not exist; the message says what (INVALID_JSON, INVALID_REQUEST, UNKNOWN_USERS)"),
                "Unauthorised": error_response("No credentials, or credentials that are not valid (NO_VALID_AUTHENTICATION, INVALID_API_KEY, SESSION_TOKEN_EXPIRED, UNAUTHORISED, USER_NOT_FOUND)"),
                "Forbidden": error_response("The user is disabled (USER_DISABLED), or may see but not do this (FORBIDDEN)"),
                "NotFound": error_response("No such export, or one the caller may not see (NOT_FOUND)"),
                "PayloadTooLarge": error_response("The body is larger than the API accepts (PAYLOAD_TOO_LARGE)"),
                "UnsupportedMediaType": error_response("The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE)"),
                "TooManyExports": error_response("The caller has as many exports pending or processing as allowed (TOO_MANY_EXPORTS)"),
                "InternalError": error_response("The server failed; the detail is logged (INTERNAL_ERROR)")
            },
            "schemas": schemas()
        }
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema("Error")}}})
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn time(description: &str, null: bool) -> Value {
    if null {
        json!({"type": ["string", "null"], "format": "date-time", "description": description})
    } else {
        json!({"type": "string", "format": "date-time", "description": description})
    }
}

fn schemas() -> Value {
    let all_codes = [
        codes::INVALID_JSON, codes::INVALID_REQUEST, codes::UNKNOWN_USERS, codes::NO_VALID_AUTHENTICATION, codes::INVALID_API_KEY,
        codes::SESSION_TOKEN_EXPIRED, codes::UNAUTHORISED, codes::USER_NOT_FOUND, codes::USER_DISABLED, codes::FORBIDDEN,
        codes::INVALID_SIGNATURE, codes::NOT_FOUND, codes::METHOD_NOT_ALLOWED, codes::LINK_EXPIRED, codes::EXPORT_EXPIRED,
        codes::PAYLOAD_TOO_LARGE, codes::UNSUPPORTED_MEDIA_TYPE, codes::TOO_MANY_EXPORTS, codes::NOT_READY, codes::INTERNAL_ERROR,
        "RANGE_NOT_SATISFIABLE",
    ];
    json!({
        "Query": {
            "type": "object",
            "description": "An AAO query: {\"method\": NAME, \"args\": [...]}. ALL takes no args; AND and OR take queries; NOT takes one query; DATETIME_AFTER and DATETIME_BEFORE take epoch milliseconds; the text methods take phrases.",
            "required": ["method"],
            "properties": {
                "method": {"type": "string", "enum": ["ALL", "AND", "OR", "NOT", "DATETIME_AFTER", "DATETIME_BEFORE", "OBSERVER_ID_CONTAINS", "OBSERVER_ID_EQUALS", "OBSERVATION_ID_CONTAINS", "PAGE_NAME_CONTAINS", "CATEGORIES_CONTAINS", "ANYTHING_CONTAINS"]},
                "args": {"type": "array", "items": {}, "description": "Sub-queries, phrases or an instant, by method"}
            }
        },
        "ExportRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["query"],
            "properties": {
                "query": schema("Query"),
                "include_images": {"type": ["boolean", "null"], "default": false, "description": "Put each ad's images in the ZIP"},
                "fields": {"type": ["array", "null"], "items": {"type": "string"}, "description": "Field paths (GET /exports/fields), in the order wanted; none means the default fields"}
            },
            "example": {"query": {"method": "OBSERVER_ID_CONTAINS", "args": ["123456"]}, "include_images": true, "fields": ["observation_id", "observer_id", "ocr.text", "tags"]}
        },
        "ExportParameters": {
            "type": "object",
            "required": ["query", "include_images", "fields"],
            "properties": {
                "query": schema("Query"),
                "include_images": {"type": "boolean"},
                "fields": {"type": "array", "items": {"type": "string"}, "description": "The field paths, resolved (defaults spelled out)"}
            }
        },
        "ExportStatus": {
            "type": "object",
            "required": ["export_id", "creator_id", "export_parameters", "shared_with", "status", "url", "created_at", "updated_at", "started_at", "completed_at", "message", "progress", "attempt", "size_bytes", "ad_count", "image_count", "expires_at"],
            "properties": {
                "export_id": {"type": "string", "format": "uuid"},
                "creator_id": {"type": "string"},
                "export_parameters": schema("ExportParameters"),
                "shared_with": {"type": "array", "items": {"type": "string"}, "description": "Ids of the users the export is shared with"},
                "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed", "expired"]},
                "url": {"type": ["string", "null"], "format": "uri", "description": "While completed: a download link valid for at most an hour"},
                "created_at": time("When the export was requested", false),
                "updated_at": time("When the export last changed", false),
                "started_at": time("When a worker started building it", true),
                "completed_at": time("When it completed or failed", true),
                "message": {"type": ["string", "null"], "description": "What went wrong, for a failed export (or a retried attempt)"},
                "progress": {"type": "object", "required": ["processed", "total"], "properties": {"processed": {"type": "integer"}, "total": nullable("integer")}, "description": "Ads written so far, of how many"},
                "attempt": {"type": "integer", "description": "The current attempt (1 = the first)"},
                "size_bytes": {"type": ["integer", "null"], "description": "The ZIP's size, once completed"},
                "ad_count": {"type": ["integer", "null"], "description": "Ads in the ZIP, once completed"},
                "image_count": {"type": ["integer", "null"], "description": "Images in the ZIP, once completed"},
                "expires_at": time("When a completed export expires and its file is deleted", true)
            }
        },
        "CreatedExport": {
            "type": "object",
            "required": ["success", "export"],
            "properties": {"success": {"const": true}, "export": schema("ExportStatus")}
        },
        "ShareRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["user_ids"],
            "properties": {"user_ids": {"type": "array", "minItems": 1, "maxItems": aao_export_core::export::MAX_SHARE_IDS, "items": {"type": "string", "minLength": 1}}},
            "example": {"user_ids": ["user_67890", "user_54321"]}
        },
        "ShareResponse": {
            "type": "object",
            "required": ["success", "shared_with"],
            "properties": {"success": {"const": true}, "shared_with": {"type": "array", "items": {"type": "string"}}}
        },
        "Success": {"type": "object", "required": ["success"], "properties": {"success": {"const": true}}},
        "ExportableField": {
            "type": "object",
            "required": ["field_id", "name", "description", "path", "group", "is_default"],
            "properties": {
                "field_id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "path": {"type": "string", "description": "Dot path into the export document, as requests name it"},
                "group": {"type": "string"},
                "is_default": {"type": "boolean"}
            }
        },
        "UserSummary": {"type": "object", "required": ["id", "full_name"], "properties": {"id": {"type": "string"}, "full_name": {"type": "string"}}},
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
        "Error": {
            "type": "object",
            "required": ["success", "comment", "message"],
            "properties": {
                "success": {"const": false},
                "comment": {"type": "string", "enum": all_codes},
                "message": {"type": "string", "description": "A sentence saying what is wrong"}
            }
        }
    })
}

// ---- the docs page

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Follows a local `$ref` (`#/a/b/c`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

/// A schema as a short type: a link to a named schema, `array of …`, `string (uuid) | null`.
fn type_of(schema: &Value) -> String {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    if let Some(c) = schema.get("const") {
        return format!("<code>{}</code>", esc(&c.to_string()));
    }
    let kinds: Vec<String> = match schema.get("type") {
        Some(Value::String(k)) => vec![k.clone()],
        Some(Value::Array(ks)) => ks.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec!["any".into()],
    };
    kinds
        .iter()
        .map(|k| match k.as_str() {
            "array" => format!("array of {}", schema.get("items").map_or("any".into(), type_of)),
            k => match schema.get("format").and_then(Value::as_str) {
                Some(f) => format!("{} ({})", esc(k), esc(f)),
                None => esc(k),
            },
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn details(schema: &Value) -> String {
    let mut notes = Vec::new();
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        notes.push(esc(d));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        notes.push(format!("one of {}", values.iter().map(|v| format!("<code>{}</code>", esc(v.as_str().unwrap_or_default()))).collect::<Vec<_>>().join(", ")));
    }
    if let Some(d) = schema.get("default") {
        notes.push(format!("default <code>{}</code>", esc(&d.to_string())));
    }
    notes.join("; ")
}

fn render(doc: &Value) -> String {
    let mut html = String::new();
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} API</title><style>\
body{{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}}\
h2{{border-bottom:1px solid #ccc;padding-bottom:.3rem;margin-top:2.5rem}}section.op{{border:1px solid #ddd;border-radius:6px;padding:.2rem 1rem 1rem;margin:1rem 0}}\
.m{{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-weight:600;padding:.1rem .4rem;margin-right:.5rem}}\
.get{{background:#2b6cb0}}.post{{background:#2f855a}}.delete{{background:#c53030}}.put,.patch{{background:#b7791f}}\
table{{border-collapse:collapse;width:100%;margin:.4rem 0}}td,th{{border:1px solid #e2e2e2;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
th{{background:#f6f6f6}}code{{background:#f3f3f3;padding:0 .2rem;border-radius:3px}}pre{{background:#f6f6f6;padding:.6rem;overflow:auto}}\
.lock{{color:#805ad5;font-size:.9rem}}</style></head><body>\n<h1>{t} <small>{v}</small></h1>\n<p>{d}</p>\n<p>The machine-readable document is <a href=\"/openapi.json\">/openapi.json</a>.</p>\n",
        t = esc(title),
        v = esc(doc["info"]["version"].as_str().unwrap_or_default()),
        d = esc(doc["info"]["description"].as_str().unwrap_or_default()),
    );

    html.push_str("<h2 id=\"auth\">Authentication</h2>\n<table><tr><th>Scheme</th><th>How</th><th>Description</th></tr>\n");
    for (name, scheme) in doc["components"]["securitySchemes"].as_object().into_iter().flatten() {
        let how = match scheme["type"].as_str() {
            Some("apiKey") => format!("header <code>{}</code>", esc(scheme["name"].as_str().unwrap_or_default())),
            _ => format!("<code>Authorization: Bearer &lt;{}&gt;</code>", esc(scheme["bearerFormat"].as_str().unwrap_or("token"))),
        };
        let _ = writeln!(html, "<tr><td>{}</td><td>{how}</td><td>{}</td></tr>", esc(name), esc(scheme["description"].as_str().unwrap_or_default()));
    }
    html.push_str("</table>\n<p>Every endpoint needs one of these unless marked <em>public</em>.</p>\n<h2 id=\"endpoints\">Endpoints</h2>\n");

    let global_security = !doc["security"].as_array().is_none_or(Vec::is_empty);
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let shared_params: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let public = op.get("security").and_then(Value::as_array).map_or(!global_security, Vec::is_empty);
            let anchor = op["operationId"].as_str().unwrap_or(method);
            let _ = write!(
                html,
                "<section class=\"op\" id=\"{a}\"><h3><span class=\"m {m}\">{M}</span><code>{p}</code> {lock}</h3>\n<p><strong>{s}</strong></p>",
                a = esc(anchor),
                m = method,
                M = method.to_uppercase(),
                p = esc(path),
                lock = if public { "<span class=\"lock\">public</span>" } else { "<span class=\"lock\">needs credentials</span>" },
                s = esc(op["summary"].as_str().unwrap_or_default()),
            );
            if let Some(d) = op["description"].as_str() {
                let _ = write!(html, "<p>{}</p>", esc(d));
            }
            let params: Vec<Value> = shared_params.iter().chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten()).cloned().collect();
            if !params.is_empty() {
                html.push_str("<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Required</th><th>Type</th><th>Description</th></tr>");
                for p in &params {
                    let p = resolve(doc, p);
                    let _ = write!(
                        html,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(p["name"].as_str().unwrap_or_default()),
                        esc(p["in"].as_str().unwrap_or_default()),
                        if p["required"].as_bool().unwrap_or(false) { "yes" } else { "no" },
                        type_of(&p["schema"]),
                        esc(p["description"].as_str().unwrap_or_default()),
                    );
                }
                html.push_str("</table>");
            }
            if let Some(body) = op.get("requestBody") {
                let content = body["content"].as_object().into_iter().flatten().next();
                if let Some((media, media_type)) = content {
                    let _ = write!(html, "<h4>Body</h4><p><code>{}</code>: {} — {}</p>", esc(media), type_of(&media_type["schema"]), esc(body["description"].as_str().unwrap_or_default()));
                    let example = resolve(doc, &media_type["schema"]).get("example");
                    if let Some(example) = example {
                        let _ = write!(html, "<pre>{}</pre>", esc(&serde_json::to_string_pretty(example).unwrap_or_default()));
                    }
                }
            }
            html.push_str("<h4>Responses</h4><table><tr><th>Status</th><th>Description</th><th>Body</th></tr>");
            for (status, r) in op["responses"].as_object().into_iter().flatten() {
                let r = resolve(doc, r);
                let body = r["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(media, m)| format!("<code>{}</code> {}", esc(media), type_of(&m["schema"])))
                    .collect::<Vec<_>>()
                    .join("<br>");
                let _ = write!(html, "<tr><td>{}</td><td>{}</td><td>{body}</td></tr>", esc(status), esc(r["description"].as_str().unwrap_or_default()));
            }
            html.push_str("</table></section>\n");
        }
    }

    html.push_str("<h2 id=\"schemas\">Schemas</h2>\n");
    for (name, s) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        let _ = write!(html, "<section class=\"op\" id=\"schema-{n}\"><h3>{n}</h3>", n = esc(name));
        if let Some(d) = s["description"].as_str() {
            let _ = write!(html, "<p>{}</p>", esc(d));
        }
        let required: Vec<&str> = s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let empty = Map::new();
        let props = s["properties"].as_object().unwrap_or(&empty);
        if !props.is_empty() {
            html.push_str("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>");
            for (field, p) in props {
                let _ = write!(
                    html,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(field),
                    type_of(p),
                    if required.contains(&field.as_str()) { "yes" } else { "no" },
                    details(p),
                );
            }
            html.push_str("</table>");
        }
        if s.get("additionalProperties") == Some(&Value::Bool(false)) {
            html.push_str("<p>No other keys are accepted.</p>");
        }
        if let Some(example) = s.get("example") {
            let _ = write!(html, "<p>Example:</p><pre>{}</pre>", esc(&serde_json::to_string_pretty(example).unwrap_or_default()));
        }
        html.push_str("</section>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut all = Vec::new();
        refs(doc, &mut all);
        assert!(all.len() > 20);
        for r in all {
            assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn the_page_lists_every_operation_and_escapes_text() {
        let page = render(document());
        for (path, item) in document()["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                assert!(page.contains(&format!("{}</span><code>{}</code>", method.to_uppercase(), esc(path))), "{method} {path}");
            }
        }
        assert!(page.contains("id=\"schema-ExportStatus\"") && page.contains("<code>user_id</code>"));
        assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "self-contained");
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
