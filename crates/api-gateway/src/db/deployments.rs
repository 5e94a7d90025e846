//! Queries of the `deployments` aggregate, including the guarded updates build events make.
use super::schema::{deployment_chunks, deployments, functions};
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
    /// Chunks of the upload (1 for a single-request upload).
    pub chunks_total: i32,
    /// Equals `chunks_total` once the source is complete and the build queued.
    pub chunks_uploaded: i32,
    /// Provider (VCS) fields of a `vcs` deployment, camelCase keys as in the model.
    pub vcs: serde_json::Value,
}

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

/// Creates the deployment of a chunked upload unless a replica already did (same id). With
/// `activate`, the other deployments stop being marked for activation. Returns the stored row.
pub async fn insert_upload(
    conn: &mut AsyncPgConnection,
    row: &DeploymentRow,
) -> Result<DeploymentRow, diesel::result::Error> {
    conn.transaction(|conn| {
        async move {
            let inserted = diesel::insert_into(deployments::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if inserted == 1 {
                if row.activate {
                    diesel::update(
                        deployments::table
                            .filter(deployments::project_id.eq(&row.project_id))
                            .filter(deployments::function_id.eq(&row.function_id))
                            .filter(deployments::id.ne(&row.id))
                            .filter(deployments::activate.eq(true)),
                    )
                    .set(deployments::activate.eq(false))
                    .execute(conn)
                    .await?;
                }
                super::functions::set_latest_deployment(
                    conn,
                    &row.project_id,
                    &row.function_id,
                    &row.id,
                    row.created_at,
                    &row.status,
                )
                .await?;
            }
            deployments::table
                .find((&row.project_id, &row.id))
                .select(DeploymentRow::as_select())
                .first(conn)
                .await
        }
        .scope_boxed()
    })
    .await
}

/// Records a received chunk (a re-sent chunk changes nothing) and returns how many distinct
/// chunks of the upload are in.
pub async fn add_chunk(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    deployment_id: &str,
    index: i32,
    path: &str,
    size: i64,
) -> Result<i64, diesel::result::Error> {
    diesel::insert_into(deployment_chunks::table)
        .values((
            deployment_chunks::project_id.eq(project_id),
            deployment_chunks::deployment_id.eq(deployment_id),
            deployment_chunks::chunk_index.eq(index),
            deployment_chunks::path.eq(path),
            deployment_chunks::size.eq(size),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    deployment_chunks::table
        .filter(deployment_chunks::project_id.eq(project_id))
        .filter(deployment_chunks::deployment_id.eq(deployment_id))
        .count()
        .get_result(conn)
        .await
}

/// Object-store keys of the received chunks, in order.
pub async fn chunk_paths(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    deployment_id: &str,
) -> Result<Vec<String>, diesel::result::Error> {
    deployment_chunks::table
        .filter(deployment_chunks::project_id.eq(project_id))
        .filter(deployment_chunks::deployment_id.eq(deployment_id))
        .order(deployment_chunks::chunk_index.asc())
        .select(deployment_chunks::path)
        .load(conn)
        .await
}

/// Marks the upload complete and queues its build (outbox) in one transaction. Only the first
/// caller wins: returns the updated row, or `None` when another request already completed it.
pub async fn complete_upload(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    queue: &str,
    job: Vec<u8>,
) -> Result<Option<DeploymentRow>, diesel::result::Error> {
    let (project_id, id) = (project_id.to_owned(), id.to_owned());
    conn.transaction(|conn| {
        async move {
            let row = diesel::update(
                deployments::table
                    .find((&project_id, &id))
                    .filter(deployments::chunks_uploaded.lt(deployments::chunks_total))
                    .filter(deployments::status.eq(WAITING)),
            )
            .set((
                deployments::chunks_uploaded.eq(deployments::chunks_total),
                deployments::updated_at.eq(Utc::now()),
            ))
            .returning(DeploymentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            if row.is_some() {
                diesel::delete(
                    deployment_chunks::table
                        .filter(deployment_chunks::project_id.eq(&project_id))
                        .filter(deployment_chunks::deployment_id.eq(&id)),
                )
                .execute(conn)
                .await?;
                super::outbox::insert(conn, queue, job, &id).await?;
            }
            Ok(row)
        }
        .scope_boxed()
    })
    .await
}

/// Inserts a deployment whose source is already complete, with its build job (duplicate,
/// template and vcs deployments). Same as [`insert_with_job`].
pub use insert_with_job as insert_complete;

/// Cancels an unfinished build: `canceled`, `buildDuration` since the build started (or since the
/// deployment was created), and the cancel line appended to the logs. `Err(status)` when the
/// deployment was already finished.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    line: &str,
) -> Result<Result<DeploymentRow, String>, diesel::result::Error> {
    let (project_id, id, line) = (project_id.to_owned(), id.to_owned(), line.to_owned());
    conn.transaction(|conn| {
        async move {
            let current: DeploymentRow = deployments::table
                .find((&project_id, &id))
                .select(DeploymentRow::as_select())
                .for_update()
                .first(conn)
                .await?;
            if !UNFINISHED.contains(&current.status.as_str()) {
                return Ok(Err(current.status));
            }
            let now = Utc::now();
            let started = current.build_started_at.unwrap_or(current.created_at);
            let millis = (now - started).num_milliseconds().max(0);
            let duration = i32::try_from((millis + 999) / 1000).unwrap_or(i32::MAX);
            let logs = if current.build_logs.is_empty() || current.build_logs.ends_with('\n') {
                format!("{}{line}", current.build_logs)
            } else {
                format!("{}\n{line}", current.build_logs)
            };
            let row = diesel::update(deployments::table.find((&project_id, &id)))
                .set((
                    deployments::status.eq(CANCELED),
                    deployments::build_duration.eq(duration),
                    deployments::build_logs.eq(clamp_logs(&logs)),
                    deployments::updated_at.eq(now),
                ))
                .returning(DeploymentRow::as_returning())
                .get_result(conn)
                .await?;
            super::functions::set_latest_status(conn, &project_id, &row.function_id, &id, CANCELED)
                .await?;
            Ok(Ok(row))
        }
        .scope_boxed()
    })
    .await
}

/// The worker's own report of a build the gateway already canceled: its logs (which end with
/// the cancel line) replace the stored ones. Nothing else changes.
pub async fn record_cancel_logs(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    id: &str,
    logs: &str,
) -> Result<bool, diesel::result::Error> {
    let n = diesel::update(
        deployments::table
            .find((project_id, id))
            .filter(deployments::status.eq(CANCELED)),
    )
    .set((
        deployments::build_logs.eq(clamp_logs(logs)),
        deployments::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Deletes a deployment of a function. The function's latest-* fields are recomputed from the
/// remaining deployments, and its active deployment is cleared if it was this one. Returns the
/// deleted row (for its files).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    id: &str,
) -> Result<Option<DeploymentRow>, diesel::result::Error> {
    let (project_id, function_id, id) =
        (project_id.to_owned(), function_id.to_owned(), id.to_owned());
    conn.transaction(|conn| {
        async move {
            let row = diesel::delete(
                deployments::table
                    .find((&project_id, &id))
                    .filter(deployments::function_id.eq(&function_id)),
            )
            .returning(DeploymentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = row else {
                return Ok(None);
            };
            let newest: Option<(String, DateTime<Utc>, String)> = deployments::table
                .filter(deployments::project_id.eq(&project_id))
                .filter(deployments::function_id.eq(&function_id))
                .order(deployments::seq.desc())
                .select((
                    deployments::id,
                    deployments::created_at,
                    deployments::status,
                ))
                .first(conn)
                .await
                .optional()?;
            let (latest_id, latest_at, latest_status) = match newest {
                Some((i, at, s)) => (i, Some(at), s),
                None => (String::new(), None, String::new()),
            };
            diesel::update(
                functions::table
                    .find((&project_id, &function_id))
                    .filter(functions::latest_deployment_id.eq(&id)),
            )
            .set((
                functions::latest_deployment_id.eq(latest_id),
                functions::latest_deployment_created_at.eq(latest_at),
                functions::latest_deployment_status.eq(latest_status),
            ))
            .execute(conn)
            .await?;
            diesel::update(
                functions::table
                    .find((&project_id, &function_id))
                    .filter(functions::deployment_id.eq(&id)),
            )
            .set((
                functions::deployment_id.eq(""),
                functions::deployment_created_at.eq(None::<DateTime<Utc>>),
                functions::updated_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
            Ok(Some(row))
        }
        .scope_boxed()
    })
    .await
}
