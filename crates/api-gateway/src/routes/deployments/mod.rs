pub mod chunks;
pub mod create;
pub mod delete;
pub mod download;
pub mod duplicate;
pub mod get;
pub mod list;
pub mod update_status;

use crate::db::deployments::DeploymentRow;
use crate::db::functions::FunctionRow;
use crate::db::Conn;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use diesel_async::AsyncPgConnection;

/// The function `id` of the project (404 `function_not_found`); the connection goes back at once.
pub(crate) async fn function(
    state: &AppState,
    project_id: &str,
    id: &str,
) -> Result<FunctionRow, ApiError> {
    let mut conn = state.pool.get().await?;
    super::load_function(&mut conn, project_id, id).await
}

/// The function (404 `function_not_found`) and the validated deployment id a
/// `/{functionId}/deployments/{deploymentId}` route names, with a connection.
pub(crate) async fn open(
    state: &AppState,
    project_id: &str,
    path: web::Path<(String, String)>,
) -> Result<(Conn, FunctionRow, String), ApiError> {
    let (function_id, deployment_id) = path.into_inner();
    let mut conn = state.pool.get().await?;
    let function = super::load_function(&mut conn, project_id, &function_id).await?;
    crate::domain::uid("deploymentId", &deployment_id)?;
    Ok((conn, function, deployment_id))
}

/// The deployment `id` of `function`, or 404 `deployment_not_found`.
pub(crate) async fn load(
    conn: &mut AsyncPgConnection,
    function: &FunctionRow,
    id: &str,
) -> Result<DeploymentRow, ApiError> {
    crate::db::deployments::find(conn, &function.project_id, &function.id, id)
        .await?
        .ok_or_else(ApiError::deployment_not_found)
}

/// Inserts a deployment whose source is already stored at `stored`, with its build job, in one
/// transaction; removes the file if that fails. Publishes `functions.<f>.deployments.<d>.create`;
/// 202 with the deployment.
pub(crate) async fn insert_and_queue(
    state: &web::Data<AppState>,
    function: &FunctionRow,
    row: DeploymentRow,
    stored: object_store::path::Path,
) -> Result<HttpResponse, ApiError> {
    let committed = async {
        let job = crate::job_env::build_job_bytes(state, function, &row).await?;
        let mut conn = state.pool.get().await?;
        crate::db::deployments::insert_with_job(
            &mut conn,
            &row,
            model::topology::BUILDS_QUEUE,
            job,
        )
        .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(err) = committed {
        if let Err(cleanup) = state.store.delete(&stored).await {
            tracing::warn!(key = %stored, error = %cleanup, "could not remove the source of a failed deployment");
        }
        return Err(err);
    }
    state.outbox_wake.notify_one();
    tracing::info!(function.id = %row.function_id, deployment.id = %row.id, r#type = %row.type_, size = row.source_size, "deployment created");
    let project_id = row.project_id.clone();
    let model = crate::wire::Deployment::from(row);
    crate::events::spawn_emit(
        &state.tasks,
        &state.publisher,
        &project_id,
        format!(
            "functions.{}.deployments.{}.create",
            model.resource_id, model.id
        ),
        &model,
    );
    Ok(super::json(StatusCode::ACCEPTED, model))
}

pub mod create_template;
pub mod create_vcs;

/// Longest a clone + archive may take.
pub(crate) const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub(crate) fn git_error(err: crate::vcs::GitError) -> ApiError {
    use crate::vcs::GitError;
    match err {
        GitError::Reference(_) | GitError::RootDirectory(_) => {
            ApiError::ArgumentInvalid(err.to_string())
        }
        GitError::TooLarge(_) => ApiError::StorageInvalidFileSize(err.to_string()),
        other => ApiError::internal(other),
    }
}

/// Packs `root` of the git repository `url` at `reference` (bounded in size and time). A URL
/// that is not usable or not reachable becomes `unreachable(err)`; other failures the usual
/// mapping ([`git_error`]).
pub(crate) async fn fetch_git(
    url: &str,
    kind: crate::vcs::RefKind,
    reference: &str,
    root: &str,
    unreachable: fn(crate::vcs::GitError) -> ApiError,
) -> Result<crate::vcs::Archive, ApiError> {
    use crate::vcs::GitError;
    crate::vcs::archive(
        url,
        kind,
        reference,
        root,
        create::MAX_SOURCE_SIZE,
        GIT_TIMEOUT,
    )
    .await
    .map_err(|err| match err {
        GitError::UnsupportedUrl(_) | GitError::Unreachable(_) => unreachable(err),
        other => git_error(other),
    })
}

/// A source packed from a git repository, with what the deployment records about it.
pub(crate) struct GitSource {
    pub archive: crate::vcs::Archive,
    pub url: String,
    pub owner: String,
    pub name: String,
    pub branch: Option<String>,
    pub root: String,
    pub activate: bool,
}

/// Stores a git source and creates the `vcs` deployment with its build job.
pub(crate) async fn create_from_git(
    state: &web::Data<AppState>,
    function: &FunctionRow,
    source: GitSource,
) -> Result<HttpResponse, ApiError> {
    if function.entrypoint.is_empty() {
        return Err(ApiError::FunctionEntrypointMissing);
    }
    let id = model::ids::unique_id();
    let key = crate::jobs::source_key(&function.project_id, &function.id, &id);
    let now = chrono::Utc::now();
    let vcs = serde_json::json!({
        "providerRepositoryName": source.name,
        "providerRepositoryOwner": source.owner,
        "providerRepositoryUrl": source.url,
        "providerCommitHash": source.archive.commit_hash,
        "providerCommitAuthor": source.archive.commit_author,
        "providerCommitMessage": source.archive.commit_message,
        "providerBranch": source.branch.unwrap_or_default(),
        "providerRootDirectory": source.root,
    });
    let row = DeploymentRow {
        project_id: function.project_id.clone(),
        id,
        function_id: function.id.clone(),
        created_at: now,
        updated_at: now,
        type_: "vcs".into(),
        entrypoint: function.entrypoint.clone(),
        commands: function.commands.clone(),
        source_path: key.clone(),
        source_size: source.archive.tarball.len() as i64,
        build_path: String::new(),
        build_size: 0,
        build_duration: 0,
        build_logs: String::new(),
        build_started_at: None,
        activate: source.activate,
        status: crate::db::deployments::WAITING.into(),
        chunks_total: 1,
        chunks_uploaded: 1,
        vcs,
    };
    let location = object_store::path::Path::from(key.as_str());
    state
        .store
        .put(&location, source.archive.tarball.into())
        .await
        .map_err(ApiError::internal)?;
    insert_and_queue(state, function, row, location).await
}
