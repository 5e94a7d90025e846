//! `GET /v1/proxy/rules` (spec 2.5): the project's proxy rules (function domains) as a RuleList,
//! with `queries` (equal and friends on `domain`, `type`, `trigger`, `deploymentResourceType`,
//! `deploymentResourceId`, ..., limit/offset/cursor), `search` and `total`. `appwrite push function`
//! asks for the function's `manual` rule to print its URL. Scope `rules.read`.
use crate::auth::Authorized;
use crate::domains::{Rule, RulesRead};
use crate::error::ApiError;
use crate::params::query_pairs;
use crate::query::ListQuery;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn handler(
    auth: Authorized<RulesRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::from_pairs(&query_pairs(&req)?, crate::db::rules::QUERY_RULES)?;
    let mut conn = state.pool.get().await?;
    let (total, rows) = crate::db::rules::list(&mut conn, &auth.project_id, &query).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let deployment_id =
            crate::db::functions::find(&mut conn, &auth.project_id, &row.deployment_resource_id)
                .await?
                .map(|f| f.deployment_id)
                .unwrap_or_default();
        items.push(Rule::new(row, deployment_id));
    }
    Ok(super::super::json(
        StatusCode::OK,
        crate::wire::list("rules", total, items),
    ))
}
