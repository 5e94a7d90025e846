//! `HEAD` is served by the `GET` route with an empty body (Appwrite's router does this; spec §15
//! client row "HEAD on executions list ⇒ 200 empty").
use crate::helpers::{spawn_app, API_KEY, JWT_SECRET, PROJECT};
use serde_json::json;

#[tokio::test]
async fn head_is_answered_by_the_get_route_without_a_body() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/functions",
            json!({"functionId": "fn1", "name": "fn1", "runtime": "node-18.0", "execute": ["users"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let jwt = api_gateway::tokens::sign(&json!({"userId": "u1"}), JWT_SECRET.as_bytes());

    for (path, auth) in [
        (
            "/v1/functions/fn1/executions",
            ("X-Appwrite-JWT", jwt.as_str()),
        ),
        ("/v1/functions/fn1/executions", ("X-Appwrite-Key", API_KEY)),
        ("/v1/functions", ("X-Appwrite-Key", API_KEY)),
        ("/v1/functions/fn1", ("X-Appwrite-Key", API_KEY)),
    ] {
        let head = app
            .client
            .head(app.url(path))
            .header("X-Appwrite-Project", PROJECT)
            .header(auth.0, auth.1)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert!(head
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json")));
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has a body"
        );
    }

    // errors keep their status (the GET route's answer), still without a body
    let missing = app
        .client
        .head(app.url("/v1/functions/nope"))
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.bytes().await.unwrap().is_empty());
    // a resource without a GET route
    let no_get = app
        .client
        .head(app.url("/v1/functions/fn1/deployment"))
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(no_get.status(), 404);

    // GET is unchanged
    let get = app.get("/v1/functions/fn1/executions").await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body["total"], 0);
}
