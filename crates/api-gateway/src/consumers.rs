//! Consumers persisting what the workers report: build events and execution results.
//! Handlers are idempotent and status-guarded; database trouble is `Retry`, nonsense is `Dead`.
use crate::db::deployments::{self, Finished};
use crate::db::executions::{self, Outcome as ExecOutcome};
use crate::db::Pool;
use crate::truncate;
use model::proto::{BuildEvent, BuildStatus, ExecutionResult};
use queue::{Incoming, Outcome, Publisher};
use std::sync::Arc;

fn retry(err: impl std::fmt::Display) -> Outcome {
    Outcome::Retry(err.to_string())
}

/// Persists a build event, then publishes `functions.<f>.deployments.<d>.update` on a status
/// change and, when a ready build became the active deployment, `functions.<f>.update` (spec 6.1);
/// schedulers hear of a ready build (it may have been activated).
pub async fn on_build_event(
    pool: Pool,
    publisher: Arc<Publisher>,
    incoming: Incoming<BuildEvent>,
) -> Outcome {
    let ready = incoming.message.status == BuildStatus::Ready as i32;
    let status_change = incoming.message.status != BuildStatus::Unspecified as i32;
    let (project, function) = (
        incoming.message.project_id.clone(),
        incoming.message.function_id.clone(),
    );
    let deployment = incoming.message.deployment_id.clone();
    let (outcome, finished) = handle_build_event(pool.clone(), incoming).await;
    if outcome != Outcome::Ack {
        return outcome;
    }
    if status_change {
        crate::events::emit_update_from_db(
            &pool,
            &publisher,
            &project,
            &function,
            Some(&deployment),
            None,
        )
        .await;
    }
    if ready {
        if finished {
            emit_if_activated(&pool, &publisher, &project, &function, &deployment).await;
        }
        crate::schedules::announce(&publisher, &project, &function, "deployment").await;
    }
    outcome
}

/// Publishes `functions.<f>.update` (Function model) when `deployment_id` is the function's active
/// deployment now. Best effort.
async fn emit_if_activated(
    pool: &Pool,
    publisher: &Publisher,
    project_id: &str,
    function_id: &str,
    deployment_id: &str,
) {
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    let Ok(Some(function)) = crate::db::functions::find(&mut conn, project_id, function_id).await
    else {
        return;
    };
    if function.deployment_id != deployment_id {
        return;
    }
    match crate::routes::function_model(&mut conn, function).await {
        Ok(model) => {
            let event = format!("functions.{function_id}.update");
            crate::events::emit(publisher, project_id, event, model).await;
        }
        Err(err) => {
            tracing::warn!(function.id = %function_id, error = %err, "activated function not loadable for its event")
        }
    }
}

