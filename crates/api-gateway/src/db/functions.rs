//! Queries of the `functions` aggregate.
use super::schema::{deployments, functions};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = functions, check_for_backend(Pg))]
pub struct FunctionRow {
    pub project_id: String,
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub name: String,
    pub execute: Vec<String>,
    pub enabled: bool,
    pub live: bool,
    pub logging: bool,
    pub runtime: String,
    pub deployment_retention: i32,
    pub deployment_id: String,
    pub deployment_created_at: Option<DateTime<Utc>>,
    pub latest_deployment_id: String,
    pub latest_deployment_created_at: Option<DateTime<Utc>>,
    pub latest_deployment_status: String,
    pub scopes: Vec<String>,
    pub events: Vec<String>,
    pub schedule: String,
    pub timeout: i32,
    pub entrypoint: String,
    pub commands: String,
    pub version: String,
    pub installation_id: String,
    pub provider_repository_id: String,
    pub provider_branch: String,
    pub provider_root_directory: String,
    pub provider_silent_mode: bool,
    pub provider_branches: Vec<String>,
    pub provider_paths: Vec<String>,
    pub build_specification: String,
    pub runtime_specification: String,
}

/// The settable configuration of a function (create and the full-replacement update).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = functions)]
pub struct FunctionConfig {
    pub name: String,
    pub execute: Vec<String>,
    pub enabled: bool,
    pub live: bool,
    pub logging: bool,
    pub runtime: String,
    pub deployment_retention: i32,
    pub scopes: Vec<String>,
    pub events: Vec<String>,
    pub schedule: String,
    pub timeout: i32,
    pub entrypoint: String,
    pub commands: String,
    pub installation_id: String,
    pub provider_repository_id: String,
    pub provider_branch: String,
    pub provider_root_directory: String,
    pub provider_silent_mode: bool,
    pub provider_branches: Vec<String>,
    pub provider_paths: Vec<String>,
    pub build_specification: String,
    pub runtime_specification: String,
    pub updated_at: DateTime<Utc>,
}

/// Inserts; `Ok(false)` when the id is taken.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: &FunctionRow,
) -> Result<bool, diesel::result::Error> {
    let inserted = diesel::insert_into(functions::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
) -> Result<Option<FunctionRow>, diesel::result::Error> {
    functions::table
        .find((project_id, id))
        .select(FunctionRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    config: &FunctionConfig,
) -> Result<Option<FunctionRow>, diesel::result::Error> {
    diesel::update(functions::table.find((project_id, id)))
        .set(config)
        .returning(FunctionRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes the function (deployments and executions go by cascade) and returns the object-store
/// keys of its deployments so the files can be removed afterwards.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
) -> Result<Option<Vec<String>>, diesel::result::Error> {
    use diesel_async::scoped_futures::ScopedFutureExt;
    use diesel_async::AsyncConnection;
    let (project_id, id) = (project_id.to_owned(), id.to_owned());
    conn.transaction(|conn| {
        async move {
            let files: Vec<(String, String)> = deployments::table
                .filter(deployments::project_id.eq(&project_id))
                .filter(deployments::function_id.eq(&id))
                .select((deployments::source_path, deployments::build_path))
                .load(conn)
                .await?;
            let deleted = diesel::delete(functions::table.find((&project_id, &id)))
                .execute(conn)
                .await?;
            if deleted == 0 {
                return Ok(None);
            }
            Ok(Some(
                files
                    .into_iter()
                    .flat_map(|(source, build)| [source, build])
                    .filter(|p| !p.is_empty())
                    .collect(),
            ))
        }
        .scope_boxed()
    })
    .await
}

/// Makes `deployment_id` the active deployment.
pub async fn activate(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    deployment_id: &str,
    deployment_created_at: DateTime<Utc>,
) -> Result<Option<FunctionRow>, diesel::result::Error> {
    diesel::update(functions::table.find((project_id, id)))
        .set((
            functions::deployment_id.eq(deployment_id),
            functions::deployment_created_at.eq(Some(deployment_created_at)),
            functions::live.eq(true),
            functions::updated_at.eq(Utc::now()),
        ))
        .returning(FunctionRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records the newest deployment of a function.
pub async fn set_latest_deployment(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    deployment_id: &str,
    created_at: DateTime<Utc>,
    status: &str,
) -> Result<(), diesel::result::Error> {
    diesel::update(functions::table.find((project_id, id)))
        .set((
            functions::latest_deployment_id.eq(deployment_id),
            functions::latest_deployment_created_at.eq(Some(created_at)),
            functions::latest_deployment_status.eq(status),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Updates `latestDeploymentStatus` if `deployment_id` is still the latest deployment.
pub async fn set_latest_status(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    deployment_id: &str,
    status: &str,
) -> Result<(), diesel::result::Error> {
    diesel::update(
        functions::table
            .find((project_id, id))
            .filter(functions::latest_deployment_id.eq(deployment_id)),
    )
    .set(functions::latest_deployment_status.eq(status))
    .execute(conn)
    .await?;
    Ok(())
}
