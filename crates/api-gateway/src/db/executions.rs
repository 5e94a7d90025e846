//! Queries of the `executions` aggregate, including the status-guarded result updates.
use super::schema::executions;
use crate::error::ApiError;
use crate::query::{self, Filter, ListQuery};
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

fn filtered<'a>(
    project_id: &'a str,
    function_id: &'a str,
    q: &'a ListQuery,
) -> Result<executions::BoxedQuery<'a, Pg>, ApiError> {
    let mut query = executions::table
        .filter(executions::project_id.eq(project_id))
        .filter(executions::function_id.eq(function_id))
        .into_boxed();
    for filter in &q.filters {
        let (attr, values, negate) = match filter {
            Filter::Equal(a, v) => (a.as_str(), v, false),
            Filter::NotEqual(a, v) => (a.as_str(), v, true),
        };
        macro_rules! eq_any {
            ($col:expr, $v:expr) => {{
                let v = $v;
                if negate {
                    query.filter(diesel::dsl::not($col.eq_any(v)))
                } else {
                    query.filter($col.eq_any(v))
                }
            }};
        }
        query = match attr {
            "$id" => eq_any!(executions::id, query::strings(values)),
            "trigger" => eq_any!(executions::trigger, query::strings(values)),
            "status" => eq_any!(executions::status, query::strings(values)),
            "requestMethod" => eq_any!(executions::request_method, query::strings(values)),
            "requestPath" => eq_any!(executions::request_path, query::strings(values)),
            "deploymentId" => eq_any!(executions::deployment_id, query::strings(values)),
            "responseStatusCode" => {
                let v: Vec<i32> = query::ints(values)?
                    .into_iter()
                    .filter_map(|n| i32::try_from(n).ok())
                    .collect();
                eq_any!(executions::response_status_code, v)
            }
            other => {
                return Err(ApiError::QueryInvalid(format!(
                    "Invalid query: Cannot filter on attribute: {other}"
                )))
            }
        };
    }
    Ok(query)
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<ExecutionRow>), ApiError> {
    let total = if q.total {
        filtered(project_id, function_id, q)?
            .count()
            .get_result::<i64>(conn)
            .await?
    } else {
        0
    };
    let mut query = filtered(project_id, function_id, q)?;
    for order in &q.orders {
        macro_rules! ord {
            ($col:expr) => {
                if order.ascending {
                    query.then_order_by($col.asc())
                } else {
                    query.then_order_by($col.desc())
                }
            };
        }
        query = match order.attribute.as_str() {
            "$id" => ord!(executions::id),
            "$createdAt" => ord!(executions::created_at),
            "$updatedAt" => ord!(executions::updated_at),
            "$sequence" => ord!(executions::seq),
            "trigger" => ord!(executions::trigger),
            "status" => ord!(executions::status),
            "responseStatusCode" => ord!(executions::response_status_code),
            "duration" => ord!(executions::duration),
            "requestMethod" => ord!(executions::request_method),
            "requestPath" => ord!(executions::request_path),
            "deploymentId" => ord!(executions::deployment_id),
            other => {
                return Err(ApiError::QueryInvalid(format!(
                    "Invalid query: Cannot order by attribute: {other}"
                )))
            }
        };
    }
    let rows = query
        .then_order_by(executions::seq.asc())
        .limit(q.limit)
        .offset(q.offset)
        .select(ExecutionRow::as_select())
        .load(conn)
        .await?;
    Ok((query::cap_total(total, q.total), rows))
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
