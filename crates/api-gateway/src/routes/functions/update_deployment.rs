//! `PATCH /v1/functions/{functionId}/deployment`: activate a ready deployment.
use crate::auth::{Authorized, FunctionsWrite};
use crate::db::deployments::READY;
use crate::error::ApiError;
use crate::params::JsonBody;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    deployment_id: Option<String>,
}

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    JsonBody(params): JsonBody<Params>,
) -> Result<HttpResponse, ApiError> {
    let deployment_id = params.deployment_id.ok_or_else(|| {
        ApiError::ArgumentInvalid(
            "Invalid `deploymentId` param: Param \"deploymentId\" is not optional.".into(),
        )
    })?;
    crate::domain::uid("deploymentId", &deployment_id)?;
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    let deployment =
        crate::db::deployments::find(&mut conn, &auth.project_id, &function.id, &deployment_id)
            .await?
            .ok_or_else(ApiError::deployment_not_found)?;
    if deployment.status != READY {
        return Err(ApiError::BuildNotReady);
    }
    let updated = crate::db::functions::activate(
        &mut conn,
        &auth.project_id,
        &function.id,
        &deployment.id,
        deployment.created_at,
    )
    .await?
    .ok_or(ApiError::FunctionNotFound)?;
    tracing::info!(function.id = %function.id, deployment.id = %deployment.id, "deployment activated");
    crate::schedules::announce(
        &state.publisher,
        &auth.project_id,
        &function.id,
        "deployment",
    )
    .await;
    let model = super::super::function_model(&mut conn, updated).await?;
    crate::events::spawn_emit(
        &state.tasks,
        &state.publisher,
        &auth.project_id,
        format!("functions.{}.update", function.id),
        &model,
    );
    Ok(super::super::json(StatusCode::OK, model))
}
