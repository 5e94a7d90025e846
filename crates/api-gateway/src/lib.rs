//! The api-gateway: the Appwrite-compatible REST API over PostgreSQL, the outbox relay that
//! publishes jobs, and the consumers that persist what the workers report.
pub mod admin;
pub mod auth;
pub mod consumers;
pub mod db;
pub mod deploy;
pub mod domain;
pub mod domains;
pub mod error;
pub mod events;
pub mod format;
pub mod head;
pub mod job_env;
pub mod jobs;
pub mod outbox;
pub mod params;
pub mod query;
pub mod rate_limit;
pub mod reaper;
pub mod routes;
pub mod schedules;
pub mod settings;
pub mod startup;
pub mod tokens;
pub mod triggered;
pub mod truncate;
pub mod vcs;
pub mod wire;

pub use settings::Settings;
pub use startup::Application;
