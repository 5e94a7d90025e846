//! The transactional outbox: jobs written with the state change they belong to, published by
//! [`crate::outbox`] and deleted once the broker confirmed them.
use super::schema::outbox;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: i64,
    pub queue: String,
    pub payload: Vec<u8>,
    pub correlation_id: String,
    pub attempts: i32,
}

/// Adds a job for `queue`; call inside the transaction of the state change.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    queue: &str,
    payload: Vec<u8>,
    correlation_id: &str,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::queue.eq(queue),
            outbox::payload.eq(payload),
            outbox::correlation_id.eq(correlation_id),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks up to `limit` due rows, skipping rows another relay holds (call inside a transaction).
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<OutboxRow>, diesel::result::Error> {
    outbox::table
        .filter(outbox::next_attempt_at.le(Utc::now()))
        .order(outbox::id.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(OutboxRow::as_select())
        .load(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> Result<(), diesel::result::Error> {
    diesel::delete(outbox::table.find(id)).execute(conn).await?;
    Ok(())
}

pub async fn reschedule(
    conn: &mut AsyncPgConnection,
    id: i64,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<(), diesel::result::Error> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Rows still waiting to be published (tests, diagnostics).
pub async fn pending(conn: &mut AsyncPgConnection) -> Result<i64, diesel::result::Error> {
    outbox::table.count().get_result(conn).await
}
