//! Where execution results go: the sync caller's `reply_to` and the persistence queue.
use async_trait::async_trait;
use model::proto::ExecutionResult;
use queue::{PublishOptions, Publisher, QueueError};
use std::sync::{Arc, Mutex};

#[async_trait]
pub trait ResultSink: Send + Sync {
    /// Answers a waiting synchronous caller (best effort: the caller may be gone).
    async fn reply(
        &self,
        reply_to: &str,
        correlation_id: Option<&str>,
        result: &ExecutionResult,
    ) -> Result<(), QueueError>;
    /// Publishes the result for persistence; returns once it is durable.
    async fn persist(&self, result: &ExecutionResult) -> Result<(), QueueError>;
}

/// Publishes to RabbitMQ: replies on the default exchange to `reply_to`, results to
/// [`model::topology::EXECUTION_RESULTS_QUEUE`] (mandatory, confirmed).
pub struct QueueResults {
    publisher: Arc<Publisher>,
}

impl QueueResults {
    pub fn new(publisher: Arc<Publisher>) -> Self {
        Self { publisher }
    }
}

#[async_trait]
impl ResultSink for QueueResults {
    async fn reply(
        &self,
        reply_to: &str,
        correlation_id: Option<&str>,
        result: &ExecutionResult,
    ) -> Result<(), QueueError> {
        let opts = PublishOptions {
            correlation_id: correlation_id.map(str::to_owned),
            ..Default::default()
        };
        self.publisher
            .publish_optional("", reply_to, result, &opts)
            .await
    }

    async fn persist(&self, result: &ExecutionResult) -> Result<(), QueueError> {
        let opts = PublishOptions {
            correlation_id: Some(result.execution_id.clone()),
            ..Default::default()
        };
        self.publisher
            .publish("", model::topology::EXECUTION_RESULTS_QUEUE, result, &opts)
            .await
    }
}

/// Keeps results in memory (tests).
#[derive(Default)]
pub struct MemoryResults {
    pub replies: Mutex<Vec<(String, Option<String>, ExecutionResult)>>,
    pub persisted: Mutex<Vec<ExecutionResult>>,
}

impl MemoryResults {
    pub fn persisted(&self) -> Vec<ExecutionResult> {
        self.persisted.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn replies(&self) -> Vec<(String, Option<String>, ExecutionResult)> {
        self.replies.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl ResultSink for MemoryResults {
    async fn reply(
        &self,
        reply_to: &str,
        correlation_id: Option<&str>,
        result: &ExecutionResult,
    ) -> Result<(), QueueError> {
        if let Ok(mut r) = self.replies.lock() {
            r.push((
                reply_to.to_owned(),
                correlation_id.map(str::to_owned),
                result.clone(),
            ));
        }
        Ok(())
    }

    async fn persist(&self, result: &ExecutionResult) -> Result<(), QueueError> {
        if let Ok(mut p) = self.persisted.lock() {
            p.push(result.clone());
        }
        Ok(())
    }
}
