//! Validation rules of the function and execution parameters (spec 2.1, 2.3), kept out of the
//! handlers so they can be unit-tested.
use crate::db::functions::{FunctionConfig, FunctionRow};
use crate::error::ApiError;
use crate::params::{opt_bool, opt_int};
use crate::settings::Settings;
use chrono::Utc;
use serde::Deserialize;

pub const MAX_TIMEOUT: i64 = 900;
pub const DEFAULT_TIMEOUT: i64 = 15;

fn invalid(param: &str, rule: &str) -> ApiError {
    ApiError::ArgumentInvalid(format!("Invalid `{param}` param: {rule}"))
}

/// Validates a path or custom id (spec 0.2).
pub fn uid<'a>(param: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if model::ids::is_valid_id(value) {
        Ok(value)
    } else {
        Err(invalid(
            param,
            "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char",
        ))
    }
}

/// Parameters of create (`POST /v1/functions`) and update (`PUT /v1/functions/{id}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionParams {
    pub function_id: Option<String>,
    pub name: Option<String>,
    pub runtime: Option<String>,
    pub execute: Option<Vec<String>>,
    pub events: Option<Vec<String>>,
    pub schedule: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub timeout: Option<i64>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub logging: Option<bool>,
    pub entrypoint: Option<String>,
    pub commands: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub installation_id: Option<String>,
    pub provider_repository_id: Option<String>,
    pub provider_branch: Option<String>,
    pub provider_root_directory: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub provider_silent_mode: Option<bool>,
    pub provider_branches: Option<Vec<String>>,
    pub provider_paths: Option<Vec<String>>,
    pub build_specification: Option<String>,
    pub runtime_specification: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub deployment_retention: Option<i64>,
}

fn check_len(param: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        let rule = if min == 0 {
            format!("Value must be a valid string and no longer than {max} chars")
        } else {
            format!("Value must be a valid string and at least {min} chars and no longer than {max} chars")
        };
        return Err(invalid(param, &rule));
    }
    Ok(())
}

fn check_list(
    param: &str,
    items: &[String],
    max_items: usize,
    max_len: usize,
) -> Result<(), ApiError> {
    if items.len() > max_items
        || items
            .iter()
            .any(|i| i.is_empty() || i.chars().count() > max_len)
    {
        return Err(invalid(
            param,
            &format!("Value must a valid array no longer than {max_items} items and Value must be a valid string and at least 1 chars and no longer than {max_len} chars"),
        ));
    }
    Ok(())
}

fn check_specification(param: &str, slug: &str) -> Result<(), ApiError> {
    if model::catalogue::find_specification(slug).is_none() {
        let slugs: Vec<_> = model::catalogue::SPECIFICATIONS
            .iter()
            .map(|s| s.slug)
            .collect();
        return Err(invalid(
            param,
            &format!("Specification must be one of: {}", slugs.join(", ")),
        ));
    }
    Ok(())
}

/// Checks a runtime id: unknown => 400; known but its image is not installed => 404.
pub fn check_runtime(settings: &Settings, runtime: &str) -> Result<(), ApiError> {
    if model::catalogue::find_runtime(runtime).is_none() {
        return Err(invalid(
            "runtime",
            "Value must be one of the runtimes of the catalogue (e.g. node-18.0)",
        ));
    }
    if !settings.runtime_installed(runtime) {
        return Err(ApiError::FunctionRuntimeUnsupported(format!(
            "Runtime \"{runtime}\" is not supported"
        )));
    }
    Ok(())
}

fn check_schedule(schedule: &str, allow_seconds: bool) -> Result<(), ApiError> {
    if schedule.is_empty() {
        return Ok(());
    }
    if crate::schedules::parse_cron(schedule, allow_seconds).is_err() {
        return Err(invalid(
            "schedule",
            "String must be a valid cron expression",
        ));
    }
    Ok(())
}

fn check_events(events: &[String]) -> Result<(), ApiError> {
    check_list("events", events, 100, 256)?;
    if events.iter().any(|e| e.starts_with("functions.")) {
        return Err(invalid(
            "events",
            "Triggering a function on a function event is not allowed.",
        ));
    }
    if events.iter().any(|e| {
        let parts: Vec<&str> = e.split('.').collect();
        !(2..=7).contains(&parts.len()) || parts.iter().any(|p| p.is_empty())
    }) {
        return Err(invalid(
            "events",
            "Value must be a valid event name: 2 to 7 dot-separated parts.",
        ));
    }
    Ok(())
}

