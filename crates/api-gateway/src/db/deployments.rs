//! Queries of the `deployments` aggregate, including the guarded updates build events make.
use super::schema::{deployments, functions};
use crate::error::ApiError;
use crate::query::{self, Filter, ListQuery};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

pub const WAITING: &str = "waiting";
pub const PROCESSING: &str = "processing";
pub const BUILDING: &str = "building";
pub const READY: &str = "ready";
pub const FAILED: &str = "failed";
pub const CANCELED: &str = "canceled";
pub const UNFINISHED: [&str; 3] = [WAITING, PROCESSING, BUILDING];

/// `buildLogs` keeps at most this many characters (the tail).
pub const MAX_BUILD_LOGS: usize = 1_000_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployments, check_for_backend(Pg))]
pub struct DeploymentRow {
    pub project_id: String,
    pub id: String,
    pub function_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub type_: String,
    pub entrypoint: String,
    pub commands: String,
    pub source_path: String,
    pub source_size: i64,
    pub build_path: String,
    pub build_size: i64,
    pub build_duration: i32,
    pub build_logs: String,
    pub build_started_at: Option<DateTime<Utc>>,
    pub activate: bool,
    pub status: String,
}

pub const QUERY_ATTRIBUTES: &[&str] = &[
    "$id",
    "$createdAt",
    "$updatedAt",
    "$sequence",
    "buildSize",
    "sourceSize",
    "buildDuration",
    "status",
    "activate",
    "type",
];

/// Inserts the deployment and its build job in one transaction; with `activate`, the other
/// deployments of the function stop being marked for activation.
pub async fn insert_with_job(
    conn: &mut AsyncPgConnection,
    row: &DeploymentRow,
    queue: &str,
    job: Vec<u8>,
) -> Result<(), diesel::result::Error> {
    conn.transaction(|conn| {
        async move {
            if row.activate {
                diesel::update(
                    deployments::table
                        .filter(deployments::project_id.eq(&row.project_id))
                        .filter(deployments::function_id.eq(&row.function_id))
                        .filter(deployments::activate.eq(true)),
                )
                .set(deployments::activate.eq(false))
                .execute(conn)
                .await?;
            }
            diesel::insert_into(deployments::table)
                .values(row)
                .execute(conn)
                .await?;
            super::functions::set_latest_deployment(
                conn,
                &row.project_id,
                &row.function_id,
                &row.id,
                row.created_at,
                &row.status,
            )
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
) -> Result<Option<DeploymentRow>, diesel::result::Error> {
    deployments::table
        .find((project_id, id))
        .filter(deployments::function_id.eq(function_id))
        .select(DeploymentRow::as_select())
        .first(conn)
        .await
        .optional()
}

fn filtered<'a>(
    project_id: &'a str,
    function_id: &'a str,
    q: &'a ListQuery,
) -> Result<deployments::BoxedQuery<'a, Pg>, ApiError> {
    let mut query = deployments::table
        .filter(deployments::project_id.eq(project_id))
        .filter(deployments::function_id.eq(function_id))
        .into_boxed();
    if let Some(search) = &q.search {
        let pattern = format!(
            "%{}%",
            search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(
            deployments::id
                .ilike(pattern.clone())
                .or(deployments::entrypoint.ilike(pattern)),
        );
    }
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
            "$id" => eq_any!(deployments::id, query::strings(values)),
            "status" => eq_any!(deployments::status, query::strings(values)),
            "type" => eq_any!(deployments::type_, query::strings(values)),
            "activate" => eq_any!(deployments::activate, query::bools(values)?),
            "buildSize" => eq_any!(deployments::build_size, query::ints(values)?),
            "sourceSize" => eq_any!(deployments::source_size, query::ints(values)?),
            "buildDuration" => {
                let v: Vec<i32> = query::ints(values)?
                    .into_iter()
                    .filter_map(|n| i32::try_from(n).ok())
                    .collect();
                eq_any!(deployments::build_duration, v)
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
) -> Result<(i64, Vec<DeploymentRow>), ApiError> {
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
            "$id" => ord!(deployments::id),
            "$createdAt" => ord!(deployments::created_at),
            "$updatedAt" => ord!(deployments::updated_at),
            "$sequence" => ord!(deployments::seq),
            "buildSize" => ord!(deployments::build_size),
            "sourceSize" => ord!(deployments::source_size),
            "buildDuration" => ord!(deployments::build_duration),
            "status" => ord!(deployments::status),
            "activate" => ord!(deployments::activate),
            "type" => ord!(deployments::type_),
            other => {
                return Err(ApiError::QueryInvalid(format!(
                    "Invalid query: Cannot order by attribute: {other}"
                )))
            }
        };
    }
    let rows = query
        .then_order_by(deployments::seq.asc())
        .limit(q.limit)
        .offset(q.offset)
        .select(DeploymentRow::as_select())
        .load(conn)
        .await?;
    Ok((query::cap_total(total, q.total), rows))
}

/// Statuses a deployment may move to `next` from (forward only; terminal never changes).
fn predecessors(next: &str) -> &'static [&'static str] {
    match next {
        PROCESSING => &[WAITING],
        BUILDING => &[WAITING, PROCESSING],
        _ => &UNFINISHED,
    }
}

