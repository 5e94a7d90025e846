use crate::helpers::{assert_function_shape, spawn_app, API_KEY, PROJECT};
use serde_json::json;

#[tokio::test]
async fn function_crud_with_full_model() {
    let app = spawn_app().await;

    // create
    let created = app.create_function("hello").await;
    assert_function_shape(&created);
    assert_eq!(created["$id"], "hello");
    assert_eq!(created["timeout"], 15);
    assert_eq!(created["live"], true);
    assert_eq!(created["version"], "v5");
    assert_eq!(created["deploymentId"], "");
    assert_eq!(created["runtimeSpecification"], "s-1vcpu-512mb");

    // get
    let got = app.get("/v1/functions/hello").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created);

    // update is a full replacement: omitted params go back to defaults, entrypoint is kept
    let updated = app
        .put(
            "/v1/functions/hello",
            json!({"name": "renamed", "timeout": 30, "execute": ["any"]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_function_shape(&updated.body);
    assert_eq!(updated.body["name"], "renamed");
    assert_eq!(updated.body["timeout"], 30);
    assert_eq!(updated.body["execute"], json!(["any"]));
    assert_eq!(updated.body["entrypoint"], "index.js");
    assert_eq!(updated.body["live"], false);
    let updated = app
        .put("/v1/functions/hello", json!({"name": "renamed"}))
        .await;
    assert_eq!(updated.body["timeout"], 15);
    assert_eq!(updated.body["execute"], json!([]));

    // list
    app.create_function("second").await;
    let list = app.get("/v1/functions").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["functions"][0]["$id"], "hello");
    let limited = app
        .get_query(
            "/v1/functions",
            &[
                ("queries[0]", r#"{"method":"limit","values":[1]}"#),
                ("queries[1]", r#"{"method":"orderDesc","attribute":"$id"}"#),
            ],
        )
        .await;
    assert_eq!(limited.body["total"], 2);
    assert_eq!(limited.body["functions"].as_array().map(Vec::len), Some(1));
    assert_eq!(limited.body["functions"][0]["$id"], "second");
    let filtered = app
        .get_query(
            "/v1/functions",
            &[(
                "queries[]",
                r#"{"method":"equal","attribute":"name","values":["renamed"]}"#,
            )],
        )
        .await;
    assert_eq!(filtered.body["total"], 1);
    let bad = app
        .get_query(
            "/v1/functions",
            &[(
                "queries[]",
                r#"{"method":"regex","attribute":"name","values":["("]}"#,
            )],
        )
        .await;
    bad.assert_error(400, "general_query_invalid");

    // delete
    let deleted = app.delete("/v1/functions/hello").await;
    assert_eq!(deleted.status, 204);
    app.get("/v1/functions/hello")
        .await
        .assert_error(404, "function_not_found");
    app.delete("/v1/functions/hello")
        .await
        .assert_error(404, "function_not_found");
    assert_eq!(app.get("/v1/functions").await.body["total"], 1);
}

#[tokio::test]
async fn auth_and_routing_errors() {
    let app = spawn_app().await;
    let url = app.url("/v1/functions");
    // no key
    app.raw(app.client.get(&url).header("X-Appwrite-Project", PROJECT))
        .await
        .assert_error(401, "general_unauthorized_scope");
    // wrong key
    app.raw(
        app.client
            .get(&url)
            .header("X-Appwrite-Project", PROJECT)
            .header("X-Appwrite-Key", "nope"),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
    // wrong / missing project
    app.raw(
        app.client
            .get(&url)
            .header("X-Appwrite-Project", "other")
            .header("X-Appwrite-Key", API_KEY),
    )
    .await
    .assert_error(404, "project_not_found");
    app.raw(app.client.get(&url).header("X-Appwrite-Key", API_KEY))
        .await
        .assert_error(404, "project_not_found");
    // runtimes only need the project
    let runtimes = app
        .raw(
            app.client
                .get(app.url("/v1/functions/runtimes"))
                .header("X-Appwrite-Project", PROJECT),
        )
        .await;
    assert_eq!(runtimes.status, 200);
    assert_eq!(runtimes.body["total"], 1);
    assert_eq!(runtimes.body["runtimes"][0]["$id"], "node-18.0");
    assert_eq!(
        runtimes.body["runtimes"][0]["image"],
        "fnplat/runtime-node-18.0:latest"
    );
    // specifications
    let specs = app.get("/v1/functions/specifications").await;
    assert_eq!(specs.body["total"], 9);
    assert_eq!(specs.body["specifications"][1]["slug"], "s-1vcpu-512mb");
    // unknown route, error headers
    let unknown = app.get("/v1/nothing-here").await;
    unknown.assert_error(404, "general_route_not_found");
    assert_eq!(
        unknown
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-cache, no-store, must-revalidate")
    );
    // health needs nothing
    assert_eq!(
        app.raw(app.client.get(app.url("/health/livez")))
            .await
            .status,
        200
    );
    let ready = app.raw(app.client.get(app.url("/health/readyz"))).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
}

#[tokio::test]
async fn create_validation() {
    let app = spawn_app().await;
    app.get("/v1/functions/missing")
        .await
        .assert_error(404, "function_not_found");
    app.get("/v1/functions/-bad")
        .await
        .assert_error(400, "general_argument_invalid");
    app.post(
        "/v1/functions",
        json!({"functionId": "x", "name": "x", "runtime": "cobol-1"}),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    app.post(
        "/v1/functions",
        json!({"functionId": "x", "name": "x", "runtime": "python-3.12"}),
    )
    .await
    .assert_error(404, "function_runtime_unsupported");
    app.post(
        "/v1/functions",
        json!({"functionId": "x", "name": "x", "runtime": "node-18.0", "timeout": 901}),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    app.post(
        "/v1/functions",
        json!({"functionId": "x", "runtime": "node-18.0"}),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    app.create_function("dup").await;
    app.post(
        "/v1/functions",
        json!({"functionId": "dup", "name": "again", "runtime": "node-18.0"}),
    )
    .await
    .assert_error(409, "function_already_exists");
    // unique() expands to a 20-hex id; SDK-style string booleans are accepted
    let unique = app
        .post("/v1/functions", json!({"functionId": "unique()", "name": "u", "runtime": "node-18.0", "logging": "false"}))
        .await;
    assert_eq!(unique.status, 201, "{}", unique.body);
    assert_eq!(unique.body["$id"].as_str().map(str::len), Some(20));
    assert_eq!(unique.body["logging"], false);
    // malformed JSON
    let malformed = app
        .raw(
            app.client
                .post(app.url("/v1/functions"))
                .header("X-Appwrite-Project", PROJECT)
                .header("X-Appwrite-Key", API_KEY)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    malformed.assert_error(400, "general_argument_invalid");
}
