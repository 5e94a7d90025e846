//! The outbox relay: publishes pending jobs with confirms and deletes each after its confirm.
//! Woken right after a commit ([`tokio::sync::Notify`]) and also polls every second. Rows are
//! claimed with `FOR UPDATE SKIP LOCKED`, so several gateway replicas can relay side by side.
use crate::db::{self, Pool};
use bytes::{Buf, BufMut};
use chrono::Utc;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use queue::{PublishOptions, Publisher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 32;
const POLL: Duration = Duration::from_secs(1);

/// Already-encoded protobuf bytes, published as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMessage(pub Vec<u8>);

impl prost::Message for RawMessage {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Backoff of the n-th failed attempt: 1 s doubling, capped at 60 s.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 6)).unwrap_or(6);
    Duration::from_secs((1u64 << exp).min(60))
}

pub async fn run(
    pool: Pool,
    publisher: Arc<Publisher>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    tracing::info!("outbox relay started");
    loop {
        loop {
            match relay_batch(&pool, &publisher).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay pass failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    tracing::info!("outbox relay stopped");
}

/// One pass: claim due rows, publish each, delete the confirmed ones, reschedule failures.
/// Returns how many rows were claimed.
pub async fn relay_batch(pool: &Pool, publisher: &Publisher) -> Result<usize, db::DbError> {
    let mut conn = pool.get().await?;
    let claimed = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            async move {
                let rows = db::outbox::claim_due(conn, BATCH).await?;
                let count = rows.len();
                let mut broker_error: Option<String> = None;
                for row in rows {
                    if let Some(error) = &broker_error {
                        // The broker just failed: do not hammer it with the rest of the batch.
                        let next = Utc::now() + chrono::Duration::from_std(backoff(row.attempts)).unwrap_or_default();
                        db::outbox::reschedule(conn, row.id, next, error).await?;
                        continue;
                    }
                    let opts = PublishOptions {
                        correlation_id: Some(row.correlation_id.clone()).filter(|c| !c.is_empty()),
                        ..Default::default()
                    };
                    let message = RawMessage(row.payload);
                    match publisher.publish("", &row.queue, &message, &opts).await {
                        Ok(()) => {
                            db::outbox::delete(conn, row.id).await?;
                            tracing::debug!(queue = %row.queue, id = %row.correlation_id, "job published");
                        }
                        Err(err) => {
                            let next = Utc::now()
                                + chrono::Duration::from_std(backoff(row.attempts)).unwrap_or_default();
                            tracing::warn!(queue = %row.queue, id = %row.correlation_id, attempts = row.attempts + 1, error = %err, "publish failed, will retry");
                            db::outbox::reschedule(conn, row.id, next, &err.to_string()).await?;
                            if !matches!(err, queue::QueueError::Unroutable | queue::QueueError::Nacked) {
                                broker_error = Some(err.to_string());
                            }
                        }
                    }
                }
                Ok(count)
            }
            .scope_boxed()
        })
        .await?;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn raw_message_publishes_bytes_verbatim() {
        let job = model::proto::BuildJob {
            deployment_id: "d".into(),
            ..Default::default()
        };
        let raw = RawMessage(job.encode_to_vec());
        let decoded = model::proto::BuildJob::decode(raw.encode_to_vec().as_slice()).ok();
        assert_eq!(decoded.map(|j| j.deployment_id), Some("d".to_owned()));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(100), Duration::from_secs(60));
    }
}
