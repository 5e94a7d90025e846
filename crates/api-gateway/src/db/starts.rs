//! The exactly-once start of a platform-triggered execution, shared by CRON slots
//! (`schedule_slots`) and event triggers (`event_fires`).
use super::executions::ExecutionRow;
use super::schema::executions;
use diesel::pg::Pg;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use model::proto::ExecutionJob;
use prost::Message;

/// Runs `claim` (an `INSERT .. ON CONFLICT DO NOTHING` of the dedupe key) and, when it inserted a
/// row, inserts the execution and its job (for the executions queue), all in one transaction. Returns false when the key was
/// taken already (a duplicate fire or a redelivered event).
pub async fn insert_claimed<'a, C>(
    conn: &mut AsyncPgConnection,
    claim: C,
    row: &'a ExecutionRow,
    job: &ExecutionJob,
) -> Result<bool, diesel::result::Error>
where
    C: QueryFragment<Pg> + QueryId + Send + 'a,
{
    let job = job.encode_to_vec();
    conn.transaction(|conn| {
        async move {
            if claim.execute(conn).await? == 0 {
                return Ok(false);
            }
            diesel::insert_into(executions::table)
                .values(row)
                .execute(conn)
                .await?;
            super::outbox::insert(conn, model::topology::EXECUTIONS_QUEUE, job, &row.id).await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}
