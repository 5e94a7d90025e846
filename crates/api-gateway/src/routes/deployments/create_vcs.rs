//! `POST /v1/functions/{functionId}/deployments/vcs` `{type: branch|commit|tag, reference,
//! activate}`: 202 Deployment of type `vcs` from the function's VCS link. Without a GitHub app,
//! the link is plain git: `providerRepositoryId` is the repository's git URL (`file://`,
//! `http(s)://`, `git://`) and `providerRootDirectory` the directory packed as the source. A
//! function without `providerRepositoryId` is 404 `installation_not_found`.
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
    #[serde(rename = "type")]
    kind: Option<String>,
    reference: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    activate: Option<bool>,
}

pub async fn handler(
    auth: Authorized<FunctionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let kind = super::create_template::ref_kind(body.kind, "branch, commit, tag")?;
    let reference = super::create_template::required("reference", body.reference, 255)?;
    let function = super::function(&state, &auth.project_id, &path).await?;
    let url = function.provider_repository_id.clone();
    if url.is_empty() {
        return Err(ApiError::InstallationNotFound(
            "The function is not connected to a repository (providerRepositoryId is empty).".into(),
        ));
    }
    let root = function.provider_root_directory.clone();
    let archive = super::fetch_git(&url, kind, &reference, &root, |err| {
        ApiError::InstallationNotFound(format!("Repository not reachable: {err}"))
    })
    .await?;
    let (owner, name) = vcs::owner_and_name(&url);
    let source = super::GitSource {
        archive,
        url,
        owner,
        name,
        branch: (kind == RefKind::Branch).then(|| reference.clone()),
        root,
        activate: body.activate.unwrap_or(false),
    };
    super::create_from_git(&state, &function, source).await
}
