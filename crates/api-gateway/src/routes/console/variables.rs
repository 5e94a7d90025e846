//! `GET /v1/console/variables`: the ConsoleVariables model. `appwrite push function` reads
//! `_APP_DOMAIN_FUNCTIONS` from it to name a new function's domain. Appwrite serves it to console
//! sessions; here an API key with `projects.read` may read it too (there are no console sessions).
use crate::auth::{Authorized, ProjectRead};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler(
    _auth: Authorized<ProjectRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    let https = settings.public_endpoint.starts_with("https://");
    let api_host = settings
        .public_endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default()
        .to_owned();
    Ok(super::super::json(
        StatusCode::OK,
        serde_json::json!({
            "_APP_DOMAIN_TARGET_CNAME": api_host,
            "_APP_DOMAIN_TARGET_AAAA": "",
            "_APP_DOMAIN_TARGET_A": "",
            "_APP_DOMAIN_TARGET_CAA": "",
            "_APP_STORAGE_LIMIT": 30_000_000,
            "_APP_COMPUTE_BUILD_TIMEOUT": settings.build.timeout_seconds,
            "_APP_COMPUTE_SIZE_LIMIT": crate::routes::deployments::create::MAX_SOURCE_SIZE,
            "_APP_USAGE_STATS": "disabled",
            "_APP_VCS_ENABLED": false,
            "_APP_DOMAIN_ENABLED": true,
            "_APP_ASSISTANT_ENABLED": false,
            "_APP_DOMAIN_SITES": "",
            "_APP_DOMAIN_FUNCTIONS": settings.domains.functions,
            "_APP_OPTIONS_FORCE_HTTPS": if https { "enabled" } else { "disabled" },
            "_APP_DOMAINS_NAMESERVERS": "",
            "_APP_DB_ADAPTER": "postgresql",
        }),
    ))
}
