//! `PUT /v1/functions/{functionId}/variables/{variableId}` and
//! `PUT /v1/project/variables/{variableId}`: 200 Variable. At least one of `key`, `value`,
//! `secret`; a secret cannot become non-secret.
use super::{Fields, Target};
use crate::auth::{Authorized, Scope};
use crate::db::variables::{self, VariableChanges};
use crate::error::ApiError;
use crate::params::JsonBody;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Utc;

pub async fn handler<S: Scope + 'static>(
    auth: Authorized<S>,
    state: web::Data<AppState>,
    target: Target,
    JsonBody(params): JsonBody<Fields>,
) -> Result<HttpResponse, ApiError> {
    let project_id = auth.project_id.as_str();
    let variable_id = target.variable_id()?;
    if params.key.is_none() && params.value.is_none() && params.secret.is_none() {
        return Err(ApiError::ArgumentInvalid(
            "Missing key, value or secret. At least one of them is required.".into(),
        ));
    }
    if let Some(key) = &params.key {
        super::validate_key(key)?;
    }
    if let Some(value) = &params.value {
        super::validate_value(value)?;
    }
    let mut conn = target.open(&state, project_id).await?;
    let resource = target.owner.resource(project_id);
    let current = variables::find(&mut conn, resource, variable_id)
        .await?
        .ok_or(ApiError::VariableNotFound)?;
    if current.secret && params.secret == Some(false) {
        return Err(ApiError::VariableCannotUnsetSecret);
    }
    if let Some(key) = &params.key {
        if variables::key_taken(&mut conn, resource, key, variable_id).await? {
            return Err(ApiError::VariableAlreadyExists);
        }
    }
    let changes = VariableChanges {
        key: params.key,
        value: params.value,
        secret: params.secret,
        updated_at: Some(Utc::now()),
    };
    let updated = variables::update(&mut conn, resource, variable_id, &changes)
        .await
        .map_err(|e| match e {
            // A concurrent update took the key first.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => ApiError::VariableAlreadyExists,
            other => other.into(),
        })?
        .ok_or(ApiError::VariableNotFound)?;
    tracing::info!(variable.id = %updated.id, "variable updated");
    Ok(super::super::json(
        StatusCode::OK,
        wire::Variable::from(updated),
    ))
}
