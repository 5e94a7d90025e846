//! `POST /v1/functions/{functionId}/variables` and `POST /v1/project/variables`: 201 Variable.
use super::{Fields, Target};
use crate::auth::{Authorized, Scope};
use crate::db::variables::{self, NewVariable};
use crate::error::ApiError;
use crate::params::JsonBody;
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
    #[serde(flatten)]
    pub fields: Fields,
}

pub async fn handler<S: Scope + 'static>(
    auth: Authorized<S>,
    state: web::Data<AppState>,
    target: Target,
    JsonBody(params): JsonBody<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    let project_id = auth.project_id.as_str();
    // Older response formats did not send `variableId`; the server fills `unique()` (spec 2.4).
    let requested = params.variable_id.unwrap_or_else(|| "unique()".into());
    let id = model::ids::resolve_custom_id(&requested).ok_or_else(|| {
        super::variable_id(&requested)
            .err()
            .unwrap_or_else(|| ApiError::ArgumentInvalid("Invalid `variableId` param".into()))
    })?;
    let key = params
        .fields
        .key
        .ok_or_else(|| ApiError::ArgumentInvalid("Param \"key\" is not optional.".into()))?;
    super::validate_key(&key)?;
    let value = params
        .fields
        .value
        .ok_or_else(|| ApiError::ArgumentInvalid("Param \"value\" is not optional.".into()))?;
    super::validate_value(&value)?;
    let mut conn = target.open(&state, project_id).await?;
    let resource = target.owner.resource(project_id);
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
        secret: params.fields.secret.unwrap_or(true),
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
