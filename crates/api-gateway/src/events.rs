//! Appwrite events (spec 6.1, 6.2): emitting them on [`model::topology::EVENTS_EXCHANGE`] and
//! starting the functions subscribed to them.
//!
//! Message format (also for outside publishers): routing key = the concrete event name, body =
//! JSON `{"id": "<unique message id>", "event": "<name>", "projectId": "<project>", "payload": {..}}`
//! with `content-type: application/json`. The `event` field wins over the routing key when both are
//! present; the id is `id`, else the AMQP `message_id`. Each `(function, id)` starts at most one
//! execution (`event_fires` primary key), so redeliveries are harmless.
use crate::db::events::{self as edb, EventFireRow};
use crate::db::executions::ExecutionRow;
use crate::db::Pool;
use crate::domain::ExecutionRequest;
use crate::jobs;
use crate::triggered::Run;
use chrono::Utc;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use queue::Publisher;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Words that end the resource path of an event (`users.[id].update.email`: action `update`,
/// attribute `email`).
const ACTIONS: [&str; 4] = ["create", "update", "delete", "upsert"];

/// One event message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventMessage {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub event: String,
    pub project_id: String,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// Every subscription string that a concrete event satisfies: each id slot concrete or `*`, with
/// the full event, without its attribute, and the resource path without the action
/// (`users.abc.create` -> `users.abc.create`, `users.*.create`, `users.abc`, `users.*`).
pub fn matching_patterns(event: &str) -> HashSet<String> {
    let parts: Vec<&str> = event.split('.').collect();
    // Resource path: (resource, id) pairs until an action word (or the end).
    let mut id_slots = Vec::new();
    let mut i = 0;
    while i + 1 < parts.len() && !ACTIONS.contains(&parts[i]) {
        id_slots.push(i + 1);
        i += 2;
    }
    let path_len = i.min(parts.len());
    let mut out = HashSet::new();
    let combos = 1usize << id_slots.len().min(8);
    for mask in 0..combos {
        let mut p: Vec<&str> = parts.clone();
        for (bit, slot) in id_slots.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                p[*slot] = "*";
            }
        }
        out.insert(p.join("."));
        if p.len() > path_len + 1 {
            out.insert(p[..path_len + 1].join("."));
        }
        if path_len > 0 && path_len < p.len() {
            out.insert(p[..path_len].join("."));
        }
    }
    out
}

/// Whether any of a function's `events` matches the concrete `event`.
pub fn subscribed(patterns: &[String], event: &str) -> bool {
    let set = matching_patterns(event);
    patterns.iter().any(|p| set.contains(p))
}

/// Publishes an event, best effort after the change committed (a lost event is logged, never
/// fails the request).
pub async fn emit(publisher: &Publisher, project_id: &str, event: String, payload: impl Serialize) {
    let message = EventMessage {
        id: model::ids::unique_id(),
        event,
        project_id: project_id.to_owned(),
        payload: serde_json::to_value(payload).unwrap_or_default(),
    };
    let body = match serde_json::to_vec(&message) {
        Ok(b) => b,
        Err(err) => {
            tracing::warn!(error = %err, "event not serialisable");
            return;
        }
    };
    let sent = tokio::time::timeout(
        Duration::from_secs(2),
        publisher.broadcast_json(
            model::topology::EVENTS_EXCHANGE,
            &message.event,
            &body,
            &message.id,
        ),
    )
    .await;
    match sent {
        Ok(Ok(())) => tracing::debug!(event = %message.event, "event published"),
        Ok(Err(err)) => {
            tracing::warn!(event = %message.event, error = %err, "could not publish event")
        }
        Err(_) => tracing::warn!(event = %message.event, "publishing an event timed out"),
    }
}

/// [`emit`] in the background (requests do not wait for the broker).
pub fn spawn_emit(
    tasks: &tokio_util::task::TaskTracker,
    publisher: &Arc<Publisher>,
    project_id: &str,
    event: String,
    payload: impl Serialize,
) {
    let payload = serde_json::to_value(payload).unwrap_or_default();
    let (publisher, project_id) = (publisher.clone(), project_id.to_owned());
    tasks.spawn(async move { emit(&publisher, &project_id, event, payload).await });
}

