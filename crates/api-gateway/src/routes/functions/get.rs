//! `GET /v1/functions/{functionId}`: 200 Function.
use crate::auth::{Authorized, FunctionsRead};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    Ok(super::super::json(
        StatusCode::OK,
        super::super::function_model(&mut conn, function).await?,
    ))
}
