//! Executions belong to the user who started them (spec 3.3 `$permissions`): JWT users list and
//! get only their own, keys see all; and the `createExecution` abuse limit (spec 4
//! `general_rate_limit_exceeded`, spec 1.1 `X-RateLimit-*`) for users and guests, keys exempt.
use crate::helpers::{spawn_app, spawn_app_with, Reply, TestApp, JWT_SECRET, PROJECT};
use model::proto::ExecutionResult;
use reqwest::Method;
use serde_json::{json, Value};

const PATH: &str = "/v1/functions/f/executions";

fn user_jwt(user: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 600;
    api_gateway::tokens::sign(
        &json!({"userId": user, "sessionId": "s1", "exp": exp}),
        JWT_SECRET.as_bytes(),
    )
}

/// A request as `user` (a JWT), as a guest (`None`).
fn as_caller(
    app: &TestApp,
    method: Method,
    path: &str,
    user: Option<&str>,
) -> reqwest::RequestBuilder {
    let builder = app
        .client
        .request(method, app.url(path))
        .header("X-Appwrite-Project", PROJECT);
    match user {
        Some(user) => builder.header("X-Appwrite-JWT", user_jwt(user)),
        None => builder,
    }
}

async fn execute_as(app: &TestApp, user: Option<&str>, body: Value) -> Reply {
    app.raw(as_caller(app, Method::POST, PATH, user).json(&body))
        .await
}