/// `functions.<f>.executions.<e>.<action>` with the Execution model.
pub fn emit_execution(
    tasks: &tokio_util::task::TaskTracker,
    publisher: &Arc<Publisher>,
    row: &ExecutionRow,
    action: &str,
) {
    let event = format!(
        "functions.{}.executions.{}.{action}",
        row.function_id, row.id
    );
    spawn_emit(
        tasks,
        publisher,
        &row.project_id,
        event,
        crate::wire::Execution::from(row.clone()),
    );
}

/// After a change persisted by a consumer (build status, execution result): loads the resource
/// and publishes its `update` event. Best effort.
pub async fn emit_update_from_db(
    pool: &Pool,
    publisher: &Publisher,
    project_id: &str,
    function_id: &str,
    deployment_id: Option<&str>,
    execution_id: Option<&str>,
) {
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    if let Some(id) = deployment_id {
        if let Ok(Some(row)) =
            crate::db::deployments::find(&mut conn, project_id, function_id, id).await
        {
            let event = format!("functions.{function_id}.deployments.{id}.update");
            emit(
                publisher,
                project_id,
                event,
                crate::wire::Deployment::from(row),
            )
            .await;
        }
    }
    if let Some(id) = execution_id {
        if let Ok(Some(row)) =
            crate::db::executions::find(&mut conn, project_id, function_id, id).await
        {
            let event = format!("functions.{function_id}.executions.{id}.update");
            emit(
                publisher,
                project_id,
                event,
                crate::wire::Execution::from(row),
            )
            .await;
        }
    }
}

pub use crate::triggered::TriggerContext;

/// What to do with a delivery.
#[derive(Debug, PartialEq)]
enum Verdict {
    Ack,
    Retry(String),
    Drop(String),
}

/// Handles one event: starts every subscribed function once.
async fn handle(
    ctx: &TriggerContext,
    body: &[u8],
    routing_key: &str,
    message_id: Option<&str>,
) -> Verdict {
    let mut message: EventMessage = match serde_json::from_slice(body) {
        Ok(m) => m,
        Err(err) => return Verdict::Drop(format!("not an event message: {err}")),
    };
    if message.event.is_empty() {
        message.event = routing_key.to_owned();
    }
    if message.id.is_empty() {
        message.id = message_id.unwrap_or_default().to_owned();
    }
    if message.event.is_empty() || message.project_id.is_empty() {
        return Verdict::Drop("event without a name or project".into());
    }
    // Without any id a redelivery cannot be recognised: each delivery gets its own.
    if message.id.is_empty() {
        message.id = model::ids::unique_id();
    }
    let mut conn = match ctx.pool.get().await {
        Ok(c) => c,
        Err(e) => return Verdict::Retry(e.to_string()),
    };
    let functions = match edb::subscribed(&mut conn, &message.project_id).await {
        Ok(f) => f,
        Err(e) => return Verdict::Retry(e.to_string()),
    };
    let set = matching_patterns(&message.event);
    for function in functions
        .into_iter()
        .filter(|f| f.events.iter().any(|p| set.contains(p)))
    {
        let deployment = match crate::db::deployments::find(
            &mut conn,
            &function.project_id,
            &function.id,
            &function.deployment_id,
        )
        .await
        {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => return Verdict::Retry(e.to_string()),
        };
        let now = Utc::now();
        let execution_id = model::ids::unique_id();
        let request = ExecutionRequest {
            body: message.payload.to_string(),
            is_async: true,
            path: "/".into(),
            method: "POST".into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (
                    "user-agent".into(),
                    format!("Appwrite/{}", model::APPWRITE_VERSION),
                ),
            ],
            scheduled_at: None,
        };
        let run = Run {
            function: &function,
            deployment: &deployment,
            execution_id: &execution_id,
            request: &request,
            trigger: "event",
            event: &message.event,
        };
        let job = match run.job(&ctx.settings, &mut conn, now).await {
            Ok(job) => job,
            Err(reason) => return Verdict::Retry(reason),
        };
        let row = run.row(jobs::stored_request_headers(&run.headers()), now);
        let fire = EventFireRow {
            project_id: function.project_id.clone(),
            function_id: function.id.clone(),
            event_id: message.id.clone(),
            event: message.event.clone(),
            execution_id: execution_id.clone(),
            created_at: now,
        };
        match edb::insert_fire(&mut conn, &fire, &row, &job).await {
            Ok(true) => {
                ctx.started(&row, "create");
                tracing::info!(function.id = %function.id, execution.id = %execution_id, event = %message.event, "event triggered a function");
            }
            Ok(false) => {
                tracing::debug!(function.id = %function.id, event.id = %message.id, "duplicate event ignored")
            }
            Err(e) => return Verdict::Retry(e.to_string()),
        }
    }
    Verdict::Ack
}

