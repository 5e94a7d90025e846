//! Queries of the `executions` aggregate, including the status-guarded result updates.
use super::schema::executions;
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

/// What a stale execution reports in `errors` (with `responseStatusCode` 500).
pub const STALE_ERRORS: &str =
    "Execution did not finish in time: no executor reported a result.\nError Code: 500";

/// SQL condition of a stale execution: `waiting`/`processing` for longer than its function timeout
/// plus `margin_seconds`. The clock starts at `$createdAt`, or at `scheduledAt` for a scheduled
/// execution (it only starts running then).
fn stale_condition(margin_seconds: u64) -> String {
    format!(
        "status IN ('{WAITING}', '{PROCESSING}') AND GREATEST(created_at, COALESCE(scheduled_at, created_at)) \
         + make_interval(secs => timeout_seconds + {margin_seconds}) < now()"
    )
}

/// Fails every stale execution (the reaper). Returns how many it failed.
pub async fn fail_stale(
    conn: &mut AsyncPgConnection,
    margin_seconds: u64,
) -> Result<usize, diesel::result::Error> {
    diesel::update(executions::table.filter(stale(margin_seconds)))
        .set(stale_outcome())
        .execute(conn)
        .await
}

/// Fails the stale executions of one function. Get, list and delete call it first, so a stale
/// execution is reported, filtered and deletable as `failed` exactly as the reaper will store it.
pub async fn fail_stale_of_function(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    margin_seconds: u64,
) -> Result<usize, diesel::result::Error> {
    diesel::update(
        executions::table
            .filter(executions::project_id.eq(project_id))
            .filter(executions::function_id.eq(function_id))
            .filter(stale(margin_seconds)),
    )
    .set(stale_outcome())
    .execute(conn)
    .await
}

fn stale(margin_seconds: u64) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(&stale_condition(margin_seconds))
}

#[allow(clippy::type_complexity)]
fn stale_outcome() -> (
    diesel::dsl::Eq<executions::status, &'static str>,
    diesel::dsl::Eq<executions::errors, &'static str>,
    diesel::dsl::Eq<executions::response_status_code, i32>,
    diesel::dsl::Eq<executions::updated_at, DateTime<Utc>>,
) {
    (
        executions::status.eq(FAILED),
        executions::errors.eq(STALE_ERRORS),
        executions::response_status_code.eq(500),
        executions::updated_at.eq(Utc::now()),
    )
}
