//! Response formats (spec 14): every SDK generation is served the model version it asks for.
//!
//! Handlers always produce the contract's 1.9.5 models (`wire.rs`). One middleware (`middleware`,
//! wrapped around the whole app in `startup.rs`) reads `X-Appwrite-Response-Format`, works out
//! which model a successful JSON response carries from the matched route, and rewrites the body
//! with the pure function `convert`. No header means the newest format (`LATEST`).
//!
//! Formats, as read from the official SDKs' models:
//! - `2.5.0` (python `appwrite` 25–27): Function gains `description` and `emailEnabled`,
//!   Variable gains `description` (plus everything of 2.0.0).
//! - `2.0.0` (python 24.x): Execution has `resourceId`/`resourceType` instead of `functionId`;
//!   Function gains `interval` (minutes between scheduled runs, 0 = none).
//! - `1.9.x` (node-appwrite 23–27, python 17–23): the contract's native shapes.
//! - below 1.9.0, 1.7.0, 1.6.0 and 1.4.0: Appwrite's downgrades (spec 14, "Response downgrades").
use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use serde_json::{Map, Value};
use std::fmt;

pub mod queries;

pub const HEADER: &str = "x-appwrite-response-format";

/// A response-format version (`major.minor.patch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

/// Served when the request names no (or an unreadable) format.
pub const LATEST: Version = Version(2, 5, 0);

impl Version {
    /// `1.9.5`, `1.9`, `2`; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().split('.');
        let mut next = |required: bool| -> Option<u32> {
            match parts.next() {
                Some(p) => p.parse().ok(),
                None if required => None,
                None => Some(0),
            }
        };
        let v = Version(next(true)?, next(false)?, next(false)?);
        parts.next().is_none().then_some(v)
    }

    /// The version a request asks for.
    pub fn of_header(raw: Option<&str>) -> Self {
        raw.and_then(Self::parse).unwrap_or(LATEST)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The response models whose shape depends on the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Function,
    Deployment,
    Execution,
    Variable,
    Runtime,
}

impl Model {
    /// The key of the item array in this model's list (`{total, <plural>}`).
    pub fn plural(self) -> &'static str {
        match self {
            Model::Function => "functions",
            Model::Deployment => "deployments",
            Model::Execution => "executions",
            Model::Variable => "variables",
            Model::Runtime => "runtimes",
        }
    }

    /// The model a route (its actix match pattern, e.g. `/v1/functions/{functionId}/executions`)
    /// answers with, or `None` for routes whose output never changes between formats.
    pub fn of_route(pattern: &str) -> Option<Self> {
        let segments: Vec<&str> = pattern
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match segments.as_slice() {
            ["v1", "functions"] => Some(Model::Function),
            ["v1", "functions", "runtimes"] => Some(Model::Runtime),
            ["v1", "functions", "specifications" | "templates" | "usage", ..] => None,
            ["v1", "functions", _id] => Some(Model::Function),
            ["v1", "functions", _id, "deployment"] => Some(Model::Function),
            ["v1", "functions", _id, "deployments", _, "download"] => None,
            ["v1", "functions", _id, "deployments", _, "build", "download"] => None,
            ["v1", "functions", _id, "deployments", ..] => Some(Model::Deployment),
            ["v1", "functions", _id, "executions", ..] => Some(Model::Execution),
            ["v1", "functions", _id, "variables", ..] => Some(Model::Variable),
            ["v1", "project", "variables", ..] => Some(Model::Variable),
            _ => None,
        }
    }
}

/// Whether `convert` changes anything for this model at this format (the middleware only
/// buffers and re-encodes bodies when it does).
pub fn changes(model: Model, format: Version) -> bool {
    let native = Version(1, 9, 0) <= format && format < Version(2, 0, 0);
    match model {
        // Runtime only differs below 1.6.0 (no `key`).
        Model::Runtime => format < Version(1, 6, 0),
        // Deployment is the same from 1.7.0 on.
        Model::Deployment => format < Version(1, 7, 0),
        Model::Function | Model::Execution | Model::Variable => !native,
    }
}

/// Converts one response body of `model` (a single model or its list) from the native 1.9.5 shape
/// to `format`. Values that are neither (e.g. errors) come back unchanged.
pub fn convert(model: Model, format: Version, value: Value) -> Value {
    let Value::Object(mut map) = value else {
        return value;
    };
    if map.contains_key("total") {
        if let Some(Value::Array(items)) = map.remove(model.plural()) {
            let items = items
                .into_iter()
                .map(|item| convert_one(model, format, item))
                .collect();
            map.insert(model.plural().into(), Value::Array(items));
            return Value::Object(map);
        }
    }
    convert_one(model, format, Value::Object(map))
}

