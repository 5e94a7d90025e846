use crate::{connect_once, declare_topology, new_traceparent, QueueError};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use model::topology;
use tokio::sync::Mutex;

/// Per-message options.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    /// W3C trace context; a new one is made when absent.
    pub traceparent: Option<String>,
    /// Per-message TTL in milliseconds.
    pub expiration_ms: Option<u64>,
}

/// Builds the AMQP properties every message carries: persistent, protobuf, schema version, trace.
pub fn properties(opts: &PublishOptions) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(topology::HEADER_SCHEMA_VERSION),
        AMQPValue::LongUInt(model::SCHEMA_VERSION),
    );
    let trace = opts.traceparent.clone().unwrap_or_else(new_traceparent);
    headers.insert(
        ShortString::from(topology::HEADER_TRACEPARENT),
        AMQPValue::LongString(LongString::from(trace)),
    );
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/x-protobuf"))
        .with_headers(headers);
    if let Some(reply_to) = &opts.reply_to {
        props = props.with_reply_to(ShortString::from(reply_to.as_str()));
    }
    if let Some(id) = &opts.correlation_id {
        props = props.with_correlation_id(ShortString::from(id.as_str()));
    }
    if let Some(ms) = opts.expiration_ms {
        props = props.with_expiration(ShortString::from(ms.to_string()));
    }
    props
}

/// Publishes on `channel` (which must be in confirm mode) and waits for the broker's confirm.
pub async fn publish_on<M: prost::Message>(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    message: &M,
    opts: &PublishOptions,
    mandatory: bool,
) -> Result<(), QueueError> {
    let payload = message.encode_to_vec();
    let confirm = channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions {
                mandatory,
                ..Default::default()
            },
            &payload,
            properties(opts),
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_returned)) => Err(QueueError::Unroutable),
        Confirmation::Nack(_) => Err(QueueError::Nacked),
    }
}

struct Live {
    _connection: Connection,
    channel: Channel,
}

/// A publisher with confirms that (re)connects lazily: after a broker failure the failing call
/// returns the error and the next call opens a new connection.
pub struct Publisher {
    url: String,
    live: Mutex<Option<Live>>,
}

impl Publisher {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            live: Mutex::new(None),
        }
    }

    async fn channel(&self) -> Result<Channel, QueueError> {
        let mut guard = self.live.lock().await;
        if let Some(live) = guard.as_ref() {
            if live.channel.status().connected() {
                return Ok(live.channel.clone());
            }
        }
        let connection = connect_once(&self.url).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        declare_topology(&channel).await?;
        *guard = Some(Live {
            _connection: connection,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    /// Publishes to `exchange` with `routing_key` (use `""` and the queue name for a work queue),
    /// mandatory, and waits for the confirm. Unroutable or nacked messages are errors.
    pub async fn publish<M: prost::Message>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &M,
        opts: &PublishOptions,
    ) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let result = publish_on(&channel, exchange, routing_key, message, opts, true).await;
        if let Err(QueueError::Broker(_)) = &result {
            self.live.lock().await.take();
        }
        result
    }

    /// Publishes without the mandatory flag, still waiting for the confirm: for destinations that
    /// may legitimately be gone, such as a synchronous caller's direct reply-to queue (RabbitMQ
    /// answers mandatory publishes there with a spurious basic.return).
    pub async fn publish_optional<M: prost::Message>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &M,
        opts: &PublishOptions,
    ) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let result = publish_on(&channel, exchange, routing_key, message, opts, false).await;
        if let Err(QueueError::Broker(_)) = &result {
            self.live.lock().await.take();
        }
        result
    }

    /// Publishes to a fanout/topic exchange where having no bound queue is fine (not mandatory).
    pub async fn broadcast<M: prost::Message>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &M,
    ) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let result = publish_on(
            &channel,
            exchange,
            routing_key,
            message,
            &PublishOptions::default(),
            false,
        )
        .await;
        if let Err(QueueError::Broker(_)) = &result {
            self.live.lock().await.take();
        }
        result
    }

    /// Publishes raw JSON (`content-type: application/json`, persistent, `message_id` set) to a
    /// topic/fanout exchange, not mandatory, waiting for the confirm (Appwrite events).
    pub async fn broadcast_json(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: &str,
    ) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(message_id));
        let result = async {
            let confirm = channel
                .basic_publish(
                    exchange,
                    routing_key,
                    BasicPublishOptions::default(),
                    body,
                    props,
                )
                .await?
                .await?;
            match confirm {
                Confirmation::Nack(_) => Err(QueueError::Nacked),
                _ => Ok(()),
            }
        }
        .await;
        if let Err(QueueError::Broker(_)) = &result {
            self.live.lock().await.take();
        }
        result
    }

    /// True when a live channel exists or one can be opened now (readiness).
    pub async fn ready(&self) -> bool {
        self.channel().await.is_ok()
    }
}
