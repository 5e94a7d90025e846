//! Queries behind event triggers: subscribed functions and the exactly-once claim.
use super::executions::ExecutionRow;
use super::functions::FunctionRow;
use super::schema::{event_fires, functions};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_fires, check_for_backend(Pg))]
pub struct EventFireRow {
    pub project_id: String,
    pub function_id: String,
    pub event_id: String,
    pub event: String,
    pub execution_id: String,
    pub created_at: DateTime<Utc>,
}

/// Enabled functions of a project with an active deployment and at least one event subscription.
pub async fn subscribed(
    conn: &mut AsyncPgConnection,
    project_id: &str,
) -> Result<Vec<FunctionRow>, diesel::result::Error> {
    functions::table
        .filter(functions::project_id.eq(project_id))
        .filter(functions::enabled.eq(true))
        .filter(functions::deployment_id.ne(""))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "cardinality(events) > 0",
        ))
        .select(FunctionRow::as_select())
        .load(conn)
        .await
}

/// Claims `(function, event id)` and, when this call is the first, inserts the execution and its
/// job in the same transaction. Returns false for a duplicate (redelivered) event.
pub async fn insert_fire(
    conn: &mut AsyncPgConnection,
    fire: &EventFireRow,
    row: &ExecutionRow,
    job: &model::proto::ExecutionJob,
) -> Result<bool, diesel::result::Error> {
    let claim = diesel::insert_into(event_fires::table)
        .values(fire)
        .on_conflict_do_nothing();
    super::starts::insert_claimed(conn, claim, row, job).await
}
