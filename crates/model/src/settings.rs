//! Settings shared by the services and the loader every service uses.
//!
//! A service's settings are a typed tree loaded once at start: compiled-in defaults (serde), then an
//! optional TOML file named by `FNPLAT_CONFIG`, then environment variables such as
//! `GATEWAY__DATABASE__URL` (prefix, `__` as separator). Invalid settings are an error before
//! anything binds.
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// Loads settings of type `T` for the service whose environment prefix is `prefix` (e.g. `GATEWAY`).
pub fn load<T: DeserializeOwned>(prefix: &str) -> Result<T, SettingsError> {
    let mut builder = config::Config::builder();
    if let Ok(path) = std::env::var("FNPLAT_CONFIG") {
        builder = builder.add_source(config::File::with_name(&path).required(true));
    }
    builder
        .add_source(
            config::Environment::with_prefix(prefix)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("runtimes")
                .with_list_parse_key("allowed_runtimes"),
        )
        .build()
        .and_then(|c| c.try_deserialize::<T>())
        .map_err(|e| SettingsError::Invalid(e.to_string()))
}

/// Connection to RabbitMQ.
#[derive(Clone, Debug, Deserialize)]
pub struct AmqpSettings {
    #[serde(default = "default_amqp_url")]
    pub url: SecretString,
    /// Unacknowledged deliveries a consumer holds at once.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            url: default_amqp_url(),
            prefetch: default_prefetch(),
        }
    }
}

impl AmqpSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

fn default_amqp_url() -> SecretString {
    SecretString::from("amqp://fnplat:fnplat@127.0.0.1:5672/%2f")
}

fn default_prefetch() -> u16 {
    8
}

/// Where source and build tarballs live (the `object_store` local backend).
#[derive(Clone, Debug, Deserialize)]
pub struct StorageSettings {
    #[serde(default = "default_storage_dir")]
    pub dir: String,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            dir: default_storage_dir(),
        }
    }
}

fn default_storage_dir() -> String {
    "/var/lib/fnplat/storage".to_owned()
}

/// The small admin HTTP listener of a worker (`/health/livez`, `/health/readyz`).
#[derive(Clone, Debug, Deserialize)]
pub struct AdminSettings {
    #[serde(default = "default_admin_host")]
    pub host: String,
    /// 0 picks a free port.
    #[serde(default)]
    pub port: u16,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            host: default_admin_host(),
            port: 0,
        }
    }
}

fn default_admin_host() -> String {
    "127.0.0.1".to_owned()
}
