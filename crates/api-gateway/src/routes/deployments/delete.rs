//! `DELETE /v1/functions/{functionId}/deployments/{deploymentId}`: 204. The row goes now (the
//! function's latest-* fields are recomputed, its active deployment cleared if it was this one);
//! the source, output and any upload chunks are removed in the background.
use crate::auth::{Authorized, FunctionsWrite};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (mut conn, function, deployment_id) = super::open(&state, &auth.project_id, path).await?;
    let chunks =
        crate::db::deployments::chunk_paths(&mut conn, &auth.project_id, &deployment_id).await?;
    let row =
        crate::db::deployments::delete(&mut conn, &auth.project_id, &function.id, &deployment_id)
            .await?
            .ok_or_else(ApiError::deployment_not_found)?;
    let mut files = vec![row.source_path.clone(), row.build_path.clone()];
    if row.build_path.is_empty() {
        // A build that finishes after the delete still writes its output here.
        files.push(crate::jobs::build_key(
            &row.project_id,
            &row.function_id,
            &row.id,
        ));
    }
    files.extend(chunks);
    super::chunks::remove_files(&state, files);
    tracing::info!(function.id = %function.id, deployment.id = %row.id, "deployment deleted");
    crate::events::spawn_emit(
        &state.tasks,
        &state.publisher,
        &auth.project_id,
        format!("functions.{}.deployments.{}.delete", function.id, row.id),
        crate::wire::Deployment::from(row),
    );
    Ok(HttpResponse::NoContent().finish())
}
