use crate::publish::{publish_on, PublishOptions};
use crate::{connect_once, declare_topology, QueueError};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Mutex};

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

type Waiters = Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

struct Live {
    _connection: Connection,
    channel: Channel,
}

/// Request/reply over RabbitMQ direct reply-to: the request is published (confirmed, mandatory)
/// with `reply_to = amq.rabbitmq.reply-to` on a channel that also consumes the replies; the
/// reply is matched by correlation id. Reconnects lazily after broker failures.
#[derive(Clone)]
pub struct RpcClient {
    url: String,
    live: Arc<Mutex<Option<Live>>>,
    waiters: Waiters,
}

impl RpcClient {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            live: Arc::new(Mutex::new(None)),
            waiters: Arc::new(std::sync::Mutex::new(HashMap::new())),
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
        declare_topology(&channel).await?;
        let mut replies = channel
            .basic_consume(
                REPLY_TO,
                "rpc-replies",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let waiters = self.waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = replies.next().await {
                let Some(id) = delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|s| s.to_string())
                else {
                    continue;
                };
                let waiter = waiters.lock().ok().and_then(|mut w| w.remove(&id));
                if let Some(tx) = waiter {
                    let _ = tx.send(delivery.data);
                }
            }
        });
        *guard = Some(Live {
            _connection: connection,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    /// Publishes `request` to the work queue `queue` and waits up to `timeout` for the reply,
    /// returned as raw bytes (decode with the expected message type).
    pub async fn call<M: prost::Message>(
        &self,
        queue: &str,
        request: &M,
        correlation_id: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, QueueError> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(correlation_id.to_owned(), tx);
        }
        let opts = PublishOptions {
            reply_to: Some(REPLY_TO.to_owned()),
            correlation_id: Some(correlation_id.to_owned()),
            ..Default::default()
        };
        let published = async {
            let channel = self.channel().await?;
            publish_on(&channel, "", queue, request, &opts, true).await
        }
        .await;
        if let Err(err) = published {
            self.forget(correlation_id);
            if let QueueError::Broker(_) = err {
                self.live.lock().await.take();
            }
            return Err(err);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) => Err(QueueError::Timeout),
            Err(_) => {
                self.forget(correlation_id);
                Err(QueueError::Timeout)
            }
        }
    }

    fn forget(&self, correlation_id: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(correlation_id);
        }
    }
}
