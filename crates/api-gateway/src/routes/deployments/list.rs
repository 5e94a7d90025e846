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
    let query = ListQuery::from_pairs(&query_pairs(&req)?, crate::db::listing::DEPLOYMENT_RULES)?;
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    let (total, rows) =
        crate::db::listing::deployments(&mut conn, &auth.project_id, &function.id, &query).await?;
    let mut items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| serde_json::to_value(wire::Deployment::from(r)))
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    // `select` (spec 3.8): non-selected attributes are omitted.
    crate::query::select_fields(&mut items, &query.select);
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("deployments", total, items),
    ))
}
