//! Variables (spec 2.4, 3.4, 7.7): CRUD, secrecy everywhere, project variables, and the
//! environment (and ephemeral key) reaching build and execution jobs.
use crate::helpers::{spawn_app, API_KEY, PROJECT};
use model::proto::{ExecutionJob, ExecutionResult};
use serde_json::{json, Value};

fn ids(list: &Value, field: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["$id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn variable_crud_and_secrecy() {
    let app = spawn_app().await;
    app.create_function("f1").await;
    let base = "/v1/functions/f1/variables";

    // create: secret by default, value hidden
    let secret = app
        .post(
            base,
            json!({"variableId": "v1", "key": "API_TOKEN", "value": "s3cr3t"}),
        )
        .await;
    assert_eq!(secret.status, 201, "{}", secret.body);
    assert_eq!(secret.body["secret"], true);
    assert_eq!(secret.body["value"], "");
    assert_eq!(secret.body["resourceType"], "function");
    assert_eq!(secret.body["resourceId"], "f1");
    for key in ["$id", "$createdAt", "$updatedAt", "key", "value"] {
        assert!(secret.body[key].is_string(), "{key}");
    }
    let plain = app
        .post(
            base,
            json!({"variableId": "unique()", "key": "GREETING", "value": "hello", "secret": "false"}),
        )
        .await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(plain.body["value"], "hello");
    assert_eq!(plain.body["$id"].as_str().unwrap().len(), 20);
    let plain_id = plain.body["$id"].as_str().unwrap().to_owned();

    // duplicates: same key, same id
    app.post(
        base,
        json!({"variableId": "v2", "key": "API_TOKEN", "value": "x"}),
    )
    .await
    .assert_error(409, "variable_already_exists");
    app.post(
        base,
        json!({"variableId": "v1", "key": "OTHER", "value": "x"}),
    )
    .await
    .assert_error(409, "variable_already_exists");
    app.post(base, json!({"variableId": "v3", "value": "x"}))
        .await
        .assert_error(400, "general_argument_invalid");
    app.post(
        base,
        json!({"variableId": "v3", "key": "K", "value": "x".repeat(8193)}),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    app.post(
        "/v1/functions/nope/variables",
        json!({"variableId": "v3", "key": "K", "value": "x"}),
    )
    .await
    .assert_error(404, "function_not_found");

    // get / list / Function.vars never show the secret
    let got = app.get(&format!("{base}/v1")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["value"], "");
    let list = app.get(base).await;
    assert_eq!(list.body["total"], 2);
    assert_eq!(
        ids(&list.body, "variables"),
        vec!["v1".to_owned(), plain_id.clone()]
    );
    let function = app.get("/v1/functions/f1").await.body;
    assert_eq!(
        function["live"], false,
        "a variable change makes the function not live"
    );
    assert_eq!(function["vars"].as_array().unwrap().len(), 2);
    assert_eq!(function["vars"][0]["key"], "API_TOKEN");
    assert_eq!(function["vars"][0]["value"], "");
    assert_eq!(function["vars"][1]["value"], "hello");
    let functions = app.get("/v1/functions").await.body;
    assert_eq!(
        functions["functions"][0]["vars"].as_array().unwrap().len(),
        2
    );
    for text in [
        got.body.to_string(),
        list.body.to_string(),
        function.to_string(),
        functions.to_string(),
    ] {
        assert!(!text.contains("s3cr3t"), "secret leaked: {text}");
    }

    // queries on variables
    let only_plain = app
        .get_query(
            base,
            &[(
                "queries[0]",
                r#"{"method":"equal","attribute":"secret","values":[false]}"#,
            )],
        )
        .await;
    assert_eq!(ids(&only_plain.body, "variables"), vec![plain_id.clone()]);
    app.get_query(
        base,
        &[(
            "queries[0]",
            r#"{"method":"equal","attribute":"value","values":["s3cr3t"]}"#,
        )],
    )
    .await
    .assert_error(400, "general_query_invalid");

    // update rules
    app.put(&format!("{base}/v1"), json!({}))
        .await
        .assert_error(400, "general_argument_invalid");
    app.put(&format!("{base}/v1"), json!({"secret": false}))
        .await
        .assert_error(400, "variable_cannot_unset_secret");
    app.put(&format!("{base}/v1"), json!({"key": "GREETING"}))
        .await
        .assert_error(409, "variable_already_exists");
    let updated = app
        .put(&format!("{base}/v1"), json!({"value": "n3w"}))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["value"], "");
    assert_eq!(updated.body["key"], "API_TOKEN");
    let made_secret = app
        .put(&format!("{base}/{plain_id}"), json!({"secret": true}))
        .await;
    assert_eq!(made_secret.body["secret"], true);
    assert_eq!(made_secret.body["value"], "");
    app.put(&format!("{base}/missing"), json!({"value": "x"}))
        .await
        .assert_error(404, "variable_not_found");

    // delete
    let deleted = app.delete(&format!("{base}/v1")).await;
    assert_eq!(deleted.status, 204);
    app.get(&format!("{base}/v1"))
        .await
        .assert_error(404, "variable_not_found");
    app.delete(&format!("{base}/v1"))
        .await
        .assert_error(404, "variable_not_found");

    // deleting the function removes its variables
    app.delete("/v1/functions/f1").await;
    app.create_function("f1").await;
    assert_eq!(app.get(base).await.body["total"], 0);
}

#[tokio::test]
async fn project_variables() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/project/variables",
            json!({"variableId": "pv", "key": "REGION", "value": "eu", "secret": false}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["resourceType"], "project");
    assert_eq!(created.body["resourceId"], "");
    assert_eq!(created.body["value"], "eu");
    app.post(
        "/v1/project/variables",
        json!({"variableId": "pv2", "key": "REGION", "value": "us"}),
    )
    .await
    .assert_error(409, "variable_already_exists");
    // the same key may exist on a function (it overrides the project value)
    app.create_function("f").await;
    let fv = app
        .post(
            "/v1/functions/f/variables",
            json!({"variableId": "fv", "key": "REGION", "value": "us"}),
        )
        .await;
    assert_eq!(fv.status, 201, "{}", fv.body);
    assert_eq!(app.get("/v1/project/variables").await.body["total"], 1);
    let got = app.get("/v1/project/variables/pv").await;
    assert_eq!(got.body["key"], "REGION");
    let updated = app
        .put("/v1/project/variables/pv", json!({"value": "ap"}))
        .await;
    assert_eq!(updated.body["value"], "ap");
    assert_eq!(app.delete("/v1/project/variables/pv").await.status, 204);
    app.get("/v1/project/variables/pv")
        .await
        .assert_error(404, "variable_not_found");
}

