//! Function domains (Appwrite proxy rules): every function gets the domain
//! `<functionId>.<domains.functions>` when it is created, more can be added with
//! `POST /v1/proxy/rules/function`, and a plain HTTP request whose `Host` is a rule's domain runs
//! the function synchronously with that very request (method, path and query, headers, raw body)
//! and answers with the runtime's raw response plus `x-appwrite-execution-id`.
//!
//! Routing: [`middleware`] looks at the `Host` of each request before the API routes. Hosts that
//! are IP literals, `localhost` or the host of `public_endpoint` are the API and never looked up.
//! Any other host is looked up in `rules`; a miss under the functions domain is
//! `404 router_host_not_found`, any other miss falls through to the API.
use crate::db::deployments::{self, DeploymentRow};
use crate::db::executions::PROCESSING;
use crate::db::functions::FunctionRow;
use crate::db::rules::{NewFunctionRule, RuleRow};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::{jobs, wire};
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// Largest request body a function domain accepts (spec 7.3: the executor's 20 MiB).
pub const MAX_DOMAIN_BODY: usize = 20 * 1024 * 1024;

/// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded to the function.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Clone, Debug, Deserialize)]
pub struct DomainSettings {
    /// The parent domain of function domains (`_APP_DOMAIN_FUNCTIONS`).
    #[serde(default = "default_functions_domain")]
    pub functions: String,
}

impl Default for DomainSettings {
    fn default() -> Self {
        Self {
            functions: default_functions_domain(),
        }
    }
}

fn default_functions_domain() -> String {
    "functions.localhost".into()
}

/// API key scopes of `/v1/proxy/rules*`.
pub struct RulesRead;
pub struct RulesWrite;

impl crate::auth::Scope for RulesRead {
    const NAME: &'static str = "rules.read";
}
impl crate::auth::Scope for RulesWrite {
    const NAME: &'static str = "rules.write";
}

/// The ProxyRule model (1.9 format).
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    #[serde(rename = "$id")]
    pub id: String,
    #[serde(rename = "$createdAt")]
    pub created_at: String,
    #[serde(rename = "$updatedAt")]
    pub updated_at: String,
    pub domain: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub trigger: String,
    #[serde(rename = "redirectUrl")]
    pub redirect_url: String,
    #[serde(rename = "redirectStatusCode")]
    pub redirect_status_code: i32,
    #[serde(rename = "deploymentId")]
    pub deployment_id: String,
    #[serde(rename = "deploymentResourceType")]
    pub deployment_resource_type: String,
    #[serde(rename = "deploymentResourceId")]
    pub deployment_resource_id: String,
    #[serde(rename = "deploymentVcsProviderBranch")]
    pub deployment_vcs_provider_branch: String,
    pub status: String,
    pub logs: String,
    #[serde(rename = "renewAt")]
    pub renew_at: String,
}

impl Rule {
    /// `deployment_id`: the active deployment of the rule's function.
    pub fn new(row: RuleRow, deployment_id: String) -> Self {
        Self {
            id: row.id,
            created_at: wire::datetime(&row.created_at),
            updated_at: wire::datetime(&row.updated_at),
            domain: row.domain,
            type_: row.type_,
            trigger: row.trigger,
            redirect_url: String::new(),
            redirect_status_code: 0,
            deployment_id,
            deployment_resource_type: row.deployment_resource_type,
            deployment_resource_id: row.deployment_resource_id,
            deployment_vcs_provider_branch: row.deployment_vcs_provider_branch,
            status: row.status,
            logs: String::new(),
            renew_at: String::new(),
        }
    }
}

/// Lowercase, without a trailing dot; `None` when it is no valid domain name.
pub fn normalize_domain(domain: &str) -> Option<String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    valid.then_some(d)
}

/// Inserts a `manual` function rule; `Ok(None)` when the domain is taken.
pub async fn insert_rule(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    domain: &str,
    branch: &str,
) -> Result<Option<RuleRow>, diesel::result::Error> {
    let now = Utc::now();
    crate::db::rules::insert(
        conn,
        &NewFunctionRule {
            project_id: project_id.to_owned(),
            created_at: now,
            updated_at: now,
            domain: domain.to_owned(),
            trigger: "manual".into(),
            deployment_resource_id: function_id.to_owned(),
            deployment_vcs_provider_branch: branch.to_owned(),
        },
    )
    .await
}

