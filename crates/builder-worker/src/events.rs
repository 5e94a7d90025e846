//! Where build events go. The real sink publishes to `fnplat.build-events` with confirms; tests
//! can collect events in memory.
use async_trait::async_trait;
use model::proto::BuildEvent;
use queue::{PublishOptions, Publisher, QueueError};
use std::sync::{Arc, Mutex};

#[async_trait]
pub trait EventSink: Send + Sync {
    /// Returns once the event is durable (confirmed by the broker).
    async fn publish(&self, event: &BuildEvent) -> Result<(), QueueError>;
}

/// Publishes events to [`model::topology::BUILD_EVENTS_QUEUE`] (mandatory, confirmed).
pub struct QueueEvents {
    publisher: Arc<Publisher>,
}

impl QueueEvents {
    pub fn new(publisher: Arc<Publisher>) -> Self {
        Self { publisher }
    }
}

#[async_trait]
impl EventSink for QueueEvents {
    async fn publish(&self, event: &BuildEvent) -> Result<(), QueueError> {
        let opts = PublishOptions {
            correlation_id: Some(event.deployment_id.clone()),
            ..Default::default()
        };
        self.publisher
            .publish("", model::topology::BUILD_EVENTS_QUEUE, event, &opts)
            .await
    }
}

/// Keeps every event in memory (tests, diagnostics).
#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<Vec<BuildEvent>>,
}

impl MemoryEvents {
    pub fn events(&self) -> Vec<BuildEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EventSink for MemoryEvents {
    async fn publish(&self, event: &BuildEvent) -> Result<(), QueueError> {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
        Ok(())
    }
}
