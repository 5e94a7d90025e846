//! One execution: at-most-once guard, a runtime from the pool, the open-runtimes v5 request, the
//! result mapping, and delivery of the result (sync reply and persistence).
use crate::pool::{ColdStartError, Pool, Runtime};
use crate::results::ResultSink;
use model::proto::{ExecutionJob, ExecutionResult, Header};
use queue::{Incoming, Outcome};
use sandbox::text::{percent_decode, truncate_tail, MAX_LOG_CHARS};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Time allowed on top of the function timeout before the executor gives up on a response (the
/// runtime itself answers `Execution timed out.` at the function timeout).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
/// Most bytes of a runtime response body read (spec 7.3: executor body 20 MiB).
pub const MAX_RESPONSE_BODY_BYTES: usize = 20 * 1024 * 1024;
/// Most bytes read from one log file.
pub const MAX_LOG_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// The errors text of an execution the executor will not run again after a redelivery.
pub const INTERRUPTED: &str =
    "Execution was interrupted (worker restarted); not retried to keep at-most-once.";
/// The errors text of an execution that got no response within its timeout.
pub const TIMED_OUT: &str = "Execution timed out.";
/// Attempts at publishing a result for persistence before handing the job back.
const PERSIST_ATTEMPTS: u32 = 3;
/// Function timeout used when a job carries none.
const DEFAULT_TIMEOUT_SECONDS: u32 = 15;

/// Request headers never forwarded from the job: transport headers the HTTP client sets, and the
/// protocol's own headers (set by the executor only).
pub fn forwardable_request_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !(name.starts_with("x-open-runtimes-")
        || matches!(
            name.as_str(),
            "host"
                | "content-length"
                | "connection"
                | "transfer-encoding"
                | "keep-alive"
                | "upgrade"
                | "te"
                | "trailer"
        ))
}

/// Runtime response headers handed back: all but `x-open-runtimes-*`, multi-valued ones as
/// several entries.
pub fn response_headers(headers: &reqwest::header::HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .filter(|(name, _)| !name.as_str().starts_with("x-open-runtimes-"))
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect()
}

/// `failed` for 5xx, else `completed` (4xx responses are completed, like Appwrite).
pub fn status_for(code: u16) -> &'static str {
    if code >= 500 {
        "failed"
    } else {
        "completed"
    }
}

/// The Appwrite error text of a call that failed without a usable response.
pub fn call_error(message: &str) -> String {
    format!("{message}\nError Code: 500")
}

/// A log id from the runtime is only used as a file name inside the log dir.
pub fn safe_log_id(raw: &str) -> Option<String> {
    let id = percent_decode(raw);
    let ok = !id.is_empty()
        && id.len() <= 255
        && !id.contains('/')
        && !id.contains('\\')
        && id != "."
        && id != "..";
    ok.then_some(id)
}

/// Reads (up to [`MAX_LOG_FILE_BYTES`]) then deletes one log file; missing = empty.
pub async fn take_log_file(path: &Path) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    if let Ok(file) = tokio::fs::File::open(path).await {
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        let mut bytes = Vec::new();
        if file
            .take(MAX_LOG_FILE_BYTES)
            .read_to_end(&mut bytes)
            .await
            .is_ok()
        {
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        if size > MAX_LOG_FILE_BYTES {
            text.push_str("\nLog file has been truncated to 5.00MB.");
        }
        if let Err(err) = tokio::fs::remove_file(path).await {
            tracing::warn!(error = %err, file = %path.display(), "could not delete a runtime log file");
        }
    }
    text
}

/// Runs executions.
pub struct Executor {
    pool: Arc<Pool>,
    results: Arc<dyn ResultSink>,
}

struct Outcome0 {
    status_code: i32,
    headers: Vec<Header>,
    body: Vec<u8>,
    logs: String,
    errors: String,
    cold_start: bool,
}