/// Keeps the tail of `logs` within [`MAX_BUILD_LOGS`] characters.
pub fn clamp_logs(logs: &str) -> String {
    crate::truncate::keep_tail(logs, MAX_BUILD_LOGS, "")
}

/// A non-terminal status change. Returns the updated row when the change applied.
pub async fn advance(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    status: &str,
) -> Result<Option<DeploymentRow>, diesel::result::Error> {
    let now = Utc::now();
    let target = deployments::table
        .find((project_id, id))
        .filter(deployments::status.eq_any(predecessors(status)));
    let row = if status == PROCESSING {
        diesel::update(target)
            .set((
                deployments::status.eq(status),
                deployments::updated_at.eq(now),
                deployments::build_started_at.eq(Some(now)),
            ))
            .returning(DeploymentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?
    } else {
        diesel::update(target)
            .set((
                deployments::status.eq(status),
                deployments::updated_at.eq(now),
            ))
            .returning(DeploymentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?
    };
    if let Some(row) = &row {
        super::functions::set_latest_status(conn, project_id, &row.function_id, id, status).await?;
    }
    Ok(row)
}

/// Appends a log chunk while the build is not finished.
pub async fn append_logs(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    chunk: &str,
) -> Result<(), diesel::result::Error> {
    diesel::update(
        deployments::table
            .find((project_id, id))
            .filter(deployments::status.eq_any(UNFINISHED)),
    )
    .set((
        deployments::build_logs.eq(deployments::build_logs.concat(chunk)),
        deployments::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// What a terminal build event sets.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: &'static str,
    pub logs: String,
    pub build_size: i64,
    pub build_duration: i32,
    pub build_path: String,
}

/// Moves an unfinished deployment to a terminal status (once). When it became `ready` and is
/// marked for activation, the function switches to it unless a newer deployment is active.
/// Returns whether anything changed.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    done: Finished,
) -> Result<bool, diesel::result::Error> {
    let (project_id, id) = (project_id.to_owned(), id.to_owned());
    conn.transaction(|conn| {
        async move {
            let row = diesel::update(
                deployments::table
                    .find((&project_id, &id))
                    .filter(deployments::status.eq_any(UNFINISHED)),
            )
            .set((
                deployments::status.eq(done.status),
                deployments::build_logs.eq(clamp_logs(&done.logs)),
                deployments::build_size.eq(done.build_size),
                deployments::build_duration.eq(done.build_duration),
                deployments::build_path.eq(&done.build_path),
                deployments::updated_at.eq(Utc::now()),
            ))
            .returning(DeploymentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = row else {
                return Ok(false);
            };
            super::functions::set_latest_status(
                conn,
                &project_id,
                &row.function_id,
                &id,
                done.status,
            )
            .await?;
            if done.status == READY && row.activate {
                diesel::update(
                    functions::table
                        .find((&project_id, &row.function_id))
                        .filter(
                            functions::deployment_created_at
                                .is_null()
                                .or(functions::deployment_created_at.le(row.created_at)),
                        ),
                )
                .set((
                    functions::deployment_id.eq(&id),
                    functions::deployment_created_at.eq(Some(row.created_at)),
                    functions::live.eq(true),
                    functions::updated_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
            }
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// Fails unfinished deployments older than `older_than` (the reaper). Returns how many.
pub async fn fail_stale(
    conn: &mut AsyncPgConnection,
    older_than: DateTime<Utc>,
    message: &str,
) -> Result<usize, diesel::result::Error> {
    let stale: Vec<(String, String)> = deployments::table
        .filter(deployments::status.eq_any([PROCESSING, BUILDING]))
        .filter(deployments::updated_at.lt(older_than))
        .filter(
            deployments::build_started_at
                .is_null()
                .or(deployments::build_started_at.lt(older_than)),
        )
        .select((deployments::project_id, deployments::id))
        .limit(100)
        .load(conn)
        .await?;
    let mut count = 0;
    for (project_id, id) in stale {
        let logs: Option<String> = deployments::table
            .find((&project_id, &id))
            .select(deployments::build_logs)
            .first(conn)
            .await
            .optional()?;
        let done = Finished {
            status: FAILED,
            logs: format!(
                "{}{message}",
                logs.map(|l| if l.is_empty() { l } else { l + "\n" })
                    .unwrap_or_default()
            ),
            build_size: 0,
            build_duration: 0,
            build_path: String::new(),
        };
        if finish(conn, &project_id, &id, done).await? {
            count += 1;
        }
    }
    Ok(count)
}
