//! `GET /v1/functions/{functionId}/variables/{variableId}` and
//! `GET /v1/project/variables/{variableId}`: 200 Variable.
use super::Target;
use crate::auth::{Authorized, Scope};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler<S: Scope + 'static>(
    auth: Authorized<S>,
    state: web::Data<AppState>,
    target: Target,
) -> Result<HttpResponse, ApiError> {
    let variable_id = target.variable_id()?;
    let mut conn = target.open(&state, &auth.project_id).await?;
    let row = crate::db::variables::find(
        &mut conn,
        target.owner.resource(&auth.project_id),
        variable_id,
    )
    .await?
    .ok_or(ApiError::VariableNotFound)?;
    Ok(super::super::json(
        StatusCode::OK,
        wire::Variable::from(row),
    ))
}
