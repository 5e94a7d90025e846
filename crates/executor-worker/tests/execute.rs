//! Executor integration tests: the real Docker engine and the real runtime image
//! (`fnplat/runtime-node-18.0:latest`); results are collected in memory, and one test starts the
//! whole app against the real RabbitMQ. Every test has its own node name, work dir, store and
//! deployment ids, so tests run in parallel without touching each other's containers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use executor_worker::results::MemoryResults;
use executor_worker::{Executor, Pool, PoolConfig};
use model::proto::{ExecutionJob, ExecutionResult, Header};
use object_store::ObjectStore;
use queue::{Incoming, Outcome};
use sandbox::Sandbox;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const RUNTIME: &str = "node-18.0";

/// A dependency-free function: echoes, logs, errors, sleeps on /slow, throws on /throw.
const INDEX_JS: &str = r#"
module.exports = async ({ req, res, log, error }) => {
  log('hello from the function', req.method, req.path);
  if (req.path === '/error') { error('something went wrong'); return res.text('bad', 502); }
  if (req.path === '/throw') { throw new Error('thrown on purpose'); }
  if (req.path === '/slow') { await new Promise((r) => setTimeout(r, Number(req.query.ms || 10000))); return res.text('late'); }
  return res.json({ method: req.method, path: req.path, body: req.bodyText, who: req.headers['x-who'] || null,
    secretVisible: Object.keys(req.headers).some((h) => h.startsWith('x-open-runtimes-')),
    env: process.env.FNPLAT_TEST_VAR || null }, 201, { 'x-custom': 'yes' });
};
"#;

struct TestExecutor {
    executor: Arc<Executor>,
    pool: Arc<Pool>,
    results: Arc<MemoryResults>,
    store: Arc<dyn ObjectStore>,
    sandbox: Sandbox,
    instance: String,
    _dir: tempfile::TempDir,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn spawn_executor(idle_timeout: Duration) -> TestExecutor {
    let sandbox = sandbox::testing::connect_with_runtime(RUNTIME).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sandbox::storage::open_local(dir.path().join("storage").to_str().expect("utf-8"))
        .expect("store");
    let instance = executor_worker::new_instance_id();
    let config = PoolConfig {
        work_dir: dir.path().join("work"),
        instance_id: instance.clone(),
        node: unique("test-node-"),
        host_ip: "127.0.0.1".into(),
        idle_timeout,
        network: Some(sandbox::DEFAULT_NETWORK.to_owned()),
    };
    let http = executor_worker::runtime_http_client().expect("http client");
    let pool = Arc::new(Pool::new(sandbox.clone(), store.clone(), http, config));
    let results = Arc::new(MemoryResults::default());
    let executor = Arc::new(Executor::new(pool.clone(), results.clone()));
    TestExecutor {
        executor,
        pool,
        results,
        store,
        sandbox,
        instance,
        _dir: dir,
    }
}

impl TestExecutor {
    /// Stores a hand-made build output (what helpers/build.sh produces) and returns a job for it.
    async fn deployment(&self) -> ExecutionJob {
        self.deployment_with(INDEX_JS).await
    }

    /// Like [`Self::deployment`] with other function code as `index.js`.
    async fn deployment_with(&self, code: &str) -> ExecutionJob {
        let deployment = unique("dep");
        let build_path = format!("builds/ptest/ftest/{deployment}.tar.gz");
        let tarball = sandbox::archive::tar_gz(&[
            ("index.js", code.as_bytes()),
            (".open-runtimes", b"OPEN_RUNTIMES_ENTRYPOINT=index.js\n"),
        ])
        .expect("tarball");
        sandbox::storage::put(self.store.as_ref(), &build_path, tarball.into())
            .await
            .expect("put build");
        ExecutionJob {
            project_id: "ptest".into(),
            function_id: "ftest".into(),
            deployment_id: deployment,
            execution_id: unique("exe"),
            runtime_id: RUNTIME.into(),
            image: model::catalogue::runtime_image(RUNTIME),
            build_path,
            entrypoint: "index.js".into(),
            env: [("FNPLAT_TEST_VAR".to_owned(), "hello-env".to_owned())]
                .into_iter()
                .collect(),
            cpus: 1.0,
            memory_mb: 512,
            timeout_seconds: 15,
            logging: true,
            method: "POST".into(),
            path: "/echo?x=1".into(),
            headers: vec![
                Header {
                    name: "x-who".into(),
                    value: "tester".into(),
                },
                Header {
                    name: "x-open-runtimes-secret".into(),
                    value: "forged".into(),
                },
                Header {
                    name: "content-type".into(),
                    value: "text/plain".into(),
                },
            ],
            body: b"ping".to_vec(),
            trigger: "http".into(),
            created_at_unix_ms: sandbox::now_unix_ms(),
            sync: true,
        }
    }

