//! `POST /v1/functions/{functionId}/deployments` (multipart, single request): 202 Deployment.
//! The tarball is stored first; the deployment row, the function's latest-* fields and the build
//! job (outbox) are then written in one transaction. If that fails, the file is removed again.
use crate::auth::{Authorized, FunctionsWrite};
use crate::db::deployments::{DeploymentRow, WAITING};
use crate::error::ApiError;
use crate::jobs;
use crate::params::parse_bool;
use crate::startup::AppState;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::TryStreamExt;

/// `_APP_COMPUTE_SIZE_LIMIT`.
pub const MAX_SOURCE_SIZE: usize = 30_000_000;
const MAX_TEXT_FIELD: usize = 16 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

#[derive(Default)]
struct Upload {
    code: Option<(String, Vec<u8>)>,
    activate: Option<String>,
    entrypoint: Option<String>,
    commands: Option<String>,
}

fn multipart_error(err: impl std::fmt::Display) -> ApiError {
    ApiError::ArgumentInvalid(format!("Invalid multipart body: {err}"))
}

async fn read_upload(mut payload: Multipart) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    while let Some(mut field) = payload.try_next().await.map_err(multipart_error)? {
        let disposition = field.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .unwrap_or_default()
            .to_owned();
        if name == "code" {
            let filename = disposition
                .as_ref()
                .and_then(|d| d.get_filename())
                .unwrap_or_default()
                .to_owned();
            let mut data = Vec::new();
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                if data.len() + chunk.len() > MAX_SOURCE_SIZE {
                    return Err(ApiError::StorageInvalidFileSize(format!(
                        "File size not allowed: the code archive must be at most {MAX_SOURCE_SIZE} bytes"
                    )));
                }
                data.extend_from_slice(&chunk);
            }
            upload.code = Some((filename, data));
        } else {
            let mut data = Vec::new();
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                if data.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(ApiError::ArgumentInvalid(format!(
                        "Invalid `{name}` param: value too long"
                    )));
                }
                data.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(data).map_err(|_| {
                ApiError::ArgumentInvalid(format!("Invalid `{name}` param: not valid UTF-8"))
            })?;
            match name.as_str() {
                "activate" => upload.activate = Some(text),
                "entrypoint" => upload.entrypoint = Some(text),
                "commands" => upload.commands = Some(text),
                _ => {} // unknown parameters are ignored (spec 0.1)
            }
        }
    }
    Ok(upload)
}

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let function = super::function(&state, &auth.project_id, &path).await?;
    let upload = read_upload(payload).await?;
    let Some((filename, code)) = upload.code.filter(|(_, data)| !data.is_empty()) else {
        return Err(ApiError::StorageFileEmpty("No file sent".into()));
    };
    if !filename.to_ascii_lowercase().ends_with(".gz") {
        return Err(ApiError::StorageFileTypeUnsupported(
            "File extension not allowed: the code must be a .tar.gz archive".into(),
        ));
    }
    let chunk = match req.headers().get("content-range") {
        Some(value) => Some(crate::deploy::parse_content_range(
            value
                .to_str()
                .map_err(|_| ApiError::StorageInvalidContentRange)?,
        )?),
        None => None,
    };
    if let Some(range) = &chunk {
        if range.size > MAX_SOURCE_SIZE as u64 {
            return Err(ApiError::StorageInvalidFileSize(format!(
                "File size not allowed: the code archive must be at most {MAX_SOURCE_SIZE} bytes"
            )));
        }
        if code.len() as u64 != range.len() {
            return Err(ApiError::StorageInvalidContentRange);
        }
    }
    let first_bytes = chunk.as_ref().is_none_or(|r| r.start == 0);
    if first_bytes && !code.starts_with(&GZIP_MAGIC) {
        return Err(ApiError::StorageFileTypeUnsupported(
            "File type not allowed: the code is not a gzip archive".into(),
        ));
    }
    let activate = match upload.activate.as_deref() {
        None | Some("") => false,
        Some(v) => parse_bool(v).ok_or_else(|| {
            ApiError::ArgumentInvalid(
                "Invalid `activate` param: Value must be a valid boolean".into(),
            )
        })?,
    };
    let entrypoint = upload
        .entrypoint
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| function.entrypoint.clone());
    if entrypoint.chars().count() > 1028 {
        return Err(ApiError::ArgumentInvalid("Invalid `entrypoint` param: Value must be a valid string and at least 1 chars and no longer than 1028 chars".into()));
    }
    if entrypoint.is_empty() {
        return Err(ApiError::FunctionEntrypointMissing);
    }
    let commands = upload.commands.unwrap_or_else(|| function.commands.clone());
    if commands.chars().count() > 8192 {
        return Err(ApiError::ArgumentInvalid(
            "Invalid `commands` param: Value must be a valid string and no longer than 8192 chars"
                .into(),
        ));
    }
    let deployment_type = match req
        .headers()
        .get("x-sdk-language")
        .and_then(|v| v.to_str().ok())
    {
        Some("cli") => "cli",
        _ => "manual",
    };

    let deployment_id = match req
        .headers()
        .get("x-appwrite-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && chunk.is_some())
    {
        Some(id) => crate::domain::uid("x-appwrite-id", id)?.to_owned(),
        None => model::ids::unique_id(),
    };
    let source_path = jobs::source_key(&auth.project_id, &function.id, &deployment_id);
    let now = Utc::now();
    let row = DeploymentRow {
        project_id: auth.project_id.clone(),
        id: deployment_id,
        function_id: function.id.clone(),
        created_at: now,
        updated_at: now,
        type_: deployment_type.into(),
        entrypoint,
        commands,
        source_path: source_path.clone(),
        source_size: code.len() as i64,
        build_path: String::new(),
        build_size: 0,
        build_duration: 0,
        build_logs: String::new(),
        build_started_at: None,
        activate,
        status: WAITING.into(),
        chunks_total: 1,
        chunks_uploaded: 1,
        vcs: serde_json::json!({}),
    };
    if let Some(range) = chunk {
        let row = DeploymentRow {
            source_size: range.size as i64,
            chunks_total: i32::try_from(range.chunks_total()).unwrap_or(i32::MAX),
            chunks_uploaded: 0,
            ..row
        };
        return super::chunks::receive(&state, &function, row, range, code).await;
    }
    let location = object_store::path::Path::from(source_path.as_str());
    state
        .store
        .put(&location, object_store::PutPayload::from(code))
        .await
        .map_err(ApiError::internal)?;
    super::insert_and_queue(&state, &function, row, location).await
}
