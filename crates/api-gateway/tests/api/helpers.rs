//! `spawn_app()`: a fresh database (`CREATE DATABASE test_<uuid>`) and vhost per test, the real
//! `Application` on port 0, and typed helpers.
//!
//! Environment (defaults match `scripts/infra-up.sh`): `TEST_DATABASE_URL`
//! (postgres://fnplat:fnplat@127.0.0.1:5432/fnplat, role needs CREATEDB), `TEST_AMQP_BASE`
//! (amqp://fnplat:fnplat@127.0.0.1:5672), `TEST_AMQP_USER` (fnplat). Vhosts are created with
//! `rabbitmqctl`, which must be runnable by the test user.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use api_gateway::{Application, Settings};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicGetOptions};
use lapin::types::FieldTable;
use model::proto::{BuildEvent, BuildJob, BuildStatus};
use prost::Message;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const API_KEY: &str = "test-api-key";
pub const PROJECT: &str = "default";
pub const JWT_SECRET: &str = "test-jwt-secret";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub amqp_url: String,
    pub storage: tempfile::TempDir,
    db_name: String,
    base_db_url: String,
    vhost: String,
    shutdown: CancellationToken,
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl must be installed and runnable for the gateway tests");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(json!({})).await
}

/// `spawn_app` with settings overridden by the top-level sections of `overrides`
/// (e.g. `{"rate_limit": {"create_execution_limit": 3}}`).
pub async fn spawn_app_with(overrides: Value) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        model::telemetry::init("api-gateway-test");
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let db_name = format!("test_{id}");
    let base_db_url = env_or(
        "TEST_DATABASE_URL",
        "postgres://fnplat:fnplat@127.0.0.1:5432/fnplat",
    );
    let mut admin = AsyncPgConnection::establish(&base_db_url)
        .await
        .expect("connect to PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE \"{db_name}\""))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let db_url = match base_db_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db_name}"),
        None => panic!("TEST_DATABASE_URL has no database name"),
    };

    let vhost = format!("test_{id}");
    let user = env_or("TEST_AMQP_USER", "fnplat");
    let vhost_for_cmd = vhost.clone();
    tokio::task::spawn_blocking(move || {
        rabbitmqctl(&["add_vhost", &vhost_for_cmd]);
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost_for_cmd,
            &user,
            ".*",
            ".*",
            ".*",
        ]);
    })
    .await
    .unwrap();
    let amqp_url = format!(
        "{}/{vhost}",
        env_or("TEST_AMQP_BASE", "amqp://fnplat:fnplat@127.0.0.1:5672")
    );

    let storage = tempfile::tempdir().unwrap();
    let mut settings = json!({
        "http": {"host": "127.0.0.1", "port": 0},
        "database": {"url": db_url, "max_connections": 4},
        "amqp": {"url": amqp_url, "prefetch": 8},
        "storage": {"dir": storage.path().to_string_lossy()},
        "auth": {"project_id": PROJECT, "api_key": API_KEY, "jwt_secret": JWT_SECRET},
        "runtimes": ["node-18.0"],
    });
    if let (Some(base), Some(extra)) = (settings.as_object_mut(), overrides.as_object()) {
        base.extend(extra.clone());
    }
    let settings: Settings = serde_json::from_value(settings).unwrap();
    let app = Application::build(settings)
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        amqp_url,
        storage,
        db_name,
        base_db_url,
        vhost,
        shutdown,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let (db_name, base, vhost) = (
            self.db_name.clone(),
            self.base_db_url.clone(),
            self.vhost.clone(),
        );
        // Clean up on a separate thread with its own runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_vhost", &vhost])
                .output();
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(mut conn) = AsyncPgConnection::establish(&base).await {
                        let _ = diesel::sql_query(format!(
                            "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            body,
            headers,
        }
    }

    /// Asserts an Appwrite error body of `status` and `kind`.
    pub fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["type"], kind, "{}", self.body);
        assert_eq!(self.body["code"], status);
        assert!(self.body["message"].is_string());
        assert!(self.body["version"].is_string());
    }
}