fn convert_one(model: Model, format: Version, value: Value) -> Value {
    let Value::Object(mut m) = value else {
        return value;
    };
    match model {
        Model::Function => function(format, &mut m),
        Model::Deployment => deployment(format, &mut m),
        Model::Execution => execution(format, &mut m),
        Model::Variable => variable(format, &mut m),
        Model::Runtime => {
            if format < Version(1, 6, 0) {
                m.remove("key");
            }
        }
    }
    Value::Object(m)
}

/// Sets `key` unless the handler already produced it (a newer `wire.rs` wins).
fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    m.entry(key.to_owned()).or_insert(value);
}

fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = m.remove(from) {
        m.insert(to.to_owned(), v);
    }
}

fn drop(m: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        m.remove(*k);
    }
}

fn function(format: Version, m: &mut Map<String, Value>) {
    if let Some(Value::Array(vars)) = m.remove("vars") {
        let vars = vars
            .into_iter()
            .map(|v| convert_one(Model::Variable, format, v))
            .collect();
        m.insert("vars".into(), Value::Array(vars));
    }
    if format >= Version(2, 0, 0) {
        default(m, "interval", Value::from(0));
    }
    if format >= Version(2, 5, 0) {
        default(m, "description", Value::from(""));
        default(m, "emailEnabled", Value::from(false));
    }
    if format < Version(1, 9, 0) {
        let spec = m.get("buildSpecification").cloned().unwrap_or_default();
        m.insert("specification".into(), spec);
        drop(m, &["buildSpecification", "runtimeSpecification"]);
    }
    if format < Version(1, 7, 0) {
        rename(m, "deploymentId", "deployment");
        drop(
            m,
            &[
                "deploymentCreatedAt",
                "latestDeploymentId",
                "latestDeploymentCreatedAt",
                "latestDeploymentStatus",
            ],
        );
    }
    if format < Version(1, 6, 0) {
        drop(m, &["scopes", "specification"]);
    }
    if format < Version(1, 4, 0) {
        // Appwrite computed these from the cron; this platform keeps no such fields.
        default(m, "scheduleNext", Value::from(""));
        default(m, "schedulePrevious", Value::from(""));
    }
}

fn deployment(format: Version, m: &mut Map<String, Value>) {
    if format < Version(1, 7, 0) {
        rename(m, "sourceSize", "size");
        rename(m, "buildDuration", "buildTime");
        drop(m, &["totalSize", "screenshotLight", "screenshotDark"]);
    }
    if format < Version(1, 4, 0) {
        let build = m.get("buildSize").and_then(Value::as_i64).unwrap_or(0);
        if let Some(size) = m.get("size").and_then(Value::as_i64) {
            m.insert("size".into(), Value::from(size + build));
        }
        rename(m, "buildLogs", "buildStdout");
        default(m, "buildStderr", Value::from(""));
    }
}

fn execution(format: Version, m: &mut Map<String, Value>) {
    if format >= Version(2, 0, 0) {
        if let Some(id) = m.remove("functionId") {
            default(m, "resourceId", id);
        }
        default(m, "resourceId", Value::from(""));
        default(m, "resourceType", Value::from("functions"));
    }
    if format < Version(1, 6, 0) {
        let failed_http = m.get("status").and_then(Value::as_str) == Some("completed")
            && m.get("responseStatusCode")
                .and_then(Value::as_i64)
                .is_some_and(|code| code >= 400);
        if failed_http {
            m.insert("status".into(), Value::from("failed"));
        }
        m.remove("scheduledAt");
    }
    if format < Version(1, 4, 0) {
        rename(m, "responseStatusCode", "statusCode");
        rename(m, "responseBody", "response");
        rename(m, "logs", "stdout");
        rename(m, "errors", "stderr");
    }
}

fn variable(format: Version, m: &mut Map<String, Value>) {
    if format >= Version(2, 5, 0) {
        default(m, "description", Value::from(""));
    }
    if format < Version(1, 7, 0) {
        m.remove("secret");
    }
    if format < Version(1, 4, 0) {
        rename(m, "resourceId", "functionId");
    }
}

/// A request whose body older formats shape differently (spec 14, "Request upgrades").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateFunction,
    UpdateFunction,
    CreateExecution,
    CreateVariable,
    UpdateVariable,
    CreateTemplateDeployment,
}

impl Operation {
    /// The operation of a method on a route pattern, if its body is ever upgraded.
    pub fn of_route(method: &str, pattern: &str) -> Option<Self> {
        let segments: Vec<&str> = pattern
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match (method, segments.as_slice()) {
            ("POST", ["v1", "functions"]) => Some(Self::CreateFunction),
            ("PUT", ["v1", "functions", id]) if id.starts_with('{') => Some(Self::UpdateFunction),
            ("POST", ["v1", "functions", _, "executions"]) => Some(Self::CreateExecution),
            ("POST", ["v1", "functions", _, "deployments", "template"]) => {
                Some(Self::CreateTemplateDeployment)
            }
            ("POST", ["v1", "functions", _, "variables"] | ["v1", "project", "variables"]) => {
                Some(Self::CreateVariable)
            }
            ("PUT", ["v1", "functions", _, "variables", _] | ["v1", "project", "variables", _]) => {
                Some(Self::UpdateVariable)
            }
            _ => None,
        }
    }
}

