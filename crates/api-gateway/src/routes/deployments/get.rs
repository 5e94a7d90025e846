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
    let (mut conn, function, deployment_id) = super::open(&state, &auth.project_id, path).await?;
    let deployment = super::load(&mut conn, &function, &deployment_id).await?;
    Ok(super::super::json(
        StatusCode::OK,
        wire::Deployment::from(deployment),
    ))
}