/// Persists one build event. Returns the outcome and whether this call moved the deployment to a
/// terminal status (false for redeliveries and non-terminal events).
pub async fn handle_build_event(pool: Pool, incoming: Incoming<BuildEvent>) -> (Outcome, bool) {
    let event = incoming.message;
    if event.project_id.is_empty() || event.deployment_id.is_empty() {
        return (
            Outcome::Dead("build event without project or deployment id".into()),
            false,
        );
    }
    let Ok(status) = BuildStatus::try_from(event.status) else {
        return (
            Outcome::Dead(format!("unknown build status {}", event.status)),
            false,
        );
    };
    let mut conn = match pool.get().await {
        Ok(c) => c,
        Err(e) => return (retry(e), false),
    };
    let mut finished = false;
    let result = match status {
        BuildStatus::Unspecified => {
            if event.logs.is_empty() {
                Ok(())
            } else {
                deployments::append_logs(
                    &mut conn,
                    &event.project_id,
                    &event.deployment_id,
                    &event.logs,
                )
                .await
            }
        }
        BuildStatus::Processing | BuildStatus::Building => {
            let r = deployments::advance(
                &mut conn,
                &event.project_id,
                &event.deployment_id,
                status.as_appwrite(),
            )
            .await
            .map(|_| ());
            if r.is_ok() && !event.logs.is_empty() {
                deployments::append_logs(
                    &mut conn,
                    &event.project_id,
                    &event.deployment_id,
                    &event.logs,
                )
                .await
            } else {
                r
            }
        }
        BuildStatus::Ready | BuildStatus::Failed | BuildStatus::Canceled => {
            let ready = status == BuildStatus::Ready;
            let done = Finished {
                status: match status {
                    BuildStatus::Ready => deployments::READY,
                    BuildStatus::Failed => deployments::FAILED,
                    _ => deployments::CANCELED,
                },
                logs: event.logs.clone(),
                build_size: if ready {
                    i64::try_from(event.build_size).unwrap_or(i64::MAX)
                } else {
                    0
                },
                build_duration: i32::try_from(event.build_duration_ms.div_ceil(1000))
                    .unwrap_or(i32::MAX),
                build_path: if ready {
                    event.output_path.clone()
                } else {
                    String::new()
                },
            };
            let canceled_logs = (status == BuildStatus::Canceled).then(|| event.logs.clone());
            match deployments::finish(&mut conn, &event.project_id, &event.deployment_id, done)
                .await
            {
                // The gateway canceled it already (updateDeploymentStatus): the worker's report
                // still brings the build's logs with the cancel line. A late READY/FAILED of a
                // canceled build changes nothing.
                Ok(false) if canceled_logs.is_some() => deployments::record_cancel_logs(
                    &mut conn,
                    &event.project_id,
                    &event.deployment_id,
                    canceled_logs.as_deref().unwrap_or_default(),
                )
                .await
                .map(|_| ()),
                Ok(changed) => {
                    finished = changed;
                    tracing::info!(deployment.id = %event.deployment_id, status = status.as_appwrite(), changed, "build finished");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => (Outcome::Ack, finished),
        Err(e) => (retry(e), false),
    }
}

/// What the stored execution keeps of a worker's result (spec 3.3, 7.3, 7.5).
pub fn stored_outcome(result: &ExecutionResult, logging: bool) -> ExecOutcome {
    let headers: Vec<serde_json::Value> = result
        .headers
        .iter()
        .filter(|h| {
            let n = h.name.to_ascii_lowercase();
            n == "content-type" || n == "content-length"
        })
        .map(|h| serde_json::json!({"name": h.name.to_ascii_lowercase(), "value": h.value}))
        .collect();
    let status = if result.status == executions::COMPLETED || result.status == executions::FAILED {
        result.status.clone()
    } else if result.status_code >= 500 || result.status_code == 0 {
        executions::FAILED.to_owned()
    } else {
        executions::COMPLETED.to_owned()
    };
    ExecOutcome {
        status,
        response_status_code: result.status_code,
        response_headers: serde_json::Value::Array(headers),
        logs: if logging {
            truncate::execution_logs(&result.logs)
        } else {
            String::new()
        },
        errors: if logging {
            truncate::execution_errors(&result.errors)
        } else {
            String::new()
        },
        duration: result.duration_seconds,
    }
}

pub async fn handle_execution_result(pool: Pool, incoming: Incoming<ExecutionResult>) -> Outcome {
    let result = incoming.message;
    if result.project_id.is_empty() || result.execution_id.is_empty() {
        return Outcome::Dead("execution result without project or execution id".into());
    }
    let mut conn = match pool.get().await {
        Ok(c) => c,
        Err(e) => return retry(e),
    };
    let logging = match crate::db::functions::find(
        &mut conn,
        &result.project_id,
        &result.function_id,
    )
    .await
    {
        Ok(Some(f)) => f.logging,
        // The function was deleted: nothing left to update.
        Ok(None) => return Outcome::Ack,
        Err(e) => return retry(e),
    };
    match executions::finish(
        &mut conn,
        &result.project_id,
        &result.execution_id,
        &stored_outcome(&result, logging),
    )
    .await
    {
        Ok(_) => Outcome::Ack,
        Err(e) => retry(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::proto::Header;

    #[test]
    fn stored_outcome_keeps_only_content_headers_and_respects_logging() {
        let result = ExecutionResult {
            status: "completed".into(),
            status_code: 200,
            headers: vec![
                Header {
                    name: "Content-Type".into(),
                    value: "text/plain".into(),
                },
                Header {
                    name: "x-custom".into(),
                    value: "1".into(),
                },
            ],
            logs: "hello".into(),
            errors: "oops".into(),
            duration_seconds: 0.5,
            ..Default::default()
        };
        let stored = stored_outcome(&result, true);
        assert_eq!(
            stored.response_headers,
            serde_json::json!([{"name": "content-type", "value": "text/plain"}])
        );
        assert_eq!(
            (stored.logs.as_str(), stored.errors.as_str()),
            ("hello", "oops")
        );
        let silent = stored_outcome(&result, false);
        assert_eq!((silent.logs.as_str(), silent.errors.as_str()), ("", ""));
        let crashed = stored_outcome(
            &ExecutionResult {
                status_code: 500,
                ..Default::default()
            },
            true,
        );
        assert_eq!(crashed.status, "failed");
    }
}
