//! `regex`, `exists` and `notExists` (spec 5) on every collection, alone and nested in `or`/`and`,
//! and their errors (bad pattern, unknown attribute, wrong attribute type) as 400s.
use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn list(app: &TestApp, path: &str, field: &str, queries: &[Value]) -> Vec<String> {
    let reply = request(app, path, queries).await;
    assert_eq!(reply.status, 200, "{queries:?}: {}", reply.body);
    reply.body[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {}", reply.body))
        .iter()
        .map(|v| v["$id"].as_str().unwrap().to_owned())
        .collect()
}

async fn request(app: &TestApp, path: &str, queries: &[Value]) -> crate::helpers::Reply {
    let pairs: Vec<(String, String)> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (format!("queries[{i}]"), q.to_string()))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.get_query(path, &pairs).await
}

fn regex(attribute: &str, pattern: &str) -> Value {
    json!({"method": "regex", "attribute": attribute, "values": [pattern]})
}

fn exists(names: &[&str]) -> Value {
    json!({"method": "exists", "values": names})
}

fn not_exists(names: &[&str]) -> Value {
    json!({"method": "notExists", "values": names})
}

fn or(queries: &[Value]) -> Value {
    json!({"method": "or", "values": queries})
}

fn and(queries: &[Value]) -> Value {
    json!({"method": "and", "values": queries})
}

async fn assert_invalid(app: &TestApp, path: &str, query: Value, message: &str) {
    let reply = request(app, path, std::slice::from_ref(&query)).await;
    reply.assert_error(400, "general_query_invalid");
    let got = reply.body["message"].as_str().unwrap_or_default();
    assert!(got.starts_with(message), "{query}: {got}");
}

