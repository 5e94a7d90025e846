//! `GET /v1/internal/functions/{functionId}/schedule-slots`: the recorded CRON slots of a function,
//! newest first (`fired` with its execution, or `skipped` when missed beyond the catch-up window).
use crate::auth::{Authorized, Caller, FunctionsRead};
use crate::db::schedules as sdb;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn handler(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if auth.caller != Caller::Key {
        return Err(ApiError::UnauthorizedScope(
            "Internal endpoint: API key required".into(),
        ));
    }
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    let slots = sdb::list_slots(&mut conn, &auth.project_id, &function.id, 1000).await?;
    let skipped = slots
        .iter()
        .filter(|s| s.status == sdb::SLOT_SKIPPED)
        .count();
    Ok(HttpResponse::Ok().json(json!({
        "total": slots.len(),
        "skipped": skipped,
        "slots": slots.iter().map(|s| json!({
            "slot": s.slot.to_rfc3339(), "status": s.status, "executionId": s.execution_id,
        })).collect::<Vec<_>>(),
    })))
}
