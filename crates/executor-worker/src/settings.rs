//! `EXECUTOR__*` settings.
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
    /// Warm containers idle longer than this are removed (`EXECUTOR__IDLE_TIMEOUT_SECONDS`).
    #[serde(default = "default_idle_timeout_seconds")]
    pub idle_timeout_seconds: u64,
    /// Host directory holding one `/mnt/logs` directory per runtime container
    /// (`EXECUTOR__WORK_DIR`). Must be a path of the Docker host (bind mounts).
    #[serde(default = "default_work_dir")]
    pub work_dir: String,
    /// Name of this node (`EXECUTOR__NODE`, default the hostname). At start the executor removes
    /// every runtime container labelled with this node: they belong to earlier instances on it.
    #[serde(default)]
    pub node: String,
    /// Host address runtime ports are published on and called at (`EXECUTOR__RUNTIME_HOST`).
    #[serde(default = "default_runtime_host")]
    pub runtime_host: String,
    /// How long in-flight executions may finish after SIGTERM (`EXECUTOR__DRAIN_SECONDS`).
    #[serde(default = "default_drain_seconds")]
    pub drain_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            amqp: AmqpSettings::default(),
            storage: StorageSettings::default(),
            admin: AdminSettings::default(),
            docker: DockerSettings::default(),
            idle_timeout_seconds: default_idle_timeout_seconds(),
            work_dir: default_work_dir(),
            node: String::new(),
            runtime_host: default_runtime_host(),
            drain_seconds: default_drain_seconds(),
        }
    }
}

impl Settings {
    /// The node name: the setting, else the hostname.
    pub fn node_name(&self) -> String {
        if !self.node.trim().is_empty() {
            return self.node.trim().to_owned();
        }
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    }
}

fn default_idle_timeout_seconds() -> u64 {
    60
}

fn default_work_dir() -> String {
    "/var/lib/fnplat/executor".to_owned()
}

fn default_runtime_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_drain_seconds() -> u64 {
    30
}
