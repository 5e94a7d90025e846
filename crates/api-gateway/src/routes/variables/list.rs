//! `GET /v1/functions/{functionId}/variables` and `GET /v1/project/variables`: 200 VariableList
//! (`queries` on `key`, `resourceType`, `resourceId`, `secret`; `total`).
use super::Owner;
use crate::auth::{Authorized, FunctionsRead, ProjectRead};
use crate::error::ApiError;
use crate::params::query_pairs;
use crate::query::ListQuery;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn function(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list(
        &state,
        &auth.project_id,
        Owner::Function(path.into_inner()),
        &req,
    )
    .await
}

pub async fn project(
    auth: Authorized<ProjectRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list(&state, &auth.project_id, Owner::Project, &req).await
}

async fn list(
    state: &AppState,
    project_id: &str,
    owner: Owner,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::from_pairs(&query_pairs(req)?, crate::db::listing::VARIABLE_RULES)?;
    let mut conn = state.pool.get().await?;
    owner.check(&mut conn, project_id).await?;
    let r = owner.resource(project_id);
    let (total, rows) = crate::db::listing::variables(
        &mut conn,
        project_id,
        r.resource_type,
        r.resource_id,
        &query,
    )
    .await?;
    let items: Vec<wire::Variable> = rows.into_iter().map(Into::into).collect();
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("variables", total, items),
    ))
}
