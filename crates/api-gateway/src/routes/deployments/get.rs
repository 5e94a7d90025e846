//! `GET /v1/functions/{functionId}/deployments/{deploymentId}`: 200 Deployment.
use crate::auth::{Authorized, FunctionsRead};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (function_id, deployment_id) = path.into_inner();
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &function_id).await?;
    crate::domain::uid("deploymentId", &deployment_id)?;
    let deployment =
        crate::db::deployments::find(&mut conn, &auth.project_id, &function.id, &deployment_id)
            .await?
            .ok_or_else(ApiError::deployment_not_found)?;
    Ok(super::super::json(
        StatusCode::OK,
        wire::Deployment::from(deployment),
    ))
}
