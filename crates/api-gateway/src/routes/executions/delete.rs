//! `DELETE /v1/functions/{functionId}/executions/{executionId}` (spec 2.3): 204. Allowed for
//! `completed`, `failed` and `scheduled` executions (deleting a scheduled one cancels it), and for
//! `waiting`/`processing` ones past the function timeout plus the reap margin (failed first, as in
//! get and list); otherwise 400 `execution_in_progress`. The delete is guarded by the status that
//! was checked, so a scheduled execution that starts at the same moment is not deleted under its
//! worker.
use crate::auth::{Authorized, Caller, ExecutionsWrite};
use crate::db::executions::{COMPLETED, FAILED};
use crate::db::schedules::{self as sdb, SCHEDULED};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<ExecutionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    if auth.caller != Caller::Key {
        return Err(ApiError::UnauthorizedScope(
            "User (role: guests) missing scopes ([\"executions.write\"])".into(),
        ));
    }
    let (function_id, execution_id) = path.into_inner();
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &function_id).await?;
    crate::domain::uid("executionId", &execution_id)?;
    // Stale waiting/processing executions are failed first, as the reaper would (spec 5).
    crate::db::executions::fail_stale_of_function(
        &mut conn,
        &auth.project_id,
        &function.id,
        state.settings.executions.reap_margin_seconds,
    )
    .await?;
    let execution =
        crate::db::executions::find(&mut conn, &auth.project_id, &function.id, &execution_id)
            .await?
            .ok_or(ApiError::ExecutionNotFound)?;
    let status = execution.status.as_str();
    if !(status == COMPLETED || status == FAILED || status == SCHEDULED) {
        return Err(ApiError::ExecutionInProgress);
    }
    if !sdb::delete_execution(&mut conn, &auth.project_id, &execution.id, status).await? {
        // The status moved on between the check and the delete (e.g. a schedule just started it).
        return Err(ApiError::ExecutionInProgress);
    }
    tracing::info!(function.id = %function.id, execution.id = %execution.id, %status, "execution deleted");
    crate::events::emit_execution(&state.tasks, &state.publisher, &execution, "delete");
    if status == SCHEDULED {
        crate::schedules::announce(
            &state.publisher,
            &auth.project_id,
            &function.id,
            "execution",
        )
        .await;
    }
    Ok(HttpResponse::NoContent().finish())
}