    async fn run(&self, job: &ExecutionJob) -> ExecutionResult {
        let incoming = Incoming {
            message: job.clone(),
            reply_to: Some("amq.rabbitmq.reply-to.test".into()),
            correlation_id: Some(job.execution_id.clone()),
            redelivered: false,
            traceparent: None,
        };
        assert_eq!(self.executor.handle(incoming).await, Outcome::Ack);
        self.results
            .persisted()
            .into_iter()
            .rev()
            .find(|r| r.execution_id == job.execution_id)
            .expect("a persisted result")
    }

    async fn containers(&self) -> Vec<sandbox::docker::ContainerInfo> {
        self.sandbox
            .list_labelled(&[
                ("fnplat.role", "runtime"),
                ("fnplat.executor", &self.instance),
            ])
            .await
            .expect("list containers")
    }

    async fn cleanup(&self) {
        self.pool.remove_all_owned().await;
        assert!(
            self.containers().await.is_empty(),
            "containers removed at shutdown"
        );
    }
}

fn header<'a>(result: &'a ExecutionResult, name: &str) -> Option<&'a str> {
    result
        .headers
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.value.as_str())
}

fn next(job: &ExecutionJob) -> ExecutionJob {
    let mut j = job.clone();
    j.execution_id = unique("exe");
    j
}

#[tokio::test]
async fn sync_execution_cold_then_warm_reuses_the_container() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let job = t.deployment().await;

    let cold_started = Instant::now();
    let cold = t.run(&job).await;
    let cold_time = cold_started.elapsed();

    assert_eq!(cold.status, "completed", "errors: {}", cold.errors);
    assert_eq!(cold.status_code, 201);
    assert!(cold.cold_start);
    let body: serde_json::Value = serde_json::from_slice(&cold.body).expect("json body");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["body"], "ping");
    assert_eq!(body["who"], "tester");
    assert_eq!(body["secretVisible"], false);
    assert_eq!(body["env"], "hello-env");
    assert_eq!(header(&cold, "x-custom"), Some("yes"));
    assert!(
        cold.headers
            .iter()
            .all(|h| !h.name.starts_with("x-open-runtimes-")),
        "{:?}",
        cold.headers
    );
    assert!(
        cold.logs.contains("hello from the function POST /echo"),
        "logs: {:?}",
        cold.logs
    );
    assert!(cold.duration_seconds > 0.0);
    let replies = t.results.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1.as_deref(), Some(job.execution_id.as_str()));
    assert_eq!(replies[0].2, cold);
    let first = t.containers().await;
    assert_eq!(first.len(), 1);

    let warm_job = next(&job);
    let warm_started = Instant::now();
    let warm = t.run(&warm_job).await;
    let warm_time = warm_started.elapsed();

    assert_eq!(warm.status, "completed");
    assert!(!warm.cold_start);
    assert!(
        warm_time < cold_time,
        "warm {warm_time:?} should beat cold {cold_time:?}"
    );
    let second = t.containers().await;
    assert_eq!(second.len(), 1);
    assert_eq!(
        first[0].id, second[0].id,
        "the warm call reused the container"
    );
    // Log files are deleted once read.
    let logs_dir = t
        ._dir
        .path()
        .join("work")
        .join(&second[0].name)
        .join("logs");
    let leftover: Vec<_> = std::fs::read_dir(&logs_dir).expect("logs dir").collect();
    assert!(leftover.is_empty(), "log files deleted: {leftover:?}");
    t.cleanup().await;
}