impl FunctionParams {
    /// The configuration a create sets (all defaults filled in).
    pub fn into_new(self, settings: &Settings) -> Result<(String, FunctionConfig), ApiError> {
        let requested = self
            .function_id
            .clone()
            .ok_or_else(|| invalid("functionId", "Param \"functionId\" is not optional."))?;
        let id = model::ids::resolve_custom_id(&requested).ok_or_else(|| {
            invalid("functionId", "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char")
        })?;
        let runtime = self
            .runtime
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| invalid("runtime", "Param \"runtime\" is not optional."))?;
        let config = self.into_config(settings, None, runtime)?;
        Ok((id, config))
    }

    /// The configuration a full-replacement update sets (spec 2.1 "update").
    pub fn into_update(
        self,
        settings: &Settings,
        current: &FunctionRow,
    ) -> Result<FunctionConfig, ApiError> {
        let runtime = self
            .runtime
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| current.runtime.clone());
        self.into_config(settings, Some(current), runtime)
    }

    fn into_config(
        self,
        settings: &Settings,
        current: Option<&FunctionRow>,
        runtime: String,
    ) -> Result<FunctionConfig, ApiError> {
        let name = self
            .name
            .ok_or_else(|| invalid("name", "Param \"name\" is not optional."))?;
        check_len("name", &name, 1, 128)?;
        if current.map(|c| c.runtime != runtime).unwrap_or(true) {
            check_runtime(settings, &runtime)?;
        }
        let execute = self.execute.unwrap_or_default();
        check_list("execute", &execute, 100, 64)?;
        let events = self.events.unwrap_or_default();
        check_events(&events)?;
        let schedule = self.schedule.unwrap_or_default();
        check_schedule(&schedule, settings.schedules.allow_seconds)?;
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if !(1..=MAX_TIMEOUT).contains(&timeout) {
            return Err(invalid(
                "timeout",
                &format!("Value must be a valid range between 1 and {MAX_TIMEOUT}"),
            ));
        }
        let entrypoint = match (self.entrypoint.filter(|e| !e.is_empty()), current) {
            (Some(e), _) => e,
            (None, Some(c)) => c.entrypoint.clone(),
            (None, None) => String::new(),
        };
        check_len("entrypoint", &entrypoint, 0, 1028)?;
        let commands = self.commands.unwrap_or_default();
        check_len("commands", &commands, 0, 8192)?;
        let scopes = self.scopes.unwrap_or_default();
        check_list("scopes", &scopes, 100, 128)?;
        let installation_id = self.installation_id.unwrap_or_default();
        let provider_branch = self.provider_branch.unwrap_or_default();
        let provider_root_directory = self.provider_root_directory.unwrap_or_default();
        let provider_repository_id = match (self.provider_repository_id, current) {
            (Some(r), _) => r,
            (None, Some(c)) => c.provider_repository_id.clone(),
            (None, None) => String::new(),
        };
        for (param, value) in [
            ("installationId", &installation_id),
            ("providerRepositoryId", &provider_repository_id),
            ("providerBranch", &provider_branch),
            ("providerRootDirectory", &provider_root_directory),
        ] {
            check_len(param, value, 0, 128)?;
        }
        if !provider_repository_id.is_empty()
            && (installation_id.is_empty() || provider_branch.is_empty())
        {
            return Err(ApiError::ArgumentInvalid(
                "When connecting to VCS (Version Control System), you need to provide \"installationId\" and \"providerBranch\".".into(),
            ));
        }
        let provider_branches = match (self.provider_branches, current) {
            (Some(v), _) => v,
            (None, Some(c)) => c.provider_branches.clone(),
            (None, None) => Vec::new(),
        };
        check_list("providerBranches", &provider_branches, 100, 128)?;
        let provider_paths = match (self.provider_paths, current) {
            (Some(v), _) => v,
            (None, Some(c)) => c.provider_paths.clone(),
            (None, None) => Vec::new(),
        };
        check_list("providerPaths", &provider_paths, 100, 128)?;
        let build_specification = self
            .build_specification
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| model::catalogue::DEFAULT_SPECIFICATION.to_owned());
        check_specification("buildSpecification", &build_specification)?;
        let runtime_specification = self
            .runtime_specification
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| model::catalogue::DEFAULT_SPECIFICATION.to_owned());
        check_specification("runtimeSpecification", &runtime_specification)?;
        let deployment_retention = self.deployment_retention.unwrap_or(0);
        if !(0..=36500).contains(&deployment_retention) {
            return Err(invalid(
                "deploymentRetention",
                "Value must be a valid range between 0 and 36,500",
            ));
        }
        let live = match current {
            None => true,
            Some(c) => {
                let changed = c.name != name
                    || c.entrypoint != entrypoint
                    || c.commands != commands
                    || c.provider_root_directory != provider_root_directory
                    || c.runtime != runtime;
                c.live && !changed
            }
        };
        Ok(FunctionConfig {
            name,
            execute,
            enabled: self.enabled.unwrap_or(true),
            live,
            logging: self.logging.unwrap_or(true),
            runtime,
            deployment_retention: deployment_retention as i32,
            scopes,
            events,
            schedule,
            timeout: timeout as i32,
            entrypoint,
            commands,
            installation_id,
            provider_repository_id,
            provider_branch,
            provider_root_directory,
            provider_silent_mode: self.provider_silent_mode.unwrap_or(false),
            provider_branches,
            provider_paths,
            build_specification,
            runtime_specification,
            updated_at: Utc::now(),
        })
    }
}

pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
pub const MAX_BODY_CHARS: usize = 10_485_760;

/// Parameters of createExecution.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionParams {
    pub body: Option<String>,
    #[serde(default, rename = "async", deserialize_with = "opt_bool")]
    pub is_async: Option<bool>,
    pub path: Option<String>,
    pub method: Option<String>,
    pub headers: Option<serde_json::Value>,
    pub scheduled_at: Option<String>,
}

/// A validated execution request.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRequest {
    pub body: String,
    pub is_async: bool,
    pub path: String,
    pub method: String,
    /// Caller headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// `scheduledAt` as given (only with `async`); checked against the clock by
    /// [`crate::schedules::check_scheduled_at`].
    pub scheduled_at: Option<String>,
}

impl ExecutionParams {
    pub fn validate(self) -> Result<ExecutionRequest, ApiError> {
        let headers = validate_headers(self.headers)?;
        let body = self.body.unwrap_or_default();
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(invalid(
                "body",
                &format!("Value must be a valid string and no longer than {MAX_BODY_CHARS} chars"),
            ));
        }
        let path = self
            .path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        check_len("path", &path, 1, 2048)?;
        let method = self
            .method
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "POST".to_owned());
        if !METHODS.contains(&method.as_str()) {
            return Err(invalid(
                "method",
                &format!("Value must be one of ({})", METHODS.join(", ")),
            ));
        }
        let is_async = self.is_async.unwrap_or(false);
        if self.scheduled_at.as_deref().is_some_and(|s| !s.is_empty()) && !is_async {
            return Err(ApiError::BadRequest("Scheduled executions must run asynchronously. Set scheduledAt to a future date, or set async to true.".into()));
        }
        Ok(ExecutionRequest {
            body,
            is_async,
            path,
            method,
            headers,
            scheduled_at: self.scheduled_at.filter(|s| !s.is_empty()),
        })
    }
}

fn bad_headers(reason: &str) -> ApiError {
    ApiError::ArgumentInvalid(format!(
        "Invalid `headers` param: Invalid headers: {reason}"
    ))
}

