//! Builder integration tests: the real Docker engine and the real runtime image
//! (`fnplat/runtime-node-18.0:latest`); build events are collected in memory, and one test starts
//! the whole app against the real RabbitMQ. Every test uses its own deployment id, so they run in
//! parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use builder_worker::events::MemoryEvents;
use builder_worker::{Builder, BuilderConfig};
use model::proto::{BuildEvent, BuildJob, BuildStatus};
use object_store::ObjectStore;
use queue::Outcome;
use sandbox::Sandbox;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RUNTIME: &str = "node-18.0";

struct TestBuilder {
    builder: Arc<Builder>,
    events: Arc<MemoryEvents>,
    store: Arc<dyn ObjectStore>,
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
}

fn image() -> String {
    model::catalogue::runtime_image(RUNTIME)
}

async fn spawn_builder() -> TestBuilder {
    let sandbox = sandbox::testing::connect_with_runtime(RUNTIME).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        sandbox::storage::open_local(dir.path().to_str().expect("utf-8 path")).expect("store");
    let events = Arc::new(MemoryEvents::default());
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    let config = BuilderConfig {
        ca_bundle: Path::new(ca).is_file().then(|| ca.to_owned()),
        log_interval: Duration::from_millis(200),
        work_dir: dir.path().join("work"),
        network: Some(sandbox::DEFAULT_NETWORK.to_owned()),
        ..Default::default()
    };
    let builder = Arc::new(Builder::new(
        sandbox.clone(),
        store.clone(),
        events.clone(),
        config,
    ));
    TestBuilder {
        builder,
        events,
        store,
        sandbox,
        _dir: dir,
    }
}

fn fixture_dir(name: &str) -> PathBuf {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    if shared.is_dir() {
        return shared;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A tar.gz of the files of a (flat) fixture directory.
fn fixture_tarball(name: &str) -> Vec<u8> {
    let dir = fixture_dir(name);
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("fixture {}: {e}", dir.display()))
    {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("file type").is_file() {
            files.push((
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).expect("read"),
            ));
        }
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    sandbox::archive::tar_gz(&refs).expect("tar.gz")
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl TestBuilder {
    async fn job(&self, fixture: Option<&str>, commands: &str) -> BuildJob {
        let deployment = unique("dep");
        let source_path = format!("sources/ptest/ftest/{deployment}.tar.gz");
        if let Some(fixture) = fixture {
            sandbox::storage::put(
                self.store.as_ref(),
                &source_path,
                fixture_tarball(fixture).into(),
            )
            .await
            .expect("put source");
        }
        BuildJob {
            project_id: "ptest".into(),
            function_id: "ftest".into(),
            deployment_id: deployment.clone(),
            runtime_id: RUNTIME.into(),
            image: image(),
            source_path,
            output_path: format!("builds/ptest/ftest/{deployment}.tar.gz"),
            entrypoint: "index.js".into(),
            commands: commands.into(),
            env: [("FNPLAT_TEST_VAR".to_owned(), "from-build".to_owned())]
                .into_iter()
                .collect(),
            cpus: 1.0,
            memory_mb: 512,
            timeout_seconds: 300,
        }
    }

    fn events_of(&self, deployment: &str) -> Vec<BuildEvent> {
        self.events
            .events()
            .into_iter()
            .filter(|e| e.deployment_id == deployment)
            .collect()
    }

    fn statuses(&self, deployment: &str) -> Vec<BuildStatus> {
        self.events_of(deployment)
            .iter()
            .map(|e| BuildStatus::try_from(e.status).unwrap_or(BuildStatus::Unspecified))
            .filter(|s| *s != BuildStatus::Unspecified)
            .collect()
    }

    fn terminal(&self, deployment: &str) -> BuildEvent {
        self.events_of(deployment)
            .last()
            .cloned()
            .expect("a terminal event")
    }

    /// Runs `job` to its outcome (no cancellation).
    async fn build(&self, job: &BuildJob) -> Outcome {
        self.builder
            .handle(job.clone(), &CancellationToken::new())
            .await
    }

    /// The build containers of `job`'s deployment.
    async fn containers(&self, job: &BuildJob) -> Vec<sandbox::docker::ContainerInfo> {
        self.sandbox
            .list_labelled(&[
                ("fnplat.role", "build"),
                ("fnplat.deployment", &job.deployment_id),
            ])
            .await
            .expect("list")
    }

    async fn assert_no_container(&self, job: &BuildJob) {
        let left = self.containers(job).await;
        assert!(left.is_empty(), "build container left behind: {left:?}");
    }
}

#[tokio::test]
async fn builds_node_hello_with_npm_install_and_stores_the_output() {
    let t = spawn_builder().await;
    let job = t.job(Some("node-hello"), "npm install").await;

    let outcome = t.build(&job).await;

    assert_eq!(outcome, Outcome::Ack);
    assert_eq!(
        t.statuses(&job.deployment_id),
        vec![
            BuildStatus::Processing,
            BuildStatus::Building,
            BuildStatus::Ready
        ]
    );
    let events = t.events_of(&job.deployment_id);
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences increase: {sequences:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.status == BuildStatus::Unspecified as i32 && !e.logs.is_empty()),
        "log chunks were streamed"
    );
    let ready = t.terminal(&job.deployment_id);
    assert_eq!(ready.output_path, job.output_path);
    assert!(ready.build_size > 0);
    assert!(ready.build_duration_ms > 0);
    assert!(
        ready.logs.contains("Running build commands: npm install"),
        "logs: {}",
        ready.logs
    );
    assert!(
        ready
            .logs
            .trim_end()
            .ends_with("[appwrite] Deployment finished."),
        "logs: {}",
        ready.logs
    );

    let output = sandbox::storage::get(t.store.as_ref(), &job.output_path)
        .await
        .expect("output stored");
    assert_eq!(output.len() as u64, ready.build_size);
    let paths = sandbox::archive::tar_gz_paths(&output).expect("output is a tar.gz");
    assert!(
        paths
            .iter()
            .any(|p| p.trim_start_matches("./") == "index.js"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.trim_start_matches("./") == ".open-runtimes"),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("node_modules/is-number")),
        "dependencies installed: {paths:?}"
    );
    t.assert_no_container(&job).await;
}