#[tokio::test]
async fn runtime_errors_and_status_mapping() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let job = t.deployment().await;

    let mut bad = next(&job);
    bad.path = "/error".into();
    let bad = t.run(&bad).await;
    assert_eq!(bad.status, "failed");
    assert_eq!(bad.status_code, 502);
    assert_eq!(bad.body, b"bad");
    assert!(
        bad.errors.contains("something went wrong"),
        "errors: {:?}",
        bad.errors
    );

    let mut thrown = next(&job);
    thrown.path = "/throw".into();
    let thrown = t.run(&thrown).await;
    assert_eq!(thrown.status, "failed");
    assert_eq!(thrown.status_code, 500);
    assert!(
        thrown.errors.contains("thrown on purpose"),
        "errors: {:?}",
        thrown.errors
    );

    let mut quiet = next(&job);
    quiet.logging = false;
    let quiet = t.run(&quiet).await;
    assert_eq!(quiet.status, "completed");
    assert_eq!(quiet.logs, "");
    assert_eq!(quiet.errors, "");
    t.cleanup().await;
}

#[tokio::test]
async fn timeout_fails_the_execution_and_discards_the_container() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let job = t.deployment().await;
    // Warm it up first so the timeout applies to the call itself.
    assert_eq!(t.run(&job).await.status, "completed");
    let before = t.containers().await;

    let mut slow = next(&job);
    slow.path = "/slow?ms=20000".into();
    slow.timeout_seconds = 2;
    let started = Instant::now();
    let result = t.run(&slow).await;

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(result.status, "failed");
    assert_eq!(result.status_code, 500);
    assert!(
        result.errors.contains("Execution timed out."),
        "errors: {:?}",
        result.errors
    );
    // The next call works (on a fresh container when the old one was discarded).
    let after = t.run(&next(&job)).await;
    assert_eq!(after.status, "completed", "errors: {}", after.errors);
    let now = t.containers().await;
    assert_eq!(now.len(), 1);
    if after.cold_start {
        assert_ne!(before[0].id, now[0].id);
    }
    t.cleanup().await;
}

#[tokio::test]
async fn redelivered_job_is_failed_without_running() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let job = t.deployment().await;
    let incoming = Incoming {
        message: job.clone(),
        reply_to: Some("amq.rabbitmq.reply-to.test".into()),
        correlation_id: Some("c1".into()),
        redelivered: true,
        traceparent: None,
    };

    assert_eq!(t.executor.handle(incoming).await, Outcome::Ack);

    let result = t.results.persisted().pop().expect("a result");
    assert_eq!(result.status, "failed");
    assert_eq!(result.status_code, 500);
    assert_eq!(result.errors, executor_worker::execute::INTERRUPTED);
    assert_eq!(
        t.results.replies().len(),
        1,
        "the waiting caller is answered too"
    );
    assert!(t.containers().await.is_empty(), "nothing was started");
}

#[tokio::test]
async fn concurrent_cold_starts_share_one_container() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let job = t.deployment().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let executor = t.executor.clone();
        let job = next(&job);
        tasks.push(tokio::spawn(async move { executor.execute(&job).await }));
    }
    let mut cold = 0;
    for task in tasks {
        let result = task.await.expect("join");
        assert_eq!(result.status, "completed", "errors: {}", result.errors);
        cold += usize::from(result.cold_start);
    }
    assert_eq!(cold, 1, "exactly one cold start");
    assert_eq!(t.containers().await.len(), 1);
    t.cleanup().await;
}

#[tokio::test]
async fn missing_build_fails_with_an_error_code() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let mut job = t.deployment().await;
    job.build_path = "builds/none/there.tar.gz".into();
    let result = t.run(&job).await;
    assert_eq!(result.status, "failed");
    assert_eq!(result.status_code, 500);
    assert!(
        result.errors.ends_with("\nError Code: 500"),
        "errors: {:?}",
        result.errors
    );
    assert!(t.containers().await.is_empty());
}

