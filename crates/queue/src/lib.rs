//! RabbitMQ plumbing shared by all four services.
//!
//! - [`connect`]: one connection, retried until the broker answers or shutdown.
//! - [`declare_topology`]: every exchange and queue of [`model::topology`], idempotently.
//! - [`Publisher`]: publishes typed messages with publisher confirms and the mandatory flag, and
//!   reconnects on the next call after a broken connection.
//! - [`run_consumer`]: the consume loop: decode, hand to a handler, map its [`Outcome`] to ack /
//!   requeue / dead-letter; reconnects after broker failures; stops on shutdown and waits for
//!   in-flight handlers.
//! - [`RpcClient`]: request/reply over RabbitMQ direct reply-to, for synchronous executions.

mod consume;
mod publish;
mod rpc;

pub use consume::{run_consumer, ConsumerConfig, Incoming, Outcome, Source};
pub use publish::{properties, publish_on, PublishOptions, Publisher};
pub use rpc::RpcClient;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use model::topology;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("message was returned as unroutable by the broker")]
    Unroutable,
    #[error("message was negatively acknowledged by the broker")]
    Nacked,
    #[error("shutdown requested")]
    Shutdown,
    #[error("timed out waiting for a reply")]
    Timeout,
    #[error("could not decode message: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Opens a connection with the tokio executor and reactor.
pub async fn connect_once(url: &str) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    Ok(Connection::connect(url, props).await?)
}

/// Connects, retrying with capped backoff until the broker answers or `shutdown` fires.
pub async fn connect(url: &str, shutdown: &CancellationToken) -> Result<Connection, QueueError> {
    let mut delay = Duration::from_millis(200);
    loop {
        match connect_once(url).await {
            Ok(conn) => return Ok(conn),
            Err(err) => {
                tracing::warn!(error = %err, "RabbitMQ not reachable, retrying in {delay:?}");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(QueueError::Shutdown),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(LongString::from(topology::DEAD_LETTER_EXCHANGE)),
    );
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongLongInt(topology::DELIVERY_LIMIT),
    );
    args
}

/// Declares every exchange and durable queue of the topology. Safe to call from every service.
pub async fn declare_topology(channel: &Channel) -> Result<(), QueueError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            topology::DEAD_LETTER_EXCHANGE,
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    let mut dlq_args = FieldTable::default();
    dlq_args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            topology::DEAD_LETTER_QUEUE,
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            dlq_args,
        )
        .await?;
    channel
        .queue_bind(
            topology::DEAD_LETTER_QUEUE,
            topology::DEAD_LETTER_EXCHANGE,
            "",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for queue in topology::WORK_QUEUES {
        channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                quorum_args(),
            )
            .await?;
    }
    channel
        .exchange_declare(
            topology::BUILD_CANCEL_EXCHANGE,
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            topology::FUNCTION_CHANGED_EXCHANGE,
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            topology::EVENTS_EXCHANGE,
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            topology::EVENT_TRIGGERS_QUEUE,
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            quorum_args(),
        )
        .await?;
    channel
        .queue_bind(
            topology::EVENT_TRIGGERS_QUEUE,
            topology::EVENTS_EXCHANGE,
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// A fresh W3C `traceparent` value (version 00, random trace and span ids, sampled).
pub fn new_traceparent() -> String {
    use rand::RngCore;
    let mut trace = [0u8; 16];
    let mut span = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut trace);
    rand::thread_rng().fill_bytes(&mut span);
    format!("00-{}-{}-01", hex::encode(trace), hex::encode(span))
}
