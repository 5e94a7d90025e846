//! `GET /v1/functions/{functionId}/variables/{variableId}` and
//! `GET /v1/project/variables/{variableId}`: 200 Variable.
use super::Owner;
use crate::auth::{Authorized, FunctionsRead, ProjectRead};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn function(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (function_id, variable_id) = path.into_inner();
    get(
        &state,
        &auth.project_id,
        Owner::Function(function_id),
        &variable_id,
    )
    .await
}

pub async fn project(
    auth: Authorized<ProjectRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    get(&state, &auth.project_id, Owner::Project, &path).await
}

async fn get(
    state: &AppState,
    project_id: &str,
    owner: Owner,
    variable_id: &str,
) -> Result<HttpResponse, ApiError> {
    super::variable_id(variable_id)?;
    let mut conn = state.pool.get().await?;
    owner.check(&mut conn, project_id).await?;
    let row = crate::db::variables::find(&mut conn, owner.resource(project_id), variable_id)
        .await?
        .ok_or(ApiError::VariableNotFound)?;
    Ok(super::super::json(
        StatusCode::OK,
        wire::Variable::from(row),
    ))
}