#[tokio::test]
async fn idle_runtimes_are_reaped_and_config_changes_cold_start() {
    let t = spawn_executor(Duration::from_secs(1)).await;
    let job = t.deployment().await;
    assert!(t.run(&job).await.cold_start);
    let mut changed = next(&job);
    changed.env.insert("ANOTHER".into(), "value".into());
    assert!(
        t.run(&changed).await.cold_start,
        "a changed environment gets a fresh container"
    );
    assert_eq!(t.containers().await.len(), 2);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(t.pool.reap_idle().await, 2);
    assert!(t.containers().await.is_empty());
    assert!(
        t.run(&next(&job)).await.cold_start,
        "cold again after the reap"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn app_removes_orphans_serves_health_and_cleans_up_on_shutdown() {
    let sandbox = sandbox::testing::connect_with_runtime(RUNTIME).await;
    let node = unique("test-node-");
    // An orphan of an earlier instance on this node.
    let mut labels = std::collections::HashMap::new();
    labels.insert("fnplat.role".to_owned(), "runtime".to_owned());
    labels.insert("fnplat.node".to_owned(), node.clone());
    labels.insert("fnplat.executor".to_owned(), "executor-gone".to_owned());
    let orphan = sandbox::ContainerSpec {
        name: unique("fnplat-rt-orphan-"),
        image: model::catalogue::runtime_image(RUNTIME),
        cmd: vec!["sleep".into(), "300".into()],
        labels,
        ..Default::default()
    };
    let orphan_id = sandbox.create(&orphan).await.expect("orphan created");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = executor_worker::Settings::default();
    settings.storage.dir = dir.path().join("storage").to_string_lossy().into_owned();
    settings.work_dir = dir.path().join("work").to_string_lossy().into_owned();
    settings.node = node.clone();
    settings.admin.port = 0;
    let app = executor_worker::build(settings).await.expect("app builds");
    let addr = app.admin_addr();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));
    let client = reqwest::Client::new();

    assert_eq!(
        client
            .get(format!("http://{addr}/health/livez"))
            .send()
            .await
            .expect("livez")
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("http://{addr}/health/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    let mut waited = Duration::ZERO;
    while sandbox
        .list_labelled(&[("fnplat.node", &node)])
        .await
        .expect("list")
        .iter()
        .any(|c| c.id == orphan_id)
    {
        assert!(waited < Duration::from_secs(10), "orphan not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("stops in time");
    assert!(stopped.expect("join").is_ok());
}

/// Replies over the real RabbitMQ, keeps persisted results in memory (so the test does not feed
/// the shared results queue).
struct RealReplies {
    real: executor_worker::results::QueueResults,
    memory: MemoryResults,
}

#[async_trait::async_trait]
impl executor_worker::results::ResultSink for RealReplies {
    async fn reply(
        &self,
        reply_to: &str,
        correlation_id: Option<&str>,
        result: &ExecutionResult,
    ) -> Result<(), queue::QueueError> {
        self.real.reply(reply_to, correlation_id, result).await
    }

    async fn persist(&self, result: &ExecutionResult) -> Result<(), queue::QueueError> {
        self.memory.persist(result).await
    }
}

#[tokio::test]
async fn sync_reply_reaches_an_rpc_caller_over_rabbitmq() {
    use lapin::options::QueueDeclareOptions;
    use prost::Message;
    let base = spawn_executor(Duration::from_secs(60)).await;
    let job = base.deployment().await;
    let url = model::settings::AmqpSettings::default().url().to_owned();
    let publisher = Arc::new(queue::Publisher::new(url.clone()));
    let sink = Arc::new(RealReplies {
        real: executor_worker::results::QueueResults::new(publisher),
        memory: MemoryResults::default(),
    });
    let executor = Arc::new(Executor::new(base.pool.clone(), sink.clone()));
    // A private work queue standing in for fnplat.executions.
    let queue_name = unique("test.executions.");
    let connection = queue::connect_once(&url).await.expect("RabbitMQ reachable");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_declare(
            &queue_name,
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("declare test queue");
    let shutdown = CancellationToken::new();
    let consumer = {
        let executor = executor.clone();
        tokio::spawn(queue::run_consumer(
            queue::ConsumerConfig::queue(&url, &queue_name, "executor-test", 4),
            shutdown.clone(),
            move |incoming: Incoming<ExecutionJob>| {
                let executor = executor.clone();
                async move { executor.handle(incoming).await }
            },
        ))
    };

    let rpc = queue::RpcClient::new(url.clone());
    let bytes = rpc
        .call(
            &queue_name,
            &job,
            &job.execution_id,
            Duration::from_secs(60),
        )
        .await
        .expect("reply");
    let reply = ExecutionResult::decode(bytes.as_slice()).expect("decodes");

    assert_eq!(reply.execution_id, job.execution_id);
    assert_eq!(reply.status, "completed", "errors: {}", reply.errors);
    assert_eq!(reply.status_code, 201);
    let mut waited = Duration::ZERO;
    while sink.memory.persisted().is_empty() && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert_eq!(sink.memory.persisted(), vec![reply]);
    shutdown.cancel();
    let _ = consumer.await;
    let _ = channel.queue_delete(&queue_name, Default::default()).await;
    base.cleanup().await;
}

/// The sandbox probe function shared with the e2e suite.
fn probe_code() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/node-probe/index.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn probe(t: &TestExecutor, job: &ExecutionJob, path: &str) -> serde_json::Value {
    let mut j = next(job);
    j.method = "GET".into();
    j.path = path.into();
    j.body = Vec::new();
    let result = t.run(&j).await;
    assert_eq!(
        result.status_code,
        200,
        "{path}: errors {:?} body {:?}",
        result.errors,
        String::from_utf8_lossy(&result.body)
    );
    serde_json::from_slice(&result.body).expect("probe json")
}

#[tokio::test]
async fn runtime_containers_are_sandboxed() {
    let t = spawn_executor(Duration::from_secs(60)).await;
    let job = t.deployment_with(&probe_code()).await;
    let identity = probe(&t, &job, "/identity").await;

    let containers = t.containers().await;
    assert_eq!(containers.len(), 1);
    let info = t.sandbox.inspect(&containers[0].id).await.expect("inspect");
    let host = sandbox::testing::assert_sandboxed(info, executor_worker::pool::RUNTIME_PIDS_LIMIT);
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    assert_eq!(host.memory_swap, Some(512 * 1024 * 1024));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    let tmpfs = host.tmpfs.expect("tmpfs mounts");
    assert!(tmpfs.contains_key("/tmp"), "{tmpfs:?}");
    assert!(
        tmpfs.contains_key("/usr/local/server/src/function"),
        "{tmpfs:?}"
    );
    let binds = host.binds.unwrap_or_default();
    assert!(
        binds
            .iter()
            .any(|b| b.ends_with(":/mnt/code/code.tar.gz:ro")),
        "{binds:?}"
    );

    // What the function itself sees.
    assert_eq!(identity["uid"], 1000, "{identity}");
    assert_eq!(identity["gid"], 1000, "{identity}");
    assert_eq!(identity["capEff"], "0000000000000000", "{identity}");
    assert_eq!(identity["noNewPrivs"], "1", "{identity}");
    assert_eq!(identity["pidsMax"], "256", "{identity}");
    assert_eq!(identity["dockerSocket"], false, "{identity}");

    let write = probe(&t, &job, "/write").await;
    for outside in ["root", "etc", "server"] {
        assert_eq!(write[outside], "EROFS", "{outside}: {write}");
    }
    assert_eq!(write["tmp"], "ok", "{write}");
    assert_eq!(write["tmpRead"], "probe", "{write}");

    let network = probe(&t, &job, "/network").await;
    for target in [
        "loopback:5432",
        "loopback:5672",
        "gateway:5432",
        "gateway:5672",
        "gateway:2375",
        "docker0:5432",
        "docker0:5672",
        "docker.sock",
    ] {
        let outcome = network[target].as_str().unwrap_or("missing");
        assert_ne!(outcome, "open", "{target} must be unreachable: {network}");
        assert_ne!(outcome, "missing", "{target}: {network}");
    }
    t.cleanup().await;
}
