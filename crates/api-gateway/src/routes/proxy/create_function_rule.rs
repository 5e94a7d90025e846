//! `POST /v1/proxy/rules/function` {domain, functionId, branch?}: 201 ProxyRule (trigger
//! `manual`, type `deployment`, deploymentResourceType `function`). A domain serves one rule across
//! all projects: 409 `rule_already_exists`. Domains under the functions domain are verified at
//! once; any other domain is served as soon as it resolves to the gateway. Scope `rules.write`.
use crate::auth::Authorized;
use crate::domains::{Rule, RulesWrite};
use crate::error::ApiError;
use crate::params::JsonBody;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    domain: Option<String>,
    function_id: Option<String>,
    branch: Option<String>,
}

pub async fn handler(
    auth: Authorized<RulesWrite>,
    state: web::Data<AppState>,
    JsonBody(params): JsonBody<Params>,
) -> Result<HttpResponse, ApiError> {
    let domain = params.domain.unwrap_or_default();
    let domain = crate::domains::normalize_domain(&domain).ok_or_else(|| {
        ApiError::ArgumentInvalid("Invalid `domain` param: Value must be a valid domain".into())
    })?;
    let function_id = params.function_id.unwrap_or_default();
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &function_id).await?;
    let branch = params.branch.unwrap_or_default();
    let row =
        crate::domains::insert_rule(&mut conn, &auth.project_id, &function.id, &domain, &branch)
            .await?
            .ok_or(ApiError::RuleAlreadyExists)?;
    tracing::info!(function.id = %function.id, %domain, "function rule created");
    Ok(super::super::json(
        StatusCode::CREATED,
        Rule::new(row, function.deployment_id),
    ))
}
