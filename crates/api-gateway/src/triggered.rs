//! Executions the platform starts by itself (a CRON slot, a `scheduledAt` time, an event trigger):
//! the job, headers and row they share (the row also with HTTP-started executions), and the
//! events they emit once committed.
use crate::db::deployments::DeploymentRow;
use crate::db::executions::{ExecutionRow, WAITING};
use crate::db::functions::FunctionRow;
use crate::db::Pool;
use crate::domain::ExecutionRequest;
use crate::jobs;
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use model::proto::ExecutionJob;
use queue::Publisher;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

/// What the schedule-fire and event-trigger consumers need.
#[derive(Clone)]
pub struct TriggerContext {
    pub pool: Pool,
    pub settings: Arc<Settings>,
    pub outbox_wake: Arc<Notify>,
    /// Publishes the `functions.*.executions.*` events of started executions.
    pub publisher: Arc<Publisher>,
    /// Background event publishing that shutdown waits for.
    pub tasks: TaskTracker,
}

impl TriggerContext {
    /// After an execution and its job committed: wakes the outbox relay and publishes
    /// `functions.<f>.executions.<e>.<action>` (best effort, in the background).
    pub fn started(&self, row: &ExecutionRow, action: &str) {
        self.outbox_wake.notify_one();
        crate::events::emit_execution(&self.tasks, &self.publisher, row, action);
    }
}

/// A new execution row in `waiting`, with the request as given (callers change what differs).
pub fn new_row(
    function: &FunctionRow,
    deployment_id: &str,
    execution_id: &str,
    request: &ExecutionRequest,
    trigger: &str,
    request_headers: serde_json::Value,
    now: DateTime<Utc>,
) -> ExecutionRow {
    ExecutionRow {
        project_id: function.project_id.clone(),
        id: execution_id.to_owned(),
        function_id: function.id.clone(),
        deployment_id: deployment_id.to_owned(),
        created_at: now,
        updated_at: now,
        trigger: trigger.to_owned(),
        status: WAITING.into(),
        request_method: request.method.clone(),
        request_path: request.path.clone(),
        request_headers,
        response_status_code: 0,
        response_headers: serde_json::json!([]),
        logs: String::new(),
        errors: String::new(),
        duration: 0.0,
        scheduled_at: None,
        timeout_seconds: function.timeout,
        user_id: None,
    }
}

/// Headers for a schedule- or event-triggered run (spec 7.4).
pub fn trigger_headers(
    request: &ExecutionRequest,
    execution_id: &str,
    trigger: &str,
    event: &str,
) -> Vec<(String, String)> {
    let mut headers = jobs::function_headers(request, execution_id, "");
    for (k, v) in headers.iter_mut() {
        if k == "x-appwrite-trigger" {
            *v = trigger.to_owned();
        }
    }
    headers.push(("x-appwrite-event".into(), event.to_owned()));
    headers
}

/// One platform-started run of a function's active deployment.
pub struct Run<'a> {
    pub function: &'a FunctionRow,
    pub deployment: &'a DeploymentRow,
    pub execution_id: &'a str,
    pub request: &'a ExecutionRequest,
    /// `schedule` or `event`.
    pub trigger: &'a str,
    /// The event name (`x-appwrite-event`), empty for schedules.
    pub event: &'a str,
}

impl Run<'_> {
    /// The headers the function receives.
    pub fn headers(&self) -> Vec<(String, String)> {
        trigger_headers(self.request, self.execution_id, self.trigger, self.event)
    }

    /// The async job with the function's variables. An error means "retry later".
    pub async fn job(
        &self,
        settings: &Settings,
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
    ) -> Result<ExecutionJob, String> {
        let headers = self.headers();
        let mut job = jobs::execution_job(
            settings,
            jobs::ExecutionJobInput {
                function: self.function,
                deployment: self.deployment,
                execution_id: self.execution_id,
                request: self.request,
                headers: &headers,
                sync: false,
                created_at_unix_ms: now.timestamp_millis(),
            },
        );
        self.trigger.clone_into(&mut job.trigger);
        crate::job_env::complete_execution_job(conn, settings, self.function, &mut job)
            .await
            .map_err(|err| format!("loading variables: {err}"))?;
        Ok(job)
    }

    /// The `waiting` row stored for this run, with `request_headers` as stored.
    pub fn row(&self, request_headers: serde_json::Value, now: DateTime<Utc>) -> ExecutionRow {
        new_row(
            self.function,
            &self.deployment.id,
            self.execution_id,
            self.request,
            self.trigger,
            request_headers,
            now,
        )
    }
}
