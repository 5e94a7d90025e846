//! Variables (spec 2.4, 3.4): function-scoped under `/v1/functions/{functionId}/variables` and
//! project-wide under `/v1/project/variables` (resourceType `project`, resourceId `''`). Both
//! routes share one generic handler per verb (`handler::<FunctionsRead>` /
//! `handler::<ProjectRead>`, the scope being the only difference); [`Target`] reads whose
//! variables a request addresses from the path. A secret's value never leaves the gateway except
//! as a function's environment.
pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use crate::db::variables::{Resource, FUNCTION, PROJECT};
use crate::error::ApiError;
use crate::params::opt_bool;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use diesel_async::AsyncPgConnection;
use serde::Deserialize;

/// The owner of the variables a request addresses.
pub enum Owner {
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

/// Whose variables a request addresses, from the path: with `{functionId}` that function's, else
/// the project's; `{variableId}` when the route names one (empty otherwise).
pub struct Target {
    pub(crate) owner: Owner,
    variable_id: String,
}

impl FromRequest for Target {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let info = req.match_info();
        let owner = match info.get("functionId") {
            Some(id) => Owner::Function(id.to_owned()),
            None => Owner::Project,
        };
        let variable_id = info.get("variableId").unwrap_or_default().to_owned();
        std::future::ready(Ok(Target { owner, variable_id }))
    }
}

impl Target {
    /// The validated `{variableId}`.
    pub(crate) fn variable_id(&self) -> Result<&str, ApiError> {
        variable_id(&self.variable_id)
    }

    /// A connection, after checking that the owning function exists (404 `function_not_found`).
    pub(crate) async fn open(
        &self,
        state: &AppState,
        project_id: &str,
    ) -> Result<crate::db::Conn, ApiError> {
        let mut conn = state.pool.get().await?;
        self.owner.check(&mut conn, project_id).await?;
        Ok(conn)
    }
}

/// The fields create and update take (update: at least one of them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields {
    pub key: Option<String>,
    pub value: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub secret: Option<bool>,
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
