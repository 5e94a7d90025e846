//! The shared vocabulary of the platform. No I/O-heavy dependencies live here.

pub mod catalogue;
pub mod ids;
pub mod proto;
pub mod settings;
pub mod telemetry;
pub mod topology;

/// Version of the queue message schema, sent in the AMQP header `x-schema-version`.
pub const SCHEMA_VERSION: u32 = 1;

/// The Appwrite server version this platform mirrors (`APPWRITE_VERSION`, error bodies).
pub const APPWRITE_VERSION: &str = "1.9.6";
