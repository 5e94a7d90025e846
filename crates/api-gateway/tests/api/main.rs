//! Integration tests: the real application against real PostgreSQL and RabbitMQ. Each test gets
//! its own database and its own RabbitMQ vhost, so tests run in parallel without stealing each
//! other's messages.
// Test code: panicking on an unexpected error is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod auth;
mod deployments;
mod deployments_lifecycle;
mod domains;
mod events;
mod executions;
mod executions_stale;
mod format;
mod functions;
mod head;
mod helpers;
mod ownership;
mod queries;
mod queries_regex_exists;
mod variables;