/// Consumes [`model::topology::EVENT_TRIGGERS_QUEUE`] until `shutdown`, reconnecting after broker
/// failures. Events are JSON, so this loop reads raw deliveries instead of `queue::run_consumer`.
pub async fn run(ctx: TriggerContext, url: String, prefetch: u16, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    loop {
        match consume(&ctx, &url, prefetch, &shutdown).await {
            Ok(()) => return,
            Err(err) => tracing::warn!(error = %err, "event consumer disconnected, reconnecting"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn consume(
    ctx: &TriggerContext,
    url: &str,
    prefetch: u16,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let connection = match queue::connect(url, shutdown).await {
        Ok(c) => c,
        Err(queue::QueueError::Shutdown) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let channel = connection.create_channel().await?;
    queue::declare_topology(&channel).await?;
    channel
        .basic_qos(prefetch.max(1), BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            model::topology::EVENT_TRIGGERS_QUEUE,
            "api-gateway-event-triggers",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            d = consumer.next() => d,
        };
        let Some(delivery) = delivery else {
            anyhow::bail!("consumer stream ended");
        };
        let delivery = delivery?;
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str().to_owned());
        let verdict = handle(
            ctx,
            &delivery.data,
            delivery.routing_key.as_str(),
            message_id.as_deref(),
        )
        .await;
        match verdict {
            Verdict::Ack => delivery.acker.ack(BasicAckOptions::default()).await?,
            Verdict::Retry(reason) => {
                tracing::warn!(%reason, "event handling failed, requeueing");
                tokio::time::sleep(Duration::from_millis(500)).await;
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?
            }
            Verdict::Drop(reason) => {
                tracing::warn!(%reason, "event dead-lettered");
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..Default::default()
                    })
                    .await?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn simple_event_patterns() {
        let set = matching_patterns("users.abc.create");
        for p in ["users.abc.create", "users.*.create", "users.abc", "users.*"] {
            assert!(set.contains(p), "{p} missing from {set:?}");
        }
        assert_eq!(set.len(), 4);
        assert!(!set.contains("users"));
        assert!(!set.contains("users.*.update"));
    }

    #[test]
    fn nested_event_patterns() {
        let e = "databases.d1.collections.c1.documents.x1.create";
        assert!(subscribed(
            &s(&["databases.*.collections.*.documents.*.create"]),
            e
        ));
        assert!(subscribed(
            &s(&["databases.d1.collections.*.documents.x1"]),
            e
        ));
        assert!(subscribed(
            &s(&["databases.*.collections.c1.documents.*"]),
            e
        ));
        assert!(!subscribed(
            &s(&["databases.*.collections.c2.documents.*"]),
            e
        ));
        assert!(!subscribed(
            &s(&["databases.*.collections.*.documents.*.delete"]),
            e
        ));
        assert!(!subscribed(&s(&["buckets.*.files.*.create"]), e));
        // The resource-path prefix must be complete.
        assert!(!subscribed(&s(&["databases.*"]), e));
    }

    #[test]
    fn attribute_events() {
        let e = "users.u1.update.email";
        assert!(subscribed(&s(&["users.*.update.email"]), e));
        assert!(subscribed(&s(&["users.*.update"]), e));
        assert!(subscribed(&s(&["users.u1"]), e));
        assert!(!subscribed(&s(&["users.*.update.name"]), e));
    }

    #[test]
    fn non_matching() {
        assert!(!subscribed(&s(&["buckets.*.create"]), "users.abc.create"));
        assert!(!subscribed(&s(&[]), "users.abc.create"));
        assert!(!subscribed(&s(&["users.other.create"]), "users.abc.create"));
    }

    #[test]
    fn message_format() {
        let m: EventMessage =
            serde_json::from_str(r#"{"event":"users.a.create","projectId":"p","payload":{"x":1}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.event, "users.a.create");
        assert_eq!(m.project_id, "p");
        assert!(m.id.is_empty());
        assert_eq!(m.payload["x"], 1);
    }
}
