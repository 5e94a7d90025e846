//! `X-Appwrite-Response-Format` (spec 14) through the whole app: response downgrades, request and
//! query-string upgrades for old clients; the proxy-rules list the CLI reads.
use crate::helpers::{spawn_app, TestApp, API_KEY, PROJECT};
use serde_json::{json, Value};

/// GET `path` with the key and the given response format (none = the server's newest).
async fn get_as(app: &TestApp, path: &str, format: Option<&str>) -> Value {
    let mut builder = app
        .client
        .get(app.url(path))
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-Key", API_KEY);
    if let Some(format) = format {
        builder = builder.header("X-Appwrite-Response-Format", format);
    }
    let reply = app.raw(builder).await;
    assert_eq!(reply.status, 200, "{path} as {format:?}: {}", reply.body);
    reply.body
}

#[tokio::test]
async fn each_client_gets_the_model_version_it_asks_for() {
    let app = spawn_app().await;
    app.create_function("fn1").await;

    let newest = get_as(&app, "/v1/functions/fn1", None).await;
    assert_eq!(newest["description"], "");
    assert_eq!(newest["emailEnabled"], false);
    assert_eq!(
        newest,
        get_as(&app, "/v1/functions/fn1", Some("2.5.0")).await
    );

    let v19 = get_as(&app, "/v1/functions/fn1", Some("1.9.5")).await;
    assert!(v19.get("description").is_none(), "{v19}");
    assert!(v19["buildSpecification"].is_string());

    let v18 = get_as(&app, "/v1/functions/fn1", Some("1.8.0")).await;
    assert_eq!(v18["specification"], v19["buildSpecification"]);
    assert!(v18.get("runtimeSpecification").is_none());

    let list = get_as(&app, "/v1/functions", None).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["functions"][0]["emailEnabled"], false);

    let (deployment_id, _) = app.deploy_ready("fn1").await;
    let reply = app
        .post("/v1/functions/fn1/executions", json!({"async": true}))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["functionId"], "fn1");
    let path = format!(
        "/v1/functions/fn1/executions/{}",
        reply.body["$id"].as_str().unwrap_or("")
    );
    let newest = get_as(&app, &path, None).await;
    assert_eq!(newest["resourceId"], "fn1");
    assert_eq!(newest["resourceType"], "functions");
    assert!(newest.get("functionId").is_none());
    let listed = get_as(&app, "/v1/functions/fn1/executions", Some("2.0.0")).await;
    assert_eq!(listed["executions"][0]["resourceId"], "fn1");
    let old = get_as(&app, &path, Some("1.3.0")).await;
    assert_eq!(old["functionId"], "fn1");
    assert!(old.get("statusCode").is_some() && old.get("responseStatusCode").is_none());

    let deployment = get_as(
        &app,
        &format!("/v1/functions/fn1/deployments/{deployment_id}"),
        Some("1.6.0"),
    )
    .await;
    assert!(deployment["size"].is_number() && deployment.get("sourceSize").is_none());

    // errors keep their shape whatever the format
    let reply = app
        .raw(
            app.client
                .get(app.url("/v1/functions/nope"))
                .header("X-Appwrite-Project", PROJECT)
                .header("X-Appwrite-Key", API_KEY),
        )
        .await;
    reply.assert_error(404, "function_not_found");
}

