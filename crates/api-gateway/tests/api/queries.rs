//! The query language on the list endpoints (spec 5): every filter method, orders, paging,
//! cursors, select, search, total=false and the errors.
use crate::helpers::spawn_app;
use serde_json::{json, Value};

fn ids(list: &Value, field: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {list}"))
        .iter()
        .map(|v| v["$id"].as_str().unwrap().to_owned())
        .collect()
}

fn q(method: &str, attribute: &str, values: Value) -> String {
    let mut o = json!({"method": method});
    if !attribute.is_empty() {
        o["attribute"] = json!(attribute);
    }
    if !values.is_null() {
        o["values"] = values;
    }
    o.to_string()
}

#[tokio::test]
async fn filters_orders_and_paging_on_functions() {
    let app = spawn_app().await;
    // alpha(timeout 10), beta(20), gamma(30, disabled), delta(40, schedule set)
    for (id, name, timeout, enabled) in [
        ("alpha", "Alpha one", 10, true),
        ("beta", "Beta two", 20, true),
        ("gamma", "Gamma three", 30, false),
        ("delta", "Delta four", 40, true),
    ] {
        let r = app
            .post(
                "/v1/functions",
                json!({"functionId": id, "name": name, "runtime": "node-18.0", "timeout": timeout, "enabled": enabled, "entrypoint": "index.js"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let list = |queries: Vec<String>| {
        let app = &app;
        async move {
            let pairs: Vec<(String, String)> = queries
                .into_iter()
                .enumerate()
                .map(|(i, q)| (format!("queries[{i}]"), q))
                .collect();
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            app.get_query("/v1/functions", &pairs).await
        }
    };
    let check = |r: crate::helpers::Reply, want: &[&str]| {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(ids(&r.body, "functions"), want, "{}", r.body);
    };

    check(list(vec![]).await, &["alpha", "beta", "gamma", "delta"]);
    check(
        list(vec![q("equal", "name", json!(["Beta two", "Delta four"]))]).await,
        &["beta", "delta"],
    );
    check(
        list(vec![q("notEqual", "$id", json!(["alpha"]))]).await,
        &["beta", "gamma", "delta"],
    );
    check(
        list(vec![q("lessThan", "timeout", json!([20]))]).await,
        &["alpha"],
    );
    check(
        list(vec![q("lessThanEqual", "timeout", json!(["20"]))]).await,
        &["alpha", "beta"],
    );
    check(
        list(vec![q("greaterThan", "timeout", json!([30]))]).await,
        &["delta"],
    );
    check(
        list(vec![q("greaterThanEqual", "timeout", json!([30]))]).await,
        &["gamma", "delta"],
    );
    check(
        list(vec![q("between", "timeout", json!([15, 35]))]).await,
        &["beta", "gamma"],
    );
    check(
        list(vec![q("notBetween", "timeout", json!([15, 35]))]).await,
        &["alpha", "delta"],
    );
    check(
        list(vec![q("equal", "enabled", json!(["false"]))]).await,
        &["gamma"],
    );
    check(
        list(vec![q("startsWith", "name", json!(["Ga"]))]).await,
        &["gamma"],
    );
    check(
        list(vec![q("notStartsWith", "name", json!(["Ga"]))]).await,
        &["alpha", "beta", "delta"],
    );
    check(
        list(vec![q("endsWith", "name", json!(["four"]))]).await,
        &["delta"],
    );
    check(
        list(vec![q("notEndsWith", "name", json!(["four"]))]).await,
        &["alpha", "beta", "gamma"],
    );
    check(
        list(vec![q("contains", "name", json!(["ta t", "one"]))]).await,
        &["alpha", "beta"],
    );
    check(
        list(vec![q("containsAll", "name", json!(["Be", "two"]))]).await,
        &["beta"],
    );
    check(
        list(vec![q("notContains", "name", json!(["a"]))]).await,
        &[],
    );
    check(
        list(vec![q("search", "name", json!(["three four"]))]).await,
        &["gamma", "delta"],
    );
    check(
        list(vec![q("notSearch", "name", json!(["three four"]))]).await,
        &["alpha", "beta"],
    );
    check(
        list(vec![q("isNull", "deploymentId", Value::Null)]).await,
        &["alpha", "beta", "gamma", "delta"],
    );
    check(
        list(vec![q("isNotNull", "deploymentId", Value::Null)]).await,
        &[],
    );
    check(
        list(vec![json!({"method": "or", "values": [
            {"method": "equal", "attribute": "$id", "values": ["alpha"]},
            {"method": "greaterThan", "attribute": "timeout", "values": [35]}
        ]})
        .to_string()])
        .await,
        &["alpha", "delta"],
    );
    check(
        list(vec![json!({"method": "and", "values": [
            {"method": "greaterThan", "attribute": "timeout", "values": [10]},
            {"method": "lessThan", "attribute": "timeout", "values": [40]}
        ]})
        .to_string()])
        .await,
        &["beta", "gamma"],
    );
    check(
        list(vec![q(
            "greaterThan",
            "$createdAt",
            json!(["2000-01-01T00:00:00.000+00:00"]),
        )])
        .await,
        &["alpha", "beta", "gamma", "delta"],
    );

    // orders, limit/offset
    check(
        list(vec![q("orderDesc", "timeout", Value::Null)]).await,
        &["delta", "gamma", "beta", "alpha"],
    );
    check(
        list(vec![
            q("orderAsc", "name", Value::Null),
            q("limit", "", json!([2])),
            q("offset", "", json!([1])),
        ])
        .await,
        &["beta", "delta"],
    );
    let random = list(vec![q("orderRandom", "", Value::Null)]).await;
    let mut got = ids(&random.body, "functions");
    got.sort();
    assert_eq!(got, vec!["alpha", "beta", "delta", "gamma"]);

    // cursors (in the requested order)
    check(
        list(vec![
            q("cursorAfter", "", json!(["beta"])),
            q("limit", "", json!([1])),
        ])
        .await,
        &["gamma"],
    );
    check(
        list(vec![q("cursorBefore", "", json!(["gamma"]))]).await,
        &["alpha", "beta"],
    );
    check(
        list(vec![
            q("orderDesc", "timeout", Value::Null),
            q("cursorAfter", "", json!(["gamma"])),
        ])
        .await,
        &["beta", "alpha"],
    );
    check(
        list(vec![
            q("orderDesc", "timeout", Value::Null),
            q("cursorBefore", "", json!(["beta"])),
            q("limit", "", json!([1])),
        ])
        .await,
        &["gamma"],
    );
    let missing = list(vec![q("cursorAfter", "", json!(["ghost"]))]).await;
    missing.assert_error(400, "general_cursor_not_found");
    assert_eq!(
        missing.body["message"],
        "Function 'ghost' for the 'cursor' value not found."
    );

    // total=false, search, both array encodings, unknown params
    let r = app
        .get_query(
            "/v1/functions",
            &[("total", "false"), ("search", "gamma"), ("whatever", "1")],
        )
        .await;
    assert_eq!(r.body["total"], 0);
    assert_eq!(ids(&r.body, "functions"), vec!["gamma"]);
    let limit = q("limit", "", json!([1]));
    let r = app
        .get_query("/v1/functions", &[("queries[]", limit.as_str())])
        .await;
    assert_eq!(r.body["total"], 4);
    assert_eq!(ids(&r.body, "functions"), vec!["alpha"]);

    // errors
    for bad in [
        q("equal", "secretThing", json!(["x"])),
        q("orderAsc", "vars", Value::Null),
        q("startsWith", "timeout", json!(["1"])),
        q("lessThan", "timeout", json!(["ten"])),
        q("equal", "$createdAt", json!(["yesterday"])),
        q("select", "", json!(["name"])),
        q("regexish", "name", json!(["x"])),
        q("between", "timeout", json!([1])),
        q("limit", "", json!([0])),
        q("offset", "", json!([-1])),
        "{not json".to_owned(),
    ] {
        let r = list(vec![bad.clone()]).await;
        r.assert_error(400, "general_query_invalid");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid quer"),
            "{bad}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn select_cursor_and_rules_on_deployments_executions_variables() {
    let app = spawn_app().await;
    app.create_function("f").await;
    let (d1, _) = app.deploy_ready("f").await;
    let (d2, _) = app.deploy_ready("f").await;

    // select: non-selected attributes are omitted
    let sel = q("select", "", json!(["status", "type"]));
    let r = app
        .get_query(
            "/v1/functions/f/deployments",
            &[("queries[0]", sel.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = &r.body["deployments"][0];
    assert_eq!(first["status"], "ready");
    assert!(first.get("sourceSize").is_none(), "{first}");
    assert!(first.get("$id").is_some());
    let size = q("greaterThan", "totalSize", json!([0]));
    let after = q("cursorAfter", "", json!([d1.clone()]));
    let r = app
        .get_query(
            "/v1/functions/f/deployments",
            &[
                ("queries[0]", size.as_str()),
                ("queries[1]", after.as_str()),
            ],
        )
        .await;
    assert_eq!(ids(&r.body, "deployments"), vec![d2.clone()]);
    let bad_cursor = q("cursorAfter", "", json!(["nope"]));
    app.get_query(
        "/v1/functions/f/deployments",
        &[("queries[0]", bad_cursor.as_str())],
    )
    .await
    .assert_error(400, "general_cursor_not_found");

    // executions: select is not allowed there; attributes per collection
    let r = app
        .get_query(
            "/v1/functions/f/executions",
            &[("queries[0]", sel.as_str())],
        )
        .await;
    r.assert_error(400, "general_query_invalid");
    let status = q("equal", "status", json!(["completed"]));
    let r = app
        .get_query(
            "/v1/functions/f/executions",
            &[("queries[0]", status.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 0);
    let wrong = q("equal", "name", json!(["x"]));
    app.get_query(
        "/v1/functions/f/executions",
        &[("queries[0]", wrong.as_str())],
    )
    .await
    .assert_error(400, "general_query_invalid");
    app.get_query(
        "/v1/functions/f/variables",
        &[("queries[0]", wrong.as_str())],
    )
    .await
    .assert_error(400, "general_query_invalid");
    let cur = q("cursorAfter", "", json!(["ghost"]));
    let r = app
        .get_query(
            "/v1/functions/f/executions",
            &[("queries[0]", cur.as_str())],
        )
        .await;
    r.assert_error(400, "general_cursor_not_found");
    assert_eq!(
        r.body["message"],
        "Execution 'ghost' for the 'cursor' value not found."
    );
}
