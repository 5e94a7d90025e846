//! `DELETE /v1/functions/{functionId}/variables/{variableId}` and
//! `DELETE /v1/project/variables/{variableId}`: 204.
use super::Target;
use crate::auth::{Authorized, Scope};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub async fn handler<S: Scope + 'static>(
    auth: Authorized<S>,
    state: web::Data<AppState>,
    target: Target,
) -> Result<HttpResponse, ApiError> {
    let variable_id = target.variable_id()?;
    let mut conn = target.open(&state, &auth.project_id).await?;
    let resource = target.owner.resource(&auth.project_id);
    if !crate::db::variables::delete(&mut conn, resource, variable_id).await? {
        return Err(ApiError::VariableNotFound);
    }
    tracing::info!(variable.id = %variable_id, "variable deleted");
    Ok(HttpResponse::NoContent().finish())
}
