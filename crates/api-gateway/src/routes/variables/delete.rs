//! `DELETE /v1/functions/{functionId}/variables/{variableId}` and
//! `DELETE /v1/project/variables/{variableId}`: 204.
use super::Owner;
use crate::auth::{Authorized, FunctionsWrite, ProjectWrite};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub async fn function(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (function_id, variable_id) = path.into_inner();
    delete(
        &state,
        &auth.project_id,
        Owner::Function(function_id),
        &variable_id,
    )
    .await
}

pub async fn project(
    auth: Authorized<ProjectWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete(&state, &auth.project_id, Owner::Project, &path).await
}

async fn delete(
    state: &AppState,
    project_id: &str,
    owner: Owner,
    variable_id: &str,
) -> Result<HttpResponse, ApiError> {
    super::variable_id(variable_id)?;
    let mut conn = state.pool.get().await?;
    owner.check(&mut conn, project_id).await?;
    if !crate::db::variables::delete(&mut conn, owner.resource(project_id), variable_id).await? {
        return Err(ApiError::VariableNotFound);
    }
    tracing::info!(variable.id = %variable_id, "variable deleted");
    Ok(HttpResponse::NoContent().finish())
}
