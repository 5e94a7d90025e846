//! `POST /v1/functions/{functionId}/deployments/duplicate` `{deploymentId, buildId?}`: 202
//! Deployment. The source of an existing deployment is copied into a new deployment that takes
//! the function's current entrypoint and commands, starts `waiting` and is built again.
use crate::auth::{Authorized, FunctionsWrite};
use crate::db::deployments::{DeploymentRow, WAITING};
use crate::error::ApiError;
use crate::jobs;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use object_store::path::Path;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    deployment_id: Option<String>,
    // `buildId` is accepted and ignored (spec 2.2).
}

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let source_id = body.into_inner().deployment_id.unwrap_or_default();
    if source_id.is_empty() {
        return Err(ApiError::ArgumentInvalid(
            "Param \"deploymentId\" is not optional.".into(),
        ));
    }
    crate::domain::uid("deploymentId", &source_id)?;
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    let original =
        crate::db::deployments::find(&mut conn, &auth.project_id, &function.id, &source_id)
            .await?
            .filter(|d| d.chunks_uploaded >= d.chunks_total)
            .ok_or_else(ApiError::deployment_not_found)?;
    drop(conn);
    if function.entrypoint.is_empty() && original.entrypoint.is_empty() {
        return Err(ApiError::FunctionEntrypointMissing);
    }
    let id = model::ids::unique_id();
    let source_path = jobs::source_key(&auth.project_id, &function.id, &id);
    let now = Utc::now();
    let row = DeploymentRow {
        project_id: auth.project_id.clone(),
        id,
        function_id: function.id.clone(),
        created_at: now,
        updated_at: now,
        type_: original.type_.clone(),
        entrypoint: if function.entrypoint.is_empty() {
            original.entrypoint.clone()
        } else {
            function.entrypoint.clone()
        },
        commands: function.commands.clone(),
        source_path: source_path.clone(),
        source_size: original.source_size,
        build_path: String::new(),
        build_size: 0,
        build_duration: 0,
        build_logs: String::new(),
        build_started_at: None,
        activate: original.activate,
        status: WAITING.into(),
        chunks_total: 1,
        chunks_uploaded: 1,
        vcs: original.vcs.clone(),
    };
    let to = Path::from(source_path.as_str());
    match state
        .store
        .copy(&Path::from(original.source_path.as_str()), &to)
        .await
    {
        Ok(()) => {}
        Err(object_store::Error::NotFound { .. }) => return Err(ApiError::deployment_not_found()),
        Err(err) => return Err(ApiError::internal(err)),
    }
    super::insert_and_queue(&state, &function, row, to).await
}