impl TestApp {
    /// The URL of this test's database.
    pub fn database_url(&self) -> String {
        match self.base_db_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", self.db_name),
            None => panic!("TEST_DATABASE_URL has no database name"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn authed(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        builder
            .header("X-Appwrite-Project", PROJECT)
            .header("X-Appwrite-Key", API_KEY)
            // The contract's baseline models; without the header the newest format is served.
            .header("X-Appwrite-Response-Format", "1.9.5")
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(
            self.authed(self.client.get(self.url(path)))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        Reply::from(
            self.authed(self.client.get(self.url(path)).query(query))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        Reply::from(
            self.authed(self.client.post(self.url(path)).json(&body))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        Reply::from(
            self.authed(self.client.put(self.url(path)).json(&body))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        Reply::from(
            self.authed(self.client.patch(self.url(path)).json(&body))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Reply::from(
            self.authed(self.client.delete(self.url(path)))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A request with arbitrary headers (auth tests).
    pub async fn raw(&self, builder: reqwest::RequestBuilder) -> Reply {
        Reply::from(builder.send().await.unwrap()).await
    }

    pub async fn create_function(&self, id: &str) -> Value {
        let reply = self
            .post("/v1/functions", json!({"functionId": id, "name": format!("fn {id}"), "runtime": "node-18.0", "entrypoint": "index.js"}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    pub async fn upload(
        &self,
        function_id: &str,
        filename: &str,
        data: Vec<u8>,
        activate: bool,
    ) -> Reply {
        let form = reqwest::multipart::Form::new()
            .part(
                "code",
                reqwest::multipart::Part::bytes(data).file_name(filename.to_owned()),
            )
            .text("activate", activate.to_string());
        let request = self
            .client
            .post(self.url(&format!("/v1/functions/{function_id}/deployments")))
            .multipart(form);
        Reply::from(self.authed(request).send().await.unwrap()).await
    }

    /// Waits for one message on `queue` of this test's vhost and acks it.
    pub async fn next_message<M: Message + Default>(&self, queue: &str) -> M {
        let conn = queue::connect_once(&self.amqp_url).await.unwrap();
        let channel = conn.create_channel().await.unwrap();
        // Declare first: a basic_get on a queue that does not exist yet closes the channel.
        queue::declare_topology(&channel).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(message)) = channel.basic_get(queue, BasicGetOptions::default()).await {
                message
                    .delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .unwrap();
                let _ = conn.close(200, "done").await;
                return M::decode(message.delivery.data.as_slice()).unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message arrived on {queue}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn publish<M: Message>(&self, queue: &str, message: &M) {
        let publisher = queue::Publisher::new(self.amqp_url.clone());
        publisher
            .publish("", queue, message, &queue::PublishOptions::default())
            .await
            .unwrap();
    }

    /// Polls `path` until `done(body)` holds.
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let reply = self.get(path).await;
            if reply.status == 200 && done(&reply.body) {
                return reply.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached on {path}: {}",
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Uploads an activating deployment, takes its BuildJob off the queue, reports it built, and
    /// waits until the function runs it. Returns (deployment id, build job).
    pub async fn deploy_ready(&self, function_id: &str) -> (String, BuildJob) {
        let reply = self
            .upload(function_id, "code.tar.gz", gzip(b"console.log(1)"), true)
            .await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        let deployment_id = reply.body["$id"].as_str().unwrap().to_owned();
        let job: BuildJob = self.next_message(model::topology::BUILDS_QUEUE).await;
        assert_eq!(job.deployment_id, deployment_id);
        self.publish(
            model::topology::BUILD_EVENTS_QUEUE,
            &BuildEvent {
                project_id: job.project_id.clone(),
                function_id: job.function_id.clone(),
                deployment_id: deployment_id.clone(),
                status: BuildStatus::Ready as i32,
                logs: "built\n".into(),
                build_size: 10,
                build_duration_ms: 1200,
                output_path: job.output_path.clone(),
                ..Default::default()
            },
        )
        .await;
        let id = deployment_id.clone();
        self.wait_for(&format!("/v1/functions/{function_id}"), move |f| {
            f["deploymentId"] == id.as_str()
        })
        .await;
        (deployment_id, job)
    }

    /// Answers the next execution job of this vhost like an executor would (RPC reply to
    /// `reply_to`); returns the job it answered.
    pub fn fake_executor(
        &self,
        result: model::proto::ExecutionResult,
    ) -> tokio::task::JoinHandle<model::proto::ExecutionJob> {
        let url = self.amqp_url.clone();
        tokio::spawn(async move {
            let conn = queue::connect_once(&url).await.unwrap();
            let channel = conn.create_channel().await.unwrap();
            queue::declare_topology(&channel).await.unwrap();
            let mut consumer = channel
                .basic_consume(
                    model::topology::EXECUTIONS_QUEUE,
                    "fake-executor",
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
            let delivery = consumer.next().await.unwrap().unwrap();
            let job = model::proto::ExecutionJob::decode(delivery.data.as_slice()).unwrap();
            let reply_to = delivery.properties.reply_to().as_ref().unwrap().to_string();
            let correlation_id = delivery
                .properties
                .correlation_id()
                .as_ref()
                .map(|c| c.to_string());
            let result = model::proto::ExecutionResult {
                project_id: job.project_id.clone(),
                function_id: job.function_id.clone(),
                deployment_id: job.deployment_id.clone(),
                execution_id: job.execution_id.clone(),
                ..result
            };
            let opts = queue::PublishOptions {
                correlation_id,
                ..Default::default()
            };
            queue::publish_on(&channel, "", &reply_to, &result, &opts, false)
                .await
                .unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            let _ = conn.close(200, "done").await;
            job
        })
    }

    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.push(path);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self.storage.path(), &mut out);
        out
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Asserts every field of the Function model is present with its type (spec 3.1).
pub fn assert_function_shape(f: &Value) {
    for key in [
        "$id",
        "$createdAt",
        "$updatedAt",
        "name",
        "runtime",
        "deploymentId",
        "deploymentCreatedAt",
        "latestDeploymentId",
        "latestDeploymentCreatedAt",
        "latestDeploymentStatus",
        "schedule",
        "entrypoint",
        "commands",
        "version",
        "installationId",
        "providerRepositoryId",
        "providerBranch",
        "providerRootDirectory",
        "buildSpecification",
        "runtimeSpecification",
    ] {
        assert!(f[key].is_string(), "{key} should be a string in {f}");
    }
    for key in ["enabled", "live", "logging", "providerSilentMode"] {
        assert!(f[key].is_boolean(), "{key} should be a bool in {f}");
    }
    for key in ["deploymentRetention", "timeout"] {
        assert!(f[key].is_i64(), "{key} should be an int in {f}");
    }
    for key in [
        "execute",
        "scopes",
        "vars",
        "events",
        "providerBranches",
        "providerPaths",
    ] {
        assert!(f[key].is_array(), "{key} should be an array in {f}");
    }
    let created = f["$createdAt"].as_str().unwrap();
    assert!(
        created.ends_with("+00:00") && created.len() == 29,
        "{created}"
    );
}
