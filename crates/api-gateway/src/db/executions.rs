//! Queries of the `executions` aggregate, including the status-guarded result updates.
use super::schema::executions;
use crate::error::ApiError;
use crate::query::ListQuery;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

pub const WAITING: &str = "waiting";
pub const PROCESSING: &str = "processing";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";
pub const UNFINISHED: [&str; 2] = [WAITING, PROCESSING];

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = executions, check_for_backend(Pg))]
pub struct ExecutionRow {
    pub project_id: String,
    pub id: String,
    pub function_id: String,
    pub deployment_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub trigger: String,
    pub status: String,
    pub request_method: String,
    pub request_path: String,
    pub request_headers: serde_json::Value,
    pub response_status_code: i32,
    pub response_headers: serde_json::Value,
    pub logs: String,
    pub errors: String,
    pub duration: f64,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub timeout_seconds: i32,
    /// The user who started it (a JWT caller); `None` for keys, guests, schedules and events.
    pub user_id: Option<String>,
}

pub const QUERY_ATTRIBUTES: &[&str] = &[
    "$id",
    "$createdAt",
    "$updatedAt",
    "$sequence",
    "trigger",
    "status",
    "responseStatusCode",
    "duration",
    "requestMethod",
    "requestPath",
    "deploymentId",
];

pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: &ExecutionRow,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(executions::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts the execution and its job in one transaction.
pub async fn insert_with_job(
    conn: &mut AsyncPgConnection,
    row: &ExecutionRow,
    queue: &str,
    job: Vec<u8>,
) -> Result<(), diesel::result::Error> {
    conn.transaction(|conn| {
        async move {
            diesel::insert_into(executions::table)
                .values(row)
                .execute(conn)
                .await?;
            super::outbox::insert(conn, queue, job, &row.id).await
        }
        .scope_boxed()
    })
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    id: &str,
) -> Result<Option<ExecutionRow>, diesel::result::Error> {
    executions::table
        .find((project_id, id))
        .filter(executions::function_id.eq(function_id))
        .select(ExecutionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// `owner`: only the executions this user started (`None`: all of them).
pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    owner: Option<&str>,
    q: &ListQuery,
) -> Result<(i64, Vec<ExecutionRow>), ApiError> {
    super::listing::executions(conn, project_id, function_id, owner, q).await
}

/// What a finished execution stores.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: String,
    pub response_status_code: i32,
    pub response_headers: serde_json::Value,
    pub logs: String,
    pub errors: String,
    pub duration: f64,
}

/// Records the outcome unless the execution already finished. Returns the row as stored now
/// (`None` if the execution does not exist).
pub async fn finish(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    outcome: &Outcome,
) -> Result<Option<ExecutionRow>, diesel::result::Error> {
    let updated = diesel::update(
        executions::table
            .find((project_id, id))
            .filter(executions::status.eq_any(UNFINISHED)),
    )
    .set((
        executions::status.eq(&outcome.status),
        executions::response_status_code.eq(outcome.response_status_code),
        executions::response_headers.eq(&outcome.response_headers),
        executions::logs.eq(&outcome.logs),
        executions::errors.eq(&outcome.errors),
        executions::duration.eq(outcome.duration),
        executions::updated_at.eq(Utc::now()),
    ))
    .returning(ExecutionRow::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    match updated {
        Some(row) => Ok(Some(row)),
        None => executions::table
            .find((project_id, id))
            .select(ExecutionRow::as_select())
            .first(conn)
            .await
            .optional(),
    }
}

/// Moves a waiting execution to processing (no-op otherwise).
pub async fn mark_processing(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
) -> Result<(), diesel::result::Error> {
    diesel::update(
        executions::table
            .find((project_id, id))
            .filter(executions::status.eq(WAITING)),
    )
    .set((
        executions::status.eq(PROCESSING),
        executions::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails unfinished executions older than their timeout plus `margin_seconds` (the reaper).
pub async fn fail_stale(
    conn: &mut AsyncPgConnection,
    margin_seconds: i64,
    message: &str,
) -> Result<usize, diesel::result::Error> {
    use diesel::dsl::sql;
    use diesel::sql_types::Bool;
    let condition =
        format!("created_at + make_interval(secs => timeout_seconds + {margin_seconds}) < now()");
    diesel::update(
        executions::table
            .filter(executions::status.eq_any(UNFINISHED))
            .filter(sql::<Bool>(&condition)),
    )
    .set((
        executions::status.eq(FAILED),
        executions::errors.eq(message),
        executions::response_status_code.eq(500),
        executions::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await
}
