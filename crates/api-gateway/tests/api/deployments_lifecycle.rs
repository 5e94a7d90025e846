//! Deployments beyond the single upload: 5 MiB chunked uploads (out of order, concurrent,
//! re-sent), download with and without `Range`, cancel, duplicate, delete, and template / vcs
//! deployments from a git repository the test creates.
use crate::helpers::{gzip, spawn_app, TestApp, API_KEY, PROJECT};
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use model::proto::{BuildCancel, BuildEvent, BuildJob, BuildStatus};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const CHUNK: usize = 5 * 1024 * 1024;

fn with_auth(builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    builder
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-Key", API_KEY)
}

/// Incompressible bytes that start like a gzip file (the server checks the magic).
fn payload(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    data[0] = 0x1f;
    data[1] = 0x8b;
    data
}

async fn send_chunk(
    app: &TestApp,
    function_id: &str,
    data: &[u8],
    start: usize,
    id: Option<&str>,
) -> crate::helpers::Reply {
    let end = (start + CHUNK).min(data.len());
    send_raw_chunk(
        app,
        function_id,
        data[start..end].to_vec(),
        &format!("bytes {start}-{}/{}", end - 1, data.len()),
        id,
    )
    .await
}

async fn send_raw_chunk(
    app: &TestApp,
    function_id: &str,
    bytes: Vec<u8>,
    range: &str,
    id: Option<&str>,
) -> crate::helpers::Reply {
    let form = reqwest::multipart::Form::new()
        .part(
            "code",
            reqwest::multipart::Part::bytes(bytes).file_name("code.tar.gz"),
        )
        .text("activate", "true");
    let mut request = with_auth(
        app.client
            .post(app.url(&format!("/v1/functions/{function_id}/deployments"))),
    )
    .header("content-range", range)
    .multipart(form);
    if let Some(id) = id {
        request = request.header("x-appwrite-id", id);
    }
    app.raw(request).await
}

/// A queue bound to the build-cancel fanout exchange of this test's vhost.
async fn cancel_listener(app: &TestApp) -> (lapin::Connection, lapin::Channel, String) {
    let conn = queue::connect_once(&app.amqp_url).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    queue::declare_topology(&channel).await.unwrap();
    let q = channel
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let name = q.name().as_str().to_owned();
    channel
        .queue_bind(
            &name,
            model::topology::BUILD_CANCEL_EXCHANGE,
            "",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    (conn, channel, name)
}

async fn download(app: &TestApp, path: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = with_auth(app.client.get(app.url(path)));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    request.send().await.unwrap()
}

async fn event(app: &TestApp, job: &BuildJob, status: BuildStatus, logs: &str) {
    app.publish(
        model::topology::BUILD_EVENTS_QUEUE,
        &BuildEvent {
            project_id: job.project_id.clone(),
            function_id: job.function_id.clone(),
            deployment_id: job.deployment_id.clone(),
            status: status as i32,
            logs: logs.into(),
            build_size: 10,
            build_duration_ms: 1000,
            output_path: job.output_path.clone(),
            ..Default::default()
        },
    )
    .await;
}

#[tokio::test]
async fn chunked_upload_out_of_order_concurrent_and_resent() {
    let app = spawn_app().await;
    app.create_function("chunky").await;
    let data = payload(12 * 1024 * 1024 + 12345); // 3 chunks
    let first = send_chunk(&app, "chunky", &data, 0, None).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.body["status"], "waiting");
    assert_eq!(first.body["sourceSize"], data.len());
    let id = first.body["$id"].as_str().unwrap().to_owned();
    // The function knows the deployment at once.
    let f = app.get("/v1/functions/chunky").await;
    assert_eq!(f.body["latestDeploymentId"], id.as_str());
    // The source is not downloadable before the upload is complete.
    let early = download(
        &app,
        &format!("/v1/functions/chunky/deployments/{id}/download"),
        None,
    )
    .await;
    assert_eq!(early.status(), 404);

    // Last chunk, then the middle chunk twice concurrently (re-sent).
    let last = send_chunk(&app, "chunky", &data, 2 * CHUNK, Some(&id)).await;
    assert_eq!(last.status, 202, "{}", last.body);
    assert_eq!(last.body["$id"], id.as_str());
    let (a, b) = tokio::join!(
        send_chunk(&app, "chunky", &data, CHUNK, Some(&id)),
        send_chunk(&app, "chunky", &data, CHUNK, Some(&id)),
    );
    assert_eq!((a.status, b.status), (202, 202), "{} {}", a.body, b.body);

    // Exactly one build job, for the assembled source.
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    assert_eq!(job.deployment_id, id);
    let stored = std::fs::read(app.storage.path().join(&job.source_path)).unwrap();
    assert!(stored == data, "assembled source differs from the upload");
    // Chunk files are removed once assembled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app
        .stored_files()
        .iter()
        .any(|p| p.to_string_lossy().contains("/uploads/"))
    {
        assert!(tokio::time::Instant::now() < deadline, "chunks left behind");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A chunk re-sent after completion: the deployment unchanged, no second job.
    let again = send_chunk(&app, "chunky", &data, CHUNK, Some(&id)).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body["$id"], id.as_str());
    assert_eq!(again.body["status"], "waiting");
    let list = app.get("/v1/functions/chunky/deployments").await;
    assert_eq!(list.body["total"], 1, "{}", list.body);

    // Download: whole, a range, a suffix range, a bad range, output before the build.
    let path = format!("/v1/functions/chunky/deployments/{id}/download");
    let whole = download(&app, &path, None).await;
    assert_eq!(whole.status(), 200);
    let h = whole.headers().clone();
    assert_eq!(h["content-type"], "application/gzip");
    assert_eq!(h["cache-control"], "private, max-age=3888000");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"{id}-source.tar.gz\"").as_str()
    );
    assert!(whole.bytes().await.unwrap() == data);
    let part = download(&app, &path, Some("bytes=5242870-5242999")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 5242870-5242999/{}", data.len()).as_str()
    );
    assert_eq!(part.headers()["accept-ranges"], "bytes");
    assert!(part.bytes().await.unwrap() == data[5_242_870..=5_242_999]);
    let bad = download(&app, &path, Some(&format!("bytes={}-", data.len()))).await;
    assert_eq!(bad.status(), 416);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["type"], "storage_invalid_range");
    let output = download(&app, &format!("{path}?type=output"), None).await;
    assert_eq!(output.status(), 404);
    let body: Value = output.json().await.unwrap();
    assert_eq!(body["type"], "deployment_not_found");
}

