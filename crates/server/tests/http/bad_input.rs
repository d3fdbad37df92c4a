//! Bad input on every endpoint: each is a 4xx in the envelope with a code and a message that
//! names the fault, never a 500, and nothing is half-applied.

use crate::common::*;
use serde_json::{Value, json};

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    who: &'static str,
    body: Body,
    status: u16,
    comment: &'static str,
    /// Texts the message must contain.
    names: Vec<String>,
}

fn case(
    what: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Body,
    status: u16,
    comment: &'static str,
    names: &[&str],
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        who: CREATOR,
        body,
        status,
        comment,
        names: names.iter().map(|s| s.to_string()).collect(),
    }
}

fn raw(content_type: Option<&'static str>, text: &str) -> Body {
    Body::Raw(content_type, text.as_bytes().to_vec())
}

const JSON: Option<&str> = Some("application/json");

fn cases(id: uuid::Uuid, max_body: usize) -> Vec<Case> {
    let all = |extra: Value| {
        let mut body = json!({"query": {"method": "ALL"}});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Body::Json(body)
    };
    let random = uuid::Uuid::new_v4();
    let big_fields: Vec<String> = (0..max_body / 10).map(|i| format!("field_{i:04}")).collect();
    let big_ids: Vec<String> = (0..max_body / 10).map(|i| format!("user_{i:05}")).collect();
    let share = format!("/exports/{id}/share");
    let unshare = format!("/exports/{id}/unshare");
    vec![
        // POST /exports: the body as bytes
        case("malformed JSON", "POST", "/exports", raw(JSON, "{\"query\": "), 400, "INVALID_JSON", &["JSON"]),
        case("an empty body", "POST", "/exports", raw(JSON, ""), 400, "INVALID_JSON", &["JSON"]),
        case(
            "bytes that are not UTF-8",
            "POST",
            "/exports",
            Body::Raw(JSON, vec![b'{', 0xff, 0xfe, b'}']),
            400,
            "INVALID_JSON",
            &["JSON"],
        ),
        case("JSON nested too deep", "POST", "/exports", raw(JSON, &"[".repeat(5000)), 400, "INVALID_JSON", &["JSON"]),
        case(
            "JSON sent as text/plain",
            "POST",
            "/exports",
            raw(Some("text/plain"), "{\"query\": {\"method\": \"ALL\"}}"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            &["Content-Type: application/json"],
        ),
        case(
            "JSON without a content type",
            "POST",
            "/exports",
            raw(None, "{\"query\": {\"method\": \"ALL\"}}"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            &["application/json"],
        ),
        case(
            "a form",
            "POST",
            "/exports",
            raw(Some("application/x-www-form-urlencoded"), "query=ALL"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            &["application/json"],
        ),
        case(
            "a body over the limit",
            "POST",
            "/exports",
            all(json!({"fields": big_fields})),
            413,
            "PAYLOAD_TOO_LARGE",
            &[&max_body.to_string()],
        ),
        // POST /exports: the body's content
        case("a list", "POST", "/exports", Body::Json(json!([1])), 400, "INVALID_REQUEST", &["JSON object", "a list"]),
        case(
            "a string",
            "POST",
            "/exports",
            Body::Json(json!("ALL")),
            400,
            "INVALID_REQUEST",
            &["JSON object", "a string"],
        ),
        case(
            "no query",
            "POST",
            "/exports",
            Body::Json(json!({"include_images": true})),
            400,
            "INVALID_REQUEST",
            &["query: missing"],
        ),
        case(
            "a query of the wrong type",
            "POST",
            "/exports",
            Body::Json(json!({"query": "ALL"})),
            400,
            "INVALID_REQUEST",
            &["query"],
        ),
        case(
            "an unknown query method",
            "POST",
            "/exports",
            Body::Json(json!({"query": {"method": "NOPE"}})),
            400,
            "INVALID_REQUEST",
            &["unknown method", "NOPE"],
        ),
        case(
            "a query argument of the wrong type",
            "POST",
            "/exports",
            Body::Json(json!({"query": {"method": "DATETIME_AFTER", "args": [{}]}})),
            400,
            "INVALID_REQUEST",
            &["query"],
        ),
        case(
            "a query argument with a NUL",
            "POST",
            "/exports",
            Body::Json(json!({"query": {"method": "OBSERVER_ID_CONTAINS", "args": ["12\u{0}34"]}})),
            400,
            "INVALID_REQUEST",
            &["query.args[0]", "control characters"],
        ),
        case(
            "an unknown key in the query",
            "POST",
            "/exports",
            Body::Json(json!({"query": {"method": "ALL", "\u{0}": 1}})),
            400,
            "INVALID_REQUEST",
            &["unknown key"],
        ),
        case(
            "include_images not a boolean",
            "POST",
            "/exports",
            all(json!({"include_images": "yes"})),
            400,
            "INVALID_REQUEST",
            &["include_images", "a string"],
        ),
        case(
            "fields not a list",
            "POST",
            "/exports",
            all(json!({"fields": "tags"})),
            400,
            "INVALID_REQUEST",
            &["fields", "list"],
        ),
        case(
            "a field that is not a string",
            "POST",
            "/exports",
            all(json!({"fields": ["tags", 3]})),
            400,
            "INVALID_REQUEST",
            &["fields[1]", "a number"],
        ),
        case(
            "unknown fields",
            "POST",
            "/exports",
            all(json!({"fields": ["tags", "nope", "ocr.txt"]})),
            400,
            "INVALID_REQUEST",
            &["\"nope\"", "\"ocr.txt\"", "GET /exports/fields"],
        ),
        case(
            "a field twice",
            "POST",
            "/exports",
            all(json!({"fields": ["tags", "tags"]})),
            400,
            "INVALID_REQUEST",
            &["\"tags\"", "more than once"],
        ),
        case(
            "an unknown key",
            "POST",
            "/exports",
            all(json!({"filds": []})),
            400,
            "INVALID_REQUEST",
            &["unknown key", "filds"],
        ),
        // Methods and routes
        case("PUT on /exports", "PUT", "/exports", Body::None, 405, "METHOD_NOT_ALLOWED", &["PUT", "/exports"]),
        case("DELETE on /exports", "DELETE", "/exports", Body::None, 405, "METHOD_NOT_ALLOWED", &["DELETE"]),
        case(
            "PATCH on an export",
            "PATCH",
            format!("/exports/{id}"),
            Body::Json(json!({})),
            405,
            "METHOD_NOT_ALLOWED",
            &["PATCH"],
        ),
        case(
            "POST on an export",
            "POST",
            format!("/exports/{id}"),
            Body::Json(json!({})),
            405,
            "METHOD_NOT_ALLOWED",
            &["POST"],
        ),
        case("GET on share", "GET", share.clone(), Body::None, 405, "METHOD_NOT_ALLOWED", &["GET"]),
        case("POST on /users", "POST", "/users", Body::Json(json!({})), 405, "METHOD_NOT_ALLOWED", &["POST"]),
        case(
            "DELETE on a download",
            "DELETE",
            format!("/downloads/{id}"),
            Body::None,
            405,
            "METHOD_NOT_ALLOWED",
            &["DELETE"],
        ),
        case("an unknown route", "GET", "/nope", Body::None, 404, "NOT_FOUND", &["/nope", "/openapi.json"]),
        case("an unknown sub-route", "GET", format!("/exports/{id}/nope"), Body::None, 404, "NOT_FOUND", &["/nope"]),
        case("a trailing slash", "GET", "/exports/", Body::None, 404, "NOT_FOUND", &["/exports/"]),
        // GET /exports?user_id=
        case(
            "an unknown query parameter",
            "GET",
            "/exports?status=pending",
            Body::None,
            400,
            "INVALID_REQUEST",
            &["\"status\"", "user_id"],
        ),
        case("an empty user_id", "GET", "/exports?user_id=", Body::None, 400, "INVALID_REQUEST", &["user_id", "empty"]),
        case(
            "user_id twice",
            "GET",
            format!("/exports?user_id={CREATOR}&user_id={CREATOR}"),
            Body::None,
            400,
            "INVALID_REQUEST",
            &["more than once"],
        ),
        case(
            "another user's exports",
            "GET",
            format!("/exports?user_id={OTHER}"),
            Body::None,
            403,
            "FORBIDDEN",
            &["admin"],
        ),
        case(
            "a user who does not exist, as a plain user",
            "GET",
            "/exports?user_id=ghost",
            Body::None,
            403,
            "FORBIDDEN",
            &["admin"],
        ),
        Case {
            who: ADMIN,
            ..case(
                "a user who does not exist, as an admin",
                "GET",
                "/exports?user_id=ghost",
                Body::None,
                400,
                "UNKNOWN_USERS",
                &["\"ghost\""],
            )
        },
        // PostgreSQL cannot store or compare text holding NUL: refused before any query.
        Case {
            who: ADMIN,
            ..case(
                "a user id with a NUL",
                "GET",
                "/exports?user_id=a%00b",
                Body::None,
                400,
                "INVALID_REQUEST",
                &["user_id", "control character"],
            )
        },
        case(
            "a shared user id with a NUL",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": [OTHER, "gh\u{0}ost"]})),
            400,
            "INVALID_REQUEST",
            &["control character"],
        ),
        case(
            "an unshared user id with a control character",
            "POST",
            unshare.clone(),
            Body::Json(json!({"user_ids": ["a\u{7}"]})),
            400,
            "INVALID_REQUEST",
            &["control character"],
        ),
        Case {
            who: ADMIN,
            ..case(
                "a user id that is not UTF-8",
                "GET",
                "/exports?user_id=%FF%FE",
                Body::None,
                400,
                "UNKNOWN_USERS",
                &["user_id"],
            )
        },
        // Unknown and malformed export ids
        case(
            "an unknown export",
            "GET",
            format!("/exports/{random}"),
            Body::None,
            404,
            "NOT_FOUND",
            &[&format!("no export {random}")],
        ),
        case(
            "a non-UUID export id",
            "GET",
            "/exports/not-a-uuid",
            Body::None,
            404,
            "NOT_FOUND",
            &["\"not-a-uuid\"", "UUID"],
        ),
        case("an export id that is not UTF-8", "GET", "/exports/%FF%FE", Body::None, 404, "NOT_FOUND", &["UUID"]),
        case(
            "deleting an unknown export",
            "DELETE",
            format!("/exports/{random}"),
            Body::None,
            404,
            "NOT_FOUND",
            &[&random.to_string()],
        ),
        case("deleting a non-UUID id", "DELETE", "/exports/123", Body::None, 404, "NOT_FOUND", &["\"123\""]),
        case(
            "sharing an unknown export",
            "POST",
            format!("/exports/{random}/share"),
            Body::Json(json!({"user_ids": [OTHER]})),
            404,
            "NOT_FOUND",
            &[&random.to_string()],
        ),
        case(
            "unsharing a non-UUID id",
            "POST",
            "/exports/x/unshare",
            Body::Json(json!({"user_ids": [OTHER]})),
            404,
            "NOT_FOUND",
            &["\"x\""],
        ),
        // Share and unshare lists
        case(
            "an empty list",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": []})),
            400,
            "INVALID_REQUEST",
            &["user_ids", "empty"],
        ),
        case(
            "ids that are not strings",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": [OTHER, 7]})),
            400,
            "INVALID_REQUEST",
            &["user_ids[1]", "a number"],
        ),
        case(
            "an empty id",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": [" "]})),
            400,
            "INVALID_REQUEST",
            &["user_ids[0]", "empty"],
        ),
        case(
            "a string, not a list",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": OTHER})),
            400,
            "INVALID_REQUEST",
            &["user_ids", "a string"],
        ),
        case(
            "no user_ids",
            "POST",
            share.clone(),
            Body::Json(json!({})),
            400,
            "INVALID_REQUEST",
            &["user_ids: missing"],
        ),
        case(
            "an unknown key",
            "POST",
            share.clone(),
            Body::Json(json!({"users": [OTHER]})),
            400,
            "INVALID_REQUEST",
            &["\"users\""],
        ),
        case(
            "a list, not an object",
            "POST",
            share.clone(),
            Body::Json(json!([OTHER])),
            400,
            "INVALID_REQUEST",
            &["JSON object"],
        ),
        case(
            "too many ids",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": (0..1001).map(|i| format!("u{i}")).collect::<Vec<_>>()})),
            400,
            "INVALID_REQUEST",
            &["at most 1000"],
        ),
        case(
            "unknown users (share)",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": [OTHER, "ghost1", "ghost2"]})),
            400,
            "UNKNOWN_USERS",
            &["\"ghost1\"", "\"ghost2\"", "nothing was changed"],
        ),
        case(
            "unknown users (unshare)",
            "POST",
            unshare.clone(),
            Body::Json(json!({"user_ids": [SHARED, "ghost3"]})),
            400,
            "UNKNOWN_USERS",
            &["\"ghost3\"", "nothing was changed"],
        ),
        case(
            "the creator (share)",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": [OTHER, CREATOR]})),
            400,
            "INVALID_REQUEST",
            &[&format!("\"{CREATOR}\""), "created this export"],
        ),
        case(
            "the creator (unshare)",
            "POST",
            unshare.clone(),
            Body::Json(json!({"user_ids": [SHARED, CREATOR]})),
            400,
            "INVALID_REQUEST",
            &["created this export"],
        ),
        case(
            "malformed JSON (share)",
            "POST",
            share.clone(),
            raw(JSON, "{\"user_ids\": [\"other\""),
            400,
            "INVALID_JSON",
            &["JSON"],
        ),
        case(
            "no content type (unshare)",
            "POST",
            unshare.clone(),
            raw(None, "{\"user_ids\": [\"shared\"]}"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            &["application/json"],
        ),
        case(
            "a body over the limit (share)",
            "POST",
            share.clone(),
            Body::Json(json!({"user_ids": big_ids})),
            413,
            "PAYLOAD_TOO_LARGE",
            &["larger"],
        ),
        // Download links
        case(
            "a download without a signature",
            "GET",
            format!("/downloads/{id}"),
            Body::None,
            403,
            "INVALID_SIGNATURE",
            &["link"],
        ),
        case(
            "a download with a bad expiry",
            "GET",
            format!("/downloads/{id}?expires=soon&signature=00"),
            Body::None,
            403,
            "INVALID_SIGNATURE",
            &["link"],
        ),
        case(
            "a download with expires twice",
            "GET",
            format!("/downloads/{id}?expires=1&expires=2&signature=00"),
            Body::None,
            403,
            "INVALID_SIGNATURE",
            &["link"],
        ),
        case(
            "a download of a non-UUID",
            "GET",
            "/downloads/nope?expires=99999999999&signature=00",
            Body::None,
            403,
            "INVALID_SIGNATURE",
            &["link"],
        ),
        case(
            "a download with a malformed query",
            "GET",
            format!("/downloads/{id}?expires=%ZZ&signature"),
            Body::None,
            403,
            "INVALID_SIGNATURE",
            &["link"],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_that_names_the_fault() {
    for app in apps().await {
        let id = app.seed_export(CREATOR, &[SHARED]).await;
        let before = app.storage.export(id).await.unwrap().unwrap();
        let mut failures = Vec::new();
        let all = cases(id, app.max_body_bytes);
        let count = all.len();
        for c in all {
            let response = app.send(c.method, &c.path, &app.key(c.who), c.body).await;
            let status = response.status().as_u16();
            let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
            let text = response.text().await.unwrap();
            let Ok(body) = serde_json::from_str::<Value>(&text) else {
                failures.push(format!(
                    "{} ({} {}): {status} with a body that is not JSON: {text:?}",
                    c.what, c.method, c.path
                ));
                continue;
            };
            let message = body["message"].as_str().unwrap_or_default();
            let ok = status == c.status
                && body["success"] == json!(false)
                && body["comment"] == json!(c.comment)
                && message.contains(' ')
                && c.names.iter().all(|n| message.contains(n.as_str()))
                && (status != 405 || allow.is_some_and(|a| !a.is_empty()));
            if !ok {
                failures.push(format!(
                    "{} ({} {}): expected {} {} naming {:?}, got {status} {body}",
                    c.what, c.method, c.path, c.status, c.comment, c.names
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "[{}] {} of {count} cases wrong:\n{}",
            app.backend,
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(
            app.storage.export(id).await.unwrap().unwrap(),
            before,
            "[{}] nothing was half-applied",
            app.backend
        );
        let (_, listed) = app.get("/exports", &app.key(CREATOR)).await;
        assert_eq!(
            listed.as_array().unwrap().len(),
            1,
            "[{}] no export was created by a bad request: {listed}",
            app.backend
        );
        assert_eq!(app.queue.depth().await.unwrap(), (0, 0), "[{}] nor queued", app.backend);
    }
}