#[tokio::test]
async fn variables_reach_build_and_execution_jobs() {
    let app = spawn_app().await;
    app.create_function("envfn").await;
    for (path, body) in [
        (
            "/v1/project/variables",
            json!({"variableId": "p1", "key": "SHARED", "value": "from-project"}),
        ),
        (
            "/v1/project/variables",
            json!({"variableId": "p2", "key": "ONLY_PROJECT", "value": "p"}),
        ),
        (
            "/v1/functions/envfn/variables",
            json!({"variableId": "f1", "key": "SHARED", "value": "from-function"}),
        ),
        (
            "/v1/functions/envfn/variables",
            json!({"variableId": "f2", "key": "APPWRITE_FUNCTION_ID", "value": "spoofed"}),
        ),
        (
            "/v1/functions/envfn/variables",
            json!({"variableId": "f3", "key": "SECRET_TOKEN", "value": "tok-123"}),
        ),
    ] {
        let r = app.post(path, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let (_, build) = app.deploy_ready("envfn").await;
    assert_eq!(build.env["SHARED"], "from-function");
    assert_eq!(build.env["ONLY_PROJECT"], "p");
    assert_eq!(
        build.env["SECRET_TOKEN"], "tok-123",
        "secrets reach the function"
    );
    assert_eq!(
        build.env["APPWRITE_FUNCTION_ID"], "envfn",
        "platform values win"
    );
    assert!(build.env["APPWRITE_FUNCTION_API_KEY"].starts_with("ephemeral_"));

    let executor = app.fake_executor(ExecutionResult {
        status_code: 200,
        ..Default::default()
    });
    let reply = app
        .post("/v1/functions/envfn/executions", json!({"body": "x"}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let job: ExecutionJob = executor.await.unwrap();
    assert_eq!(job.env["SHARED"], "from-function");
    assert_eq!(job.env["ONLY_PROJECT"], "p");
    assert_eq!(job.env["SECRET_TOKEN"], "tok-123");
    assert_eq!(job.env["APPWRITE_FUNCTION_ID"], "envfn");
    let key = job
        .headers
        .iter()
        .find(|h| h.name == "x-appwrite-key")
        .map(|h| h.value.clone())
        .unwrap();
    assert!(key.starts_with("ephemeral_"));
    // the stored execution does not keep the key
    assert!(!reply.body.to_string().contains(&key));
    let _ = (API_KEY, PROJECT);
}
