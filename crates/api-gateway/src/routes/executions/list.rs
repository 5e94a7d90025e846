//! `GET /v1/functions/{functionId}/executions`: 200 ExecutionList.
use crate::auth::{Authorized, ExecutionsRead};
use crate::error::ApiError;
use crate::params::query_pairs;
use crate::query::ListQuery;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn handler(
    auth: Authorized<ExecutionsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut query =
        ListQuery::from_pairs(&query_pairs(&req)?, crate::db::listing::EXECUTION_RULES)?;
    // listExecutions has no `search` (removed in 1.7).
    query.search = None;
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    auth.check_visible(&function)?;
    auth.check_execute(&function)?;
    // Stale waiting/processing executions are failed first, as the reaper would (spec 5).
    crate::db::executions::fail_stale_of_function(
        &mut conn,
        &auth.project_id,
        &function.id,
        state.settings.executions.reap_margin_seconds,
    )
    .await?;
    let (total, rows) = crate::db::listing::executions(
        &mut conn,
        &auth.project_id,
        &function.id,
        auth.execution_owner_filter(),
        &query,
    )
    .await?;
    let mut items: Vec<wire::Execution> = rows.into_iter().map(Into::into).collect();
    if !auth.is_key() {
        for execution in &mut items {
            execution.logs.clear();
            execution.errors.clear();
        }
    }
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("executions", total, items),
    ))
}
