//! `DELETE /v1/functions/{functionId}`: 204. Rows go now (cascade); files are removed in the
//! background, best effort.
use crate::auth::{Authorized, FunctionsWrite};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::domain::uid("functionId", &path)?;
    let mut conn = state.pool.get().await?;
    let files = crate::db::functions::delete(&mut conn, &auth.project_id, &path)
        .await?
        .ok_or(ApiError::FunctionNotFound)?;
    tracing::info!(function.id = %path, files = files.len(), "function deleted");
    crate::schedules::announce(&state.publisher, &auth.project_id, &path, "delete").await;
    crate::events::spawn_emit(
        &state.tasks,
        &state.publisher,
        &auth.project_id,
        format!("functions.{path}.delete"),
        serde_json::json!({"$id": path.as_str()}),
    );
    let store = state.store.clone();
    state.tasks.spawn(async move {
        for key in files {
            let location = object_store::path::Path::from(key.as_str());
            match store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => {
                    tracing::warn!(%key, error = %err, "could not delete file of deleted function")
                }
            }
        }
    });
    Ok(HttpResponse::NoContent().finish())
}
