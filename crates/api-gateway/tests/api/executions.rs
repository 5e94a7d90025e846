use crate::helpers::spawn_app;
use model::proto::{ExecutionJob, ExecutionResult, Header};
use serde_json::json;

#[tokio::test]
async fn execution_needs_an_active_deployment() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    app.post("/v1/functions/fn1/executions", json!({}))
        .await
        .assert_error(404, "deployment_not_found");
    app.post("/v1/functions/nofn/executions", json!({}))
        .await
        .assert_error(404, "function_not_found");
    app.post(
        "/v1/functions/fn1/executions",
        json!({"headers": {"x-appwrite-key": "x"}}),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    app.post("/v1/functions/fn1/executions", json!({"method": "TRACE"}))
        .await
        .assert_error(400, "general_argument_invalid");
}

#[tokio::test]
async fn async_execution_is_queued_and_its_result_persisted() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    let (deployment_id, _) = app.deploy_ready("fn1").await;
    // without the key the caller is a guest, and the function's execute roles are empty
    app.raw(
        app.client
            .post(app.url("/v1/functions/fn1/executions"))
            .header("X-Appwrite-Project", crate::helpers::PROJECT)
            .json(&json!({"async": true})),
    )
    .await
    .assert_error(401, "user_unauthorized");

    let reply = app
        .post(
            "/v1/functions/fn1/executions",
            json!({"async": "true", "path": "/hello?x=1", "method": "GET", "body": "hi",
                   "headers": "{\"content-type\":\"text/plain\",\"X-Custom\":\"1\"}"}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let e = &reply.body;
    assert_eq!(e["status"], "waiting");
    assert_eq!(e["trigger"], "http");
    assert_eq!(e["functionId"], "fn1");
    assert_eq!(e["deploymentId"], deployment_id.as_str());
    assert_eq!(e["requestPath"], "/hello?x=1");
    assert_eq!(e["requestMethod"], "GET");
    assert_eq!(e["responseBody"], "");
    assert_eq!(e["scheduledAt"], serde_json::Value::Null);
    assert_eq!(e["$permissions"], json!([]));
    let stored: Vec<&str> = e["requestHeaders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert!(
        stored.contains(&"content-type") && stored.contains(&"x-appwrite-client-ip"),
        "{stored:?}"
    );
    assert!(!stored.contains(&"x-custom"));
    let id = e["$id"].as_str().unwrap_or_default().to_owned();

    let job: ExecutionJob = app.next_message(model::topology::EXECUTIONS_QUEUE).await;
    assert_eq!(job.execution_id, id);
    assert!(!job.sync);
    assert_eq!(job.path, "/hello?x=1");
    assert_eq!(job.body, b"hi");
    assert_eq!(
        job.build_path,
        format!("builds/default/fn1/{deployment_id}.tar.gz")
    );
    assert_eq!(job.image, "fnplat/runtime-node-18.0:latest");
    assert_eq!(job.timeout_seconds, 15);
    assert_eq!(
        job.env.get("APPWRITE_FUNCTION_DEPLOYMENT"),
        Some(&deployment_id)
    );
    assert_eq!(
        job.env.get("APPWRITE_REGION").map(String::as_str),
        Some("default")
    );
    let header = |name: &str| {
        job.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.clone())
    };
    assert_eq!(header("x-appwrite-trigger").as_deref(), Some("http"));
    assert_eq!(
        header("x-appwrite-execution-id").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(header("x-custom").as_deref(), Some("1"));

    app.publish(
        model::topology::EXECUTION_RESULTS_QUEUE,
        &ExecutionResult {
            project_id: "default".into(),
            function_id: "fn1".into(),
            deployment_id: deployment_id.clone(),
            execution_id: id.clone(),
            status: "completed".into(),
            status_code: 200,
            headers: vec![
                Header {
                    name: "content-type".into(),
                    value: "text/plain".into(),
                },
                Header {
                    name: "x-secret".into(),
                    value: "s".into(),
                },
            ],
            body: b"response".to_vec(),
            logs: "log line".into(),
            errors: String::new(),
            duration_seconds: 0.25,
            ..Default::default()
        },
    )
    .await;
    let done = app
        .wait_for(&format!("/v1/functions/fn1/executions/{id}"), |e| {
            e["status"] == "completed"
        })
        .await;
    assert_eq!(done["responseStatusCode"], 200);
    assert_eq!(done["responseBody"], "");
    assert_eq!(
        done["responseHeaders"],
        json!([{"name": "content-type", "value": "text/plain"}])
    );
    assert_eq!(done["logs"], "log line");
    assert_eq!(done["duration"], 0.25);
    let list = app.get("/v1/functions/fn1/executions").await;
    assert_eq!(list.body["total"], 1);
}

#[tokio::test]
async fn sync_execution_is_answered_by_the_executor() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    app.deploy_ready("fn1").await;
    let executor = app.fake_executor(ExecutionResult {
        status: "completed".into(),
        status_code: 200,
        headers: vec![
            Header {
                name: "content-type".into(),
                value: "text/plain; charset=utf-8".into(),
            },
            Header {
                name: "x-custom".into(),
                value: "yes".into(),
            },
            Header {
                name: "x-open-runtimes-log-id".into(),
                value: "hidden".into(),
            },
        ],
        body: b"Hello, World!".to_vec(),
        logs: "ran".into(),
        duration_seconds: 0.1,
        ..Default::default()
    });

    let reply = app
        .post("/v1/functions/fn1/executions", json!({"body": "ping"}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let e = &reply.body;
    assert_eq!(e["status"], "completed");
    assert_eq!(e["responseStatusCode"], 200);
    assert_eq!(e["responseBody"], "Hello, World!");
    assert_eq!(e["logs"], "ran");
    let names: Vec<&str> = e["responseHeaders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert!(
        names.contains(&"x-custom") && names.contains(&"x-appwrite-execution-id"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("x-open-runtimes")));
    let id = e["$id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        reply
            .headers
            .get("x-appwrite-execution-id")
            .and_then(|v| v.to_str().ok()),
        Some(id.as_str())
    );

    let job = executor.await.unwrap_or_default();
    assert!(job.sync);
    assert_eq!(job.execution_id, id);
    assert_eq!(job.method, "POST");

    let stored = app
        .get(&format!("/v1/functions/fn1/executions/{id}"))
        .await
        .body;
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["responseBody"], "");
    assert_eq!(
        stored["responseHeaders"],
        json!([{"name": "content-type", "value": "text/plain; charset=utf-8"}])
    );
}

#[tokio::test]
async fn sync_execution_without_executor_times_out() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    app.put("/v1/functions/fn1", json!({"name": "fn1", "timeout": 1}))
        .await;
    app.deploy_ready("fn1").await;
    // function timeout 1 s + 10 s cold-start margin
    let reply = app.post("/v1/functions/fn1/executions", json!({})).await;
    reply.assert_error(408, "function_synchronous_timeout");
    let list = app.get("/v1/functions/fn1/executions").await.body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["executions"][0]["status"], "failed");
}