impl Executor {
    pub fn new(pool: Arc<Pool>, results: Arc<dyn ResultSink>) -> Self {
        Self { pool, results }
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Handles one delivery: run (unless redelivered), reply, persist, ack.
    pub async fn handle(&self, incoming: Incoming<ExecutionJob>) -> Outcome {
        let job = &incoming.message;
        let span = tracing::info_span!("execution", execution.id = %job.execution_id, deployment.id = %job.deployment_id, function.id = %job.function_id);
        tracing::Instrument::instrument(self.handle_inner(&incoming), span).await
    }

    async fn handle_inner(&self, incoming: &Incoming<ExecutionJob>) -> Outcome {
        let job = &incoming.message;
        let result = if incoming.redelivered {
            tracing::warn!("execution redelivered; failing it instead of running it twice");
            self.result(
                job,
                sandbox::now_unix_ms(),
                0.0,
                Outcome0 {
                    status_code: 500,
                    headers: Vec::new(),
                    body: Vec::new(),
                    logs: String::new(),
                    errors: INTERRUPTED.to_owned(),
                    cold_start: false,
                },
            )
        } else {
            self.execute(job).await
        };
        if let Some(reply_to) = incoming.reply_to.as_deref().filter(|r| !r.is_empty()) {
            if let Err(err) = self
                .results
                .reply(reply_to, incoming.correlation_id.as_deref(), &result)
                .await
            {
                tracing::warn!(error = %err, "could not reply to the synchronous caller (gone?)");
            }
        }
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=PERSIST_ATTEMPTS {
            match self.results.persist(&result).await {
                Ok(()) => return Outcome::Ack,
                Err(err) if attempt == PERSIST_ATTEMPTS => {
                    return Outcome::Retry(format!(
                        "could not publish the execution result: {err}"
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "publishing the execution result failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        Outcome::Retry("could not publish the execution result".to_owned())
    }

    fn result(
        &self,
        job: &ExecutionJob,
        started_at: i64,
        duration: f64,
        o: Outcome0,
    ) -> ExecutionResult {
        ExecutionResult {
            project_id: job.project_id.clone(),
            function_id: job.function_id.clone(),
            deployment_id: job.deployment_id.clone(),
            execution_id: job.execution_id.clone(),
            status: status_for(u16::try_from(o.status_code).unwrap_or(500)).to_owned(),
            status_code: o.status_code,
            headers: o.headers,
            body: o.body,
            logs: truncate_tail(&o.logs, MAX_LOG_CHARS, "Logs"),
            errors: truncate_tail(&o.errors, MAX_LOG_CHARS, "Errors"),
            duration_seconds: duration,
            started_at_unix_ms: started_at,
            cold_start: o.cold_start,
        }
    }

    /// Runs the job against a (warm or cold) runtime and maps what happened to a result.
    pub async fn execute(&self, job: &ExecutionJob) -> ExecutionResult {
        let started_at = sandbox::now_unix_ms();
        let t0 = Instant::now();
        let timeout_seconds = if job.timeout_seconds == 0 {
            DEFAULT_TIMEOUT_SECONDS
        } else {
            job.timeout_seconds
        };
        let function_deadline = t0 + Duration::from_secs(u64::from(timeout_seconds));
        let outcome = match self.pool.acquire(job, function_deadline).await {
            Err(ColdStartError::TimedOut) => failure(TIMED_OUT.to_owned()),
            Err(err) => {
                tracing::warn!(error = %err, "cold start failed");
                failure(call_error(&err.to_string()))
            }
            Ok(lease) => {
                let deadline = function_deadline + DEADLINE_MARGIN;
                let mut o = self
                    .call(job, &lease.runtime, timeout_seconds, deadline)
                    .await;
                o.cold_start = lease.cold_start;
                o
            }
        };
        let duration = t0.elapsed().as_secs_f64();
        self.result(job, started_at, duration, outcome)
    }

    async fn call(
        &self,
        job: &ExecutionJob,
        runtime: &Arc<Runtime>,
        timeout_seconds: u32,
        deadline: Instant,
    ) -> Outcome0 {
        let method = reqwest::Method::from_bytes(job.method.to_ascii_uppercase().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let path = if job.path.starts_with('/') {
            job.path.clone()
        } else {
            format!("/{}", job.path)
        };
        let url = format!("{}{}", runtime.base_url, path);
        let mut request = self.pool.http().request(method, &url);
        for header in &job.headers {
            if forwardable_request_header(&header.name) {
                request = request.header(header.name.as_str(), header.value.as_str());
            }
        }
        request = request
            .header("x-open-runtimes-secret", runtime.secret.as_str())
            .header("x-open-runtimes-timeout", timeout_seconds.to_string())
            .header(
                "x-open-runtimes-logging",
                if job.logging { "enabled" } else { "disabled" },
            )
            .header("x-open-runtimes-log-id", job.execution_id.as_str())
            .body(job.body.clone());
        let remaining = deadline.saturating_duration_since(Instant::now());
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            let mut too_large = false;
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_RESPONSE_BODY_BYTES {
                    too_large = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, headers, body, too_large))
        };
        let default_log_id = job.execution_id.clone();
        match tokio::time::timeout(remaining, exchange).await {
            Ok(Ok((status, headers, body, too_large))) => {
                let log_id = headers
                    .get("x-open-runtimes-log-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(safe_log_id)
                    .unwrap_or(default_log_id);
                let (logs, errors) = self.take_logs(runtime, &log_id, job.logging).await;
                if too_large {
                    let mut o = failure(call_error(
                        "Response body is larger than the 20 MiB the executor reads.",
                    ));
                    o.logs = logs;
                    return o;
                }
                Outcome0 {
                    status_code: i32::from(status),
                    headers: response_headers(&headers),
                    body,
                    logs,
                    errors,
                    cold_start: false,
                }
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, container = %runtime.name, "runtime call failed");
                let (logs, errors) = self.take_logs(runtime, &default_log_id, job.logging).await;
                self.pool.discard(runtime).await;
                let mut o = failure(call_error(&format!(
                    "Runtime request failed: {}",
                    without_url(&err)
                )));
                o.logs = logs;
                if !errors.is_empty() {
                    o.errors = format!("{errors}\n{}", o.errors);
                }
                o
            }
            Err(_) => {
                tracing::warn!(container = %runtime.name, "execution timed out; discarding the runtime");
                let (logs, errors) = self.take_logs(runtime, &default_log_id, job.logging).await;
                self.pool.discard(runtime).await;
                let mut o = failure(TIMED_OUT.to_owned());
                o.logs = logs;
                if !errors.is_empty() {
                    o.errors = format!("{errors}\n{TIMED_OUT}");
                }
                o
            }
        }
    }

    async fn take_logs(&self, runtime: &Runtime, log_id: &str, logging: bool) -> (String, String) {
        let logs = take_log_file(&runtime.logs_dir.join(format!("{log_id}_logs.log"))).await;
        let errors = take_log_file(&runtime.logs_dir.join(format!("{log_id}_errors.log"))).await;
        if logging {
            (logs, errors)
        } else {
            (String::new(), String::new())
        }
    }
}

fn failure(errors: String) -> Outcome0 {
    Outcome0 {
        status_code: 500,
        headers: Vec::new(),
        body: Vec::new(),
        logs: String::new(),
        errors,
        cold_start: false,
    }
}

/// reqwest errors mention the URL (host port); keep messages free of internal addresses.
fn without_url(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    if let Some(url) = err.url() {
        message = message
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "runtime");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn protocol_and_transport_request_headers_are_not_forwarded() {
        assert!(forwardable_request_header("content-type"));
        assert!(forwardable_request_header("x-appwrite-trigger"));
        assert!(!forwardable_request_header("X-Open-Runtimes-Secret"));
        assert!(!forwardable_request_header("host"));
        assert!(!forwardable_request_header("Content-Length"));
    }

    #[test]
    fn response_headers_drop_open_runtimes_ones_and_keep_repeats() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("x-open-runtimes-log-id", HeaderValue::from_static("abc"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        let out = response_headers(&headers);
        let names: Vec<&str> = out.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["content-type", "set-cookie", "set-cookie"]);
        assert_eq!(out[2].value, "b=2");
    }

    #[test]
    fn status_mapping() {
        assert_eq!(status_for(200), "completed");
        assert_eq!(status_for(404), "completed");
        assert_eq!(status_for(500), "failed");
        assert_eq!(status_for(503), "failed");
        assert_eq!(call_error("boom"), "boom\nError Code: 500");
    }

    #[test]
    fn log_ids_are_decoded_and_must_be_plain_file_names() {
        assert_eq!(safe_log_id("abc%2Edef").as_deref(), Some("abc.def"));
        assert_eq!(safe_log_id("a%2Fb"), None);
        assert_eq!(safe_log_id(".."), None);
        assert_eq!(safe_log_id(""), None);
    }

    #[tokio::test]
    async fn log_files_are_read_then_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x_logs.log");
        std::fs::write(&path, "hello\n").unwrap();
        assert_eq!(take_log_file(&path).await, "hello\n");
        assert!(!path.exists());
        assert_eq!(take_log_file(&path).await, "");
    }
}