#[tokio::test]
async fn failing_build_command_reports_failed_with_the_exit_code() {
    let t = spawn_builder().await;
    let job = t
        .job(Some("node-hello"), "echo about-to-fail && exit 3")
        .await;

    let outcome = t.build(&job).await;

    assert_eq!(outcome, Outcome::Ack);
    let last = t.terminal(&job.deployment_id);
    assert_eq!(last.status, BuildStatus::Failed as i32);
    assert!(last.logs.contains("about-to-fail"), "logs: {}", last.logs);
    assert!(
        last.logs.contains("Build command exited with code 3."),
        "logs: {}",
        last.logs
    );
    assert!(sandbox::storage::get(t.store.as_ref(), &job.output_path)
        .await
        .is_err());
    t.assert_no_container(&job).await;
}

#[tokio::test]
async fn missing_source_fails_the_build_and_acks() {
    let t = spawn_builder().await;
    let job = t.job(None, "").await;

    let outcome = t.build(&job).await;

    assert_eq!(outcome, Outcome::Ack);
    assert_eq!(
        t.statuses(&job.deployment_id),
        vec![BuildStatus::Processing, BuildStatus::Failed]
    );
    assert!(t.terminal(&job.deployment_id).logs.contains("source"));
}

#[tokio::test]
async fn build_timeout_fails_and_removes_the_container() {
    let t = spawn_builder().await;
    let mut job = t.job(Some("node-hello"), "sleep 60").await;
    job.timeout_seconds = 2;

    let started = std::time::Instant::now();
    let outcome = t.build(&job).await;

    assert_eq!(outcome, Outcome::Ack);
    assert!(started.elapsed() < Duration::from_secs(30));
    let last = t.terminal(&job.deployment_id);
    assert_eq!(last.status, BuildStatus::Failed as i32);
    assert!(
        last.logs.contains("Build timed out after 2 seconds."),
        "logs: {}",
        last.logs
    );
    t.assert_no_container(&job).await;
}

