//! Variables (spec 2.4, 3.4): function-scoped under `/v1/functions/{functionId}/variables` and
//! project-wide under `/v1/project/variables` (resourceType `project`, resourceId `''`). Both share
//! the handlers below; a secret's value never leaves the gateway except as a function's
//! environment.
pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use crate::db::variables::{Resource, FUNCTION, PROJECT};
use crate::error::ApiError;
use diesel_async::AsyncPgConnection;

/// The owner of the variables a request addresses.
pub(crate) enum Owner {
    Function(String),
    Project,
}

impl Owner {
    pub(crate) fn resource<'a>(&'a self, project_id: &'a str) -> Resource<'a> {
        match self {
            Owner::Function(id) => Resource {
                project_id,
                resource_type: FUNCTION,
                resource_id: id,
            },
            Owner::Project => Resource {
                project_id,
                resource_type: PROJECT,
                resource_id: "",
            },
        }
    }

    /// Checks that the function exists in the project (404 `function_not_found`).
    pub(crate) async fn check(
        &self,
        conn: &mut AsyncPgConnection,
        project_id: &str,
    ) -> Result<(), ApiError> {
        if let Owner::Function(id) = self {
            super::load_function(conn, project_id, id).await?;
        }
        Ok(())
    }
}

pub(crate) fn validate_key(key: &str) -> Result<(), ApiError> {
    let n = key.chars().count();
    if n == 0 || n > 255 {
        return Err(ApiError::ArgumentInvalid(
            "Invalid `key` param: Value must be a valid string and at least 1 chars and no longer than 255 chars".into(),
        ));
    }
    Ok(())
}

pub(crate) fn validate_value(value: &str) -> Result<(), ApiError> {
    if value.chars().count() > 8192 {
        return Err(ApiError::ArgumentInvalid(
            "Invalid `value` param: Value must be a valid string and no longer than 8192 chars"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) fn variable_id(id: &str) -> Result<&str, ApiError> {
    crate::domain::uid("variableId", id)
}
