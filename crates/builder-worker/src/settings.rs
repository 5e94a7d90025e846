//! `BUILDER__*` settings.
use model::settings::{AdminSettings, AmqpSettings, StorageSettings};
use sandbox::DockerSettings;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub amqp: AmqpSettings,
    #[serde(default)]
    pub storage: StorageSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub docker: DockerSettings,
    /// Host CA bundle bind-mounted read-only into build containers (`BUILDER__CA_BUNDLE`).
    /// Skipped with a warning when the file does not exist.
    #[serde(default = "default_ca_bundle")]
    pub ca_bundle: String,
    /// Minimum interval between two log-chunk events of one build (`BUILDER__LOG_INTERVAL_MS`).
    #[serde(default = "default_log_interval_ms")]
    pub log_interval_ms: u64,
    /// Build timeout used when a job carries none (`BUILDER__DEFAULT_TIMEOUT_SECONDS`).
    #[serde(default = "default_timeout_seconds")]
    pub default_timeout_seconds: u32,
    /// Largest accepted build output in bytes (`BUILDER__MAX_BUILD_SIZE`).
    #[serde(default = "default_max_build_size")]
    pub max_build_size: u64,
    /// Host directory for per-build working directories bind-mounted into build containers
    /// (`BUILDER__WORK_DIR`). Must be a path of the Docker host.
    #[serde(default = "default_work_dir")]
    pub work_dir: String,
}

/// Default of `BUILDER__WORK_DIR`.
pub const DEFAULT_WORK_DIR: &str = "/var/lib/fnplat/builder";

fn default_work_dir() -> String {
    DEFAULT_WORK_DIR.to_owned()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            amqp: AmqpSettings::default(),
            storage: StorageSettings::default(),
            admin: AdminSettings::default(),
            docker: DockerSettings::default(),
            ca_bundle: default_ca_bundle(),
            log_interval_ms: default_log_interval_ms(),
            default_timeout_seconds: default_timeout_seconds(),
            max_build_size: default_max_build_size(),
            work_dir: default_work_dir(),
        }
    }
}

/// Where the CA bundle is inside the build container, and where the env vars point.
pub const CONTAINER_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn default_ca_bundle() -> String {
    CONTAINER_CA_BUNDLE.to_owned()
}

fn default_log_interval_ms() -> u64 {
    500
}

fn default_timeout_seconds() -> u32 {
    900
}

fn default_max_build_size() -> u64 {
    2_000_000_000
}
