//! Queries behind CRON slots, one-off `scheduledAt` executions and the scheduler's full load.
use super::executions::ExecutionRow;
use super::schema::{executions, functions, outbox, schedule_slots, scheduled_requests};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

pub const SCHEDULED: &str = "scheduled";
pub const SLOT_FIRED: &str = "fired";
pub const SLOT_SKIPPED: &str = "skipped";

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = schedule_slots, check_for_backend(Pg))]
#[serde(rename_all = "camelCase")]
pub struct SlotRow {
    pub project_id: String,
    pub function_id: String,
    pub slot: DateTime<Utc>,
    pub status: String,
    pub execution_id: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scheduled_requests, check_for_backend(Pg))]
pub struct ScheduledRequestRow {
    pub project_id: String,
    pub execution_id: String,
    pub function_id: String,
    pub method: String,
    pub path: String,
    pub headers: serde_json::Value,
    pub body: String,
}

/// Claims `(function, slot)` and, when this call is the first, inserts the execution and its job
/// in the same transaction. Returns false when the slot was already taken (a duplicate fire).
pub async fn insert_fire(
    conn: &mut AsyncPgConnection,
    slot: &SlotRow,
    row: &ExecutionRow,
    job: &model::proto::ExecutionJob,
) -> Result<bool, diesel::result::Error> {
    let claim = diesel::insert_into(schedule_slots::table)
        .values(slot)
        .on_conflict_do_nothing();
    super::starts::insert_claimed(conn, claim, row, job).await
}

/// Records missed slots as skipped (slots already recorded stay as they are). Returns how many
/// rows were new.
pub async fn record_skipped(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    slots: &[DateTime<Utc>],
) -> Result<usize, diesel::result::Error> {
    if slots.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let rows: Vec<SlotRow> = slots
        .iter()
        .map(|s| SlotRow {
            project_id: project_id.to_owned(),
            function_id: function_id.to_owned(),
            slot: *s,
            status: SLOT_SKIPPED.to_owned(),
            execution_id: String::new(),
            created_at: now,
        })
        .collect();
    diesel::insert_into(schedule_slots::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

/// The latest recorded slot of a function before `before`.
pub async fn last_slot_before(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    before: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, diesel::result::Error> {
    schedule_slots::table
        .filter(schedule_slots::project_id.eq(project_id))
        .filter(schedule_slots::function_id.eq(function_id))
        .filter(schedule_slots::slot.lt(before))
        .select(diesel::dsl::max(schedule_slots::slot))
        .first(conn)
        .await
}

/// Recorded slots of a function, newest first.
pub async fn list_slots(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    limit: i64,
) -> Result<Vec<SlotRow>, diesel::result::Error> {
    schedule_slots::table
        .filter(schedule_slots::project_id.eq(project_id))
        .filter(schedule_slots::function_id.eq(function_id))
        .order(schedule_slots::slot.desc())
        .limit(limit)
        .select(SlotRow::as_select())
        .load(conn)
        .await
}

/// Functions whose schedule is active: enabled, a non-empty schedule and an active deployment.
pub async fn active_schedules(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: Option<&str>,
) -> Result<Vec<(String, String, String)>, diesel::result::Error> {
    let mut query = functions::table
        .filter(functions::project_id.eq(project_id))
        .filter(functions::enabled.eq(true))
        .filter(functions::schedule.ne(""))
        .filter(functions::deployment_id.ne(""))
        .select((functions::project_id, functions::id, functions::schedule))
        .into_boxed();
    if let Some(id) = function_id {
        query = query.filter(functions::id.eq(id.to_owned()));
    }
    query.load(conn).await
}

/// Pending one-off executions: (project, function, execution, scheduledAt).
pub async fn pending_scheduled(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: Option<&str>,
) -> Result<Vec<(String, String, String, Option<DateTime<Utc>>)>, diesel::result::Error> {
    let mut query = executions::table
        .filter(executions::project_id.eq(project_id))
        .filter(executions::status.eq(SCHEDULED))
        .select((
            executions::project_id,
            executions::function_id,
            executions::id,
            executions::scheduled_at,
        ))
        .into_boxed();
    if let Some(id) = function_id {
        query = query.filter(executions::function_id.eq(id.to_owned()));
    }
    query.load(conn).await
}

/// Stores a `scheduled` execution with the request it will run.
pub async fn insert_scheduled(
    conn: &mut AsyncPgConnection,
    row: &ExecutionRow,
    request: &ScheduledRequestRow,
) -> Result<(), diesel::result::Error> {
    conn.transaction(|conn| {
        async move {
            diesel::insert_into(executions::table)
                .values(row)
                .execute(conn)
                .await?;
            diesel::insert_into(scheduled_requests::table)
                .values(request)
                .execute(conn)
                .await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

pub async fn scheduled_request(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    execution_id: &str,
) -> Result<Option<ScheduledRequestRow>, diesel::result::Error> {
    scheduled_requests::table
        .find((project_id, execution_id))
        .select(ScheduledRequestRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Moves a `scheduled` execution to `waiting` and queues its job, once: a second call (a duplicate
/// fire) finds the status changed and does nothing. Returns whether this call started it.
pub async fn start_scheduled(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    execution_id: &str,
    deployment_id: &str,
    queue: &str,
    job: Vec<u8>,
) -> Result<bool, diesel::result::Error> {
    conn.transaction(|conn| {
        async move {
            let moved = diesel::update(executions::table.find((project_id, execution_id)))
                .filter(executions::status.eq(SCHEDULED))
                .set((
                    executions::status.eq(super::executions::WAITING),
                    executions::deployment_id.eq(deployment_id),
                    executions::updated_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
            if moved == 0 {
                return Ok(false);
            }
            diesel::delete(scheduled_requests::table.find((project_id, execution_id)))
                .execute(conn)
                .await?;
            diesel::insert_into(outbox::table)
                .values((
                    outbox::queue.eq(queue),
                    outbox::payload.eq(job),
                    outbox::correlation_id.eq(execution_id),
                ))
                .execute(conn)
                .await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// Deletes an execution row (its scheduled request goes with it by cascade).
pub async fn delete_execution(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    execution_id: &str,
    expected_status: &str,
) -> Result<bool, diesel::result::Error> {
    let n = diesel::delete(executions::table.find((project_id, execution_id)))
        .filter(executions::status.eq(expected_status))
        .execute(conn)
        .await?;
    Ok(n > 0)
}