/// Requests of formats from this one on are never upgraded.
const NEWEST_UPGRADE: Version = Version(1, 9, 5);

/// The build command Appwrite filled in for clients older than 1.4.0 that sent none.
fn default_commands(runtime: &str) -> Option<&'static str> {
    let key = runtime.split('-').next().unwrap_or_default();
    Some(match key {
        "node" => "npm install",
        "python" => "pip install --no-cache-dir -r requirements.txt",
        "dart" => "dart pub get",
        "php" => "composer update --no-interaction --ignore-platform-reqs --optimize-autoloader --prefer-dist --no-dev",
        "ruby" => "bundle install",
        "swift" => "swift package resolve",
        "dotnet" => "dotnet restore",
        _ => return None,
    })
}

/// Upgrades the JSON body an older client sent to today's parameters (pure; non-objects pass).
pub fn upgrade_request(operation: Operation, format: Version, body: Value) -> Value {
    let Value::Object(mut m) = body else {
        return body;
    };
    let absent = |m: &Map<String, Value>, k: &str| m.get(k).is_none_or(Value::is_null);
    match operation {
        Operation::CreateFunction | Operation::UpdateFunction => {
            if format < Version(1, 4, 0) && absent(&m, "commands") {
                let commands = m
                    .get("runtime")
                    .and_then(Value::as_str)
                    .and_then(default_commands);
                if let Some(commands) = commands {
                    m.insert("commands".into(), Value::from(commands));
                }
            }
            if format < Version(1, 7, 0) && operation == Operation::CreateFunction {
                // 1.7 moved templates to createTemplateDeployment.
                drop(
                    &mut m,
                    &[
                        "templateRepository",
                        "templateOwner",
                        "templateRootDirectory",
                        "templateVersion",
                        "templateBranch",
                    ],
                );
            }
            if format < Version(1, 9, 0) {
                if let Some(spec) = m.remove("specification").filter(|v| !v.is_null()) {
                    for key in ["buildSpecification", "runtimeSpecification"] {
                        if absent(&m, key) {
                            m.insert(key.into(), spec.clone());
                        }
                    }
                }
            }
        }
        Operation::CreateExecution => {
            if format < Version(1, 4, 0) && absent(&m, "body") {
                if let Some(data) = m.remove("data") {
                    m.insert("body".into(), data);
                }
            }
        }
        Operation::CreateTemplateDeployment => {
            // 1.8.0 named a tag `version`; 1.8.1 has `type` + `reference`.
            if format < Version(1, 9, 0) {
                let version = m
                    .remove("version")
                    .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()));
                if let Some(version) = version {
                    m.insert("type".into(), Value::from("tag"));
                    m.insert("reference".into(), version);
                }
            }
        }
        Operation::CreateVariable | Operation::UpdateVariable => {
            if format < Version(1, 7, 0) && absent(&m, "secret") {
                m.insert("secret".into(), Value::from(false));
            }
            if operation == Operation::CreateVariable
                && format < NEWEST_UPGRADE
                && absent(&m, "variableId")
            {
                m.insert("variableId".into(), Value::from("unique()"));
            }
        }
    }
    Value::Object(m)
}

/// Rewrites the JSON body of an old client's request (see `upgrade_request`).
async fn upgrade_body(req: &mut ServiceRequest, format: Version) -> Result<(), actix_web::Error> {
    if format >= NEWEST_UPGRADE {
        return Ok(());
    }
    let Some(operation) = req
        .match_pattern()
        .and_then(|p| Operation::of_route(req.method().as_str(), &p))
    else {
        return Ok(());
    };
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return Ok(());
    }
    let bytes = req.extract::<actix_web::web::Bytes>().await?;
    let out = match serde_json::from_slice::<Value>(&bytes) {
        Ok(body) => serde_json::to_vec(&upgrade_request(operation, format, body))
            .map(actix_web::web::Bytes::from)
            .unwrap_or(bytes),
        // the handler reports the malformed body
        Err(_) => bytes,
    };
    req.headers_mut().remove(header::CONTENT_LENGTH);
    req.set_payload(actix_web::dev::Payload::from(out));
    Ok(())
}

