//! The whole API on one screen. One file per endpoint under `routes/<resource>/<verb>.rs`.
pub mod console;
pub mod deployments;
pub mod executions;
pub mod functions;
pub mod health;
pub mod internal;
pub mod proxy;
pub mod variables;

use crate::auth::{FunctionsRead, FunctionsWrite, ProjectRead, ProjectWrite};
use crate::db::functions::FunctionRow;
use crate::error::ApiError;
use actix_web::{web, HttpResponse, Resource};
use diesel_async::AsyncPgConnection;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health/livez").route(web::get().to(health::livez)))
        .service(resource("/health/readyz").route(web::get().to(health::readyz)))
        .service(
            web::scope("/v1/functions")
                .service(
                    resource("")
                        .route(web::get().to(functions::list::handler))
                        .route(web::post().to(functions::create::handler)),
                )
                .service(resource("/runtimes").route(web::get().to(functions::runtimes::handler)))
                .service(
                    resource("/specifications")
                        .route(web::get().to(functions::specifications::handler)),
                )
                .service(
                    resource("/{functionId}")
                        .route(web::get().to(functions::get::handler))
                        .route(web::put().to(functions::update::handler))
                        .route(web::delete().to(functions::delete::handler)),
                )
                .service(
                    resource("/{functionId}/deployment")
                        .route(web::patch().to(functions::update_deployment::handler)),
                )
                .service(
                    resource("/{functionId}/deployments")
                        .route(web::get().to(deployments::list::handler))
                        .route(web::post().to(deployments::create::handler)),
                )
                .service(
                    resource("/{functionId}/deployments/duplicate")
                        .route(web::post().to(deployments::duplicate::handler)),
                )
                .service(
                    resource("/{functionId}/deployments/template")
                        .route(web::post().to(deployments::create_template::handler)),
                )
                .service(
                    resource("/{functionId}/deployments/vcs")
                        .route(web::post().to(deployments::create_vcs::handler)),
                )
                .service(
                    resource("/{functionId}/deployments/{deploymentId}")
                        .route(web::get().to(deployments::get::handler))
                        .route(web::delete().to(deployments::delete::handler)),
                )
                .service(
                    resource("/{functionId}/deployments/{deploymentId}/download")
                        .route(web::get().to(deployments::download::handler)),
                )
                .service(
                    // pre-1.7 SDKs: the build output (format.rs forces `type=output`)
                    resource("/{functionId}/deployments/{deploymentId}/build/download")
                        .route(web::get().to(deployments::download::handler)),
                )
                .service(
                    resource("/{functionId}/deployments/{deploymentId}/status")
                        .route(web::patch().to(deployments::update_status::handler)),
                )
                .service(
                    resource("/{functionId}/executions")
                        .route(web::get().to(executions::list::handler))
                        .route(web::post().to(executions::create::handler).wrap(
                            actix_web::middleware::from_fn(crate::rate_limit::create_execution),
                        )),
                )
                .service(
                    resource("/{functionId}/executions/{executionId}")
                        .route(web::get().to(executions::get::handler))
                        .route(web::delete().to(executions::delete::handler)),
                )
                .service(
                    resource("/{functionId}/variables")
                        .route(web::get().to(variables::list::handler::<FunctionsRead>))
                        .route(web::post().to(variables::create::handler::<FunctionsWrite>)),
                )
                .service(
                    resource("/{functionId}/variables/{variableId}")
                        .route(web::get().to(variables::get::handler::<FunctionsRead>))
                        .route(web::put().to(variables::update::handler::<FunctionsWrite>))
                        .route(web::delete().to(variables::delete::handler::<FunctionsWrite>)),
                ),
        )
        .service(
            resource("/v1/project/variables")
                .route(web::get().to(variables::list::handler::<ProjectRead>))
                .route(web::post().to(variables::create::handler::<ProjectWrite>)),
        )
        .service(
            resource("/v1/project/variables/{variableId}")
                .route(web::get().to(variables::get::handler::<ProjectRead>))
                .route(web::put().to(variables::update::handler::<ProjectWrite>))
                .route(web::delete().to(variables::delete::handler::<ProjectWrite>)),
        )
        .service(resource("/v1/proxy/rules").route(web::get().to(proxy::rules::handler)))
        .service(
            resource("/v1/proxy/rules/function")
                .route(web::post().to(proxy::create_function_rule::handler)),
        )
        .service(
            resource("/v1/console/variables").route(web::get().to(console::variables::handler)),
        )
        .service(resource("/v1/health/version").route(web::get().to(health::version)))
        .service(
            resource("/v1/internal/schedules").route(web::get().to(internal::schedules::handler)),
        )
        .service(
            resource("/v1/internal/functions/{functionId}/schedule-slots")
                .route(web::get().to(internal::schedule_slots::handler)),
        );
}

/// A resource whose unmatched methods answer like unknown routes (Appwrite routes by method).
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(not_found))
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _| ApiError::ArgumentInvalid(format!("Invalid path: {err}")).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        ApiError::ArgumentInvalid(format!("Invalid query string: {err}")).into()
    })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(crate::params::MAX_JSON_BODY)
        .error_handler(|err, _| {
            ApiError::ArgumentInvalid(format!("Invalid JSON body: {err}")).into()
        })
}

/// The function `id` of the project, or 404 `function_not_found`.
pub(crate) async fn load_function(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
) -> Result<FunctionRow, ApiError> {
    crate::domain::uid("functionId", id)?;
    crate::db::functions::find(conn, project_id, id)
        .await?
        .ok_or(ApiError::FunctionNotFound)
}

/// The Function model with its `vars` (secret values blanked).
pub(crate) async fn function_model(
    conn: &mut AsyncPgConnection,
    row: FunctionRow,
) -> Result<crate::wire::Function, ApiError> {
    let vars = crate::db::variables::of_function(conn, &row.project_id, &row.id).await?;
    Ok(crate::wire::Function::from(row).with_vars(vars))
}

pub(crate) fn json(
    status: actix_web::http::StatusCode,
    body: impl serde::Serialize,
) -> HttpResponse {
    HttpResponse::build(status).json(body)
}
