//! The synchronous half of an execution, shared by `POST .../executions` and function domains
//! (`crate::domains`): store the `processing` row, ask an executor over RPC, wait at most the
//! function timeout (capped by the sync limit) plus the cold-start margin, store the outcome.
use crate::db::executions::{self, ExecutionRow, Outcome, FAILED};
use crate::error::ApiError;
use crate::startup::AppState;
use model::proto::{ExecutionJob, ExecutionResult};
use prost::Message;
use std::time::Duration;

/// Runs `job` for the `processing` execution `row` (not yet stored) and returns the stored
/// execution and the runtime's result. `logging` is the function's flag. On a failed delivery or
/// a missing answer the execution is marked failed and the error returned
/// (`function_synchronous_timeout` for no answer in time).
pub async fn run(
    state: &AppState,
    row: ExecutionRow,
    job: &ExecutionJob,
    logging: bool,
) -> Result<(ExecutionRow, ExecutionResult), ApiError> {
    let project_id = row.project_id.clone();
    let execution_id = row.id.clone();
    let timeout = row.timeout_seconds;
    {
        let mut conn = state.pool.get().await?;
        executions::insert(&mut conn, &row).await?;
    }
    crate::events::emit_execution(&state.tasks, &state.publisher, &row, "create");
    let settings = &state.settings.executions;
    let wait = Duration::from_secs(
        u64::try_from(timeout)
            .unwrap_or(15)
            .min(settings.sync_timeout_seconds)
            + settings.cold_start_margin_seconds,
    );
    let reply = state
        .rpc
        .call(model::topology::EXECUTIONS_QUEUE, job, &execution_id, wait)
        .await;
    let result = match reply {
        Ok(bytes) => ExecutionResult::decode(bytes.as_slice()).map_err(|e| {
            ApiError::internal(anyhow::anyhow!(
                "undecodable execution reply for {execution_id}: {e}"
            ))
        }),
        Err(queue::QueueError::Timeout) => Err(ApiError::FunctionSynchronousTimeout),
        Err(err) => Err(ApiError::ServiceUnavailable(format!(
            "executor request failed: {err}"
        ))),
    };
    let result = match result {
        Ok(result) => result,
        Err(err) => {
            let message = match &err {
                ApiError::FunctionSynchronousTimeout => err.to_string(),
                _ => "The execution could not be delivered to an executor.".to_owned(),
            };
            fail(state, &project_id, &execution_id, &message).await;
            return Err(err);
        }
    };
    let mut conn = state.pool.get().await?;
    let stored = executions::finish(
        &mut conn,
        &project_id,
        &execution_id,
        &crate::consumers::stored_outcome(&result, logging),
    )
    .await?
    .ok_or(ApiError::ExecutionNotFound)?;
    Ok((stored, result))
}

/// Marks a sync execution failed (best effort; the reaper catches what this misses).
async fn fail(state: &AppState, project_id: &str, execution_id: &str, message: &str) {
    let outcome = Outcome {
        status: FAILED.into(),
        response_status_code: 500,
        response_headers: serde_json::json!([]),
        logs: String::new(),
        errors: format!("{message}\nError Code: 500"),
        duration: 0.0,
    };
    let stored = match state.pool.get().await {
        Ok(mut conn) => executions::finish(&mut conn, project_id, execution_id, &outcome)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(err) = stored {
        tracing::warn!(execution.id = %execution_id, error = %err, "could not mark execution failed");
    }
}