/// The query string a request's handler should read instead of its own, if it differs: an old
/// client's list queries (`queries::upgrade_pairs`), and `type=output` on the pre-1.7 route
/// `.../deployments/{deploymentId}/build/download` (it always served the build output).
pub fn upgraded_query_string(
    method: &str,
    pattern: &str,
    format: Version,
    query_string: &str,
) -> Option<String> {
    let build_download = method == "GET" && pattern.ends_with("/build/download");
    let collection = (method == "GET" && format < Version(1, 7, 0))
        .then(|| queries::Collection::of_list_route(pattern))
        .flatten();
    if !build_download && collection.is_none() {
        return None;
    }
    // An unreadable query string is the handler's to report.
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query_string).ok()?;
    let mut out = match collection {
        Some(collection) => queries::upgrade_pairs(collection, format, pairs.clone()),
        None => pairs.clone(),
    };
    if build_download {
        out.retain(|(k, _)| k != "type");
        out.push(("type".into(), "output".into()));
    }
    if out == pairs {
        return None;
    }
    serde_urlencoded::to_string(&out).ok()
}

/// Points the request at its upgraded query string (see `upgraded_query_string`).
fn upgrade_query(req: &mut ServiceRequest, format: Version) {
    let Some(pattern) = req.match_pattern() else {
        return;
    };
    let Some(query) =
        upgraded_query_string(req.method().as_str(), &pattern, format, req.query_string())
    else {
        return;
    };
    let path_and_query = format!("{}?{query}", req.path());
    let mut parts = req.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return,
    }
    if let Ok(uri) = actix_web::http::Uri::from_parts(parts) {
        req.head_mut().uri = uri;
    }
}

