//! `GET /v1/functions/{functionId}/deployments`: 200 DeploymentList.
use crate::auth::{Authorized, FunctionsRead};
use crate::error::ApiError;
use crate::params::query_pairs;
use crate::query::ListQuery;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn handler(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::from_pairs(
        &query_pairs(&req)?,
        crate::db::deployments::QUERY_ATTRIBUTES,
    )?;
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    let (total, rows) =
        crate::db::deployments::list(&mut conn, &auth.project_id, &function.id, &query).await?;
    let items: Vec<wire::Deployment> = rows.into_iter().map(Into::into).collect();
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("deployments", total, items),
    ))
}
