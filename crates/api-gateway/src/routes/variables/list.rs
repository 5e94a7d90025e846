//! `GET /v1/functions/{functionId}/variables` and `GET /v1/project/variables`: 200 VariableList
//! (`queries` on `key`, `resourceType`, `resourceId`, `secret`; `total`).
use super::Target;
use crate::auth::{Authorized, Scope};
use crate::error::ApiError;
use crate::params::query_pairs;
use crate::query::ListQuery;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn handler<S: Scope + 'static>(
    auth: Authorized<S>,
    state: web::Data<AppState>,
    target: Target,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let project_id = auth.project_id.as_str();
    let query = ListQuery::from_pairs(&query_pairs(&req)?, crate::db::listing::VARIABLE_RULES)?;
    let mut conn = target.open(&state, project_id).await?;
    let r = target.owner.resource(project_id);
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