/// The one place conversions happen: an old client's JSON request body is upgraded
/// (`upgrade_request`), and successful JSON responses of the routes in `Model::of_route` are
/// re-encoded for the request's `X-Appwrite-Response-Format`.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let format = Version::of_header(req.headers().get(HEADER).and_then(|v| v.to_str().ok()));
    upgrade_body(&mut req, format).await?;
    upgrade_query(&mut req, format);
    let mut res = next.call(req).await?;
    // The python SDK reads `Content-Type` of every answer, 204 included (KeyError without it), and
    // parses JSON when it says so: an empty 204 must carry a non-JSON content type.
    if res.status() == StatusCode::NO_CONTENT && !res.headers().contains_key(header::CONTENT_TYPE) {
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    let model = res
        .request()
        .match_pattern()
        .and_then(|p| Model::of_route(&p));
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let model = match model {
        Some(model) if res.status().is_success() && is_json && changes(model, format) => model,
        _ => return Ok(res.map_into_boxed_body()),
    };
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes = match body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(err) => {
            let err: Box<dyn std::error::Error> = err.into();
            let err =
                crate::error::ApiError::internal(anyhow::anyhow!("reading response body: {err}"));
            return Ok(ServiceResponse::new(
                req,
                actix_web::HttpResponse::from_error(err),
            ));
        }
    };
    let out = match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) => serde_json::to_vec(&convert(model, format, value)).unwrap_or(bytes.to_vec()),
        Err(_) => bytes.to_vec(),
    };
    head.headers_mut().remove(header::CONTENT_LENGTH);
    head.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res = head.set_body(BoxBody::new(out));
    Ok(ServiceResponse::new(req, res))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn native_function() -> Value {
        json!({
            "$id": "fn1", "$createdAt": "2020-10-15T06:38:00.000+00:00",
            "$updatedAt": "2020-10-15T06:38:00.000+00:00", "execute": ["any"], "name": "Hello",
            "enabled": true, "live": true, "logging": true, "runtime": "node-18.0",
            "deploymentRetention": 0, "deploymentId": "dep1",
            "deploymentCreatedAt": "2020-10-15T06:38:00.000+00:00", "latestDeploymentId": "dep1",
            "latestDeploymentCreatedAt": "2020-10-15T06:38:00.000+00:00",
            "latestDeploymentStatus": "ready", "scopes": ["users.read"],
            "vars": [native_variable()], "events": [], "schedule": "", "timeout": 15,
            "entrypoint": "index.js", "commands": "npm install", "version": "v5",
            "installationId": "", "providerRepositoryId": "", "providerBranch": "",
            "providerRootDirectory": "", "providerSilentMode": false, "providerBranches": [],
            "providerPaths": [], "buildSpecification": "s-1vcpu-512mb",
            "runtimeSpecification": "s-1vcpu-1gb"
        })
    }

    fn native_variable() -> Value {
        json!({
            "$id": "v1", "$createdAt": "2020-10-15T06:38:00.000+00:00",
            "$updatedAt": "2020-10-15T06:38:00.000+00:00", "key": "K", "value": "",
            "secret": true, "resourceType": "function", "resourceId": "fn1"
        })
    }

    fn native_deployment() -> Value {
        json!({
            "$id": "dep1", "$createdAt": "2020-10-15T06:38:00.000+00:00",
            "$updatedAt": "2020-10-15T06:38:00.000+00:00", "type": "cli", "resourceId": "fn1",
            "resourceType": "functions", "entrypoint": "index.js", "sourceSize": 100,
            "buildSize": 50, "totalSize": 150, "buildId": "", "activate": true,
            "screenshotLight": "", "screenshotDark": "", "status": "ready",
            "buildLogs": "ok", "buildDuration": 3
        })
    }

    fn native_execution() -> Value {
        json!({
            "$id": "ex1", "$createdAt": "2020-10-15T06:38:00.000+00:00",
            "$updatedAt": "2020-10-15T06:38:00.000+00:00", "$permissions": [],
            "functionId": "fn1", "deploymentId": "dep1", "trigger": "http",
            "status": "completed", "requestMethod": "GET", "requestPath": "/",
            "requestHeaders": [], "responseStatusCode": 404, "responseBody": "nope",
            "responseHeaders": [], "logs": "l", "errors": "e", "duration": 0.5,
            "scheduledAt": null
        })
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    #[test]
    fn versions_parse_and_default_to_latest() {
        assert_eq!(Version::parse("1.9.5"), Some(Version(1, 9, 5)));
        assert_eq!(Version::parse("2.5"), Some(Version(2, 5, 0)));
        assert_eq!(Version::parse("1"), Some(Version(1, 0, 0)));
        assert_eq!(Version::parse("1.x"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert_eq!(Version::of_header(None), LATEST);
        assert_eq!(Version::of_header(Some("garbage")), LATEST);
        assert_eq!(Version::of_header(Some("0.12.0")), Version(0, 12, 0));
        assert!(Version(1, 9, 5) < Version(1, 10, 0));
        assert_eq!(Version(1, 9, 5).to_string(), "1.9.5");
    }

    #[test]
    fn routes_map_to_models() {
        use Model::*;
        let cases = [
            ("/v1/functions", Some(Function)),
            ("/v1/functions/{functionId}", Some(Function)),
            ("/v1/functions/{functionId}/deployment", Some(Function)),
            ("/v1/functions/runtimes", Some(Runtime)),
            ("/v1/functions/specifications", None),
            ("/v1/functions/{functionId}/deployments", Some(Deployment)),
            (
                "/v1/functions/{functionId}/deployments/duplicate",
                Some(Deployment),
            ),
            (
                "/v1/functions/{functionId}/deployments/{deploymentId}",
                Some(Deployment),
            ),
            (
                "/v1/functions/{functionId}/deployments/{deploymentId}/status",
                Some(Deployment),
            ),
            (
                "/v1/functions/{functionId}/deployments/{deploymentId}/download",
                None,
            ),
            ("/v1/functions/{functionId}/executions", Some(Execution)),
            (
                "/v1/functions/{functionId}/executions/{executionId}",
                Some(Execution),
            ),
            (
                "/v1/functions/{functionId}/variables/{variableId}",
                Some(Variable),
            ),
            ("/v1/proxy/rules", None),
            ("/health/readyz", None),
        ];
        for (pattern, model) in cases {
            assert_eq!(Model::of_route(pattern), model, "{pattern}");
        }
    }

    #[test]
    fn native_1_9_formats_are_unchanged() {
        for f in [Version(1, 9, 0), Version(1, 9, 5), Version(1, 9, 6)] {
            for (model, v) in [
                (Model::Function, native_function()),
                (Model::Deployment, native_deployment()),
                (Model::Execution, native_execution()),
                (Model::Variable, native_variable()),
            ] {
                assert!(!changes(model, f));
                assert_eq!(convert(model, f, v.clone()), v);
            }
        }
    }

    #[test]
    fn format_2_0_execution_has_resource_id_and_type() {
        let e = convert(Model::Execution, Version(2, 0, 0), native_execution());
        assert_eq!(e["resourceId"], "fn1");
        assert_eq!(e["resourceType"], "functions");
        assert!(e.get("functionId").is_none());
        let f = convert(Model::Function, Version(2, 0, 0), native_function());
        assert_eq!(f["interval"], 0);
        assert!(f.get("description").is_none());
        assert!(f.get("emailEnabled").is_none());
        assert!(f["vars"][0].get("description").is_none());
    }

    #[test]
    fn format_2_5_adds_descriptions_and_email_enabled() {
        let f = convert(Model::Function, LATEST, native_function());
        assert_eq!(f["description"], "");
        assert_eq!(f["emailEnabled"], false);
        assert_eq!(f["interval"], 0);
        assert_eq!(f["vars"][0]["description"], "");
        assert_eq!(f["buildSpecification"], "s-1vcpu-512mb");
        let v = convert(Model::Variable, LATEST, native_variable());
        assert_eq!(v["description"], "");
        assert_eq!(v["secret"], true);
        let e = convert(Model::Execution, LATEST, native_execution());
        assert_eq!(e["resourceId"], "fn1");
        assert_eq!(e["scheduledAt"], Value::Null);
        // Deployment and Runtime are unchanged.
        assert_eq!(
            convert(Model::Deployment, LATEST, native_deployment()),
            native_deployment()
        );
    }

    #[test]
    fn values_the_handler_already_set_win() {
        let mut f = native_function();
        f["description"] = json!("set by wire.rs");
        let f = convert(Model::Function, LATEST, f);
        assert_eq!(f["description"], "set by wire.rs");
    }

    #[test]
    fn lists_convert_every_item_and_keep_total() {
        let list = json!({"total": 2, "executions": [native_execution(), native_execution()]});
        let out = convert(Model::Execution, LATEST, list);
        assert_eq!(out["total"], 2);
        assert_eq!(out["executions"][1]["resourceId"], "fn1");
        assert!(out["executions"][0].get("functionId").is_none());
    }

    #[test]
    fn format_1_8_has_specification() {
        let f = convert(Model::Function, Version(1, 8, 0), native_function());
        assert_eq!(f["specification"], "s-1vcpu-512mb");
        assert!(f.get("buildSpecification").is_none());
        assert!(f.get("runtimeSpecification").is_none());
        assert_eq!(f["deploymentId"], "dep1");
        assert_eq!(f["scopes"], json!(["users.read"]));
    }

    #[test]
    fn format_1_6_drops_deployment_details() {
        let f = convert(Model::Function, Version(1, 6, 0), native_function());
        assert_eq!(f["deployment"], "dep1");
        for gone in [
            "deploymentId",
            "deploymentCreatedAt",
            "latestDeploymentId",
            "latestDeploymentStatus",
        ] {
            assert!(f.get(gone).is_none(), "{gone}");
        }
        assert_eq!(f["scopes"], json!(["users.read"]));
        let d = convert(Model::Deployment, Version(1, 6, 0), native_deployment());
        assert_eq!(d["size"], 100);
        assert_eq!(d["buildTime"], 3);
        for gone in [
            "sourceSize",
            "buildDuration",
            "totalSize",
            "screenshotLight",
            "screenshotDark",
        ] {
            assert!(d.get(gone).is_none(), "{gone}");
        }
        let v = convert(Model::Variable, Version(1, 6, 0), native_variable());
        assert!(v.get("secret").is_none());
        let e = convert(Model::Execution, Version(1, 6, 0), native_execution());
        assert_eq!(e["status"], "completed");
        assert!(e.get("scheduledAt").is_some());
    }

    #[test]
    fn format_1_5_fails_http_errors_and_drops_scopes() {
        let e = convert(Model::Execution, Version(1, 5, 0), native_execution());
        assert_eq!(e["status"], "failed");
        assert!(e.get("scheduledAt").is_none());
        assert_eq!(e["functionId"], "fn1");
        let f = convert(Model::Function, Version(1, 5, 0), native_function());
        assert!(f.get("scopes").is_none());
        assert!(f.get("specification").is_none());
        let rt = json!({"$id": "node-18.0", "key": "node", "name": "Node.js", "version": "18.0",
            "base": "b", "image": "i", "logo": "node.png", "supports": []});
        assert!(changes(Model::Runtime, Version(1, 5, 0)));
        assert!(!changes(Model::Runtime, Version(1, 6, 0)));
        assert!(convert(Model::Runtime, Version(1, 5, 0), rt.clone())
            .get("key")
            .is_none());
        assert_eq!(convert(Model::Runtime, LATEST, rt.clone()), rt);
    }

    #[test]
    fn format_1_0_renames_execution_and_deployment_outputs() {
        let e = convert(Model::Execution, Version(1, 0, 0), native_execution());
        assert_eq!(e["statusCode"], 404);
        assert_eq!(e["response"], "nope");
        assert_eq!(e["stdout"], "l");
        assert_eq!(e["stderr"], "e");
        for gone in ["responseStatusCode", "responseBody", "logs", "errors"] {
            assert!(e.get(gone).is_none(), "{gone}");
        }
        let d = convert(Model::Deployment, Version(1, 0, 0), native_deployment());
        assert_eq!(d["size"], 150);
        assert_eq!(d["buildStdout"], "ok");
        assert_eq!(d["buildStderr"], "");
        let v = convert(Model::Variable, Version(1, 0, 0), native_variable());
        assert_eq!(v["functionId"], "fn1");
        assert!(v.get("resourceId").is_none());
        let f = convert(Model::Function, Version(1, 0, 0), native_function());
        assert!(keys(&f).contains(&"scheduleNext".to_string()));
        assert!(f["vars"][0].get("secret").is_none());
    }

    #[test]
    fn operations_map_from_method_and_route() {
        use Operation::*;
        let cases = [
            ("POST", "/v1/functions", Some(CreateFunction)),
            ("PUT", "/v1/functions/{functionId}", Some(UpdateFunction)),
            ("PUT", "/v1/functions/runtimes", None),
            ("GET", "/v1/functions", None),
            (
                "POST",
                "/v1/functions/{functionId}/executions",
                Some(CreateExecution),
            ),
            (
                "POST",
                "/v1/functions/{functionId}/variables",
                Some(CreateVariable),
            ),
            ("POST", "/v1/project/variables", Some(CreateVariable)),
            (
                "PUT",
                "/v1/functions/{functionId}/variables/{variableId}",
                Some(UpdateVariable),
            ),
            ("POST", "/v1/functions/{functionId}/deployments", None),
        ];
        for (method, pattern, op) in cases {
            assert_eq!(
                Operation::of_route(method, pattern),
                op,
                "{method} {pattern}"
            );
        }
    }

    #[test]
    fn old_requests_are_upgraded() {
        let f = upgrade_request(
            Operation::CreateFunction,
            Version(1, 8, 0),
            json!({"name": "a", "runtime": "node-18.0", "specification": "s-1vcpu-1gb"}),
        );
        assert_eq!(f["buildSpecification"], "s-1vcpu-1gb");
        assert_eq!(f["runtimeSpecification"], "s-1vcpu-1gb");
        assert!(f.get("specification").is_none());
        assert!(f.get("commands").is_none());
        let f = upgrade_request(
            Operation::CreateFunction,
            Version(1, 3, 0),
            json!({"runtime": "python-3.11", "specification": null}),
        );
        assert_eq!(
            f["commands"],
            "pip install --no-cache-dir -r requirements.txt"
        );
        let kept = upgrade_request(
            Operation::UpdateFunction,
            Version(1, 0, 0),
            json!({"runtime": "node-18.0", "commands": "make"}),
        );
        assert_eq!(kept["commands"], "make");
        let e = upgrade_request(
            Operation::CreateExecution,
            Version(1, 0, 0),
            json!({"data": "x"}),
        );
        assert_eq!(e, json!({"body": "x"}));
        let v = upgrade_request(
            Operation::CreateVariable,
            Version(1, 6, 0),
            json!({"key": "K", "value": "v"}),
        );
        assert_eq!(
            v,
            json!({"key": "K", "value": "v", "secret": false, "variableId": "unique()"})
        );
        let v = upgrade_request(
            Operation::CreateVariable,
            Version(1, 9, 0),
            json!({"key": "K"}),
        );
        assert_eq!(v, json!({"key": "K", "variableId": "unique()"}));
        let v = upgrade_request(
            Operation::UpdateVariable,
            Version(1, 9, 0),
            json!({"key": "K"}),
        );
        assert_eq!(v, json!({"key": "K"}));
    }

    #[test]
    fn current_requests_are_untouched() {
        let body = json!({"name": "a", "runtime": "node-18.0", "specification": "x", "data": "d"});
        for op in [
            Operation::CreateFunction,
            Operation::CreateExecution,
            Operation::CreateVariable,
        ] {
            assert_eq!(
                upgrade_request(op, Version(1, 9, 5), body.clone()).get("specification"),
                body.get("specification")
            );
        }
        assert_eq!(
            upgrade_request(Operation::CreateExecution, LATEST, body.clone()),
            body
        );
        assert_eq!(
            upgrade_request(Operation::CreateFunction, LATEST, json!("s")),
            json!("s")
        );
    }

    #[test]
    fn non_objects_and_errors_pass_through() {
        assert_eq!(
            convert(Model::Function, LATEST, json!([1, 2])),
            json!([1, 2])
        );
        let list_without_items = json!({"total": 0});
        let out = convert(Model::Function, LATEST, list_without_items);
        assert_eq!(out["total"], 0);
    }

    #[test]
    fn old_format_headers_map_to_their_band() {
        let f = |s: &str| Version::of_header(Some(s));
        for (raw, band) in [
            ("0.15.0", Version(0, 15, 0)),
            ("1.0.0", Version(1, 0, 0)),
            ("1.4.0", Version(1, 4, 0)),
            ("1.5.0", Version(1, 5, 0)),
            ("1.6.0", Version(1, 6, 0)),
            ("1.8.0", Version(1, 8, 0)),
        ] {
            assert_eq!(f(raw), band, "{raw}");
            assert!(changes(Model::Function, band), "{raw}");
            assert_eq!(changes(Model::Deployment, band), band < Version(1, 7, 0));
            assert_eq!(changes(Model::Runtime, band), band < Version(1, 6, 0));
        }
        let fun = |raw: &str| convert(Model::Function, f(raw), native_function());
        let exec = |raw: &str| convert(Model::Execution, f(raw), native_execution());
        // below 1.4: renamed execution outputs, `data` upgraded
        for raw in ["0.15.0", "1.0.0"] {
            assert!(exec(raw).get("statusCode").is_some(), "{raw}");
            let e = upgrade_request(Operation::CreateExecution, f(raw), json!({"data": "d"}));
            assert_eq!(e["body"], "d", "{raw}");
        }
        // 1.4 and 1.5: today's execution names, 4xx still `failed`
        for raw in ["1.4.0", "1.5.0"] {
            assert_eq!(exec(raw)["responseStatusCode"], 404, "{raw}");
            assert_eq!(exec(raw)["status"], "failed", "{raw}");
            let e = upgrade_request(Operation::CreateExecution, f(raw), json!({"data": "d"}));
            assert!(e.get("body").is_none(), "{raw}");
        }
        // 1.6: `deployment`, `scopes`; 1.8: `deploymentId`, `specification`
        assert_eq!(exec("1.6.0")["status"], "completed");
        assert_eq!(fun("1.6.0")["deployment"], "dep1");
        assert_eq!(fun("1.8.0")["deploymentId"], "dep1");
        assert_eq!(fun("1.8.0")["specification"], "s-1vcpu-512mb");
        let v = upgrade_request(Operation::CreateVariable, f("1.8.0"), json!({"key": "K"}));
        assert!(v.get("secret").is_none());
        let v = upgrade_request(Operation::CreateVariable, f("1.6.0"), json!({"key": "K"}));
        assert_eq!(v["secret"], false);
    }

    #[test]
    fn template_version_becomes_a_tag_below_1_9() {
        assert_eq!(
            Operation::of_route("POST", "/v1/functions/{functionId}/deployments/template"),
            Some(Operation::CreateTemplateDeployment)
        );
        let body =
            json!({"repository": "r", "owner": "o", "rootDirectory": "n", "version": "1.0.0"});
        let up = upgrade_request(
            Operation::CreateTemplateDeployment,
            Version(1, 8, 0),
            body.clone(),
        );
        assert_eq!(
            up,
            json!({"repository": "r", "owner": "o", "rootDirectory": "n", "type": "tag", "reference": "1.0.0"})
        );
        assert_eq!(
            upgrade_request(
                Operation::CreateTemplateDeployment,
                Version(1, 9, 0),
                body.clone()
            ),
            body
        );
        let empty = json!({"version": "", "type": "branch", "reference": "main"});
        assert_eq!(
            upgrade_request(
                Operation::CreateTemplateDeployment,
                Version(1, 8, 0),
                empty.clone()
            ),
            json!({"type": "branch", "reference": "main"})
        );
    }

    #[test]
    fn template_params_of_create_function_are_dropped_below_1_7() {
        let body = json!({"name": "a", "runtime": "node-18.0", "templateRepository": "r",
            "templateOwner": "o", "templateRootDirectory": "d", "templateVersion": "1"});
        let up = upgrade_request(Operation::CreateFunction, Version(1, 6, 0), body.clone());
        assert_eq!(up, json!({"name": "a", "runtime": "node-18.0"}));
        let kept = upgrade_request(Operation::CreateFunction, Version(1, 7, 0), body.clone());
        assert_eq!(kept, body);
    }

    #[test]
    fn query_strings_of_old_clients_are_upgraded() {
        let build = "/v1/functions/{functionId}/deployments/{deploymentId}/build/download";
        assert_eq!(Model::of_route(build), None);
        for format in [Version(1, 6, 0), LATEST] {
            assert_eq!(
                upgraded_query_string("GET", build, format, "").as_deref(),
                Some("type=output")
            );
            assert_eq!(
                upgraded_query_string("GET", build, format, "type=source&project=p").as_deref(),
                Some("project=p&type=output")
            );
            assert_eq!(
                upgraded_query_string("GET", build, format, "type=output"),
                None
            );
        }
        let download = "/v1/functions/{functionId}/deployments/{deploymentId}/download";
        assert_eq!(
            upgraded_query_string("GET", download, Version(1, 6, 0), ""),
            None
        );

        let list = "/v1/functions";
        let legacy = "queries%5B%5D=equal%28%22deployment%22%2C+%5B%22d1%22%5D%29";
        let out = upgraded_query_string("GET", list, Version(1, 0, 0), legacy);
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(out.as_deref().unwrap_or_default()).unwrap_or_default();
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].0, "queries[]");
        assert_eq!(
            serde_json::from_str::<Value>(&pairs[0].1).ok(),
            Some(json!({"method": "equal", "attribute": "deploymentId", "values": ["d1"]}))
        );
        // current formats, other methods and non-list routes are left alone
        assert_eq!(
            upgraded_query_string("GET", list, Version(1, 7, 0), legacy),
            None
        );
        assert_eq!(
            upgraded_query_string("POST", list, Version(1, 0, 0), legacy),
            None
        );
        assert_eq!(
            upgraded_query_string(
                "GET",
                "/v1/functions/{functionId}",
                Version(1, 0, 0),
                legacy
            ),
            None
        );
        // JSON queries without old names need no rewrite
        let current = "queries%5B0%5D=%7B%22method%22%3A%22limit%22%2C%22values%22%3A%5B1%5D%7D";
        assert_eq!(
            upgraded_query_string("GET", list, Version(1, 6, 0), current),
            None
        );
    }
}
