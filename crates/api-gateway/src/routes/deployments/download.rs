//! `GET /v1/functions/{functionId}/deployments/{deploymentId}/download?type=source|output`:
//! 200 (206 with `Range`) `application/gzip`, streamed from the object store. A bad range is 416
//! `storage_invalid_range`; a missing file (e.g. `output` before the build) 404
//! `deployment_not_found`.
use crate::auth::{Authorized, FunctionsRead};
use crate::error::ApiError;
use crate::params::query_pairs;
use crate::startup::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange};

pub async fn handler(
    auth: Authorized<FunctionsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (function_id, deployment_id) = path.into_inner();
    let kind = query_pairs(&req)?
        .into_iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let output = match kind.as_str() {
        "" | "source" => false,
        "output" => true,
        _ => {
            return Err(ApiError::ArgumentInvalid(
                "Invalid `type` param: Value must be one of (source, output)".into(),
            ))
        }
    };
    let deployment = {
        let mut conn = state.pool.get().await?;
        let function =
            super::super::load_function(&mut conn, &auth.project_id, &function_id).await?;
        crate::domain::uid("deploymentId", &deployment_id)?;
        crate::db::deployments::find(&mut conn, &auth.project_id, &function.id, &deployment_id)
            .await?
            .ok_or_else(ApiError::deployment_not_found)?
    };
    let complete = deployment.chunks_uploaded >= deployment.chunks_total;
    let key = if output {
        deployment.build_path.clone()
    } else if complete {
        deployment.source_path.clone()
    } else {
        String::new()
    };
    if key.is_empty() {
        return Err(ApiError::deployment_not_found());
    }
    let location = Path::from(key.as_str());
    let meta = match state.store.head(&location).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Err(ApiError::deployment_not_found()),
        Err(err) => return Err(ApiError::internal(err)),
    };
    let size = meta.size as u64;
    let range = match req.headers().get(header::RANGE) {
        Some(value) => Some(crate::deploy::parse_range(
            value.to_str().map_err(|_| ApiError::StorageInvalidRange)?,
            size,
        )?),
        None => None,
    };
    let options = GetOptions {
        range: range.map(|r| GetRange::Bounded(r.start as usize..(r.end + 1) as usize)),
        ..Default::default()
    };
    let result = match state.store.get_opts(&location, options).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => return Err(ApiError::deployment_not_found()),
        Err(err) => return Err(ApiError::internal(err)),
    };
    let name = format!(
        "{}-{}.tar.gz",
        deployment.id,
        if output { "output" } else { "source" }
    );
    let mut response = match range {
        Some(r) => {
            let mut b = HttpResponse::build(StatusCode::PARTIAL_CONTENT);
            b.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end),
            ));
            b.no_chunking(r.end - r.start + 1);
            b
        }
        None => {
            let mut b = HttpResponse::Ok();
            b.no_chunking(size);
            b
        }
    };
    response
        .insert_header((header::CONTENT_TYPE, "application/gzip"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3888000"))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    let stream = result.into_stream().map_err(|err| {
        tracing::warn!(error = %err, "download stream failed");
        actix_web::error::ErrorInternalServerError("download failed")
    });
    Ok(response.streaming(stream))
}
