use crate::helpers::{gzip, spawn_app};
use model::proto::{BuildEvent, BuildJob, BuildStatus};
use serde_json::json;

#[tokio::test]
async fn upload_stores_source_and_publishes_build_job() {
    let app = spawn_app().await;
    app.create_function("fn1").await;

    let reply = app
        .upload("fn1", "code.tar.gz", gzip(b"hello"), false)
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let d = &reply.body;
    assert_eq!(d["status"], "waiting");
    assert_eq!(d["type"], "manual");
    assert_eq!(d["resourceId"], "fn1");
    assert_eq!(d["resourceType"], "functions");
    assert_eq!(d["entrypoint"], "index.js");
    assert_eq!(d["activate"], false);
    assert!(d["sourceSize"].as_i64().unwrap_or_default() > 0);
    assert_eq!(d["totalSize"], d["sourceSize"]);
    for key in [
        "buildLogs",
        "buildId",
        "screenshotLight",
        "providerCommitHash",
        "providerBranchUrl",
    ] {
        assert!(d[key].is_string(), "{key}");
    }
    let id = d["$id"].as_str().unwrap_or_default().to_owned();

    let files = app.stored_files();
    assert_eq!(files.len(), 1);
    assert!(
        files[0].ends_with(format!("sources/default/fn1/{id}.tar.gz")),
        "{files:?}"
    );

    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    assert_eq!(job.deployment_id, id);
    assert_eq!(job.function_id, "fn1");
    assert_eq!(job.project_id, "default");
    assert_eq!(job.image, "fnplat/runtime-node-18.0:latest");
    assert_eq!(job.source_path, format!("sources/default/fn1/{id}.tar.gz"));
    assert_eq!(job.output_path, format!("builds/default/fn1/{id}.tar.gz"));
    assert_eq!(job.entrypoint, "index.js");
    assert_eq!(job.timeout_seconds, 900);
    assert_eq!(job.memory_mb, 512);
    assert_eq!(
        job.env.get("APPWRITE_FUNCTION_ID").map(String::as_str),
        Some("fn1")
    );
    assert_eq!(
        job.env
            .get("APPWRITE_FUNCTION_RUNTIME_NAME")
            .map(String::as_str),
        Some("Node.js")
    );

    let listed = app.get("/v1/functions/fn1/deployments").await;
    assert_eq!(listed.body["total"], 1);
    let got = app
        .get(&format!("/v1/functions/fn1/deployments/{id}"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["$id"], id.as_str());
    let function = app.get("/v1/functions/fn1").await.body;
    assert_eq!(function["latestDeploymentId"], id.as_str());
    assert_eq!(function["latestDeploymentStatus"], "waiting");
    // the CLI's uploads are typed `cli`
    let form = reqwest::multipart::Form::new()
        .part(
            "code",
            reqwest::multipart::Part::bytes(gzip(b"cli")).file_name("code.tar.gz"),
        )
        .text("activate", "false");
    let cli = app
        .raw(
            app.client
                .post(app.url("/v1/functions/fn1/deployments"))
                .header("X-Appwrite-Project", crate::helpers::PROJECT)
                .header("X-Appwrite-Key", crate::helpers::API_KEY)
                .header("x-sdk-language", "cli")
                .multipart(form),
        )
        .await;
    assert_eq!(cli.status, 202, "{}", cli.body);
    assert_eq!(cli.body["type"], "cli");
    app.get("/v1/functions/fn1/deployments/nope")
        .await
        .assert_error(404, "deployment_not_found");
}

#[tokio::test]
async fn rejected_uploads_leave_nothing_behind() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    app.upload("fn1", "code.tar.gz", b"plain text, not gzip".to_vec(), true)
        .await
        .assert_error(400, "storage_file_type_unsupported");
    app.upload("fn1", "code.zip", gzip(b"x"), true)
        .await
        .assert_error(400, "storage_file_type_unsupported");
    app.upload("fn1", "code.tar.gz", Vec::new(), true)
        .await
        .assert_error(400, "storage_file_empty");
    let big = vec![0x1f_u8; 30_000_001];
    app.upload("fn1", "code.tar.gz", big, true)
        .await
        .assert_error(400, "storage_invalid_file_size");
    app.upload("nofn", "code.tar.gz", gzip(b"x"), true)
        .await
        .assert_error(404, "function_not_found");

    assert_eq!(
        app.get("/v1/functions/fn1/deployments").await.body["total"],
        0
    );
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(
        app.get("/v1/functions/fn1").await.body["latestDeploymentId"],
        ""
    );
}

