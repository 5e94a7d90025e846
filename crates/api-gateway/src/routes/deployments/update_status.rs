//! `PATCH /v1/functions/{functionId}/deployments/{deploymentId}/status` (cancel a build): 200
//! Deployment. `ready`/`failed` => 400 `build_already_completed`. Otherwise the row becomes
//! `canceled` now and a `BuildCancel` is broadcast to every builder (fanout); the builder running
//! it stops the container and reports CANCELED with its logs, which the build-events consumer
//! stores without changing the status. A canceled deployment stays canceled.
use crate::auth::{Authorized, FunctionsWrite};
use crate::db::deployments;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use model::proto::BuildCancel;

pub const CANCEL_LINE: &str = "Build has been canceled.";

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (mut conn, function, deployment_id) = super::open(&state, &auth.project_id, path).await?;
    let current = super::load(&mut conn, &function, &deployment_id).await?;
    let row =
        match deployments::cancel(&mut conn, &auth.project_id, &current.id, CANCEL_LINE).await? {
            Ok(row) => row,
            Err(status) if status == deployments::CANCELED => {
                // Already canceled: nothing more to do; answer with the deployment.
                return Ok(super::super::json(
                    StatusCode::OK,
                    wire::Deployment::from(current),
                ));
            }
            Err(_) => return Err(ApiError::BuildAlreadyCompleted),
        };
    drop(conn);
    let cancel = BuildCancel {
        project_id: row.project_id.clone(),
        function_id: row.function_id.clone(),
        deployment_id: row.id.clone(),
    };
    if let Err(err) = state
        .publisher
        .broadcast(model::topology::BUILD_CANCEL_EXCHANGE, "", &cancel)
        .await
    {
        // The row is canceled either way; a build that keeps running ends in a READY/FAILED
        // report that the status guard ignores.
        tracing::warn!(deployment.id = %row.id, error = %err, "could not broadcast the build cancel");
    }
    tracing::info!(function.id = %row.function_id, deployment.id = %row.id, "build canceled");
    Ok(super::super::json(
        StatusCode::OK,
        wire::Deployment::from(row),
    ))
}
