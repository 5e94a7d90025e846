//! Events the gateway publishes on `fnplat.events` (spec 6.1) for activations and for executions
//! started by a schedule fire or an event trigger, observed through a queue bound to the exchange
//! in the test's own vhost.
use crate::helpers::{gzip, spawn_app, TestApp, PROJECT};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use model::proto::{BuildEvent, BuildJob, BuildStatus, ScheduleFire};
use serde_json::{json, Value};
use std::time::Duration;

/// A temporary queue bound to the events exchange with `pattern`.
struct Events {
    _connection: lapin::Connection,
    channel: lapin::Channel,
    consumer: lapin::Consumer,
}

impl Events {
    async fn bind(app: &TestApp, pattern: &str) -> Self {
        let connection = queue::connect_once(&app.amqp_url).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
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
        channel
            .queue_bind(
                q.name().as_str(),
                model::topology::EVENTS_EXCHANGE,
                pattern,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                q.name().as_str(),
                "test-events",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self {
            _connection: connection,
            channel,
            consumer,
        }
    }

    /// The next event as (routing key, body).
    async fn next(&mut self) -> (String, Value) {
        let delivery = tokio::time::timeout(Duration::from_secs(15), self.consumer.next())
            .await
            .expect("no event arrived")
            .expect("consumer ended")
            .unwrap();
        let body: Value = serde_json::from_slice(&delivery.data).unwrap();
        (delivery.routing_key.to_string(), body)
    }

    /// Publishes an outside event (as another Appwrite service would).
    async fn publish(&self, event: &str, body: Value) {
        self.channel
            .basic_publish(
                model::topology::EVENTS_EXCHANGE,
                event,
                BasicPublishOptions::default(),
                &serde_json::to_vec(&body).unwrap(),
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// Uploads a deployment, takes its build job and reports it ready. Returns the deployment id.
async fn build_ready(app: &TestApp, function_id: &str, activate: bool) -> String {
    let reply = app
        .upload(
            function_id,
            "code.tar.gz",
            gzip(b"console.log(1)"),
            activate,
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let deployment_id = reply.body["$id"].as_str().unwrap().to_owned();
    let job: BuildJob = app.next_message(model::topology::BUILDS_QUEUE).await;
    assert_eq!(job.deployment_id, deployment_id);
    app.publish(
        model::topology::BUILD_EVENTS_QUEUE,
        &BuildEvent {
            project_id: job.project_id.clone(),
            function_id: job.function_id.clone(),
            deployment_id: deployment_id.clone(),
            status: BuildStatus::Ready as i32,
            logs: "built\n".into(),
            build_size: 10,
            build_duration_ms: 1000,
            output_path: job.output_path.clone(),
            ..Default::default()
        },
    )
    .await;
    deployment_id
}

#[tokio::test]
async fn activation_emits_function_update() {
    let app = spawn_app().await;
    app.create_function("act").await;
    let mut events = Events::bind(&app, "functions.act.update").await;

    // An activating build that becomes ready activates the function.
    let first = build_ready(&app, "act", true).await;
    let (key, body) = events.next().await;
    assert_eq!(key, "functions.act.update");
    assert_eq!(body["event"], "functions.act.update");
    assert_eq!(body["projectId"], PROJECT);
    assert_eq!(body["payload"]["$id"], "act");
    assert_eq!(body["payload"]["deploymentId"], first.as_str());
    assert_eq!(body["payload"]["live"], true);

    // A ready build without activate changes nothing: the next update is the PATCH below.
    let second = build_ready(&app, "act", false).await;
    app.wait_for(&format!("/v1/functions/act/deployments/{second}"), |d| {
        d["status"] == "ready"
    })
    .await;
    let reply = app
        .patch(
            "/v1/functions/act/deployment",
            json!({"deploymentId": second}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (key, body) = events.next().await;
    assert_eq!(key, "functions.act.update");
    assert_eq!(body["payload"]["deploymentId"], second.as_str());
    assert_eq!(body["payload"], reply.body);
}

#[tokio::test]
async fn event_triggered_execution_emits_create() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/functions",
            json!({"functionId": "onusers", "name": "on users", "runtime": "node-18.0",
                   "entrypoint": "index.js", "events": ["users.*.create"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    app.deploy_ready("onusers").await;
    let mut events = Events::bind(&app, "functions.onusers.executions.#").await;

    events
        .publish(
            "users.u1.create",
            json!({"id": "message-1", "projectId": PROJECT, "payload": {"$id": "u1"}}),
        )
        .await;
    let (key, body) = events.next().await;
    let id = body["payload"]["$id"].as_str().unwrap().to_owned();
    assert_eq!(key, format!("functions.onusers.executions.{id}.create"));
    assert_eq!(body["event"], key.as_str());
    assert_eq!(body["payload"]["trigger"], "event");
    assert_eq!(body["payload"]["status"], "waiting");
    assert_eq!(body["payload"]["functionId"], "onusers");
    let stored = app
        .get(&format!("/v1/functions/onusers/executions/{id}"))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.body["trigger"], "event");
}

#[tokio::test]
async fn schedule_started_executions_emit_events() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/functions",
            json!({"functionId": "cron", "name": "cron", "runtime": "node-18.0",
                   "entrypoint": "index.js", "schedule": "* * * * *"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    app.deploy_ready("cron").await;
    // Fires for slots before the function existed are dropped: make it older than this minute.
    let mut conn = AsyncPgConnection::establish(&app.database_url())
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE functions SET created_at = now() - interval '1 hour' WHERE id = 'cron'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut events = Events::bind(&app, "functions.cron.executions.#").await;

    // A CRON slot.
    let now = chrono::Utc::now().timestamp();
    let fire = ScheduleFire {
        project_id: PROJECT.into(),
        function_id: "cron".into(),
        slot_unix: now - now % 60,
        execution_id: String::new(),
    };
    app.publish(model::topology::SCHEDULE_FIRES_QUEUE, &fire)
        .await;
    let (key, body) = events.next().await;
    let id = body["payload"]["$id"].as_str().unwrap().to_owned();
    assert_eq!(key, format!("functions.cron.executions.{id}.create"));
    assert_eq!(body["payload"]["trigger"], "schedule");
    assert_eq!(body["payload"]["status"], "waiting");

    // A `scheduledAt` execution: `create` when scheduled, `update` (waiting) when started.
    let at = chrono::DateTime::from_timestamp(now - now % 60 + 180, 0).unwrap();
    let reply = app
        .post(
            "/v1/functions/cron/executions",
            json!({"async": true, "scheduledAt": at.to_rfc3339()}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let scheduled = reply.body["$id"].as_str().unwrap().to_owned();
    let (key, body) = events.next().await;
    assert_eq!(key, format!("functions.cron.executions.{scheduled}.create"));
    assert_eq!(body["payload"]["status"], "scheduled");
    let fire = ScheduleFire {
        project_id: PROJECT.into(),
        function_id: "cron".into(),
        slot_unix: at.timestamp(),
        execution_id: scheduled.clone(),
    };
    app.publish(model::topology::SCHEDULE_FIRES_QUEUE, &fire)
        .await;
    let (key, body) = events.next().await;
    assert_eq!(key, format!("functions.cron.executions.{scheduled}.update"));
    assert_eq!(body["payload"]["status"], "waiting");
    assert_eq!(body["payload"]["trigger"], "schedule");
}