#[tokio::test]
async fn build_events_make_the_deployment_ready_and_active() {
    let app = spawn_app().await;
    app.create_function("fn1").await;
    let reply = app.upload("fn1", "code.tar.gz", gzip(b"hello"), true).await;
    let id = reply.body["$id"].as_str().unwrap_or_default().to_owned();
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;

    // activation needs a ready build
    app.patch("/v1/functions/fn1/deployment", json!({"deploymentId": id}))
        .await
        .assert_error(400, "build_not_ready");

    let event = |status: BuildStatus, logs: &str| BuildEvent {
        project_id: "default".into(),
        function_id: "fn1".into(),
        deployment_id: id.clone(),
        status: status as i32,
        logs: logs.into(),
        ..Default::default()
    };
    app.publish(
        model::topology::BUILD_EVENTS_QUEUE,
        &event(BuildStatus::Processing, ""),
    )
    .await;
    app.wait_for(&format!("/v1/functions/fn1/deployments/{id}"), |d| {
        d["status"] == "processing"
    })
    .await;
    app.publish(
        model::topology::BUILD_EVENTS_QUEUE,
        &event(BuildStatus::Unspecified, "step 1\n"),
    )
    .await;
    app.wait_for(&format!("/v1/functions/fn1/deployments/{id}"), |d| {
        d["buildLogs"] == "step 1\n"
    })
    .await;
    let ready = BuildEvent {
        build_size: 2048,
        build_duration_ms: 2300,
        output_path: job.output_path.clone(),
        ..event(BuildStatus::Ready, "step 1\nstep 2\nDeployment finished.\n")
    };
    app.publish(model::topology::BUILD_EVENTS_QUEUE, &ready)
        .await;
    let d = app
        .wait_for(&format!("/v1/functions/fn1/deployments/{id}"), |d| {
            d["status"] == "ready"
        })
        .await;
    assert_eq!(d["buildSize"], 2048);
    assert_eq!(d["buildDuration"], 3);
    assert_eq!(
        d["totalSize"],
        d["sourceSize"].as_i64().unwrap_or_default() + 2048
    );
    assert_eq!(d["buildLogs"], "step 1\nstep 2\nDeployment finished.\n");

    let f = app
        .wait_for("/v1/functions/fn1", |f| f["deploymentId"] == id.as_str())
        .await;
    assert_eq!(f["live"], true);
    assert_eq!(f["latestDeploymentStatus"], "ready");
    assert!(f["deploymentCreatedAt"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));

    // a late, out-of-order event never overwrites a terminal status
    app.publish(
        model::topology::BUILD_EVENTS_QUEUE,
        &event(BuildStatus::Failed, "late"),
    )
    .await;
    app.publish(
        model::topology::BUILD_EVENTS_QUEUE,
        &event(BuildStatus::Building, "late"),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let d = app
        .get(&format!("/v1/functions/fn1/deployments/{id}"))
        .await
        .body;
    assert_eq!(d["status"], "ready");
    assert_eq!(d["buildLogs"], "step 1\nstep 2\nDeployment finished.\n");

    // manual activation of a ready deployment
    let activated = app
        .patch("/v1/functions/fn1/deployment", json!({"deploymentId": id}))
        .await;
    assert_eq!(activated.status, 200, "{}", activated.body);
    assert_eq!(activated.body["deploymentId"], id.as_str());
}
