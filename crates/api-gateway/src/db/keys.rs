//! Projects and their API keys (spec 1.3). Key secrets are stored as SHA-256 hashes only.
use super::schema::{api_keys, projects};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKeyRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub expire: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn project_exists(
    conn: &mut AsyncPgConnection,
    id: &str,
) -> Result<bool, diesel::result::Error> {
    let n: i64 = projects::table
        .filter(projects::id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// Creates the project; `Ok(false)` when it exists already.
pub async fn create_project(
    conn: &mut AsyncPgConnection,
    id: &str,
    name: &str,
) -> Result<bool, diesel::result::Error> {
    let n = diesel::insert_into(projects::table)
        .values((
            projects::id.eq(id),
            projects::name.eq(name),
            projects::created_at.eq(Utc::now()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

pub async fn insert_key(
    conn: &mut AsyncPgConnection,
    row: &ApiKeyRow,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(api_keys::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// The key of `project_id` whose secret hashes to `secret_hash`.
pub async fn find_key(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    secret_hash: &str,
) -> Result<Option<ApiKeyRow>, diesel::result::Error> {
    api_keys::table
        .filter(api_keys::project_id.eq(project_id))
        .filter(api_keys::secret_hash.eq(secret_hash))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .await
        .optional()
}
