//! The API attached to the Ad Observatory's own database (the AAO's schema and rows from
//! `aao_seed.sql`): the AAO's people sign in with their dashboard passwords and API keys, and the
//! exports made through our API are rows the AAO's own API reads as it reads its own (its
//! `export_to_dict`: `exports`, `export_fields`, `shared_exports`).

use crate::common::{AAO_TEST_SALT, Auth, Body, TestApp, assert_error, spawn_app};
use aao_export_testkit::{AAO_SEED, AaoDatabase};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};

/// From the seed's opening comment.
const ALICE: &str = "c9a48a35-1413-4c60-962d-d57f4d4a6276";
const BOB: &str = "b43ff689-69bd-4a5a-85a8-9fa56ad831a6";
const ALICE_KEY: &str = "x7WkcqlFtCD73bN4kCt8avPdBYO7YnAj62_OIKwRdEQhPEunPYu2XXP1DLRUy17NsC3z_x9zgIbtu9Sc3EgiSw";

async fn attached_app() -> Option<(TestApp, PgConnection)> {
    let aao = AaoDatabase::new(&[AAO_SEED]).await?;
    let url = aao.url.clone();
    let app = spawn_app(aao.attach().await).await;
    assert_eq!(app.backend, "attached");
    Some((app, PgConnection::connect(&url).await.unwrap()))
}

