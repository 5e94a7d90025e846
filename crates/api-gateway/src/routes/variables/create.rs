//! `POST /v1/functions/{functionId}/variables` and `POST /v1/project/variables`: 201 Variable.
use super::Owner;
use crate::auth::{Authorized, FunctionsWrite, ProjectWrite};
use crate::db::variables::{self, NewVariable};
use crate::error::ApiError;
use crate::params::{opt_bool, JsonBody};
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateParams {
    pub variable_id: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub secret: Option<bool>,
}

pub async fn function(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    JsonBody(params): JsonBody<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    create(
        &state,
        &auth.project_id,
        Owner::Function(path.into_inner()),
        params,
    )
    .await
}

pub async fn project(
    auth: Authorized<ProjectWrite>,
    state: web::Data<AppState>,
    JsonBody(params): JsonBody<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    create(&state, &auth.project_id, Owner::Project, params).await
}

async fn create(
    state: &AppState,
    project_id: &str,
    owner: Owner,
    params: CreateParams,
) -> Result<HttpResponse, ApiError> {
    // Older response formats did not send `variableId`; the server fills `unique()` (spec 2.4).
    let requested = params.variable_id.unwrap_or_else(|| "unique()".into());
    let id = model::ids::resolve_custom_id(&requested).ok_or_else(|| {
        super::variable_id(&requested)
            .err()
            .unwrap_or_else(|| ApiError::ArgumentInvalid("Invalid `variableId` param".into()))
    })?;
    let key = params
        .key
        .ok_or_else(|| ApiError::ArgumentInvalid("Param \"key\" is not optional.".into()))?;
    super::validate_key(&key)?;
    let value = params
        .value
        .ok_or_else(|| ApiError::ArgumentInvalid("Param \"value\" is not optional.".into()))?;
    super::validate_value(&value)?;
    let mut conn = state.pool.get().await?;
    owner.check(&mut conn, project_id).await?;
    let resource = owner.resource(project_id);
    let now = Utc::now();
    let row = NewVariable {
        project_id: project_id.to_owned(),
        id,
        resource_type: resource.resource_type.to_owned(),
        resource_id: resource.resource_id.to_owned(),
        created_at: now,
        updated_at: now,
        key,
        value,
        secret: params.secret.unwrap_or(true),
    };
    let created = variables::insert(&mut conn, &row)
        .await?
        .ok_or(ApiError::VariableAlreadyExists)?;
    tracing::info!(variable.id = %created.id, resource.id = %created.resource_id, "variable created");
    Ok(super::super::json(
        StatusCode::CREATED,
        wire::Variable::from(created),
    ))
}
