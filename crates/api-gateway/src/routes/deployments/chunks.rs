//! The chunked branch of `createDeployment` (spec 2.2.1). Every chunk is stored in the object
//! store and recorded in `deployment_chunks`; the request that brings the count to the total
//! assembles the source and, in one transaction, marks the upload complete and queues the build.
//! Chunks may arrive concurrently, out of order, re-sent, and on different gateway replicas.
use crate::db::deployments::{self, DeploymentRow};
use crate::db::functions::FunctionRow;
use crate::deploy::{chunk_key, ChunkRange};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use object_store::path::Path;
use object_store::ObjectStore;
use std::sync::Arc;

fn accepted(row: DeploymentRow) -> HttpResponse {
    super::super::json(StatusCode::ACCEPTED, wire::Deployment::from(row))
}

pub async fn receive(
    state: &web::Data<AppState>,
    function: &FunctionRow,
    new_row: DeploymentRow,
    range: ChunkRange,
    data: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    let project_id = new_row.project_id.clone();
    let id = new_row.id.clone();
    let mut conn = state.pool.get().await?;
    let row = match deployments::find(&mut conn, &project_id, &function.id, &id).await? {
        Some(existing) => existing,
        None => deployments::insert_upload(&mut conn, &new_row).await?,
    };
    if row.function_id != function.id {
        return Err(ApiError::deployment_not_found());
    }
    // A re-sent chunk of a finished upload: the deployment, unchanged.
    if row.chunks_uploaded >= row.chunks_total {
        return Ok(accepted(row));
    }
    if row.source_size != new_row.source_size || row.chunks_total != new_row.chunks_total {
        return Err(ApiError::StorageInvalidContentRange);
    }
    let index = range.index();
    let key = chunk_key(&project_id, &function.id, &id, index);
    let size = data.len() as i64;
    state
        .store
        .put(&Path::from(key.as_str()), data.into())
        .await
        .map_err(ApiError::internal)?;
    let received = deployments::add_chunk(
        &mut conn,
        &project_id,
        &id,
        i32::try_from(index).unwrap_or(i32::MAX),
        &key,
        size,
    )
    .await?;
    if received < i64::from(row.chunks_total) {
        return Ok(accepted(row));
    }

    // All chunks are in: assemble (idempotent; a concurrent replica may do the same).
    let paths = deployments::chunk_paths(&mut conn, &project_id, &id).await?;
    drop(conn);
    let source = match assemble(state.store.as_ref(), &paths).await {
        Ok(source) => source,
        Err(err) => {
            // Another request may have completed the upload and removed the chunks meanwhile.
            let mut conn = state.pool.get().await?;
            if let Some(done) = deployments::find(&mut conn, &project_id, &function.id, &id)
                .await?
                .filter(|d| d.chunks_uploaded >= d.chunks_total)
            {
                return Ok(accepted(done));
            }
            return Err(err);
        }
    };
    if source.len() as i64 != row.source_size {
        return Err(ApiError::StorageInvalidContentRange);
    }
    state
        .store
        .put(&Path::from(row.source_path.as_str()), source.into())
        .await
        .map_err(ApiError::internal)?;
    let job = crate::job_env::build_job_bytes(state, function, &row).await?;
    let mut conn = state.pool.get().await?;
    let completed = deployments::complete_upload(
        &mut conn,
        &project_id,
        &id,
        model::topology::BUILDS_QUEUE,
        job,
    )
    .await?;
    let row = match completed {
        Some(row) => {
            state.outbox_wake.notify_one();
            tracing::info!(function.id = %row.function_id, deployment.id = %row.id, size = row.source_size, chunks = row.chunks_total, "chunked deployment assembled");
            remove_files(state, paths);
            row
        }
        None => deployments::find(&mut conn, &project_id, &function.id, &id)
            .await?
            .ok_or_else(ApiError::deployment_not_found)?,
    };
    Ok(accepted(row))
}

async fn assemble(store: &dyn ObjectStore, paths: &[String]) -> Result<Vec<u8>, ApiError> {
    let mut source = Vec::new();
    for key in paths {
        let bytes = store
            .get(&Path::from(key.as_str()))
            .await
            .map_err(ApiError::internal)?
            .bytes()
            .await
            .map_err(ApiError::internal)?;
        source.extend_from_slice(&bytes);
    }
    Ok(source)
}

/// Removes object-store files in the background (best effort; shutdown waits for it).
pub(crate) fn remove_files(state: &AppState, keys: Vec<String>) {
    let store: Arc<dyn ObjectStore> = state.store.clone();
    state.tasks.spawn(async move {
        for key in keys.into_iter().filter(|k| !k.is_empty()) {
            match store.delete(&Path::from(key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => tracing::warn!(%key, error = %err, "could not remove a file"),
            }
        }
    });
}