/// Gives a new function its domain: `<functionId>.<functions domain>`, or
/// `<unique id>.<functions domain>` when that one is taken (by another project's function).
pub async fn create_default_rule(
    conn: &mut AsyncPgConnection,
    settings: &crate::Settings,
    project_id: &str,
    function_id: &str,
) -> Result<RuleRow, ApiError> {
    let parent = &settings.domains.functions;
    for label in [function_id.to_ascii_lowercase(), model::ids::unique_id()] {
        let domain = format!("{label}.{parent}");
        if let Some(row) = insert_rule(conn, project_id, function_id, &domain, "").await? {
            return Ok(row);
        }
    }
    Err(ApiError::RuleAlreadyExists)
}

/// The host a request was sent to: lowercase, without port.
fn request_host(req: &ServiceRequest) -> Option<String> {
    let raw = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().host().map(str::to_owned))?;
    let host = if raw.starts_with('[') {
        raw.split(']').next().map(|h| format!("{h}]"))?
    } else {
        raw.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map(|(h, _)| h.to_owned())
            .unwrap_or(raw)
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// Whether `host` may be a function domain (i.e. is not plainly the API's own host).
fn may_be_function_host(settings: &crate::Settings, host: &str) -> bool {
    if host.is_empty()
        || host == "localhost"
        || host.starts_with('[')
        || host.parse::<std::net::IpAddr>().is_ok()
    {
        return false;
    }
    let api_host = settings
        .public_endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    host != api_host
}

/// Serves requests to function domains; everything else goes on to the API.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(state), Some(host)) = (state, request_host(&req)) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if !may_be_function_host(&state.settings, &host) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let rule = match state.pool.get().await {
        Ok(mut conn) => crate::db::rules::find_by_domain(&mut conn, &host)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(ApiError::from(e)),
    };
    let rule = match rule {
        Ok(Some(rule)) => rule,
        Ok(None) => {
            let under_functions = host
                .strip_suffix(state.settings.domains.functions.as_str())
                .is_some_and(|rest| rest.ends_with('.'));
            if !under_functions {
                return Ok(next.call(req).await?.map_into_left_body());
            }
            let res = ApiError::RouterHostNotFound.error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
        Err(err) => {
            let res = err.error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
    };
    let (http, mut payload) = req.into_parts();
    let response = match read_body(&mut payload).await {
        Ok(body) => match execute(&state, &rule, &http, body).await {
            Ok(res) => res,
            Err(err) => err.error_response(),
        },
        Err(err) => err.error_response(),
    };
    Ok(ServiceResponse::new(http, response).map_into_right_body())
}

async fn read_body(payload: &mut actix_web::dev::Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))?;
        if body.len() + chunk.len() > MAX_DOMAIN_BODY {
            return Err(ApiError::ArgumentInvalid(format!(
                "Request body is larger than {MAX_DOMAIN_BODY} bytes."
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The checks of a domain execution, in Appwrite's order: function, `execute` permission,
/// runtime, active deployment, build status.
async fn runnable(
    state: &AppState,
    rule: &RuleRow,
) -> Result<(FunctionRow, DeploymentRow), ApiError> {
    let mut conn = state.pool.get().await?;
    let function =
        crate::db::functions::find(&mut conn, &rule.project_id, &rule.deployment_resource_id)
            .await?
            .filter(|f| f.enabled)
            .ok_or(ApiError::FunctionNotFound)?;
    if !function
        .execute
        .iter()
        .any(|role| role == "any" || role == "guests")
    {
        return Err(ApiError::FunctionExecutePermissionMissing);
    }
    if model::catalogue::find_runtime(&function.runtime).is_none()
        || !state.settings.runtime_installed(&function.runtime)
    {
        return Err(ApiError::FunctionRuntimeUnsupported(format!(
            "Runtime \"{}\" is not supported",
            function.runtime
        )));
    }
    let no_deployment = || {
        ApiError::DeploymentNotFound(
            "Deployment not found. Create a deployment before trying to execute a function".into(),
        )
    };
    if function.deployment_id.is_empty() {
        return Err(no_deployment());
    }
    let deployment = deployments::find(
        &mut conn,
        &function.project_id,
        &function.id,
        &function.deployment_id,
    )
    .await?
    .ok_or_else(no_deployment)?;
    match deployment.status.as_str() {
        deployments::READY => Ok((function, deployment)),
        deployments::FAILED => Err(ApiError::BuildFailed),
        deployments::CANCELED => Err(ApiError::BuildCanceled),
        _ => Err(ApiError::BuildNotReady),
    }
}

/// Runs the rule's function with the request and answers with the runtime's raw response.
async fn execute(
    state: &AppState,
    rule: &RuleRow,
    http: &actix_web::HttpRequest,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    let (function, deployment) = runnable(state, rule).await?;
    let method = http.method().as_str().to_owned();
    let path = http
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    // Every incoming header but hop-by-hop ones and the runtime's own secrets; repeated headers
    // are joined with ", " (spec 3.7).
    let mut caller_headers: Vec<(String, String)> = Vec::new();
    for (name, value) in http.headers() {
        let name = name.as_str().to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str())
            || name.starts_with("x-open-runtimes-")
            || name.starts_with("x-appwrite-")
        {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match caller_headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => caller_headers.push((name, value)),
        }
    }
    let request = crate::domain::ExecutionRequest {
        body: String::new(),
        is_async: false,
        path,
        method,
        headers: caller_headers,
        scheduled_at: None,
    };
    let execution_id = model::ids::unique_id();
    let client_ip = http
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let headers = jobs::function_headers(&request, &execution_id, &client_ip);
    let mut stored_headers = request.headers.clone();
    stored_headers.push(("x-appwrite-client-ip".into(), client_ip));
    let now = Utc::now();
    let mut job = jobs::execution_job(
        &state.settings,
        jobs::ExecutionJobInput {
            function: &function,
            deployment: &deployment,
            execution_id: &execution_id,
            request: &request,
            headers: &headers,
            sync: true,
            created_at_unix_ms: now.timestamp_millis(),
        },
    );
    {
        let mut conn = state.pool.get().await?;
        crate::job_env::complete_execution_job(&mut conn, &state.settings, &function, &mut job)
            .await?;
    }
    job.body = body;
    let mut row = crate::triggered::new_row(
        &function,
        &deployment.id,
        &execution_id,
        &request,
        "http",
        jobs::stored_request_headers(&stored_headers),
        now,
    );
    row.status = PROCESSING.into();
    let (stored, result) =
        match crate::routes::executions::sync::run(state, row, &job, function.logging).await {
            Ok(done) => done,
            Err(ApiError::FunctionSynchronousTimeout) => {
                return Err(ApiError::DomainExecutionTimeout)
            }
            Err(err) => return Err(err),
        };
    tracing::info!(function.id = %function.id, execution.id = %execution_id, status = %stored.status, "domain execution finished");
    if stored.status == crate::db::executions::FAILED
        && result.errors.contains("Execution timed out.")
    {
        return Err(ApiError::DomainExecutionTimeout);
    }
    let status = u16::try_from(result.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for h in &result.headers {
        let lower = h.name.to_ascii_lowercase();
        if lower.starts_with("x-open-runtimes-")
            || HOP_BY_HOP.contains(&lower.as_str())
            || lower == "content-length"
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(&h.value),
        ) {
            response.append_header((name, value));
        }
    }
    response.insert_header(("x-appwrite-execution-id", execution_id));
    if http.method() == actix_web::http::Method::HEAD {
        return Ok(response.finish());
    }
    Ok(response.body(result.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_and_checked() {
        assert_eq!(
            normalize_domain("Fn1.Functions.Localhost."),
            Some("fn1.functions.localhost".into())
        );
        assert_eq!(normalize_domain("localhost"), None);
        assert_eq!(normalize_domain("a..b"), None);
        assert_eq!(normalize_domain("-a.b"), None);
        assert_eq!(normalize_domain("a_b.c"), None);
        assert_eq!(normalize_domain(""), None);
    }
}