async fn deployed_function(app: &TestApp) {
    app.create_function("f").await;
    let upd = app
        .put(
            "/v1/functions/f",
            json!({"name": "f", "execute": ["any"], "entrypoint": "index.js"}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    app.deploy_ready("f").await;
}

fn id_of(reply: &Reply) -> String {
    reply.body["$id"].as_str().unwrap().to_owned()
}

fn ids(list: &Reply) -> Vec<String> {
    assert_eq!(list.status, 200, "{}", list.body);
    let mut ids: Vec<String> = list.body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["$id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn jwt_users_see_only_their_own_executions_and_keys_see_all() {
    let app = spawn_app().await;
    deployed_function(&app).await;

    // u1 runs one sync execution (answered by a fake executor before any async job is queued),
    // one async and one scheduled; u2 one async; a key and a guest one each.
    let executor = app.fake_executor(ExecutionResult {
        status: "completed".into(),
        status_code: 200,
        body: b"hi".to_vec(),
        ..Default::default()
    });
    let sync = execute_as(&app, Some("u1"), json!({})).await;
    assert_eq!(sync.status, 201, "{}", sync.body);
    executor.await.unwrap();
    assert_eq!(sync.body["$permissions"], json!(["read(\"user:u1\")"]));
    let u1_async = execute_as(&app, Some("u1"), json!({"async": true})).await;
    assert_eq!(u1_async.status, 202, "{}", u1_async.body);
    let now = chrono::Utc::now().timestamp();
    let at = chrono::DateTime::from_timestamp(now - now % 60 + 180, 0).unwrap();
    let u1_scheduled = execute_as(
        &app,
        Some("u1"),
        json!({"async": true, "scheduledAt": at.to_rfc3339()}),
    )
    .await;
    assert_eq!(u1_scheduled.status, 202, "{}", u1_scheduled.body);
    assert_eq!(u1_scheduled.body["status"], "scheduled");
    let u2_async = execute_as(&app, Some("u2"), json!({"async": true})).await;
    assert_eq!(u2_async.status, 202, "{}", u2_async.body);
    assert_eq!(u2_async.body["$permissions"], json!(["read(\"user:u2\")"]));
    let by_key = app.post(PATH, json!({"async": true})).await;
    assert_eq!(by_key.status, 202, "{}", by_key.body);
    assert_eq!(by_key.body["$permissions"], json!([]));
    let by_guest = execute_as(&app, None, json!({"async": true})).await;
    assert_eq!(by_guest.status, 202, "{}", by_guest.body);
    assert_eq!(by_guest.body["$permissions"], json!([]));

    let u1_ids = sorted(vec![id_of(&sync), id_of(&u1_async), id_of(&u1_scheduled)]);
    let u1_list = app
        .raw(as_caller(&app, Method::GET, PATH, Some("u1")))
        .await;
    assert_eq!(ids(&u1_list), u1_ids);
    assert_eq!(u1_list.body["total"], 3);
    for e in u1_list.body["executions"].as_array().unwrap() {
        assert_eq!(e["$permissions"], json!(["read(\"user:u1\")"]), "{e}");
    }
    let u2_list = app
        .raw(as_caller(&app, Method::GET, PATH, Some("u2")))
        .await;
    assert_eq!(ids(&u2_list), vec![id_of(&u2_async)]);
    assert_eq!(u2_list.body["total"], 1);
    // someone who started nothing sees nothing
    let u3_list = app
        .raw(as_caller(&app, Method::GET, PATH, Some("u3")))
        .await;
    assert_eq!(u3_list.body["total"], 0, "{}", u3_list.body);
    // the key sees all six
    let all = app.get(PATH).await;
    let mut every = u1_ids.clone();
    every.extend([id_of(&u2_async), id_of(&by_key), id_of(&by_guest)]);
    assert_eq!(ids(&all), sorted(every));
    assert_eq!(all.body["total"], 6);

    // filters and totals stay within the user's own executions
    let u1_waiting = app
        .raw(as_caller(&app, Method::GET, PATH, Some("u1")).query(&[(
            "queries[]",
            r#"{"method":"equal","attribute":"status","values":["waiting","scheduled"]}"#,
        )]))
        .await;
    assert_eq!(
        ids(&u1_waiting),
        sorted(vec![id_of(&u1_async), id_of(&u1_scheduled)])
    );
    assert_eq!(u1_waiting.body["total"], 2);
    // another user's execution is no cursor
    let cursor = format!(
        r#"{{"method":"cursorAfter","values":["{}"]}}"#,
        id_of(&u2_async)
    );
    app.raw(as_caller(&app, Method::GET, PATH, Some("u1")).query(&[("queries[]", &cursor)]))
        .await
        .assert_error(400, "general_cursor_not_found");

    // get: own => 200, anyone else's => 404 execution_not_found; the key reads all
    let own = app
        .raw(as_caller(
            &app,
            Method::GET,
            &format!("{PATH}/{}", id_of(&u1_async)),
            Some("u1"),
        ))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["$permissions"], json!(["read(\"user:u1\")"]));
    for other in [&u2_async, &by_key, &by_guest] {
        app.raw(as_caller(
            &app,
            Method::GET,
            &format!("{PATH}/{}", id_of(other)),
            Some("u1"),
        ))
        .await
        .assert_error(404, "execution_not_found");
    }
    app.raw(as_caller(
        &app,
        Method::GET,
        &format!("{PATH}/{}", id_of(&u1_async)),
        Some("u2"),
    ))
    .await
    .assert_error(404, "execution_not_found");
    for id in [id_of(&u1_async), id_of(&u2_async), id_of(&by_guest)] {
        let got = app.get(&format!("{PATH}/{id}")).await;
        assert_eq!(got.status, 200, "{}", got.body);
    }

    // guests cannot read executions at all (no executions.read)
    app.raw(as_caller(&app, Method::GET, PATH, None))
        .await
        .assert_error(401, "general_unauthorized_scope");
    app.raw(as_caller(
        &app,
        Method::GET,
        &format!("{PATH}/{}", id_of(&by_guest)),
        None,
    ))
    .await
    .assert_error(401, "general_unauthorized_scope");
}

fn header(reply: &Reply, name: &str) -> Option<i64> {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// (limit, remaining, reset) of a counted reply.
fn rate_headers(reply: &Reply) -> (i64, i64, i64) {
    (
        header(reply, "x-ratelimit-limit").expect("X-RateLimit-Limit"),
        header(reply, "x-ratelimit-remaining").expect("X-RateLimit-Remaining"),
        header(reply, "x-ratelimit-reset").expect("X-RateLimit-Reset"),
    )
}

#[tokio::test]
async fn create_execution_is_rate_limited_per_user_and_ip_but_not_for_keys() {
    let app = spawn_app_with(json!({
        "rate_limit": {"create_execution_limit": 3, "period_seconds": 3600}
    }))
    .await;
    deployed_function(&app).await;
    // Windows are aligned to the period: don't start in the last seconds of one.
    let now = chrono::Utc::now().timestamp();
    let left = 3600 - now % 3600;
    if left < 30 {
        tokio::time::sleep(std::time::Duration::from_secs(left as u64 + 1)).await;
    }

    let mut reset = None;
    for remaining in [2, 1, 0] {
        let r = execute_as(&app, Some("u1"), json!({"async": true})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let (l, rem, rst) = rate_headers(&r);
        assert_eq!((l, rem), (3, remaining));
        assert!(
            rst > chrono::Utc::now().timestamp() && rst % 3600 == 0,
            "{rst}"
        );
        assert_eq!(*reset.get_or_insert(rst), rst);
    }
    let over = execute_as(&app, Some("u1"), json!({"async": true})).await;
    over.assert_error(429, "general_rate_limit_exceeded");
    assert_eq!(
        over.body["message"],
        "Rate limit for the current endpoint has been exceeded. Please try again after some time."
    );
    assert_eq!(rate_headers(&over), (3, 0, reset.unwrap()));
    // the limit is checked before the function is even looked up
    app.raw(as_caller(
        &app,
        Method::POST,
        "/v1/functions/missing/executions",
        Some("u1"),
    ))
    .await
    .assert_error(429, "general_rate_limit_exceeded");
    // the refused calls created nothing
    let listed = app
        .raw(as_caller(&app, Method::GET, PATH, Some("u1")))
        .await;
    assert_eq!(listed.body["total"], 3, "{}", listed.body);

    // another user has their own counter; guests share one per IP
    let u2 = execute_as(&app, Some("u2"), json!({"async": true})).await;
    assert_eq!(u2.status, 202, "{}", u2.body);
    assert_eq!(rate_headers(&u2).1, 2);
    for remaining in [2, 1, 0] {
        let r = execute_as(&app, None, json!({"async": true})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(rate_headers(&r).1, remaining);
    }
    execute_as(&app, None, json!({"async": true}))
        .await
        .assert_error(429, "general_rate_limit_exceeded");

    // API keys are exempt: no limit, no headers
    for _ in 0..5 {
        let r = app.post(PATH, json!({"async": true})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert!(r.headers.get("x-ratelimit-limit").is_none());
    }
    // listing is not limited
    let list = app
        .raw(as_caller(&app, Method::GET, PATH, Some("u1")))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.headers.get("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn rate_limit_can_be_disabled() {
    let app = spawn_app_with(json!({
        "rate_limit": {"enabled": false, "create_execution_limit": 1}
    }))
    .await;
    deployed_function(&app).await;
    for _ in 0..3 {
        let r = execute_as(&app, Some("u1"), json!({"async": true})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert!(r.headers.get("x-ratelimit-limit").is_none());
    }
}