/// The AAO's row of an export, as its `export_to_dict` reads it: status (its enum, as text),
/// naive UTC times, the query string, `object_location`, field paths and shares.
async fn aao_row(aao: &mut PgConnection, id: &str) -> Option<Value> {
    let row = sqlx::query(
        "SELECT creator_id, include_images, query_string, status::text AS status, message, object_location, \
         abs(extract(epoch FROM (now() AT TIME ZONE 'UTC') - created_at)) < 120 AS created_now, started_at IS NULL AS not_started, \
         completed_at IS NULL AS not_completed FROM public.exports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *aao)
    .await
    .unwrap()?;
    let paths: Vec<String> = sqlx::query_scalar(
        "SELECT f.path FROM public.export_fields ef JOIN public.exportable_fields f ON f.id = ef.field_id \
         WHERE ef.export_id = $1 ORDER BY f.path",
    )
    .bind(id)
    .fetch_all(&mut *aao)
    .await
    .unwrap();
    let shared: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM public.shared_exports WHERE export_id = $1 ORDER BY user_id")
            .bind(id)
            .fetch_all(&mut *aao)
            .await
            .unwrap();
    let query_string: Option<String> = row.get("query_string");
    Some(json!({
        "creator_id": row.get::<String, _>("creator_id"),
        "include_images": row.get::<bool, _>("include_images"),
        "query": query_string.map(|q| serde_json::from_str::<Value>(&q).unwrap()),
        "status": row.get::<String, _>("status"),
        "message": row.get::<Option<String>, _>("message"),
        "object_location": row.get::<Option<String>, _>("object_location"),
        // A naive UTC TIMESTAMP of the moment it was made.
        "created_now": row.get::<bool, _>("created_now"),
        "not_started": row.get::<bool, _>("not_started"),
        "not_completed": row.get::<bool, _>("not_completed"),
        "fields": paths,
        "shared_with": shared,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aaos_people_and_exports_through_our_api() {
    let Some((app, mut aao)) = attached_app().await else { return };
    let alice = Auth::Key(ALICE_KEY.into());

    // --- The AAO's API key (bcrypt over key + API_KEY_SALT, found by its suffix) works here.
    let (status, listed) = app.get("/exports", &alice).await;
    assert_eq!((status, listed), (200, json!([])), "alice's (none yet)");
    let (status, me) = app.get("/auth/me", &alice).await;
    assert_eq!((status, me["id"].as_str()), (200, Some(ALICE)), "{me}");
    let mut wrong = ALICE_KEY.to_string();
    wrong.replace_range(10..11, if &ALICE_KEY[10..11] == "A" { "B" } else { "A" });
    assert_error(&app.get("/exports", &Auth::Key(wrong)).await, 401, "INVALID_API_KEY", "a wrong key, same suffix");
    let unknown = format!("{}Zzzzzz", &ALICE_KEY[..80]);
    assert_error(&app.get("/exports", &Auth::Key(unknown)).await, 401, "INVALID_API_KEY", "an unknown suffix");
    assert!(!AAO_TEST_SALT.is_empty());

    // --- A local AAO user signs in with the dashboard password; the MD5 digest stays as it was.
    let digest_before: String = sqlx::query_scalar("SELECT password FROM public.user_identities WHERE user_id = $1")
        .bind(ALICE)
        .fetch_one(&mut aao)
        .await
        .unwrap();
    let login = |username: &str, password: &str| {
        app.call("POST", "/auth/login", &Auth::None, Body::Json(json!({"username": username, "password": password})))
    };
    let (status, signed_in) = login("alice", "alice-pass").await;
    assert_eq!((status, signed_in["user"]["id"].as_str()), (200, Some(ALICE)), "{signed_in}");
    let digest_after: String = sqlx::query_scalar("SELECT password FROM public.user_identities WHERE user_id = $1")
        .bind(ALICE)
        .fetch_one(&mut aao)
        .await
        .unwrap();
    assert_eq!(digest_after, digest_before, "the AAO's MD5 digest is never replaced");
    assert_error(&login("alice", "wrong-pass").await, 401, "INVALID_CREDENTIALS", "a wrong password");
    let (status, _) = login("carol", "carol-pass").await;
    assert!(status == 401 || status == 403, "a disabled AAO user is refused, got {status}");

    // --- Create: a row of the AAO's `exports` the AAO's API reads as its own.
    let query = json!({"method": "PAGE_NAME_CONTAINS", "args": ["Raiz"]});
    let fields = ["observation.uuid", "observer.uuid", "observation.platform"];
    let (status, created) =
        app.post("/exports", &alice, json!({"query": query, "include_images": false, "fields": fields})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["export"]["export_id"].as_str().unwrap().to_string();
    let row = aao_row(&mut aao, &id).await.expect("the AAO's exports row");
    assert_eq!(row["creator_id"], ALICE);
    assert_eq!(row["status"], "pending");
    assert_eq!(row["query"], query, "the query JSON");
    assert_eq!(row["include_images"], false);
    assert_eq!(row["created_now"], true, "created_at is naive UTC, now: {row}");
    assert_eq!((row["not_started"].clone(), row["not_completed"].clone()), (json!(true), json!(true)));
    let mut wanted: Vec<&str> = fields.to_vec();
    wanted.sort();
    assert_eq!(row["fields"], json!(wanted), "the AAO's fields of the same paths");

    // --- Read back through our API: the same export.
    let (status, read) = app.get(&format!("/exports/{id}"), &alice).await;
    assert_eq!((status, read["status"].as_str()), (200, Some("pending")), "{read}");

    // --- Preview: the catalogue in our schema answers (no ads indexed here).
    let (status, preview) = app.post("/exports/preview", &alice, json!({"query": query})).await;
    assert_eq!((status, preview["ad_count"].as_u64()), (200, Some(0)), "{preview}");

    // --- Share and unshare: the AAO's `shared_exports`.
    let (status, shared) = app.post(&format!("/exports/{id}/share"), &alice, json!({"user_ids": [BOB]})).await;
    assert_eq!((status, shared["shared_with"].clone()), (200, json!([BOB])), "{shared}");
    assert_eq!(aao_row(&mut aao, &id).await.unwrap()["shared_with"], json!([BOB]));
    let (status, _) = app.post(&format!("/exports/{id}/unshare"), &alice, json!({"user_ids": [BOB]})).await;
    assert_eq!(status, 200);
    assert_eq!(aao_row(&mut aao, &id).await.unwrap()["shared_with"], json!([]));

    // --- Completed by a worker: the AAO's row says so, with the key; our read hands out a URL.
    let uuid_id: uuid::Uuid = id.parse().unwrap();
    let key = app.complete(uuid_id, crate::common::now_ms(), Some(b"PK\x05\x06")).await;
    let row = aao_row(&mut aao, &id).await.unwrap();
    assert_eq!((row["status"].as_str(), row["object_location"].as_str()), (Some("completed"), Some(key.as_str())));
    assert_eq!((row["not_started"].clone(), row["not_completed"].clone()), (json!(false), json!(false)), "{row}");
    let (status, read) = app.get(&format!("/exports/{id}"), &alice).await;
    assert_eq!(status, 200);
    assert!(read["url"].as_str().is_some_and(|u| !u.is_empty()), "a download URL: {read}");

    // --- Expired by our sweep: still `completed` in the AAO's row (the AAO computes expiry on
    // read); retried through our API: pending again there, no key.
    let expired = app.storage.expire_exports(crate::common::now_ms() + 1, crate::common::now_ms()).await.unwrap();
    assert_eq!(expired, 1);
    let (_, read) = app.get(&format!("/exports/{id}"), &alice).await;
    assert_eq!(read["status"], "expired", "{read}");
    assert_eq!(aao_row(&mut aao, &id).await.unwrap()["status"], "completed", "no 'expired' label in the AAO's enum");
    let (status, retried) = app.call("POST", &format!("/exports/{id}/retry"), &alice, Body::None).await;
    assert_eq!((status, retried["export"]["status"].as_str()), (200, Some("pending")), "{retried}");
    let row = aao_row(&mut aao, &id).await.unwrap();
    assert_eq!((row["status"].as_str(), row["object_location"].clone()), (Some("pending"), Value::Null), "{row}");

    // --- An export the AAO's API made itself (its row and fields, no row of ours) is listed.
    let theirs = uuid::Uuid::new_v4().to_string();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO public.exports (id, creator_id, include_images, query_string, status, created_at, updated_at) \
         VALUES ('{theirs}', '{ALICE}', true, '{{\"method\": \"ALL\"}}', 'pending', now() AT TIME ZONE 'UTC', \
         now() AT TIME ZONE 'UTC'); \
         INSERT INTO public.export_fields (export_id, field_id) SELECT '{theirs}', id FROM public.exportable_fields \
         WHERE path = 'observation.uuid'"
    )))
    .execute(&mut aao)
    .await
    .unwrap();
    let (status, listed) = app.get("/exports", &alice).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|e| e["export_id"].as_str()).collect();
    assert!(ids.contains(&theirs.as_str()) && ids.contains(&id.as_str()), "both listed: {listed}");
    let (_, read) = app.get(&format!("/exports/{theirs}"), &alice).await;
    assert_eq!(read["export_parameters"]["fields"], json!(["observation.uuid"]), "{read}");
    assert_eq!(read["export_parameters"]["include_images"], true, "{read}");

    // --- The AAO's API deletes its export in its own order: nothing of ours stands in the way,
    // and ours forgets it.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DELETE FROM public.shared_exports WHERE export_id = '{theirs}'; \
         DELETE FROM public.export_fields WHERE export_id = '{theirs}'; DELETE FROM public.exports WHERE id = '{theirs}'"
    )))
    .execute(&mut aao)
    .await
    .expect("the AAO's delete order succeeds");
    let (status, _) = app.get(&format!("/exports/{theirs}"), &alice).await;
    assert_eq!(status, 404, "gone from our API too");

    // --- Delete through our API: the AAO's rows go in the AAO's order.
    let (status, _) = app.call("DELETE", &format!("/exports/{id}"), &alice, Body::None).await;
    assert_eq!(status, 200);
    assert_eq!(aao_row(&mut aao, &id).await, None, "the AAO's row is gone");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM public.export_fields WHERE export_id = $1")
        .bind(&id)
        .fetch_one(&mut aao)
        .await
        .unwrap();
    assert_eq!(left, 0, "and its fields");
}
