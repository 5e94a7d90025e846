//! `GET /v1/functions`: 200 FunctionList (`queries`, `search`, `total`).
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
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::from_pairs(&query_pairs(&req)?, crate::db::listing::FUNCTION_RULES)?;
    let mut conn = state.pool.get().await?;
    let (total, rows) = crate::db::listing::functions(&mut conn, &auth.project_id, &query).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut vars = crate::db::variables::of_functions(&mut conn, &auth.project_id, &ids).await?;
    let items: Vec<wire::Function> = rows
        .into_iter()
        .map(|r| {
            let v = vars.remove(&r.id).unwrap_or_default();
            wire::Function::from(r).with_vars(v)
        })
        .collect();
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("functions", total, items),
    ))
}
