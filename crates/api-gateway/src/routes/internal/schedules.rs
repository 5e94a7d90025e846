//! `GET /v1/internal/schedules[?functionId=]`: what the scheduler loads at start and re-fetches
//! after a `FunctionChanged`: the CRON schedules of enabled functions with an active deployment,
//! the pending `scheduledAt` executions, and the catch-up window.
use crate::auth::{Authorized, Caller, FunctionsRead};
use crate::db::schedules as sdb;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    function_id: Option<String>,
}

pub async fn handler(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    if auth.caller != Caller::Key {
        return Err(ApiError::UnauthorizedScope(
            "Internal endpoint: API key required".into(),
        ));
    }
    let function_id = query.function_id.as_deref();
    let mut conn = state.pool.get().await?;
    let schedules = sdb::active_schedules(&mut conn, &auth.project_id, function_id).await?;
    let scheduled = sdb::pending_scheduled(&mut conn, &auth.project_id, function_id).await?;
    let settings = &state.settings.schedules;
    Ok(HttpResponse::Ok().json(json!({
        "catchUpSeconds": settings.catch_up_seconds,
        "allowSeconds": settings.allow_seconds,
        "schedules": schedules.into_iter().map(|(p, f, s)| json!({
            "projectId": p, "functionId": f, "schedule": s,
        })).collect::<Vec<_>>(),
        "scheduled": scheduled.into_iter().filter_map(|(p, f, e, at)| at.map(|at| json!({
            "projectId": p, "functionId": f, "executionId": e,
            "scheduledAt": at.to_rfc3339(),
        }))).collect::<Vec<_>>(),
    })))
}
