//! One telemetry init per process: `RUST_LOG` filter (default `info`), `LOG_FORMAT=json|pretty`.
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT")
        .map(|v| v == "json")
        .unwrap_or(false);
    let builder = fmt().with_env_filter(filter).with_target(false);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests) is harmless.
    drop(result);
    tracing::info!(
        service,
        version = env!("CARGO_PKG_VERSION"),
        "telemetry initialised"
    );
}
