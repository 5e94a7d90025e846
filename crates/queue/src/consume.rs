use crate::{connect, declare_topology, QueueError};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use model::topology;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a handler decided about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is durable: acknowledge.
    Ack,
    /// A transient failure: requeue after a short backoff (the queue's delivery limit
    /// dead-letters a message that keeps failing).
    Retry(String),
    /// A permanent failure: dead-letter now, with the reason logged.
    Dead(String),
}

/// A decoded message with the AMQP properties handlers need.
#[derive(Debug, Clone)]
pub struct Incoming<M> {
    pub message: M,
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    pub redelivered: bool,
    pub traceparent: Option<String>,
}

/// Where a consumer reads from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A durable work queue of the topology.
    Queue(String),
    /// A private, exclusive, auto-deleted queue bound to an exchange (broadcasts).
    Exchange {
        exchange: String,
        routing_key: String,
    },
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub url: String,
    pub source: Source,
    pub tag: String,
    pub prefetch: u16,
    /// How long in-flight handlers may run after shutdown before the loop gives up on them
    /// (their messages are then redelivered to another consumer).
    pub drain: Duration,
}

impl ConsumerConfig {
    pub fn queue(url: &str, queue: &str, tag: &str, prefetch: u16) -> Self {
        Self {
            url: url.to_owned(),
            source: Source::Queue(queue.to_owned()),
            tag: tag.to_owned(),
            prefetch,
            drain: Duration::from_secs(20),
        }
    }

    pub fn broadcast(url: &str, exchange: &str, tag: &str) -> Self {
        Self {
            url: url.to_owned(),
            source: Source::Exchange {
                exchange: exchange.to_owned(),
                routing_key: String::new(),
            },
            tag: tag.to_owned(),
            prefetch: 16,
            drain: Duration::from_secs(5),
        }
    }
}

fn header_string(delivery: &Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Consumes until `shutdown` fires, reconnecting after broker failures. Every delivery is decoded
/// as `M` and handed to `handler` on its own task (at most `prefetch` at once); undecodable
/// messages are dead-lettered. On shutdown the consumer is cancelled first, then in-flight
/// handlers get `drain` to finish.
pub async fn run_consumer<M, H, Fut>(
    config: ConsumerConfig,
    shutdown: CancellationToken,
    handler: H,
) -> Result<(), QueueError>
where
    M: prost::Message + Default + Send + 'static,
    H: Fn(Incoming<M>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let tracker = TaskTracker::new();
    let mut backoff = Duration::from_millis(200);
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match consume_session(&config, &shutdown, &tracker, handler.clone()).await {
            Ok(()) => break,
            Err(QueueError::Shutdown) => break,
            Err(err) => {
                tracing::warn!(error = %err, tag = %config.tag, "consumer lost its broker session, reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracker.close();
    if tokio::time::timeout(config.drain, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(tag = %config.tag, "drain deadline passed with handlers still running");
    }
    Ok(())
}

async fn consume_session<M, H, Fut>(
    config: &ConsumerConfig,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    handler: H,
) -> Result<(), QueueError>
where
    M: prost::Message + Default + Send + 'static,
    H: Fn(Incoming<M>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let connection = connect(&config.url, shutdown).await?;
    let channel = connection.create_channel().await?;
    declare_topology(&channel).await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    let queue = match &config.source {
        Source::Queue(name) => name.clone(),
        Source::Exchange {
            exchange,
            routing_key,
        } => {
            let q = channel
                .queue_declare(
                    "",
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            channel
                .queue_bind(
                    q.name().as_str(),
                    exchange,
                    routing_key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            q.name().to_string()
        }
    };
    let mut consumer = channel
        .basic_consume(
            &queue,
            &config.tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %queue, tag = %config.tag, "consuming");
    let result = loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(err)) => break Err(QueueError::Broker(err)),
            None => {
                break Err(QueueError::Broker(lapin::Error::InvalidChannelState(
                    channel.status().state(),
                )))
            }
        };
        let handler = handler.clone();
        tracker.spawn(async move { handle_delivery::<M, H, Fut>(delivery, handler).await });
    };
    if result.is_ok() {
        // Stop new deliveries; unacked in-flight ones stay with this channel until they finish.
        let _ = channel
            .basic_cancel(&config.tag, BasicCancelOptions::default())
            .await;
        if tokio::time::timeout(config.drain, wait_idle(tracker))
            .await
            .is_err()
        {
            tracing::warn!(tag = %config.tag, "drain deadline passed; unfinished messages return to the queue");
        }
        let _ = channel.close(200, "shutdown").await;
        let _ = connection.close(200, "shutdown").await;
    }
    result
}

async fn wait_idle(tracker: &TaskTracker) {
    while !tracker.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn handle_delivery<M, H, Fut>(delivery: Delivery, handler: H)
where
    M: prost::Message + Default,
    H: Fn(Incoming<M>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let message = match M::decode(delivery.data.as_slice()) {
        Ok(m) => m,
        Err(err) => {
            tracing::error!(error = %err, "undecodable message, dead-lettering");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await;
            return;
        }
    };
    let incoming = Incoming {
        message,
        reply_to: delivery
            .properties
            .reply_to()
            .as_ref()
            .map(|s| s.to_string()),
        correlation_id: delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(|s| s.to_string()),
        redelivered: delivery.redelivered,
        traceparent: header_string(&delivery, topology::HEADER_TRACEPARENT),
    };
    let outcome = handler(incoming).await;
    let result = match outcome {
        Outcome::Ack => delivery.ack(BasicAckOptions::default()).await,
        Outcome::Retry(reason) => {
            tracing::warn!(%reason, "transient failure, requeueing");
            tokio::time::sleep(Duration::from_millis(500)).await;
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        }
        Outcome::Dead(reason) => {
            tracing::error!(%reason, "permanent failure, dead-lettering");
            delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await
        }
    };
    if let Err(err) = result {
        // The channel is gone; the broker redelivers the message to another consumer.
        tracing::warn!(error = %err, "could not settle delivery");
    }
}
