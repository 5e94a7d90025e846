//! Names of every exchange and queue. Declared by `queue::declare_topology`, used by all services.

/// Build jobs (gateway -> builder-worker). Quorum queue.
pub const BUILDS_QUEUE: &str = "fnplat.builds";
/// Execution jobs (gateway -> executor-worker). Quorum queue.
pub const EXECUTIONS_QUEUE: &str = "fnplat.executions";
/// Build status changes and log chunks (builder-worker -> gateway). Quorum queue.
pub const BUILD_EVENTS_QUEUE: &str = "fnplat.build-events";
/// Execution results for persistence (executor-worker -> gateway). Quorum queue.
pub const EXECUTION_RESULTS_QUEUE: &str = "fnplat.execution-results";
/// Schedule fires (scheduler -> gateway). Quorum queue.
pub const SCHEDULE_FIRES_QUEUE: &str = "fnplat.schedule-fires";

/// Fanout exchange on which build cancellations are broadcast to every builder.
pub const BUILD_CANCEL_EXCHANGE: &str = "fnplat.build-cancel";
/// Fanout exchange announcing function changes (scheduler, caches).
pub const FUNCTION_CHANGED_EXCHANGE: &str = "fnplat.function-changed";
/// Topic exchange carrying Appwrite events (`functions.<id>.executions.<id>.create`, ...).
pub const EVENTS_EXCHANGE: &str = "fnplat.events";
/// Durable quorum queue bound to [`EVENTS_EXCHANGE`] with `#`: the gateway starts event-triggered
/// executions from it.
pub const EVENT_TRIGGERS_QUEUE: &str = "fnplat.event-triggers";

/// Dead-letter exchange and its queue: poison messages end here with the reason in headers.
pub const DEAD_LETTER_EXCHANGE: &str = "fnplat.dlx";
pub const DEAD_LETTER_QUEUE: &str = "fnplat.dead-letter";

/// Work queues: durable quorum queues, dead-lettered to [`DEAD_LETTER_EXCHANGE`].
pub const WORK_QUEUES: [&str; 5] = [
    BUILDS_QUEUE,
    EXECUTIONS_QUEUE,
    BUILD_EVENTS_QUEUE,
    EXECUTION_RESULTS_QUEUE,
    SCHEDULE_FIRES_QUEUE,
];

/// AMQP header carrying [`crate::SCHEMA_VERSION`].
pub const HEADER_SCHEMA_VERSION: &str = "x-schema-version";
/// AMQP header carrying the W3C trace context.
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// AMQP header carrying the reason a message was dead-lettered by a consumer.
pub const HEADER_DEAD_REASON: &str = "x-fnplat-dead-reason";
/// After this many deliveries a quorum queue dead-letters a message (poison protection).
pub const DELIVERY_LIMIT: i64 = 5;
