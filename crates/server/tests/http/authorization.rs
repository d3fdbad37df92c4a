//! The authorization matrix: every endpoint × every kind of caller, with the status and comment
//! each cell must answer. Each cell works on an export (created by `creator`, shared with
//! `shared`; those that change it get a fresh one each), so cells never depend on one another;
//! refused cells must leave the export as it was.

use crate::common::*;
use aao_export_service::auth::Claims;
use serde_json::{Value, json};
use std::fmt::Write;
use uuid::Uuid;

/// Who calls, and who the API should take them for (None: refused with that status and comment).
struct Caller {
    name: &'static str,
    auth: Auth,
    user: Result<&'static str, (u16, &'static str)>,
}

fn callers(app: &TestApp) -> Vec<Caller> {
    let now = (now_ms() / 1000) as u64;
    let claims = |sub: &str, role: &str, iat: u64, exp: u64| Claims {
        sub: sub.into(),
        role: role.into(),
        full_name: sub.into(),
        enabled: true,
        iat,
        exp,
        provider: None,
        sid: None,
        iss: None,
        aud: None,
    };
    let creator_token = app.tokens[CREATOR].clone();
    let foreign = aao_export_service::Tokens::new("another-secret".to_string().into(), 3600).sign(&claims(
        ADMIN,
        "admin",
        now,
        now + 3600,
    ));
    // The creator's header and signature around the payload of a token that says "admin".
    let tampered = {
        let mine: Vec<&str> = creator_token.split('.').collect();
        let theirs: Vec<&str> = foreign.split('.').collect();
        format!("{}.{}.{}", mine[0], theirs[1], mine[2])
    };
    let (key_id, _) = app.keys[CREATOR].trim_start_matches("aao_").split_once('_').unwrap();
    let refused = |status, comment| Err((status, comment));
    vec![
        Caller { name: "anonymous", auth: Auth::None, user: refused(401, "NO_VALID_AUTHENTICATION") },
        Caller {
            name: "unknown API key",
            auth: Auth::Key(format!("aao_{}_{}", "0".repeat(24), "a".repeat(64))),
            user: refused(401, "INVALID_API_KEY"),
        },
        Caller {
            name: "API key with a wrong secret",
            auth: Auth::Key(format!("aao_{key_id}_{}", "b".repeat(64))),
            user: refused(401, "INVALID_API_KEY"),
        },
        Caller { name: "malformed API key", auth: Auth::Key("hunter2".into()), user: refused(401, "INVALID_API_KEY") },
        Caller { name: "empty API key", auth: Auth::Key(String::new()), user: refused(401, "INVALID_API_KEY") },
        Caller {
            name: "Basic authorization",
            auth: Auth::Header("Authorization", "Basic dXNlcjpwYXNz".into()),
            user: refused(401, "NO_VALID_AUTHENTICATION"),
        },
        Caller {
            name: "expired token",
            auth: Auth::Bearer(app.signed(&claims(CREATOR, "user", now - 7200, now - 3600))),
            user: refused(401, "SESSION_TOKEN_EXPIRED"),
        },
        Caller { name: "tampered token", auth: Auth::Bearer(tampered), user: refused(401, "UNAUTHORISED") },
        Caller {
            name: "token signed with another secret",
            auth: Auth::Bearer(foreign),
            user: refused(401, "UNAUTHORISED"),
        },
        Caller { name: "malformed token", auth: Auth::Bearer("not.a.jwt".into()), user: refused(401, "UNAUTHORISED") },
        Caller {
            name: "token of a user who does not exist",
            auth: Auth::Bearer(app.signed(&claims("ghost", "admin", now, now + 3600))),
            user: refused(401, "USER_NOT_FOUND"),
        },
        Caller { name: "disabled user's key", auth: app.key(DISABLED), user: refused(403, "USER_DISABLED") },
        Caller { name: "disabled user's token", auth: app.token(DISABLED), user: refused(403, "USER_DISABLED") },
        Caller { name: "another user", auth: app.key(OTHER), user: Ok(OTHER) },
        // The claims say admin; the user's row says user, and the row decides.
        Caller {
            name: "another user whose token claims admin",
            auth: Auth::Bearer(app.signed(&claims(OTHER, "admin", now, now + 3600))),
            user: Ok(OTHER),
        },
        Caller { name: "a user it is shared with", auth: app.key(SHARED), user: Ok(SHARED) },
        Caller { name: "the creator (key)", auth: app.key(CREATOR), user: Ok(CREATOR) },
        Caller { name: "the creator (token)", auth: app.token(CREATOR), user: Ok(CREATOR) },
        Caller { name: "an admin (key)", auth: app.key(ADMIN), user: Ok(ADMIN) },
        Caller { name: "an admin (token)", auth: app.token(ADMIN), user: Ok(ADMIN) },
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Endpoint {
    Fields,
    Users,
    Create,
    ListOwn,
    ListCreators,
    Read,
    Delete,
    Share,
    Unshare,
    Download,
    DownloadLink,
    DownloadList,
    Healthz,
    Readyz,
    OpenApi,
    Docs,
}

const ENDPOINTS: [Endpoint; 16] = [
    Endpoint::Fields,
    Endpoint::Users,
    Endpoint::Create,
    Endpoint::ListOwn,
    Endpoint::ListCreators,
    Endpoint::Read,
    Endpoint::Delete,
    Endpoint::Share,
    Endpoint::Unshare,
    Endpoint::Download,
    Endpoint::DownloadLink,
    Endpoint::DownloadList,
    Endpoint::Healthz,
    Endpoint::Readyz,
    Endpoint::OpenApi,
    Endpoint::Docs,
];

/// What a valid, enabled user gets from an endpoint (the export is the creator's, shared with
/// `shared`): status, and the comment when refused.
fn expected_for(endpoint: Endpoint, who: &str) -> (u16, Option<&'static str>) {
    let manager = who == CREATOR || who == ADMIN;
    let sees = manager || who == SHARED;
    match endpoint {
        Endpoint::Create => (201, None),
        Endpoint::ListCreators if !manager => (403, Some("FORBIDDEN")),
        Endpoint::Read | Endpoint::DownloadLink if !sees => (404, Some("NOT_FOUND")),
        Endpoint::DownloadList if !sees => (404, Some("NOT_FOUND")),
        Endpoint::DownloadList if !manager => (403, Some("FORBIDDEN")),
        Endpoint::Delete | Endpoint::Share | Endpoint::Unshare if !sees => (404, Some("NOT_FOUND")),
        Endpoint::Delete | Endpoint::Share | Endpoint::Unshare if !manager => (403, Some("FORBIDDEN")),
        _ => (200, None),
    }
}

fn public(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Download | Endpoint::Healthz | Endpoint::Readyz | Endpoint::OpenApi | Endpoint::Docs)
}

async fn request(app: &TestApp, endpoint: Endpoint, id: Uuid, link: &str, auth: &Auth) -> (u16, Option<Value>) {
    let (method, path, body) = match endpoint {
        Endpoint::Fields => ("GET", "/exports/fields".to_string(), Body::None),
        Endpoint::Users => ("GET", "/users".into(), Body::None),
        Endpoint::Create => ("POST", "/exports".into(), Body::Json(json!({"query": {"method": "ALL"}}))),
        Endpoint::ListOwn => ("GET", "/exports".into(), Body::None),
        Endpoint::ListCreators => ("GET", format!("/exports?user_id={CREATOR}"), Body::None),
        Endpoint::Read => ("GET", format!("/exports/{id}"), Body::None),
        Endpoint::Delete => ("DELETE", format!("/exports/{id}"), Body::None),
        Endpoint::Share => ("POST", format!("/exports/{id}/share"), Body::Json(json!({"user_ids": [OTHER]}))),
        Endpoint::Unshare => ("POST", format!("/exports/{id}/unshare"), Body::Json(json!({"user_ids": [SHARED]}))),
        Endpoint::Download => ("GET", link.to_string(), Body::None),
        // Followed to the file: 200 means the redirect led to a working download.
        Endpoint::DownloadLink => ("GET", format!("/exports/{id}/download"), Body::None),
        Endpoint::DownloadList => ("GET", format!("/exports/{id}/downloads"), Body::None),
        Endpoint::Healthz => ("GET", "/healthz".into(), Body::None),
        Endpoint::Readyz => ("GET", "/readyz".into(), Body::None),
        Endpoint::OpenApi => ("GET", "/openapi.json".into(), Body::None),
        Endpoint::Docs => ("GET", "/docs".into(), Body::None),
    };
    let response = app.send(method, &path, auth, body).await;
    let status = response.status().as_u16();
    let json =
        response.headers().get("content-type").is_some_and(|ct| ct.to_str().unwrap().starts_with("application/json"));
    let bytes = response.bytes().await.unwrap();
    (status, if json { Some(serde_json::from_slice(&bytes).unwrap()) } else { None })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_against_every_caller() {
    for app in apps_with(|s| s.max_in_flight = 10_000).await {
        let mut failures = String::new();
        let mut cells = 0;
        // Endpoints that change an export get a fresh one per cell; the others share one.
        let unchanged = app.seed_export(CREATOR, &[SHARED]).await;
        for caller in callers(&app) {
            for endpoint in ENDPOINTS {
                cells += 1;
                let changes = matches!(
                    endpoint,
                    Endpoint::Delete
                        | Endpoint::Share
                        | Endpoint::Unshare
                        | Endpoint::Download
                        | Endpoint::DownloadLink
                );
                let id = if changes { app.seed_export(CREATOR, &[SHARED]).await } else { unchanged };
                if endpoint == Endpoint::DownloadLink {
                    app.complete(id, now_ms(), Some(b"PK-not-really-a-zip")).await;
                }
                let link = if endpoint == Endpoint::Download {
                    app.complete(id, now_ms(), Some(b"PK-not-really-a-zip")).await;
                    let (_, status) = app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await;
                    status["url"].as_str().expect("a completed export has a link").to_string()
                } else {
                    String::new()
                };
                let before = app.storage.export(id).await.unwrap();
                let (want_status, want_comment) = match (&caller.user, public(endpoint)) {
                    (_, true) => (200, None),
                    (Err((status, comment)), false) => (*status, Some(*comment)),
                    (Ok(who), false) => expected_for(endpoint, who),
                };
                let (status, body) = request(&app, endpoint, id, &link, &caller.auth).await;
                let comment = body.as_ref().and_then(|b| b["comment"].as_str()).map(str::to_string);
                let mut wrong = status != want_status || comment.as_deref() != want_comment;
                if let (Some(body), Some(_)) = (&body, want_comment) {
                    wrong |= body["success"] != json!(false) || body["message"].as_str().is_none_or(|m| m.len() <= 10);
                    if want_status == 404 {
                        // Not visible reads exactly like not existing.
                        wrong |= body["message"] != json!(format!("no export {id}"));
                    }
                }
                if want_status >= 400 {
                    let after = app.storage.export(id).await.unwrap();
                    if after != before {
                        let _ = writeln!(
                            failures,
                            "{endpoint:?} by {}: refused but changed the export: {before:?} -> {after:?}",
                            caller.name
                        );
                    }
                }
                if wrong {
                    let _ = writeln!(
                        failures,
                        "{endpoint:?} by {}: expected {want_status} {want_comment:?}, got {status} {comment:?} ({})",
                        caller.name,
                        body.map_or("non-JSON body".into(), |b| b.to_string())
                    );
                }
            }
        }
        assert!(
            failures.is_empty(),
            "[{}] {} of {cells} cells wrong:\n{failures}",
            app.backend,
            failures.lines().count()
        );
        assert!(cells >= 250, "{cells}");
    }
}

async fn apps_with(adjust: impl Fn(&mut aao_export_service::Settings) + Copy) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in aao_export_testkit::TestDatabase::ours().await {
        apps.push(spawn_app_with(db, adjust).await);
    }
    apps
}

/// A token's role claim never outranks the user's row, and a role change takes effect at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_row_decides_not_the_token() {
    let app = sqlite_app().await;
    let id = app.seed_export(CREATOR, &[]).await;
    let token = app.token(OTHER);
    assert_error(&app.get(&format!("/exports/{id}"), &token).await, 404, "NOT_FOUND", "a plain user");
    app.storage.put_users(&[aao_export_db::User { role: "admin".into(), ..user(OTHER) }]).await.unwrap();
    assert_eq!(app.get(&format!("/exports/{id}"), &token).await.0, 200, "promoted: the same token now acts as admin");
    app.storage.put_users(&[aao_export_db::User { enabled: false, ..user(OTHER) }]).await.unwrap();
    assert_error(
        &app.get(&format!("/exports/{id}"), &token).await,
        403,
        "USER_DISABLED",
        "disabled since the token was minted",
    );
    assert_error(&app.get("/exports", &app.key(OTHER)).await, 403, "USER_DISABLED", "and their key too");
}
