//! Auth (spec 1.3): projects and keys from the admin command, project isolation, scopes, key
//! expiry, JWT users against `execute` roles, and ephemeral execution keys.
use crate::helpers::{spawn_app, TestApp, API_KEY, JWT_SECRET, PROJECT};
use api_gateway::Settings;
use model::proto::ExecutionJob;
use serde_json::json;

async fn admin(app: &TestApp, args: &[&str]) -> String {
    let settings: Settings = serde_json::from_value(json!({
        "database": {"url": app.database_url()},
        "auth": {"project_id": PROJECT, "api_key": API_KEY},
    }))
    .unwrap();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    api_gateway::admin::run(&settings, &args).await.unwrap()
}

fn as_key(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    project: &str,
    key: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("X-Appwrite-Project", project)
        .header("X-Appwrite-Key", key)
}

fn user_jwt(user: &str, exp_offset: i64) -> String {
    let exp = chrono::Utc::now().timestamp() + exp_offset;
    api_gateway::tokens::sign(
        &json!({"userId": user, "sessionId": "s1", "exp": exp}),
        JWT_SECRET.as_bytes(),
    )
}

fn as_user(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    jwt: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-JWT", jwt)
}

#[tokio::test]
async fn projects_keys_scopes_and_isolation() {
    use reqwest::Method;
    let app = spawn_app().await;
    app.create_function("in-default").await;
    assert_eq!(
        admin(&app, &["create-project", "p2"]).await,
        "project p2 created"
    );
    let reader = admin(
        &app,
        &[
            "create-key",
            "--project",
            "p2",
            "--scopes",
            "functions.read",
        ],
    )
    .await;
    let writer = admin(
        &app,
        &[
            "create-key",
            "--project",
            "p2",
            "--scopes",
            "functions.read,functions.write,execution.read",
        ],
    )
    .await;
    assert!(reader.starts_with("standard_") && reader != writer);

    // unknown project
    app.raw(as_key(&app, Method::GET, "/v1/functions", "nope", &reader))
        .await
        .assert_error(404, "project_not_found");

    // the reader sees p2 only, and cannot write
    let list = app
        .raw(as_key(&app, Method::GET, "/v1/functions", "p2", &reader))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["total"], 0);
    app.raw(as_key(
        &app,
        Method::GET,
        "/v1/functions/in-default",
        "p2",
        &reader,
    ))
    .await
    .assert_error(404, "function_not_found");
    let denied = app
        .raw(
            as_key(&app, Method::POST, "/v1/functions", "p2", &reader)
                .json(&json!({"functionId": "x", "name": "x", "runtime": "node-18.0"})),
        )
        .await;
    denied.assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        denied.body["message"],
        "app.p2@service.localhost (role: applications) missing scopes ([\"functions.write\"])"
    );
    app.raw(as_key(
        &app,
        Method::GET,
        "/v1/functions/in-default/executions",
        "p2",
        &reader,
    ))
    .await
    .assert_error(401, "general_unauthorized_scope");

    // the writer creates a function in p2 with the same id as one in the default project
    let created = app
        .raw(
            as_key(&app, Method::POST, "/v1/functions", "p2", &writer).json(
                &json!({"functionId": "in-default", "name": "p2 fn", "runtime": "node-18.0"}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let var = app
        .raw(
            as_key(
                &app,
                Method::POST,
                "/v1/functions/in-default/variables",
                "p2",
                &writer,
            )
            .json(&json!({"variableId": "v", "key": "K", "value": "p2"})),
        )
        .await;
    assert_eq!(var.status, 201, "{}", var.body);
    // deprecated alias execution.read grants executions.read
    let execs = app
        .raw(as_key(
            &app,
            Method::GET,
            "/v1/functions/in-default/executions",
            "p2",
            &writer,
        ))
        .await;
    assert_eq!(execs.status, 200, "{}", execs.body);
    // isolation both ways
    assert_eq!(
        app.get("/v1/functions/in-default").await.body["name"],
        "fn in-default"
    );
    assert_eq!(
        app.get("/v1/functions/in-default/variables").await.body["total"],
        0
    );
    assert_eq!(app.get("/v1/functions").await.body["total"], 1);
    let p2_list = app
        .raw(as_key(&app, Method::GET, "/v1/functions", "p2", &reader))
        .await;
    assert_eq!(p2_list.body["functions"][0]["name"], "p2 fn");

    // a key only works in its own project: the start-up key in p2 and p2's key in default are guests
    app.raw(as_key(&app, Method::GET, "/v1/functions", "p2", API_KEY))
        .await
        .assert_error(401, "general_unauthorized_scope");
    let guest = app
        .raw(as_key(&app, Method::GET, "/v1/functions", PROJECT, &writer))
        .await;
    guest.assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        guest.body["message"],
        "User (role: guests) missing scopes ([\"functions.read\"])"
    );

    // expired keys
    let expired = admin(
        &app,
        &[
            "create-key",
            "--project",
            "p2",
            "--scopes",
            "functions.read",
            "--expire",
            "2020-01-01T00:00:00Z",
        ],
    )
    .await;
    app.raw(as_key(&app, Method::GET, "/v1/functions", "p2", &expired))
        .await
        .assert_error(401, "project_key_expired");
    // keys for the start-up project work too
    let default_reader = admin(
        &app,
        &[
            "create-key",
            "--project",
            PROJECT,
            "--scopes",
            "functions.read",
        ],
    )
    .await;
    let r = app
        .raw(as_key(
            &app,
            Method::GET,
            "/v1/functions",
            PROJECT,
            &default_reader,
        ))
        .await;
    assert_eq!(r.body["total"], 1);
    app.raw(as_key(
        &app,
        Method::GET,
        "/v1/project/variables",
        PROJECT,
        &default_reader,
    ))
    .await
    .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn jwt_users_are_checked_against_execute_roles() {
    use reqwest::Method;
    let app = spawn_app().await;
    app.create_function("f").await;
    let upd = app
        .put(
            "/v1/functions/f",
            json!({"name": "f", "execute": ["user:u1"], "entrypoint": "index.js"}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    app.deploy_ready("f").await;
    let u1 = user_jwt("u1", 600);
    let u2 = user_jwt("u2", 600);
    let path = "/v1/functions/f/executions";

    // users cannot read functions (no functions.read)
    let r = app
        .raw(as_user(&app, Method::GET, "/v1/functions", &u1))
        .await;
    r.assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        r.body["message"],
        "u1 (role: users) missing scopes ([\"functions.read\"])"
    );
    // not in execute roles
    app.raw(as_user(&app, Method::POST, path, &u2).json(&json!({"async": true})))
        .await
        .assert_error(401, "user_unauthorized");
    app.raw(
        app.client
            .post(app.url(path))
            .header("X-Appwrite-Project", PROJECT)
            .json(&json!({"async": true})),
    )
    .await
    .assert_error(401, "user_unauthorized");
    app.raw(as_user(&app, Method::GET, path, &u2))
        .await
        .assert_error(401, "user_unauthorized");
    // bad or expired JWT
    app.raw(as_user(&app, Method::GET, path, &user_jwt("u1", -10)))
        .await
        .assert_error(401, "user_unauthorized");
    let forged = api_gateway::tokens::sign(&json!({"userId": "u1"}), b"wrong");
    app.raw(as_user(&app, Method::GET, path, &forged))
        .await
        .assert_error(401, "user_unauthorized");

    // u1 may execute, list and get; the job carries the user's id and JWT
    let created = app
        .raw(as_user(&app, Method::POST, path, &u1).json(&json!({"async": true})))
        .await;
    assert_eq!(created.status, 202, "{}", created.body);
    let job: ExecutionJob = app.next_message(model::topology::EXECUTIONS_QUEUE).await;
    let header = |name: &str| {
        job.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("x-appwrite-user-id"), "u1");
    assert_eq!(header("x-appwrite-user-jwt"), u1);
    let id = created.body["$id"].as_str().unwrap();
    let list = app.raw(as_user(&app, Method::GET, path, &u1)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["total"], 1);
    let got = app
        .raw(as_user(&app, Method::GET, &format!("{path}/{id}"), &u1))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);

    // disabled functions are hidden from users
    app.put(
        "/v1/functions/f",
        json!({"name": "f", "execute": ["user:u1"], "enabled": false, "entrypoint": "index.js"}),
    )
    .await;
    app.raw(as_user(&app, Method::GET, path, &u1))
        .await
        .assert_error(404, "function_not_found");
    app.raw(as_user(&app, Method::POST, path, &u1).json(&json!({"async": true})))
        .await
        .assert_error(404, "function_not_found");
}

#[tokio::test]
async fn ephemeral_keys_are_limited_to_function_scopes_and_expire() {
    use reqwest::Method;
    let app = spawn_app().await;
    app.create_function("f").await;
    let upd = app
        .put(
            "/v1/functions/f",
            json!({"name": "f", "scopes": ["functions.read"], "entrypoint": "index.js"}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    let (_, build) = app.deploy_ready("f").await;
    let key = build.env["APPWRITE_FUNCTION_API_KEY"].clone();
    assert!(key.starts_with("ephemeral_"));

    let list = app
        .raw(as_key(&app, Method::GET, "/v1/functions", PROJECT, &key))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    app.raw(
        as_key(&app, Method::POST, "/v1/functions", PROJECT, &key)
            .json(&json!({"functionId": "x", "name": "x", "runtime": "node-18.0"})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
    app.raw(as_key(
        &app,
        Method::GET,
        "/v1/functions/f/executions",
        PROJECT,
        &key,
    ))
    .await
    .assert_error(401, "general_unauthorized_scope");

    // expired
    let now = chrono::Utc::now().timestamp();
    let old = api_gateway::tokens::ephemeral_key(
        API_KEY,
        PROJECT,
        "f",
        &["functions.read".into()],
        now - 1000,
        75,
    );
    app.raw(as_key(&app, Method::GET, "/v1/functions", PROJECT, &old))
        .await
        .assert_error(401, "api_key_expired");
    // signed with another secret, or for another project: a guest
    let foreign = api_gateway::tokens::ephemeral_key(
        "other-key",
        PROJECT,
        "f",
        &["functions.read".into()],
        now,
        75,
    );
    app.raw(as_key(
        &app,
        Method::GET,
        "/v1/functions",
        PROJECT,
        &foreign,
    ))
    .await
    .assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        admin(&app, &["create-project", "p3"]).await,
        "project p3 created"
    );
    app.raw(as_key(&app, Method::GET, "/v1/functions", "p3", &key))
        .await
        .assert_error(401, "general_unauthorized_scope");
}
