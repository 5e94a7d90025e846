//! `POST /v1/functions` (spec 2.1 create): 201 Function.
use crate::auth::{Authorized, FunctionsWrite};
use crate::db::functions::FunctionRow;
use crate::domain::FunctionParams;
use crate::error::ApiError;
use crate::params::JsonBody;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Utc;

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    JsonBody(params): JsonBody<FunctionParams>,
) -> Result<HttpResponse, ApiError> {
    let (id, c) = params.into_new(&state.settings)?;
    let now = Utc::now();
    let row = FunctionRow {
        project_id: auth.project_id,
        id,
        created_at: now,
        updated_at: now,
        name: c.name,
        execute: c.execute,
        enabled: c.enabled,
        live: true,
        logging: c.logging,
        runtime: c.runtime,
        deployment_retention: c.deployment_retention,
        deployment_id: String::new(),
        deployment_created_at: None,
        latest_deployment_id: String::new(),
        latest_deployment_created_at: None,
        latest_deployment_status: String::new(),
        scopes: c.scopes,
        events: c.events,
        schedule: c.schedule,
        timeout: c.timeout,
        entrypoint: c.entrypoint,
        commands: c.commands,
        version: "v5".into(),
        installation_id: c.installation_id,
        provider_repository_id: c.provider_repository_id,
        provider_branch: c.provider_branch,
        provider_root_directory: c.provider_root_directory,
        provider_silent_mode: c.provider_silent_mode,
        provider_branches: c.provider_branches,
        provider_paths: c.provider_paths,
        build_specification: c.build_specification,
        runtime_specification: c.runtime_specification,
    };
    let auth_project = row.project_id.clone();
    let mut conn = state.pool.get().await?;
    if !crate::db::functions::insert(&mut conn, &row).await? {
        return Err(ApiError::FunctionAlreadyExists);
    }
    // Its domain (spec 2.5); the function stands without one if that fails.
    if let Err(err) =
        crate::domains::create_default_rule(&mut conn, &state.settings, &row.project_id, &row.id)
            .await
    {
        tracing::warn!(function.id = %row.id, error = %err, "could not create the function's domain");
    }
    tracing::info!(function.id = %row.id, "function created");
    crate::schedules::announce(&state.publisher, &row.project_id, &row.id, "create").await;
    let model = wire::Function::from(row);
    crate::events::spawn_emit(
        &state.tasks,
        &state.publisher,
        &auth_project,
        format!("functions.{}.create", model.id),
        &model,
    );
    Ok(super::super::json(StatusCode::CREATED, model))
}
