//! The one error type of the API and its mapping to the Appwrite error body (spec 4).
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

/// Every way a request can fail. `Internal` carries the cause for the log; clients only ever see
/// `Server Error`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    ArgumentInvalid(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    QueryInvalid(String),
    #[error("{0}")]
    UnauthorizedScope(String),
    #[error("The current user is not authorized to perform the requested action.")]
    UserUnauthorized,
    #[error("Project with the requested ID could not be found. Please check the value of the X-Appwrite-Project header to ensure the correct project ID is being used.")]
    ProjectNotFound,
    #[error("The requested route was not found. Please refer to the API docs and try again.")]
    RouteNotFound,
    #[error("Function with the requested ID could not be found.")]
    FunctionNotFound,
    #[error("Function with the requested ID already exists. Try again with a different ID or use ID.unique() to generate a unique ID.")]
    FunctionAlreadyExists,
    #[error("{0}")]
    FunctionRuntimeUnsupported(String),
    #[error("Entrypoint for your Appwrite Function is missing. Please specify it when making deployment or update the entrypoint under your function's \"Settings\" > \"Configuration\" > \"Entrypoint\".")]
    FunctionEntrypointMissing,
    #[error("Synchronous function execution timed out. Use asynchronous execution instead, or ensure the execution duration doesn't exceed 30 seconds.")]
    FunctionSynchronousTimeout,
    #[error("{0}")]
    DeploymentNotFound(String),
    #[error("Build with the requested ID is building and not ready for execution.")]
    BuildNotReady,
    #[error("Execution with the requested ID could not be found.")]
    ExecutionNotFound,
    #[error(
        "Can't delete ongoing execution. Please wait for execution to finish before deleting it."
    )]
    ExecutionInProgress,
    #[error("{0}")]
    StorageFileEmpty(String),
    #[error("{0}")]
    StorageFileTypeUnsupported(String),
    #[error("{0}")]
    StorageInvalidFileSize(String),
    #[error("Invalid content range.")]
    StorageInvalidContentRange,
    #[error("The requested range is not satisfiable.")]
    StorageInvalidRange,
    #[error("Build with the requested ID is already completed and cannot be canceled.")]
    BuildAlreadyCompleted,
    #[error("{0}")]
    FunctionTemplateNotFound(String),
    #[error("{0}")]
    InstallationNotFound(String),
    #[error("{0}")]
    CursorNotFound(String),
    #[error("Variable with the requested ID could not be found.")]
    VariableNotFound,
    #[error("Variable with the same ID or key already exists. Please choose another ID or key.")]
    VariableAlreadyExists,
    #[error("Secret variables cannot be marked as non-secret. Please re-create the variable if this is your intention.")]
    VariableCannotUnsetSecret,
    #[error("The project key has expired. Please generate a new key using the Appwrite console.")]
    ProjectKeyExpired,
    #[error("The dynamic API key has expired. Please don't use dynamic API keys for more than duration of the execution.")]
    ApiKeyExpired,
    #[error("Domain is already used. Please try again with a different domain.")]
    RuleAlreadyExists,
    #[error("Host is not trusted. This could occur because you have not configured a custom domain. Add a custom domain to your project first and try again.")]
    RouterHostNotFound,
    #[error("To execute function using domain, execute permissions must include \"any\" or \"guests\"")]
    FunctionExecutePermissionMissing,
    #[error("Build with the requested ID failed. Please check the logs for more information.")]
    BuildFailed,
    #[error("Build with the requested ID has been canceled.")]
    BuildCanceled,
    /// A function domain request whose execution timed out (an error page, 504).
    #[error("Execution timed out.")]
    DomainExecutionTimeout,
    #[error(
        "Rate limit for the current endpoint has been exceeded. Please try again after some time."
    )]
    RateLimitExceeded,
    #[error("Server Error")]
    ServiceUnavailable(String),
    #[error("Server Error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// The Appwrite error `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ArgumentInvalid(_) => "general_argument_invalid",
            Self::BadRequest(_) => "general_bad_request",
            Self::QueryInvalid(_) => "general_query_invalid",
            Self::UnauthorizedScope(_) => "general_unauthorized_scope",
            Self::UserUnauthorized => "user_unauthorized",
            Self::ProjectNotFound => "project_not_found",
            Self::RouteNotFound => "general_route_not_found",
            Self::FunctionNotFound => "function_not_found",
            Self::FunctionAlreadyExists => "function_already_exists",
            Self::FunctionRuntimeUnsupported(_) => "function_runtime_unsupported",
            Self::FunctionEntrypointMissing => "function_entrypoint_missing",
            Self::FunctionSynchronousTimeout => "function_synchronous_timeout",
            Self::DeploymentNotFound(_) => "deployment_not_found",
            Self::BuildNotReady => "build_not_ready",
            Self::ExecutionNotFound => "execution_not_found",
            Self::ExecutionInProgress => "execution_in_progress",
            Self::StorageFileEmpty(_) => "storage_file_empty",
            Self::StorageFileTypeUnsupported(_) => "storage_file_type_unsupported",
            Self::StorageInvalidFileSize(_) => "storage_invalid_file_size",
            Self::StorageInvalidContentRange => "storage_invalid_content_range",
            Self::StorageInvalidRange => "storage_invalid_range",
            Self::BuildAlreadyCompleted => "build_already_completed",
            Self::FunctionTemplateNotFound(_) => "function_template_not_found",
            Self::InstallationNotFound(_) => "installation_not_found",
            Self::CursorNotFound(_) => "general_cursor_not_found",
            Self::VariableNotFound => "variable_not_found",
            Self::VariableAlreadyExists => "variable_already_exists",
            Self::VariableCannotUnsetSecret => "variable_cannot_unset_secret",
            Self::ProjectKeyExpired => "project_key_expired",
            Self::ApiKeyExpired => "api_key_expired",
            Self::RuleAlreadyExists => "rule_already_exists",
            Self::RouterHostNotFound => "router_host_not_found",
            Self::FunctionExecutePermissionMissing => "function_execute_permission_missing",
            Self::BuildFailed => "build_failed",
            Self::BuildCanceled => "build_canceled",
            Self::DomainExecutionTimeout => "function_synchronous_timeout",
            Self::RateLimitExceeded => "general_rate_limit_exceeded",
            Self::ServiceUnavailable(_) => "general_server_error",
            Self::Internal(_) => "general_server_error",
        }
    }

    pub fn deployment_not_found() -> Self {
        Self::DeploymentNotFound("Deployment with the requested ID could not be found.".into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::ArgumentInvalid(_)
            | Self::BadRequest(_)
            | Self::QueryInvalid(_)
            | Self::BuildNotReady
            | Self::StorageFileEmpty(_)
            | Self::StorageFileTypeUnsupported(_)
            | Self::StorageInvalidFileSize(_)
            | Self::StorageInvalidContentRange
            | Self::BuildAlreadyCompleted
            | Self::ExecutionInProgress => StatusCode::BAD_REQUEST,
            Self::StorageInvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::FunctionTemplateNotFound(_) | Self::InstallationNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::UnauthorizedScope(_) | Self::UserUnauthorized => StatusCode::UNAUTHORIZED,
            Self::CursorNotFound(_) | Self::VariableCannotUnsetSecret => StatusCode::BAD_REQUEST,
            Self::ProjectKeyExpired | Self::ApiKeyExpired => StatusCode::UNAUTHORIZED,
            Self::VariableNotFound => StatusCode::NOT_FOUND,
            Self::VariableAlreadyExists => StatusCode::CONFLICT,
            Self::ProjectNotFound
            | Self::RouteNotFound
            | Self::FunctionNotFound
            | Self::FunctionRuntimeUnsupported(_)
            | Self::FunctionEntrypointMissing
            | Self::DeploymentNotFound(_)
            | Self::ExecutionNotFound => StatusCode::NOT_FOUND,
            Self::FunctionAlreadyExists => StatusCode::CONFLICT,
            Self::FunctionSynchronousTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RuleAlreadyExists => StatusCode::CONFLICT,
            Self::RouterHostNotFound => StatusCode::NOT_FOUND,
            Self::FunctionExecutePermissionMissing => StatusCode::UNAUTHORIZED,
            Self::BuildFailed | Self::BuildCanceled => StatusCode::BAD_REQUEST,
            Self::DomainExecutionTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::RateLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            Self::ServiceUnavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let body = serde_json::json!({
            "message": self.to_string(),
            "code": status.as_u16(),
            "type": self.kind(),
            "version": model::APPWRITE_VERSION,
        });
        HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"))
            .insert_header((header::EXPIRES, "0"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(body)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<crate::db::PoolError> for ApiError {
    fn from(err: crate::db::PoolError) -> Self {
        Self::ServiceUnavailable(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2 leaked"));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response
                .headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-cache, no-store, must-revalidate")
        );
        let bytes = to_bytes(response.into_body()).await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(body["message"], "Server Error");
        assert_eq!(body["type"], "general_server_error");
        assert_eq!(body["code"], 500);
        assert_eq!(body["version"], model::APPWRITE_VERSION);
        assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
    }

    #[actix_web::test]
    async fn not_found_body_has_appwrite_shape() {
        let response = ApiError::FunctionNotFound.error_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let bytes = to_bytes(response.into_body()).await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(body["type"], "function_not_found");
        assert_eq!(body["code"], 404);
    }
}
