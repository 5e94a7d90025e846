//! The gateway's settings tree, loaded once by `model::settings::load::<Settings>("GATEWAY")`.
//! Environment: `GATEWAY__HTTP__PORT`, `GATEWAY__DATABASE__URL`, `GATEWAY__AUTH__API_KEY`, ...
use model::settings::{AmqpSettings, StorageSettings};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub amqp: AmqpSettings,
    #[serde(default)]
    pub storage: StorageSettings,
    /// Required: a start without `auth.api_key` is a configuration error.
    pub auth: AuthSettings,
    #[serde(default)]
    pub executions: ExecutionSettings,
    #[serde(default)]
    pub build: BuildSettings,
    /// CRON schedules, `scheduledAt` and event triggers (`crate::schedules`).
    #[serde(default)]
    pub schedules: crate::schedules::ScheduleSettings,
    /// Where template repositories are cloned from (`crate::vcs::TemplateSettings`).
    #[serde(default)]
    pub templates: crate::vcs::TemplateSettings,
    /// `APPWRITE_FUNCTION_API_ENDPOINT` given to functions.
    #[serde(default = "default_public_endpoint")]
    pub public_endpoint: String,
    /// Runtime ids whose image is installed (`GATEWAY__RUNTIMES=node-18.0,python-3.12`).
    #[serde(default = "default_runtimes")]
    pub runtimes: Vec<String>,
    /// Abuse limits (`crate::rate_limit`, `GATEWAY__RATE_LIMIT__ENABLED`, `..__CREATE_EXECUTION_LIMIT`,
    /// `..__PERIOD_SECONDS`).
    #[serde(default)]
    pub rate_limit: crate::rate_limit::RateLimitSettings,
    /// Function domains (`crate::domains::DomainSettings`, `GATEWAY__DOMAINS__FUNCTIONS`).
    #[serde(default)]
    pub domains: crate::domains::DomainSettings,
}

impl Settings {
    /// Checks what serde cannot: a non-empty key, known runtimes.
    pub fn validate(&self) -> Result<(), String> {
        if self.auth.api_key.expose_secret().trim().is_empty() {
            return Err("auth.api_key (GATEWAY__AUTH__API_KEY) must not be empty".into());
        }
        if !model::ids::is_valid_id(&self.auth.project_id) {
            return Err(format!(
                "auth.project_id {:?} is not a valid id",
                self.auth.project_id
            ));
        }
        for runtime in &self.runtimes {
            if model::catalogue::find_runtime(runtime).is_none() {
                return Err(format!("runtimes: unknown runtime {runtime:?}"));
            }
        }
        if self.database.max_connections == 0 {
            return Err("database.max_connections must be at least 1".into());
        }
        Ok(())
    }

    pub fn runtime_installed(&self, id: &str) -> bool {
        self.runtimes.iter().any(|r| r == id)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct HttpSettings {
    #[serde(default = "default_host")]
    pub host: String,
    /// 0 picks a free port.
    #[serde(default = "default_port")]
    pub port: u16,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    #[serde(default = "default_database_url")]
    pub url: SecretString,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: default_database_url(),
            max_connections: default_max_connections(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuthSettings {
    #[serde(default = "default_project_id")]
    pub project_id: String,
    pub api_key: SecretString,
    /// HS256 secret of user JWTs (`X-Appwrite-JWT`); without it JWT callers are refused.
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExecutionSettings {
    /// Longest a synchronous execution may wait (spec 7.2: 30 s).
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout_seconds: u64,
    /// Extra wait for a cold start on top of the function timeout.
    #[serde(default = "default_cold_start_margin")]
    pub cold_start_margin_seconds: u64,
    /// The reaper fails executions this long past their function timeout.
    #[serde(default = "default_reap_margin")]
    pub reap_margin_seconds: u64,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        Self {
            sync_timeout_seconds: default_sync_timeout(),
            cold_start_margin_seconds: default_cold_start_margin(),
            reap_margin_seconds: default_reap_margin(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct BuildSettings {
    #[serde(default = "default_build_timeout")]
    pub timeout_seconds: u32,
    /// The reaper fails builds this long past the build timeout.
    #[serde(default = "default_reap_margin")]
    pub reap_margin_seconds: u64,
}

impl Default for BuildSettings {
    fn default() -> Self {
        Self {
            timeout_seconds: default_build_timeout(),
            reap_margin_seconds: default_reap_margin(),
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    8080
}
fn default_database_url() -> SecretString {
    SecretString::from("postgres://fnplat:fnplat@127.0.0.1:5432/fnplat")
}
fn default_max_connections() -> usize {
    16
}
fn default_project_id() -> String {
    "default".into()
}
fn default_sync_timeout() -> u64 {
    30
}
fn default_cold_start_margin() -> u64 {
    10
}
fn default_reap_margin() -> u64 {
    60
}
fn default_build_timeout() -> u32 {
    900
}
fn default_public_endpoint() -> String {
    "http://127.0.0.1:8080/v1".into()
}
fn default_runtimes() -> Vec<String> {
    vec!["node-18.0".into()]
}