#[tokio::test]
async fn chunk_errors() {
    let app = spawn_app().await;
    app.create_function("bad-chunks").await;
    let bytes = payload(100);
    for range in [
        "bytes 0-99",
        "bytes 0-99/50",
        "bytes x-y/100",
        "bytes 10-5/100",
    ] {
        let reply = send_raw_chunk(&app, "bad-chunks", bytes.clone(), range, None).await;
        reply.assert_error(400, "storage_invalid_content_range");
    }
    // Chunk length must match its range.
    let reply = send_raw_chunk(&app, "bad-chunks", bytes.clone(), "bytes 0-199/1000", None).await;
    reply.assert_error(400, "storage_invalid_content_range");
    let reply = send_raw_chunk(&app, "bad-chunks", bytes, "bytes 0-99/30000001", None).await;
    reply.assert_error(400, "storage_invalid_file_size");
    let list = app.get("/v1/functions/bad-chunks/deployments").await;
    assert_eq!(list.body["total"], 0);
}

#[tokio::test]
async fn cancel_keeps_canceled_and_takes_the_workers_logs() {
    let app = spawn_app().await;
    app.create_function("cancel-me").await;
    let (_conn, channel, cancels) = cancel_listener(&app).await;
    let reply = app
        .upload("cancel-me", "code.tar.gz", gzip(b"x"), true)
        .await;
    let id = reply.body["$id"].as_str().unwrap().to_owned();
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    event(&app, &job, BuildStatus::Building, "step 1\n").await;
    app.wait_for(&format!("/v1/functions/cancel-me/deployments/{id}"), |d| {
        d["status"] == "building"
    })
    .await;

    let canceled = app
        .patch(
            &format!("/v1/functions/cancel-me/deployments/{id}/status"),
            json!({}),
        )
        .await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    assert_eq!(canceled.body["status"], "canceled");
    assert!(canceled.body["buildLogs"]
        .as_str()
        .unwrap()
        .contains("Build has been canceled."));
    let f = app.get("/v1/functions/cancel-me").await;
    assert_eq!(f.body["latestDeploymentStatus"], "canceled");

    // The builders were told (fanout).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let message = loop {
        if let Ok(Some(m)) = channel
            .basic_get(&cancels, BasicGetOptions { no_ack: true })
            .await
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no BuildCancel broadcast"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cancel = <BuildCancel as prost::Message>::decode(message.delivery.data.as_slice()).unwrap();
    assert_eq!(cancel.deployment_id, id);

    // The worker's CANCELED report brings its logs; a late READY changes nothing.
    event(
        &app,
        &job,
        BuildStatus::Canceled,
        "step 1\nstep 2\nBuild has been canceled.",
    )
    .await;
    let path = format!("/v1/functions/cancel-me/deployments/{id}");
    app.wait_for(&path, |d| {
        d["buildLogs"]
            .as_str()
            .unwrap_or_default()
            .contains("step 2")
    })
    .await;
    event(&app, &job, BuildStatus::Ready, "done").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = app.get(&path).await;
    assert_eq!(d.body["status"], "canceled");
    let f = app.get("/v1/functions/cancel-me").await;
    assert_eq!(f.body["deploymentId"], "");

    // Finished builds cannot be canceled.
    let (ready, _) = app.deploy_ready("cancel-me").await;
    app.patch(
        &format!("/v1/functions/cancel-me/deployments/{ready}/status"),
        json!({}),
    )
    .await
    .assert_error(400, "build_already_completed");
    app.patch("/v1/functions/cancel-me/deployments/nope/status", json!({}))
        .await
        .assert_error(404, "deployment_not_found");
}

