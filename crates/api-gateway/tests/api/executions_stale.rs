//! Stale executions (spec 5 last paragraph, 2.3 delete rules): `waiting`/`processing` executions
//! older than their function timeout plus the reap margin are reported, filtered and deletable as
//! `failed`, exactly as the reaper stores them.
use crate::helpers::{spawn_app, TestApp};
use api_gateway::db::executions::STALE_ERRORS;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};

async fn create_async(app: &TestApp, function_id: &str) -> String {
    let reply = app
        .post(
            &format!("/v1/functions/{function_id}/executions"),
            json!({"async": true}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["status"], "waiting");
    reply.body["$id"].as_str().unwrap().to_owned()
}

/// Function `f` with a ready deployment and `n` waiting (async) executions.
async fn waiting_executions(app: &TestApp, n: usize) -> Vec<String> {
    app.create_function("f").await;
    app.deploy_ready("f").await;
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(create_async(app, "f").await);
    }
    ids
}

/// Created an hour ago: past the 15 s timeout + 60 s margin.
async fn age(app: &TestApp, ids: &[&String]) {
    let ids: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    sql(
        app,
        &format!(
            "UPDATE executions SET created_at = now() - interval '1 hour' WHERE id IN ({})",
            ids.join(", ")
        ),
    )
    .await;
}

/// A scheduled execution created an hour ago that only started now.
async fn started_now(app: &TestApp, id: &str) {
    age(app, &[&id.to_owned()]).await;
    sql(
        app,
        &format!("UPDATE executions SET scheduled_at = now() WHERE id = '{id}'"),
    )
    .await;
}

async fn sql(app: &TestApp, statement: &str) {
    let mut conn = AsyncPgConnection::establish(&app.database_url())
        .await
        .unwrap();
    let changed = diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(changed > 0, "{statement} changed nothing");
}

async fn list_ids(app: &TestApp, query: &str) -> Vec<String> {
    let pairs: Vec<(&str, &str)> = if query.is_empty() {
        vec![]
    } else {
        vec![("queries[0]", query)]
    };
    let r = app.get_query("/v1/functions/f/executions", &pairs).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ids: Vec<String> = r.body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["$id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn status_query(method: &str, values: Value) -> String {
    json!({"method": method, "attribute": "status", "values": values}).to_string()
}

#[tokio::test]
async fn stale_executions_are_reported_filtered_and_deleted_as_failed() {
    let app = spawn_app().await;
    let ids = waiting_executions(&app, 4).await;
    let [old_waiting, old_processing, fresh, started_late] = &ids[..] else {
        panic!("4 executions")
    };
    age(&app, &[old_waiting, old_processing]).await;
    sql(
        &app,
        &format!("UPDATE executions SET status = 'processing' WHERE id = '{old_processing}'"),
    )
    .await;
    started_now(&app, started_late).await;

    // The list (first request after the rows went stale) filters by the reported status.
    let failed = status_query("equal", json!(["failed"]));
    assert_eq!(
        list_ids(&app, &failed).await,
        sorted(&[old_waiting, old_processing])
    );
    let not_failed = status_query("notEqual", json!(["failed"]));
    assert_eq!(
        list_ids(&app, &not_failed).await,
        sorted(&[fresh, started_late])
    );
    let unfinished = status_query("equal", json!(["waiting", "processing"]));
    assert_eq!(
        list_ids(&app, &unfinished).await,
        sorted(&[fresh, started_late])
    );
    let all = list_ids(&app, "").await;
    assert_eq!(all.len(), 4);

    // Listed and fetched items report the failure.
    let r = app.get_query("/v1/functions/f/executions", &[]).await;
    for e in r.body["executions"].as_array().unwrap() {
        let id = e["$id"].as_str().unwrap();
        let want = if id == old_waiting || id == old_processing {
            "failed"
        } else {
            "waiting"
        };
        assert_eq!(e["status"], want, "{e}");
    }
    let e = app
        .get(&format!("/v1/functions/f/executions/{old_processing}"))
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.body["status"], "failed");
    assert_eq!(e.body["responseStatusCode"], 500);
    assert_eq!(e.body["errors"], STALE_ERRORS);
    let e = app
        .get(&format!("/v1/functions/f/executions/{fresh}"))
        .await;
    assert_eq!(e.body["status"], "waiting", "{}", e.body);

    // Delete: stale ones go (as failed), running ones are still in progress.
    app.delete(&format!("/v1/functions/f/executions/{fresh}"))
        .await
        .assert_error(400, "execution_in_progress");
    app.delete(&format!("/v1/functions/f/executions/{started_late}"))
        .await
        .assert_error(400, "execution_in_progress");
    let r = app
        .delete(&format!("/v1/functions/f/executions/{old_waiting}"))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    app.get(&format!("/v1/functions/f/executions/{old_waiting}"))
        .await
        .assert_error(404, "execution_not_found");
}

#[tokio::test]
async fn a_stale_execution_is_failed_by_get_and_delete_without_a_list_first() {
    let app = spawn_app().await;
    let ids = waiting_executions(&app, 2).await;
    let [a, b] = &ids[..] else {
        panic!("2 executions")
    };
    age(&app, &[a, b]).await;
    let e = app.get(&format!("/v1/functions/f/executions/{a}")).await;
    assert_eq!(e.body["status"], "failed", "{}", e.body);
    let r = app.delete(&format!("/v1/functions/f/executions/{b}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(list_ids(&app, "").await, vec![a.clone()]);
}

#[tokio::test]
async fn the_reaper_fails_the_same_executions_the_api_reports() {
    let app = spawn_app().await;
    let ids = waiting_executions(&app, 3).await;
    let [old, fresh, started_late] = &ids[..] else {
        panic!("3 executions")
    };
    age(&app, &[old]).await;
    started_now(&app, started_late).await;
    let mut conn = AsyncPgConnection::establish(&app.database_url())
        .await
        .unwrap();
    let reaped = api_gateway::db::executions::fail_stale(&mut conn, 60)
        .await
        .unwrap();
    assert_eq!(reaped, 1);
    let e = app.get(&format!("/v1/functions/f/executions/{old}")).await;
    assert_eq!(e.body["status"], "failed", "{}", e.body);
    assert_eq!(e.body["errors"], STALE_ERRORS);
    for id in [fresh, started_late] {
        let e = app.get(&format!("/v1/functions/f/executions/{id}")).await;
        assert_eq!(e.body["status"], "waiting", "{}", e.body);
    }
}
