//! `PUT /v1/functions/{functionId}`: full replacement of the configuration (spec 2.1 update).
use crate::auth::{Authorized, FunctionsWrite};
use crate::domain::FunctionParams;
use crate::error::ApiError;
use crate::params::JsonBody;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    JsonBody(params): JsonBody<FunctionParams>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let current = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    let config = params.into_update(&state.settings, &current)?;
    let updated = crate::db::functions::update(&mut conn, &auth.project_id, &current.id, &config)
        .await?
        .ok_or(ApiError::FunctionNotFound)?;
    tracing::info!(function.id = %updated.id, "function updated");
    crate::schedules::announce(&state.publisher, &updated.project_id, &updated.id, "update").await;
    let (project_id, id) = (updated.project_id.clone(), updated.id.clone());
    let model = super::super::function_model(&mut conn, updated).await?;
    crate::events::spawn_emit(
        &state.tasks,
        &state.publisher,
        &project_id,
        format!("functions.{id}.update"),
        &model,
    );
    Ok(super::super::json(StatusCode::OK, model))
}