#[tokio::test]
async fn duplicate_and_delete() {
    let app = spawn_app().await;
    app.create_function("dup").await;
    let (original, _) = app.deploy_ready("dup").await;
    // The function's commands change; the duplicate takes the current ones.
    let update = app
        .put(
            "/v1/functions/dup",
            json!({"name": "dup", "runtime": "node-18.0", "entrypoint": "main.js", "commands": "npm ci"}),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.body);
    let copy = app
        .post(
            "/v1/functions/dup/deployments/duplicate",
            json!({"deploymentId": original, "buildId": "ignored"}),
        )
        .await;
    assert_eq!(copy.status, 202, "{}", copy.body);
    let copy_id = copy.body["$id"].as_str().unwrap().to_owned();
    assert_ne!(copy_id, original);
    assert_eq!(copy.body["status"], "waiting");
    assert_eq!(copy.body["entrypoint"], "main.js");
    assert_eq!(copy.body["buildSize"], 0);
    assert_eq!(copy.body["buildLogs"], "");
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    assert_eq!(job.deployment_id, copy_id);
    assert_eq!(job.commands, "npm ci");
    let a = std::fs::read(
        app.storage
            .path()
            .join(format!("sources/{PROJECT}/dup/{original}.tar.gz")),
    )
    .unwrap();
    let b = std::fs::read(app.storage.path().join(&job.source_path)).unwrap();
    assert_eq!(a, b);
    app.post(
        "/v1/functions/dup/deployments/duplicate",
        json!({"deploymentId": "missing"}),
    )
    .await
    .assert_error(404, "deployment_not_found");
    app.post("/v1/functions/dup/deployments/duplicate", json!({}))
        .await
        .assert_error(400, "general_argument_invalid");

    // Deleting the active deployment clears it; latest-* fall back to the remaining one.
    let f = app.get("/v1/functions/dup").await;
    assert_eq!(f.body["deploymentId"], original.as_str());
    assert_eq!(f.body["latestDeploymentId"], copy_id.as_str());
    let deleted = app
        .delete(&format!("/v1/functions/dup/deployments/{original}"))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let f = app.get("/v1/functions/dup").await;
    assert_eq!(f.body["deploymentId"], "");
    assert_eq!(f.body["latestDeploymentId"], copy_id.as_str());
    app.delete(&format!("/v1/functions/dup/deployments/{copy_id}"))
        .await;
    let f = app.get("/v1/functions/dup").await;
    assert_eq!(f.body["latestDeploymentId"], "");
    assert_eq!(f.body["latestDeploymentStatus"], "");
    app.get(&format!("/v1/functions/dup/deployments/{original}"))
        .await
        .assert_error(404, "deployment_not_found");
    app.delete(&format!("/v1/functions/dup/deployments/{original}"))
        .await
        .assert_error(404, "deployment_not_found");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.stored_files().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "files left: {:?}",
            app.stored_files()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("git must be installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository with `functions/hello/index.js` on `main`, tagged `v1`, plus a second commit.
fn make_repo(root: &Path) -> (String, String, String) {
    let repo = root.join("templates");
    std::fs::create_dir_all(repo.join("functions/hello")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("functions/hello/index.js"),
        "module.exports = async () => 'v1';",
    )
    .unwrap();
    std::fs::write(repo.join("README.md"), "outside the root").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first version"]);
    git(&repo, &["tag", "v1"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(
        repo.join("functions/hello/index.js"),
        "module.exports = async () => 'v2';",
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "second version"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    (format!("file://{}", repo.display()), first, second)
}

fn tar_listing(tarball: &[u8], dir: &Path) -> (String, String) {
    let file = dir.join("listing.tar.gz");
    std::fs::write(&file, tarball).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let content = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&file)
        .arg("index.js")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&content.stdout).into_owned(),
    )
}

#[tokio::test]
async fn template_and_vcs_deployments_from_a_local_git_repository() {
    let app = spawn_app().await;
    let scratch = tempfile::tempdir().unwrap();
    let (url, first, second) = make_repo(scratch.path());
    app.create_function("tmpl").await;

    let reply = app
        .post(
            "/v1/functions/tmpl/deployments/template",
            json!({"repository": url, "owner": "local", "rootDirectory": "functions/hello",
                   "type": "tag", "reference": "v1", "activate": true}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["type"], "vcs");
    assert_eq!(reply.body["status"], "waiting");
    assert_eq!(reply.body["activate"], true);
    assert_eq!(reply.body["providerCommitHash"], first.as_str());
    assert_eq!(reply.body["providerCommitMessage"], "first version");
    assert_eq!(reply.body["providerCommitAuthor"], "Ada Tester");
    assert_eq!(reply.body["providerRepositoryName"], "templates");
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    let tarball = std::fs::read(app.storage.path().join(&job.source_path)).unwrap();
    let (listing, index) = tar_listing(&tarball, scratch.path());
    assert!(
        listing.contains("index.js") && !listing.contains("README.md"),
        "{listing}"
    );
    assert!(index.contains("'v1'"), "{index}");

    for (body, status, kind) in [
        (
            json!({"repository": url, "owner": "o", "rootDirectory": "", "type": "branch", "reference": "nope"}),
            400,
            "general_argument_invalid",
        ),
        (
            json!({"repository": url, "owner": "o", "rootDirectory": "missing", "type": "branch", "reference": "main"}),
            400,
            "general_argument_invalid",
        ),
        (
            json!({"repository": url, "owner": "o", "rootDirectory": "", "type": "sha", "reference": "main"}),
            400,
            "general_argument_invalid",
        ),
        (
            json!({"repository": "file:///nonexistent/repo", "owner": "o", "rootDirectory": "", "type": "branch", "reference": "main"}),
            404,
            "function_template_not_found",
        ),
        (
            json!({"owner": "o", "rootDirectory": "", "type": "branch", "reference": "main"}),
            400,
            "general_argument_invalid",
        ),
    ] {
        app.post("/v1/functions/tmpl/deployments/template", body)
            .await
            .assert_error(status, kind);
    }

    // VCS: the function's link is the git URL plus a root directory.
    app.post(
        "/v1/functions/tmpl/deployments/vcs",
        json!({"type": "branch", "reference": "main"}),
    )
    .await
    .assert_error(404, "installation_not_found");
    let created = app
        .post(
            "/v1/functions",
            json!({"functionId": "linked", "name": "linked", "runtime": "node-18.0", "entrypoint": "index.js",
                   "installationId": "local", "providerRepositoryId": url, "providerBranch": "main",
                   "providerRootDirectory": "functions/hello"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let reply = app
        .post(
            "/v1/functions/linked/deployments/vcs",
            json!({"type": "branch", "reference": "main", "activate": "true"}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["type"], "vcs");
    assert_eq!(reply.body["providerBranch"], "main");
    assert_eq!(reply.body["providerCommitHash"], second.as_str());
    assert_eq!(reply.body["providerCommitMessage"], "second version");
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    let tarball = std::fs::read(app.storage.path().join(&job.source_path)).unwrap();
    assert!(tar_listing(&tarball, scratch.path()).1.contains("'v2'"));
    let by_commit = app
        .post(
            "/v1/functions/linked/deployments/vcs",
            json!({"type": "commit", "reference": first}),
        )
        .await;
    assert_eq!(by_commit.status, 202, "{}", by_commit.body);
    assert_eq!(by_commit.body["providerCommitHash"], first.as_str());
    assert_eq!(by_commit.body["providerBranch"], "");
}
