//! `GET /v1/functions/{functionId}/executions/{executionId}`: 200 Execution.
use crate::auth::{Authorized, ExecutionsRead};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<ExecutionsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (function_id, execution_id) = path.into_inner();
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &function_id).await?;
    auth.check_visible(&function)?;
    auth.check_execute(&function)?;
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
    // Users read only the executions they started (Appwrite: `read("user:<id>")`).
    if !auth.may_read_execution(execution.user_id.as_deref()) {
        return Err(ApiError::ExecutionNotFound);
    }
    let mut execution = wire::Execution::from(execution);
    if !auth.is_key() {
        // Logs and errors are for keys only (spec 3.3).
        execution.logs.clear();
        execution.errors.clear();
    }
    Ok(super::super::json(StatusCode::OK, execution))
}