/// `headers` as an object or a JSON string of one; rules of spec 2.3.
pub fn validate_headers(
    value: Option<serde_json::Value>,
) -> Result<Vec<(String, String)>, ApiError> {
    let value = match value {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(serde_json::Value::String(s)) => serde_json::from_str::<serde_json::Value>(&s)
            .map_err(|_| bad_headers("Value must be a valid JSON object"))?,
        Some(v) => v,
    };
    let object = match value {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Array(a) if a.is_empty() => return Ok(Vec::new()),
        _ => return Err(bad_headers("Value must be a valid JSON object")),
    };
    if object.len() > 100 {
        return Err(bad_headers("at most 100 headers are allowed"));
    }
    let mut out = Vec::with_capacity(object.len());
    let mut size = 0usize;
    for (key, value) in object {
        let valid_key = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && key
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if !valid_key {
            return Err(bad_headers(&format!("header name {key:?} may only contain a-z, A-Z, 0-9 and hyphens, starting and ending with a letter or digit")));
        }
        let lower = key.to_ascii_lowercase();
        if lower.starts_with("x-appwrite-") {
            return Err(bad_headers(&format!(
                "header {key:?} is reserved (x-appwrite-*)"
            )));
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(bad_headers(&format!("value of {key:?} must be a string"))),
        };
        size += key.len() + value.len();
        out.push((lower, value));
    }
    if size >= 16384 {
        return Err(bad_headers(
            "the headers must be smaller than 16384 bytes in total",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        serde_json::from_value(json!({"auth": {"api_key": "k"}})).unwrap_or_else(|e| panic!("{e}"))
    }

    fn params(v: serde_json::Value) -> FunctionParams {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn create_fills_defaults() {
        let (id, c) =
            params(json!({"functionId": "unique()", "name": "n", "runtime": "node-18.0"}))
                .into_new(&settings())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.len(), 20);
        assert_eq!(
            (c.timeout, c.enabled, c.logging, c.live),
            (15, true, true, true)
        );
        assert_eq!(c.build_specification, "s-1vcpu-512mb");
        assert!(c.execute.is_empty() && c.events.is_empty() && c.schedule.is_empty());
    }

    #[test]
    fn create_rejections() {
        let s = settings();
        let kind = |v| params(v).into_new(&s).err().map(|e| e.kind());
        assert_eq!(
            kind(json!({"functionId": "-x", "name": "n", "runtime": "node-18.0"})),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(json!({"functionId": "x", "name": "", "runtime": "node-18.0"})),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(json!({"functionId": "x", "name": "a".repeat(129), "runtime": "node-18.0"})),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(json!({"functionId": "x", "name": "n", "runtime": "cobol-1"})),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(json!({"functionId": "x", "name": "n", "runtime": "python-3.12"})),
            Some("function_runtime_unsupported")
        );
        assert_eq!(
            kind(json!({"functionId": "x", "name": "n", "runtime": "node-18.0", "timeout": 0})),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(json!({"functionId": "x", "name": "n", "runtime": "node-18.0", "timeout": 901})),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(
                json!({"functionId": "x", "name": "n", "runtime": "node-18.0", "events": ["functions.*"]})
            ),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(
                json!({"functionId": "x", "name": "n", "runtime": "node-18.0", "runtimeSpecification": "huge"})
            ),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(
                json!({"functionId": "x", "name": "n", "runtime": "node-18.0", "schedule": "not cron"})
            ),
            Some("general_argument_invalid")
        );
        assert_eq!(
            kind(
                json!({"functionId": "x", "name": "n", "runtime": "node-18.0", "schedule": "*/5 * * * *"})
            ),
            None
        );
    }

    #[test]
    fn headers_rules() {
        assert_eq!(
            validate_headers(Some(json!({"X-Custom": "1"}))).ok(),
            Some(vec![("x-custom".into(), "1".into())])
        );
        assert_eq!(
            validate_headers(Some(json!("{\"a\":\"b\"}"))).ok(),
            Some(vec![("a".into(), "b".into())])
        );
        assert!(validate_headers(Some(json!({"x-appwrite-key": "1"}))).is_err());
        assert!(validate_headers(Some(json!({"-bad": "1"}))).is_err());
        assert!(validate_headers(Some(json!({"bad-": "1"}))).is_err());
        assert!(validate_headers(Some(json!({"ba d": "1"}))).is_err());
        assert!(validate_headers(Some(json!("not json"))).is_err());
        let many: serde_json::Map<_, _> = (0..101).map(|i| (format!("h{i}"), json!("v"))).collect();
        assert!(validate_headers(Some(serde_json::Value::Object(many))).is_err());
        assert!(validate_headers(Some(json!({"big": "x".repeat(16384)}))).is_err());
    }

    #[test]
    fn execution_defaults_and_rules() {
        let r = ExecutionParams::default()
            .validate()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.path.as_str(), r.method.as_str(), r.is_async),
            ("/", "POST", false)
        );
        let bad = ExecutionParams {
            method: Some("TRACE".into()),
            ..Default::default()
        }
        .validate();
        assert!(bad.is_err());
        let sched = ExecutionParams {
            scheduled_at: Some("2030-01-01T00:00:00.000+00:00".into()),
            ..Default::default()
        }
        .validate();
        assert_eq!(sched.err().map(|e| e.kind()), Some("general_bad_request"));
    }
}
