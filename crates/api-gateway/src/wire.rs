//! The Appwrite response models (spec 3, format 1.9.5). Every field is always present.
use crate::db::deployments::DeploymentRow;
use crate::db::executions::ExecutionRow;
use crate::db::functions::FunctionRow;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `2020-10-15T06:38:00.000+00:00`.
pub fn datetime(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

fn opt_datetime(at: &Option<DateTime<Utc>>) -> String {
    at.as_ref().map(datetime).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Function {
    #[serde(rename = "$id")]
    pub id: String,
    #[serde(rename = "$createdAt")]
    pub created_at: String,
    #[serde(rename = "$updatedAt")]
    pub updated_at: String,
    pub execute: Vec<String>,
    pub name: String,
    pub enabled: bool,
    pub live: bool,
    pub logging: bool,
    pub runtime: String,
    pub deployment_retention: i64,
    pub deployment_id: String,
    pub deployment_created_at: String,
    pub latest_deployment_id: String,
    pub latest_deployment_created_at: String,
    pub latest_deployment_status: String,
    pub scopes: Vec<String>,
    pub vars: Vec<serde_json::Value>,
    pub events: Vec<String>,
    pub schedule: String,
    pub timeout: i64,
    pub entrypoint: String,
    pub commands: String,
    pub version: String,
    pub installation_id: String,
    pub provider_repository_id: String,
    pub provider_branch: String,
    pub provider_root_directory: String,
    pub provider_silent_mode: bool,
    pub provider_branches: Vec<String>,
    pub provider_paths: Vec<String>,
    pub build_specification: String,
    pub runtime_specification: String,
}

impl From<FunctionRow> for Function {
    fn from(r: FunctionRow) -> Self {
        Self {
            id: r.id,
            created_at: datetime(&r.created_at),
            updated_at: datetime(&r.updated_at),
            execute: r.execute,
            name: r.name,
            enabled: r.enabled,
            live: r.live,
            logging: r.logging,
            runtime: r.runtime,
            deployment_retention: r.deployment_retention.into(),
            deployment_id: r.deployment_id,
            deployment_created_at: opt_datetime(&r.deployment_created_at),
            latest_deployment_id: r.latest_deployment_id,
            latest_deployment_created_at: opt_datetime(&r.latest_deployment_created_at),
            latest_deployment_status: r.latest_deployment_status,
            scopes: r.scopes,
            vars: Vec::new(),
            events: r.events,
            schedule: r.schedule,
            timeout: r.timeout.into(),
            entrypoint: r.entrypoint,
            commands: r.commands,
            version: r.version,
            installation_id: r.installation_id,
            provider_repository_id: r.provider_repository_id,
            provider_branch: r.provider_branch,
            provider_root_directory: r.provider_root_directory,
            provider_silent_mode: r.provider_silent_mode,
            provider_branches: r.provider_branches,
            provider_paths: r.provider_paths,
            build_specification: r.build_specification,
            runtime_specification: r.runtime_specification,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    #[serde(rename = "$id")]
    pub id: String,
    #[serde(rename = "$createdAt")]
    pub created_at: String,
    #[serde(rename = "$updatedAt")]
    pub updated_at: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub resource_id: String,
    pub resource_type: String,
    pub entrypoint: String,
    pub source_size: i64,
    pub build_size: i64,
    pub total_size: i64,
    pub build_id: String,
    pub activate: bool,
    pub screenshot_light: String,
    pub screenshot_dark: String,
    pub status: String,
    pub build_logs: String,
    pub build_duration: i64,
    pub provider_repository_name: String,
    pub provider_repository_owner: String,
    pub provider_repository_url: String,
    pub provider_commit_hash: String,
    pub provider_commit_author_url: String,
    pub provider_commit_author: String,
    pub provider_commit_message: String,
    pub provider_commit_url: String,
    pub provider_branch: String,
    pub provider_branch_url: String,
}

fn vcs_field(vcs: &serde_json::Value, key: &str) -> String {
    vcs.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

impl From<DeploymentRow> for Deployment {
    fn from(r: DeploymentRow) -> Self {
        Self {
            id: r.id,
            created_at: datetime(&r.created_at),
            updated_at: datetime(&r.updated_at),
            type_: r.type_,
            resource_id: r.function_id,
            resource_type: "functions".into(),
            entrypoint: r.entrypoint,
            source_size: r.source_size,
            build_size: r.build_size,
            total_size: r.source_size + r.build_size,
            build_id: String::new(),
            activate: r.activate,
            screenshot_light: String::new(),
            screenshot_dark: String::new(),
            status: r.status,
            build_logs: r.build_logs,
            build_duration: r.build_duration.into(),
            provider_repository_name: vcs_field(&r.vcs, "providerRepositoryName"),
            provider_repository_owner: vcs_field(&r.vcs, "providerRepositoryOwner"),
            provider_repository_url: vcs_field(&r.vcs, "providerRepositoryUrl"),
            provider_commit_hash: vcs_field(&r.vcs, "providerCommitHash"),
            provider_commit_author_url: vcs_field(&r.vcs, "providerCommitAuthorUrl"),
            provider_commit_author: vcs_field(&r.vcs, "providerCommitAuthor"),
            provider_commit_message: vcs_field(&r.vcs, "providerCommitMessage"),
            provider_commit_url: vcs_field(&r.vcs, "providerCommitUrl"),
            provider_branch: vcs_field(&r.vcs, "providerBranch"),
            provider_branch_url: vcs_field(&r.vcs, "providerBranchUrl"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    #[serde(rename = "$id")]
    pub id: String,
    #[serde(rename = "$createdAt")]
    pub created_at: String,
    #[serde(rename = "$updatedAt")]
    pub updated_at: String,
    #[serde(rename = "$permissions")]
    pub permissions: Vec<String>,
    pub function_id: String,
    pub deployment_id: String,
    pub trigger: String,
    pub status: String,
    pub request_method: String,
    pub request_path: String,
    pub request_headers: Vec<Header>,
    pub response_status_code: i64,
    pub response_body: String,
    pub response_headers: Vec<Header>,
    pub logs: String,
    pub errors: String,
    pub duration: f64,
    pub scheduled_at: Option<String>,
}

fn headers_of(value: &serde_json::Value) -> Vec<Header> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

impl From<ExecutionRow> for Execution {
    fn from(r: ExecutionRow) -> Self {
        Self {
            id: r.id,
            created_at: datetime(&r.created_at),
            updated_at: datetime(&r.updated_at),
            permissions: r
                .user_id
                .map(|user| vec![format!("read(\"user:{user}\")")])
                .unwrap_or_default(),
            function_id: r.function_id,
            deployment_id: r.deployment_id,
            trigger: r.trigger,
            status: r.status,
            request_method: r.request_method,
            request_path: r.request_path,
            request_headers: headers_of(&r.request_headers),
            response_status_code: r.response_status_code.into(),
            response_body: String::new(),
            response_headers: headers_of(&r.response_headers),
            logs: r.logs,
            errors: r.errors,
            duration: r.duration,
            scheduled_at: r.scheduled_at.as_ref().map(datetime),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Runtime {
    #[serde(rename = "$id")]
    pub id: String,
    pub key: String,
    pub name: String,
    pub version: String,
    pub base: String,
    pub image: String,
    pub logo: String,
    pub supports: Vec<String>,
}

impl From<model::catalogue::Runtime> for Runtime {
    fn from(r: model::catalogue::Runtime) -> Self {
        Self {
            image: r.image(),
            logo: r.logo(),
            base: "debian:bookworm-slim".into(),
            supports: vec!["amd64".into(), "arm64".into()],
            key: r.key.into(),
            name: r.name.into(),
            version: r.version.into(),
            id: r.id,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Specification {
    pub memory: u32,
    pub cpus: f64,
    pub enabled: bool,
    pub slug: String,
}

/// `{ total, <plural>: [...] }`.
pub fn list<T: Serialize>(plural: &str, total: i64, items: Vec<T>) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("total".into(), total.into());
    map.insert(
        plural.into(),
        serde_json::to_value(items).unwrap_or_default(),
    );
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn datetimes_have_millis_and_offset() {
        let at = Utc
            .with_ymd_and_hms(2020, 10, 15, 6, 38, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(datetime(&at), "2020-10-15T06:38:00.000+00:00");
    }

    #[test]
    fn runtime_model_fields() {
        let rt = model::catalogue::find_runtime("node-18.0").map(Runtime::from);
        let v = serde_json::to_value(rt).unwrap_or_default();
        assert_eq!(v["$id"], "node-18.0");
        assert_eq!(v["key"], "node");
        assert_eq!(v["name"], "Node.js");
        assert_eq!(v["version"], "18.0");
        assert_eq!(v["image"], "fnplat/runtime-node-18.0:latest");
        assert_eq!(v["logo"], "node.png");
        assert!(v["supports"].is_array());
        assert!(v["base"].is_string());
    }
}

/// Variable model (spec 3.4): a secret's `value` is always `""`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    #[serde(rename = "$id")]
    pub id: String,
    #[serde(rename = "$createdAt")]
    pub created_at: String,
    #[serde(rename = "$updatedAt")]
    pub updated_at: String,
    pub key: String,
    pub value: String,
    pub secret: bool,
    pub resource_type: String,
    pub resource_id: String,
}

impl From<crate::db::variables::VariableRow> for Variable {
    fn from(r: crate::db::variables::VariableRow) -> Self {
        Self {
            id: r.id,
            created_at: datetime(&r.created_at),
            updated_at: datetime(&r.updated_at),
            key: r.key,
            value: if r.secret { String::new() } else { r.value },
            secret: r.secret,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
        }
    }
}

impl Function {
    /// Fills `vars` with the function's variables (secret values blanked).
    pub fn with_vars(mut self, vars: Vec<crate::db::variables::VariableRow>) -> Self {
        self.vars = vars
            .into_iter()
            .map(|v| serde_json::to_value(Variable::from(v)).unwrap_or_default())
            .collect();
        self
    }
}
