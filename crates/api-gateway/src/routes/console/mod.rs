//! `/v1/console/*`: what the CLI reads from the console API.
pub mod variables;
