//! Function domains (spec 2.5, 7.4): proxy rules CRUD, console variables and plain HTTP requests
//! to a function's domain served as executions (through a fake executor).
use crate::helpers::{spawn_app, API_KEY, PROJECT};
use model::proto::{ExecutionResult, Header};
use serde_json::json;

fn rule_ids(list: &serde_json::Value) -> Vec<String> {
    list["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["domain"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rules_are_created_listed_queried_and_deleted_with_their_function() {
    let app = spawn_app().await;
    app.create_function("f1").await;
    app.create_function("f2").await;

    // every function gets `<id>.<functions domain>`
    let list = app.get("/v1/proxy/rules").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["total"], 2);
    let rule = list.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["deploymentResourceId"] == "f1")
        .unwrap()
        .clone();
    assert_eq!(rule["domain"], "f1.functions.localhost");
    assert_eq!(rule["type"], "deployment");
    assert_eq!(rule["trigger"], "manual");
    assert_eq!(rule["deploymentResourceType"], "function");
    assert_eq!(rule["status"], "verified");
    assert_eq!(rule["deploymentId"], "");
    assert_eq!(rule["redirectUrl"], "");
    assert_eq!(rule["redirectStatusCode"], 0);
    let id = rule["$id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "md5 of the domain: {id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    for key in [
        "$createdAt",
        "$updatedAt",
        "logs",
        "renewAt",
        "deploymentVcsProviderBranch",
    ] {
        assert!(rule[key].is_string(), "{key}: {rule}");
    }

    // the CLI's exact query
    let cli_queries = [
        r#"{"method":"limit","values":[1]}"#,
        r#"{"method":"equal","attribute":"deploymentResourceType","values":["function"]}"#,
        r#"{"method":"equal","attribute":"deploymentResourceId","values":["f1"]}"#,
        r#"{"method":"equal","attribute":"trigger","values":["manual"]}"#,
    ];
    let pairs: Vec<(&str, &str)> = cli_queries.iter().map(|q| ("queries[]", *q)).collect();
    let found = app.get_query("/v1/proxy/rules", &pairs).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["total"], 1);
    assert_eq!(rule_ids(&found.body), vec!["f1.functions.localhost"]);
    let none = app
        .get_query(
            "/v1/proxy/rules",
            &[(
                "queries[]",
                r#"{"method":"equal","attribute":"trigger","values":["deployment"]}"#,
            )],
        )
        .await;
    assert_eq!(none.body["total"], 0, "{}", none.body);
    app.get_query(
        "/v1/proxy/rules",
        &[(
            "queries[]",
            r#"{"method":"equal","attribute":"nope","values":["x"]}"#,
        )],
    )
    .await
    .assert_error(400, "general_query_invalid");

    // custom domains: created, normalized, unique across the platform
    let created = app
        .post(
            "/v1/proxy/rules/function",
            json!({"domain": "Hello.Example.COM", "functionId": "f1"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["domain"], "hello.example.com");
    assert_eq!(created.body["deploymentResourceId"], "f1");
    assert_eq!(created.body["trigger"], "manual");
    app.post(
        "/v1/proxy/rules/function",
        json!({"domain": "hello.example.com", "functionId": "f2"}),
    )
    .await
    .assert_error(409, "rule_already_exists");
    app.post(
        "/v1/proxy/rules/function",
        json!({"domain": "f2.functions.localhost", "functionId": "f1"}),
    )
    .await
    .assert_error(409, "rule_already_exists");
    app.post(
        "/v1/proxy/rules/function",
        json!({"domain": "x.example.com", "functionId": "missing"}),
    )
    .await
    .assert_error(404, "function_not_found");
    app.post(
        "/v1/proxy/rules/function",
        json!({"domain": "not a domain", "functionId": "f1"}),
    )
    .await
    .assert_error(400, "general_argument_invalid");

    let page = app
        .get_query(
            "/v1/proxy/rules",
            &[
                ("queries[]", r#"{"method":"orderAsc","attribute":"domain"}"#),
                ("queries[]", r#"{"method":"limit","values":[2]}"#),
                ("queries[]", r#"{"method":"offset","values":[1]}"#),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["total"], 3);
    assert_eq!(
        rule_ids(&page.body),
        vec!["f2.functions.localhost", "hello.example.com"]
    );

    // scopes: guests have none
    let guest = app
        .raw(
            app.client
                .get(app.url("/v1/proxy/rules"))
                .header("X-Appwrite-Project", PROJECT),
        )
        .await;
    guest.assert_error(401, "general_unauthorized_scope");

    // deleting the function deletes its rules
    assert_eq!(app.delete("/v1/functions/f1").await.status, 204);
    let left = app.get("/v1/proxy/rules").await;
    assert_eq!(rule_ids(&left.body), vec!["f2.functions.localhost"]);
}

#[tokio::test]
async fn console_variables_name_the_functions_domain() {
    let app = spawn_app().await;
    let vars = app.get("/v1/console/variables").await;
    assert_eq!(vars.status, 200, "{}", vars.body);
    assert_eq!(vars.body["_APP_DOMAIN_FUNCTIONS"], "functions.localhost");
    assert_eq!(vars.body["_APP_COMPUTE_SIZE_LIMIT"], 30_000_000);
    assert_eq!(vars.body["_APP_DOMAIN_ENABLED"], true);
    let guest = app
        .raw(
            app.client
                .get(app.url("/v1/console/variables"))
                .header("X-Appwrite-Project", PROJECT),
        )
        .await;
    guest.assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn a_request_to_a_function_domain_runs_the_function_with_that_request() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/functions",
            json!({"functionId": "web", "name": "web", "runtime": "node-18.0",
                   "entrypoint": "index.js", "execute": ["any"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    app.deploy_ready("web").await;

    let body: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    let runtime_body: Vec<u8> = vec![0, 159, 146, 150, 255, b'o', b'k'];
    let executor = app.fake_executor(ExecutionResult {
        status: "completed".into(),
        status_code: 201,
        headers: vec![
            Header {
                name: "content-type".into(),
                value: "application/octet-stream".into(),
            },
            Header {
                name: "set-cookie".into(),
                value: "session=abc; Path=/".into(),
            },
            Header {
                name: "x-open-runtimes-log-id".into(),
                value: "secret-log".into(),
            },
        ],
        body: runtime_body.clone(),
        duration_seconds: 0.01,
        ..Default::default()
    });
    let res = app
        .client
        .post(app.url("/some/path?a=1&b=two"))
        .header("Host", "web.functions.localhost:8080")
        .header("Cookie", "c1=v1; c2=v2")
        .header("X-Custom", "yes")
        .header("X-Open-Runtimes-Secret", "spoofed")
        .header("Content-Type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let job = executor.await.unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let headers = res.headers().clone();
    let execution_id = headers
        .get("x-appwrite-execution-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(execution_id, job.execution_id);
    assert_eq!(
        headers.get("set-cookie").unwrap().to_str().unwrap(),
        "session=abc; Path=/"
    );
    assert!(headers.get("x-open-runtimes-log-id").is_none());
    assert_eq!(res.bytes().await.unwrap().to_vec(), runtime_body);

    // what the function got: the real request
    assert_eq!(job.method, "POST");
    assert_eq!(job.path, "/some/path?a=1&b=two");
    assert_eq!(job.body, body);
    let header = |name: &str| {
        job.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.clone())
    };
    assert_eq!(header("cookie").as_deref(), Some("c1=v1; c2=v2"));
    assert_eq!(header("x-custom").as_deref(), Some("yes"));
    assert_eq!(
        header("host").as_deref(),
        Some("web.functions.localhost:8080")
    );
    assert_eq!(header("x-appwrite-trigger").as_deref(), Some("http"));
    assert_eq!(
        header("x-appwrite-execution-id"),
        Some(execution_id.clone())
    );
    assert!(header("x-appwrite-key").is_some_and(|k| k.starts_with("ephemeral_")));
    assert_ne!(header("x-open-runtimes-secret").as_deref(), Some("spoofed"));

    // stored like any execution
    let stored = app
        .get(&format!("/v1/functions/web/executions/{execution_id}"))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.body["trigger"], "http");
    assert_eq!(stored.body["status"], "completed");
    assert_eq!(stored.body["requestMethod"], "POST");
    assert_eq!(stored.body["requestPath"], "/some/path?a=1&b=two");
    assert_eq!(stored.body["responseStatusCode"], 201);
}

#[tokio::test]
async fn function_domain_errors() {
    let app = spawn_app().await;
    let host = |h: &str| app.client.get(app.url("/")).header("Host", h.to_owned());
    // unknown name under the functions domain
    app.raw(host("nobody.functions.localhost"))
        .await
        .assert_error(404, "router_host_not_found");
    // not a function host at all: the API answers
    let api = app
        .raw(
            app.client
                .get(app.url("/v1/functions"))
                .header("Host", "api.example.org")
                .header("X-Appwrite-Project", PROJECT)
                .header("X-Appwrite-Key", API_KEY),
        )
        .await;
    assert_eq!(api.status, 200, "{}", api.body);

    // no `any`/`guests` in execute
    app.create_function("private").await;
    app.raw(host("private.functions.localhost"))
        .await
        .assert_error(401, "function_execute_permission_missing");
    // no deployment
    let public = app
        .post(
            "/v1/functions",
            json!({"functionId": "public", "name": "p", "runtime": "node-18.0",
                   "entrypoint": "index.js", "execute": ["guests"]}),
        )
        .await;
    assert_eq!(public.status, 201, "{}", public.body);
    app.raw(host("public.functions.localhost"))
        .await
        .assert_error(404, "deployment_not_found");
    // a disabled function is not found
    let disabled = app
        .put(
            "/v1/functions/public",
            json!({"name": "p", "enabled": false, "execute": ["guests"]}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    app.raw(host("public.functions.localhost"))
        .await
        .assert_error(404, "function_not_found");
}

#[tokio::test]
async fn a_domain_execution_that_times_out_is_a_504() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/functions",
            json!({"functionId": "slow", "name": "slow", "runtime": "node-18.0",
                   "entrypoint": "index.js", "execute": ["any"], "timeout": 1}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    app.deploy_ready("slow").await;
    let executor = app.fake_executor(ExecutionResult {
        status: "failed".into(),
        status_code: 500,
        errors: "Execution timed out.".into(),
        ..Default::default()
    });
    let res = app
        .raw(
            app.client
                .get(app.url("/"))
                .header("Host", "slow.functions.localhost"),
        )
        .await;
    executor.await.unwrap();
    res.assert_error(504, "function_synchronous_timeout");
}