#[tokio::test]
async fn proxy_rules_of_a_project_without_functions_are_empty() {
    let app = spawn_app().await;
    let reply = app
        .get_query(
            "/v1/proxy/rules",
            // what `appwrite push function` (CLI 25) sends
            &[
                ("queries[]", r#"{"method":"limit","values":[1]}"#),
                (
                    "queries[]",
                    r#"{"method":"equal","attribute":"deploymentResourceType","values":["function"]}"#,
                ),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({"total": 0, "rules": []}));
    app.raw(
        app.client
            .get(app.url("/v1/proxy/rules"))
            .header("X-Appwrite-Project", PROJECT),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn health_version_is_public_for_appwrite_client() {
    let app = spawn_app().await;
    let reply = app.raw(app.client.get(app.url("/v1/health/version"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["version"], model::APPWRITE_VERSION);
}

#[tokio::test]
async fn no_content_answers_carry_a_non_json_content_type() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    let reply = app.delete("/v1/functions/fn1").await;
    assert_eq!(reply.status, 204);
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        !content_type.is_empty() && !content_type.starts_with("application/json"),
        "{content_type:?}"
    );
}

/// POST `path` with the key, `format` and a JSON body.
async fn post_as(app: &TestApp, path: &str, format: &str, body: Value) -> crate::helpers::Reply {
    app.raw(
        app.client
            .post(app.url(path))
            .header("X-Appwrite-Project", PROJECT)
            .header("X-Appwrite-Key", API_KEY)
            .header("X-Appwrite-Response-Format", format)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn old_clients_requests_are_upgraded() {
    let app = spawn_app().await;
    let specs = get_as(&app, "/v1/functions/specifications", None).await;
    let slug = specs["specifications"][0]["slug"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let reply = post_as(
        &app,
        "/v1/functions",
        "1.8.0",
        json!({"functionId": "old", "name": "old", "runtime": "node-18.0", "specification": slug}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["specification"], slug.as_str());
    let now = get_as(&app, "/v1/functions/old", Some("1.9.5")).await;
    assert_eq!(now["buildSpecification"], slug.as_str());
    assert_eq!(now["runtimeSpecification"], slug.as_str());

    // 1.6 clients send no variableId and expect plain (non-secret) variables
    let reply = post_as(
        &app,
        "/v1/functions/old/variables",
        "1.6.0",
        json!({"key": "K", "value": "v"}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["value"], "v");
    assert!(reply.body.get("secret").is_none());
    let id = reply.body["$id"].as_str().unwrap_or("").to_owned();
    assert_eq!(id.len(), 20, "{id}");
    let stored = get_as(
        &app,
        &format!("/v1/functions/old/variables/{id}"),
        Some("1.9.5"),
    )
    .await;
    assert_eq!(stored["secret"], false);
}

/// GET `path?query` as a client of `format`.
async fn list_as(
    app: &TestApp,
    path: &str,
    format: &str,
    query: &[(&str, &str)],
) -> crate::helpers::Reply {
    app.raw(
        app.client
            .get(app.url(path))
            .query(query)
            .header("X-Appwrite-Project", PROJECT)
            .header("X-Appwrite-Key", API_KEY)
            .header("X-Appwrite-Response-Format", format),
    )
    .await
}

fn ids(list: &Value, plural: &str) -> Vec<String> {
    list[plural]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["$id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn old_clients_list_queries_are_upgraded() {
    let app = spawn_app().await;
    app.create_function("fa").await;
    app.create_function("fb").await;
    let (deployment_id, _) = app.deploy_ready("fa").await;

    // node-appwrite 8-11 (formats 1.0-1.4) send the string syntax and the old attribute name
    let legacy = format!("equal(\"deployment\", [\"{deployment_id}\"])");
    for format in ["1.0.0", "1.4.0"] {
        let reply = list_as(&app, "/v1/functions", format, &[("queries[]", &legacy)]).await;
        assert_eq!(reply.status, 200, "{format}: {}", reply.body);
        assert_eq!(ids(&reply.body, "functions"), ["fa"], "{format}");
        assert_eq!(
            reply.body["functions"][0]["deployment"],
            deployment_id.as_str()
        );
    }
    let reply = list_as(
        &app,
        "/v1/functions",
        "1.0.0",
        &[("queries[]", "orderDesc(\"\")"), ("queries[]", "limit(1)")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(ids(&reply.body, "functions"), ["fb"]);
    assert_eq!(reply.body["total"], 2);

    // 1.5/1.6 send JSON queries, still with the old names
    let json_query =
        json!({"method": "equal", "attribute": "deployment", "values": [deployment_id]})
            .to_string();
    let reply = list_as(
        &app,
        "/v1/functions",
        "1.6.0",
        &[("queries[0]", &json_query)],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(ids(&reply.body, "functions"), ["fa"]);
    // the string syntax is not read from 1.5 on, nor the old name from 1.7 on
    list_as(&app, "/v1/functions", "1.5.0", &[("queries[]", &legacy)])
        .await
        .assert_error(400, "general_query_invalid");
    list_as(
        &app,
        "/v1/functions",
        "1.7.0",
        &[("queries[0]", &json_query)],
    )
    .await
    .assert_error(400, "general_query_invalid");

    // deployments: `size` is today's `sourceSize` for 1.4-1.6 clients
    let size = json!({"method": "greaterThan", "attribute": "size", "values": [0]}).to_string();
    let reply = list_as(
        &app,
        "/v1/functions/fa/deployments",
        "1.6.0",
        &[("queries[]", &size)],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(ids(&reply.body, "deployments"), [deployment_id.clone()]);
    assert!(reply.body["deployments"][0]["size"].as_i64().unwrap_or(0) > 0);

    // executions: old listExecutions `search` is ignored (even one the validator would refuse)
    let long = "x".repeat(300);
    let reply = list_as(
        &app,
        "/v1/functions/fa/executions",
        "1.0.0",
        &[
            ("queries[]", "equal(\"trigger\", [\"http\"])"),
            ("search", &long),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["total"], 0);
    list_as(
        &app,
        "/v1/functions/fa/executions",
        "1.9.5",
        &[("search", &long)],
    )
    .await
    .assert_error(400, "general_argument_invalid");
}

#[tokio::test]
async fn old_build_download_route_serves_the_build_output() {
    let app = spawn_app().await;
    app.create_function("dl").await;
    let (deployment_id, job) = app.deploy_ready("dl").await;
    let output = crate::helpers::gzip(b"built output");
    let file = app.storage.path().join(&job.output_path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &output).unwrap();

    let base = format!("/v1/functions/dl/deployments/{deployment_id}");
    for (path, format) in [
        (format!("{base}/build/download"), "1.6.0"),
        (format!("{base}/build/download?type=source"), "1.6.0"),
        (format!("{base}/download?type=output"), "1.9.5"),
    ] {
        let res = app
            .client
            .get(app.url(&path))
            .header("X-Appwrite-Project", PROJECT)
            .header("X-Appwrite-Key", API_KEY)
            .header("X-Appwrite-Response-Format", format)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "application/gzip");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            output.as_slice(),
            "{path}"
        );
    }
    let source = app
        .raw(
            app.client
                .get(app.url(&format!("{base}/download")))
                .header("X-Appwrite-Project", PROJECT)
                .header("X-Appwrite-Key", API_KEY),
        )
        .await;
    assert_eq!(source.status, 200);
    // the old route still needs a key
    app.raw(
        app.client
            .get(app.url(&format!("{base}/build/download")))
            .header("X-Appwrite-Project", PROJECT),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Old Client")
        .env("GIT_AUTHOR_EMAIL", "old@example.com")
        .env("GIT_COMMITTER_NAME", "Old Client")
        .env("GIT_COMMITTER_EMAIL", "old@example.com")
        .output()
        .expect("git must be installed");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn old_template_version_is_a_tag() {
    let app = spawn_app().await;
    app.create_function("tv").await;
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("starter");
    std::fs::create_dir_all(repo.join("fn")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("fn/index.js"),
        "module.exports = async () => 'v1';",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "release"]);
    git(&repo, &["tag", "1.0.0"]);
    let tagged = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(
        repo.join("fn/index.js"),
        "module.exports = async () => 'v2';",
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "later"]);

    let body = json!({"repository": format!("file://{}", repo.display()), "owner": "o",
        "rootDirectory": "fn", "version": "1.0.0", "activate": false});
    let reply = post_as(
        &app,
        "/v1/functions/tv/deployments/template",
        "1.8.0",
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["providerCommitHash"], tagged.as_str());
    // 1.9 clients must name the reference themselves
    post_as(&app, "/v1/functions/tv/deployments/template", "1.9.0", body)
        .await
        .assert_error(400, "general_argument_invalid");
}