#[tokio::test]
async fn cancel_stops_a_running_build() {
    let t = spawn_builder().await;
    let job = t.job(Some("node-hello"), "echo started && sleep 120").await;
    let builder = t.builder.clone();
    let handle = {
        let job = job.clone();
        tokio::spawn(async move { builder.handle(job, &CancellationToken::new()).await })
    };
    // Wait until the build command runs.
    let mut waited = Duration::ZERO;
    while !t
        .events_of(&job.deployment_id)
        .iter()
        .any(|e| e.logs.contains("started"))
    {
        assert!(waited < Duration::from_secs(60), "build never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }

    t.builder.cancel(&job.deployment_id);
    let outcome = tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("canceled in time")
        .expect("join");

    assert_eq!(outcome, Outcome::Ack);
    let last = t.terminal(&job.deployment_id);
    assert_eq!(last.status, BuildStatus::Canceled as i32);
    assert!(last.logs.contains("started"));
    assert!(last.logs.contains("Build has been canceled."));
    t.assert_no_container(&job).await;

    // A redelivery of the canceled job is not built again.
    let again = t.build(&job).await;
    assert_eq!(again, Outcome::Ack);
    assert_eq!(
        t.terminal(&job.deployment_id).status,
        BuildStatus::Canceled as i32
    );
}

#[tokio::test]
async fn redelivered_job_replaces_a_leftover_container() {
    let t = spawn_builder().await;
    let job = t.job(Some("node-hello"), "").await;
    // A leftover of a crashed attempt with the same name.
    let leftover = sandbox::ContainerSpec {
        name: builder_worker::build::container_name(&job),
        image: image(),
        cmd: vec!["sleep".into(), "300".into()],
        ..Default::default()
    };
    let id = t.sandbox.create(&leftover).await.expect("leftover created");
    t.sandbox.start(&id).await.expect("leftover started");

    let outcome = t.build(&job).await;

    assert_eq!(outcome, Outcome::Ack);
    assert_eq!(
        t.terminal(&job.deployment_id).status,
        BuildStatus::Ready as i32
    );
    assert!(!t.sandbox.is_running(&id).await.expect("inspect"));
}

#[tokio::test]
async fn shutdown_during_a_build_hands_the_job_back() {
    let t = spawn_builder().await;
    let job = t.job(Some("node-hello"), "echo started && sleep 120").await;
    let shutdown = CancellationToken::new();
    let builder = t.builder.clone();
    let handle = {
        let job = job.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { builder.handle(job, &shutdown).await })
    };
    while !t
        .statuses(&job.deployment_id)
        .contains(&BuildStatus::Building)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("in time")
        .expect("join");
    assert!(matches!(outcome, Outcome::Retry(_)), "{outcome:?}");
    t.assert_no_container(&job).await;
}

#[tokio::test]
async fn app_serves_health_endpoints_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = builder_worker::Settings::default();
    settings.storage.dir = dir.path().join("storage").to_string_lossy().into_owned();
    settings.admin.port = 0;
    let app = builder_worker::build(settings).await.expect("app builds");
    let addr = app.admin_addr();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));
    let client = reqwest::Client::new();

    let livez = client
        .get(format!("http://{addr}/health/livez"))
        .send()
        .await
        .expect("livez");
    assert_eq!(livez.status(), 200);
    let readyz = client
        .get(format!("http://{addr}/health/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        readyz.status(),
        200,
        "docker and RabbitMQ must be reachable"
    );
    assert!(std::path::Path::new(&dir.path().join("storage")).is_dir());

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("stops in time");
    assert!(stopped.expect("join").is_ok());
}

#[tokio::test]
async fn build_containers_are_sandboxed() {
    let t = spawn_builder().await;
    let job = t
        .job(Some("node-probe"), "node build-probe.js && sleep 2")
        .await;
    let builder = t.builder.clone();
    let build_job = job.clone();
    let build =
        tokio::spawn(async move { builder.handle(build_job, &CancellationToken::new()).await });

    // Inspect the container while the build runs.
    let mut inspected = None;
    for _ in 0..200 {
        let list = t.containers(&job).await;
        if let Some(c) = list.first() {
            if let Ok(info) = t.sandbox.inspect(&c.id).await {
                inspected = Some(info);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let info = inspected.expect("the build container was seen");
    let host = sandbox::testing::assert_sandboxed(info, builder_worker::build::BUILD_PIDS_LIMIT);
    // max(spec memory, 1024 MB) like Appwrite; CPUs from the specification.
    assert_eq!(host.memory, Some(1024 * 1024 * 1024));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));

    assert_eq!(build.await.expect("join"), Outcome::Ack);
    let ready = t.terminal(&job.deployment_id);
    assert_eq!(
        BuildStatus::try_from(ready.status).ok(),
        Some(BuildStatus::Ready),
        "logs: {}",
        ready.logs
    );
    let line = ready
        .logs
        .lines()
        .find_map(|l| l.strip_prefix("probe "))
        .unwrap_or_else(|| panic!("probe line in logs: {}", ready.logs));
    let probe: serde_json::Value = serde_json::from_str(line).expect("probe json");
    assert_eq!(probe["uid"], 1000, "{probe}");
    assert_eq!(probe["capEff"], "0000000000000000", "{probe}");
    assert_eq!(probe["noNewPrivs"], "1", "{probe}");
    assert_eq!(probe["pidsMax"], "1024", "{probe}");
    assert_eq!(probe["writeEtc"], "EROFS", "{probe}");
    assert_eq!(probe["writeTmp"], "ok", "{probe}");
    assert_eq!(probe["writeBuild"], "ok", "{probe}");
    for target in [
        "gateway:5672",
        "gateway:5432",
        "docker0:5672",
        "docker.sock",
    ] {
        let outcome = probe[target].as_str().unwrap_or("missing");
        assert!(
            outcome != "open" && outcome != "missing",
            "{target} must be unreachable from a build: {probe}"
        );
    }
    t.assert_no_container(&job).await;
    assert!(
        !t._dir
            .path()
            .join("work")
            .join(builder_worker::build::container_name(&job))
            .exists(),
        "the build directory is removed"
    );
}