#[tokio::test]
async fn regex_and_exists_on_functions() {
    let app = spawn_app().await;
    for (id, name) in [
        ("alpha", "Alpha one"),
        ("beta", "Beta two"),
        ("gamma", "Gamma three"),
    ] {
        let r = app
            .post(
                "/v1/functions",
                json!({"functionId": id, "name": name, "runtime": "node-18.0", "entrypoint": "index.js"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let path = "/v1/functions";
    let ids = |queries: Vec<Value>| {
        let app = &app;
        async move { list(app, path, "functions", &queries).await }
    };
    assert_eq!(
        ids(vec![regex("name", "^(Alpha|Gamma) ")]).await,
        ["alpha", "gamma"]
    );
    // PostgreSQL's `~` is case-sensitive; an embedded `(?i)` makes a pattern case-insensitive.
    assert_eq!(ids(vec![regex("name", "t[wh]")]).await, ["beta", "gamma"]);
    assert!(ids(vec![regex("name", "^alpha")]).await.is_empty());
    assert_eq!(ids(vec![regex("name", "(?i)^alpha")]).await, ["alpha"]);
    assert_eq!(ids(vec![regex("$id", "^.e")]).await, ["beta"]);
    // Every known attribute exists (NOT NULL columns), also an unset one (`schedule` = '').
    assert_eq!(
        ids(vec![exists(&["name", "schedule", "$createdAt"])]).await,
        ["alpha", "beta", "gamma"]
    );
    assert!(ids(vec![not_exists(&["schedule"])]).await.is_empty());
    assert_eq!(
        ids(vec![or(&[not_exists(&["name"]), regex("name", "two$")])]).await,
        ["beta"]
    );
    assert_eq!(
        ids(vec![and(&[exists(&["runtime"]), regex("name", "^[AB]")])]).await,
        ["alpha", "beta"]
    );
    assert_eq!(
        ids(vec![or(&[
            and(&[regex("name", "^A"), exists(&["enabled"])]),
            regex("$id", "mm"),
        ])])
        .await,
        ["alpha", "gamma"]
    );

    assert_invalid(
        &app,
        path,
        regex("name", "("),
        "Invalid query: Invalid regular expression",
    )
    .await;
    assert_invalid(
        &app,
        path,
        regex("name", "a{2,1}"),
        "Invalid query: Invalid regular expression",
    )
    .await;
    assert_invalid(
        &app,
        path,
        or(&[regex("name", "["), exists(&["name"])]),
        "Invalid query: Invalid regular expression",
    )
    .await;
    assert_invalid(
        &app,
        path,
        regex("timeout", "1"),
        "Invalid query: Cannot apply regex",
    )
    .await;
    assert_invalid(
        &app,
        path,
        regex("secret", "1"),
        "Invalid query: Attribute not found in schema: secret",
    )
    .await;
    assert_invalid(
        &app,
        path,
        json!({"method": "regex", "attribute": "name", "values": ["a", "b"]}),
        "Invalid query: regex queries require exactly 1 value",
    )
    .await;
    assert_invalid(
        &app,
        path,
        exists(&["name", "nope"]),
        "Invalid query: Attribute not found in schema: nope",
    )
    .await;
    assert_invalid(
        &app,
        path,
        not_exists(&["nope"]),
        "Invalid query: Attribute not found in schema: nope",
    )
    .await;
    assert_invalid(
        &app,
        path,
        and(&[exists(&["name"]), not_exists(&["vars"])]),
        "Invalid query: Attribute not found in schema: vars",
    )
    .await;
    assert_invalid(
        &app,
        path,
        exists(&[]),
        "Invalid query: exists queries require",
    )
    .await;
}

#[tokio::test]
async fn regex_and_exists_on_deployments_executions_variables() {
    let app = spawn_app().await;
    app.create_function("f").await;
    let (d1, _) = app.deploy_ready("f").await;
    let (d2, _) = app.deploy_ready("f").await;

    // deployments
    let deployments = "/v1/functions/f/deployments";
    let both = vec![d1.clone(), d2.clone()];
    assert_eq!(
        list(
            &app,
            deployments,
            "deployments",
            &[regex("status", "^re.dy$")]
        )
        .await,
        both
    );
    assert!(list(
        &app,
        deployments,
        "deployments",
        &[regex("status", "^failed$")]
    )
    .await
    .is_empty());
    assert_eq!(
        list(
            &app,
            deployments,
            "deployments",
            &[exists(&["status", "type", "buildSize"])]
        )
        .await,
        both
    );
    assert_eq!(
        list(
            &app,
            deployments,
            "deployments",
            &[or(&[
                not_exists(&["status"]),
                regex("$id", &format!("^{d2}$"))
            ])]
        )
        .await,
        [d2]
    );
    assert_invalid(
        &app,
        deployments,
        regex("buildSize", "1"),
        "Invalid query: Cannot apply regex",
    )
    .await;
    assert_invalid(
        &app,
        deployments,
        not_exists(&["name"]),
        "Invalid query: Attribute not found in schema: name",
    )
    .await;
    assert_invalid(
        &app,
        deployments,
        regex("status", "*"),
        "Invalid query: Invalid regular expression",
    )
    .await;

    // executions
    let mut executions = Vec::new();
    for path in ["/alpha", "/beta?x=1", "/gamma/2"] {
        let r = app
            .post(
                "/v1/functions/f/executions",
                json!({"async": true, "path": path, "method": "GET"}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        executions.push(r.body["$id"].as_str().unwrap().to_owned());
    }
    let path = "/v1/functions/f/executions";
    assert_eq!(
        list(
            &app,
            path,
            "executions",
            &[regex("requestPath", "^/(alpha|gamma)")]
        )
        .await,
        [executions[0].clone(), executions[2].clone()]
    );
    assert_eq!(
        list(
            &app,
            path,
            "executions",
            &[regex("requestPath", r"\?x=\d$")]
        )
        .await,
        [executions[1].clone()]
    );
    assert_eq!(
        list(
            &app,
            path,
            "executions",
            &[and(&[
                exists(&["requestPath", "status"]),
                regex("requestMethod", "^GET$")
            ])]
        )
        .await,
        executions
    );
    assert!(list(&app, path, "executions", &[not_exists(&["trigger"])])
        .await
        .is_empty());
    assert_invalid(
        &app,
        path,
        regex("duration", "1"),
        "Invalid query: Cannot apply regex",
    )
    .await;
    assert_invalid(
        &app,
        path,
        exists(&["logs"]),
        "Invalid query: Attribute not found in schema: logs",
    )
    .await;
    assert_invalid(
        &app,
        path,
        regex("requestPath", "(?<"),
        "Invalid query: Invalid regular expression",
    )
    .await;

    // variables
    let vars = "/v1/functions/f/variables";
    let mut variables = Vec::new();
    for key in ["API_KEY", "API_URL", "DEBUG"] {
        let r = app.post(vars, json!({"key": key, "value": "v"})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        variables.push(r.body["$id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        list(&app, vars, "variables", &[regex("key", "^API_")]).await,
        [variables[0].clone(), variables[1].clone()]
    );
    assert_eq!(
        list(
            &app,
            vars,
            "variables",
            &[or(&[regex("key", "G$"), not_exists(&["key"])])]
        )
        .await,
        [variables[2].clone()]
    );
    assert_eq!(
        list(
            &app,
            vars,
            "variables",
            &[exists(&["key", "secret", "resourceId"])]
        )
        .await,
        variables
    );
    assert_invalid(
        &app,
        vars,
        regex("secret", "t"),
        "Invalid query: Cannot apply regex",
    )
    .await;
    assert_invalid(
        &app,
        vars,
        exists(&["value"]),
        "Invalid query: Attribute not found in schema: value",
    )
    .await;
    assert_invalid(
        &app,
        vars,
        regex("key", "a)"),
        "Invalid query: Invalid regular expression",
    )
    .await;
}

#[tokio::test]
async fn regex_and_exists_on_proxy_rules_share_the_list_routine() {
    let app = spawn_app().await;
    app.create_function("f1").await;
    app.create_function("f2").await;
    let path = "/v1/proxy/rules";
    let found = list(&app, path, "rules", &[regex("domain", r"^f1\.")]).await;
    assert_eq!(domains(&app, found).await, ["f1.functions.localhost"]);
    let found = list(&app, path, "rules", &[exists(&["domain", "status"])]).await;
    assert_eq!(found.len(), 2);
    let found = list(
        &app,
        path,
        "rules",
        &[or(&[not_exists(&["domain"]), regex("domain", "^f2")])],
    )
    .await;
    assert_eq!(domains(&app, found).await, ["f2.functions.localhost"]);
    assert_invalid(
        &app,
        path,
        regex("domain", "("),
        "Invalid query: Invalid regular expression",
    )
    .await;
    assert_invalid(
        &app,
        path,
        exists(&["nope"]),
        "Invalid query: Attribute not found in schema: nope",
    )
    .await;
}

async fn domains(app: &TestApp, ids: Vec<String>) -> Vec<String> {
    let rules = app_rules(app, "/v1/proxy/rules").await;
    ids.iter()
        .map(|id| {
            let rule = rules.iter().find(|r| r["$id"] == id.as_str()).unwrap();
            rule["domain"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn app_rules(app: &TestApp, path: &str) -> Vec<Value> {
    let reply = app.get(path).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["rules"].as_array().unwrap().clone()
}

#[tokio::test]
async fn cursors_read_datetime_and_computed_values_from_the_database() {
    let app = spawn_app().await;
    for id in ["one", "two", "three"] {
        app.create_function(id).await;
    }
    let path = "/v1/functions";
    let by = |method: &str, attribute: &str| json!({"method": method, "attribute": attribute});
    let cursor = |method: &str, id: &str| json!({"method": method, "values": [id]});
    // Datetimes keep their microseconds through the cursor lookup.
    assert_eq!(
        list(
            &app,
            path,
            "functions",
            &[
                by("orderDesc", "$createdAt"),
                cursor("cursorAfter", "three")
            ]
        )
        .await,
        ["two", "one"]
    );
    assert_eq!(
        list(
            &app,
            path,
            "functions",
            &[by("orderDesc", "$updatedAt"), cursor("cursorBefore", "one")]
        )
        .await,
        ["three", "two"]
    );
    assert_eq!(
        list(
            &app,
            path,
            "functions",
            &[
                by("orderAsc", "name"),
                by("orderDesc", "timeout"),
                cursor("cursorAfter", "one")
            ]
        )
        .await,
        ["three", "two"]
    );
    let missing = request(&app, path, &[cursor("cursorAfter", "ghost")]).await;
    missing.assert_error(400, "general_cursor_not_found");
    assert_eq!(
        missing.body["message"],
        "Function 'ghost' for the 'cursor' value not found."
    );

    // A computed attribute (deployments' totalSize = sourceSize + buildSize) as cursor value.
    let (d1, _) = app.deploy_ready("one").await;
    let (d2, _) = app.deploy_ready("one").await;
    let deployments = "/v1/functions/one/deployments";
    let all = list(
        &app,
        deployments,
        "deployments",
        &[by("orderAsc", "totalSize")],
    )
    .await;
    assert_eq!(all.len(), 2);
    assert_eq!(
        list(
            &app,
            deployments,
            "deployments",
            &[by("orderAsc", "totalSize"), cursor("cursorAfter", &all[0])]
        )
        .await,
        [all[1].clone()]
    );
    // A deployment of another function is no cursor here.
    let (other, _) = app.deploy_ready("two").await;
    request(&app, deployments, &[cursor("cursorAfter", &other)])
        .await
        .assert_error(400, "general_cursor_not_found");
    assert!(all.contains(&d1) && all.contains(&d2));
}
