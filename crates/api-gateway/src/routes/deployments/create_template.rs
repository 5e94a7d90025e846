//! `POST /v1/functions/{functionId}/deployments/template`
//! `{repository, owner, rootDirectory, type: commit|branch|tag, reference, activate}`: 202
//! Deployment of type `vcs`. The template repository is `repository` itself when it is a git URL
//! (`file://`, `http(s)://`, `git://`), else `<templates.base_url>/<owner>/<repository>`; it is
//! cloned, the reference checked out and `rootDirectory` packed as the source (`crate::vcs`).
use crate::auth::{Authorized, FunctionsWrite};
use crate::error::ApiError;
use crate::params::opt_bool;
use crate::startup::AppState;
use crate::vcs::{self, RefKind};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    repository: Option<String>,
    owner: Option<String>,
    root_directory: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    reference: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    activate: Option<bool>,
}

pub(crate) fn required(name: &str, value: Option<String>, max: usize) -> Result<String, ApiError> {
    let value = value
        .ok_or_else(|| ApiError::ArgumentInvalid(format!("Param \"{name}\" is not optional.")))?;
    if value.chars().count() > max {
        return Err(ApiError::ArgumentInvalid(format!(
            "Invalid `{name}` param: Value must be a valid string and no longer than {max} chars"
        )));
    }
    Ok(value)
}

pub(crate) fn ref_kind(value: Option<String>, allowed: &str) -> Result<RefKind, ApiError> {
    let value = value.unwrap_or_default();
    RefKind::parse(&value).ok_or_else(|| {
        ApiError::ArgumentInvalid(format!(
            "Invalid `type` param: Value must be one of ({allowed})"
        ))
    })
}

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let repository = required("repository", body.repository, 2048)?;
    let owner = required("owner", body.owner, 128)?;
    let root = required("rootDirectory", body.root_directory, 128)?;
    let kind = ref_kind(body.kind, "commit, branch, tag")?;
    let reference = required("reference", body.reference, 255)?;
    let function = super::function(&state, &auth.project_id, &path).await?;
    let url = vcs::template_url(&state.settings.templates, &owner, &repository);
    let archive = super::fetch_git(&url, kind, &reference, &root, |err| {
        ApiError::FunctionTemplateNotFound(format!(
            "Function Template with the requested ID could not be found: {err}"
        ))
    })
    .await?;
    let (url_owner, name) = vcs::owner_and_name(&url);
    let source = super::GitSource {
        archive,
        url,
        owner: if owner.is_empty() { url_owner } else { owner },
        name,
        branch: (kind == RefKind::Branch).then(|| reference.clone()),
        root,
        activate: body.activate.unwrap_or(false),
    };
    super::create_from_git(&state, &function, source).await
}
