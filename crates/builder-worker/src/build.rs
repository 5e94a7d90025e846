//! The build of one deployment: source from the object store into a fresh build container, the
//! runtime's `helpers/build.sh`, log streaming, timeout and cancellation, output back into the
//! object store, and the build events on the way.
use crate::events::EventSink;
use bytes::Bytes;
use futures_util::StreamExt;
use model::proto::{BuildEvent, BuildJob, BuildStatus};
use object_store::ObjectStore;
use queue::Outcome;
use sandbox::docker::name_fragment;
use sandbox::storage::{self, StorageError};
use sandbox::text::{truncate_tail, MAX_LOG_CHARS};
use sandbox::{ContainerSpec, Sandbox, SandboxError, Utf8Decoder};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where the source tarball is put inside the build container.
const SOURCE_IN_CONTAINER: &str = "/tmp/code.tar.gz";
/// Where `helpers/build.sh` leaves the output tarball.
pub const OUTPUT_IN_CONTAINER: &str = "/mnt/code/code.tar.gz";
/// Its file name inside `/mnt/code`.
const OUTPUT_FILE: &str = "code.tar.gz";
/// Most processes and threads in one build container.
pub const BUILD_PIDS_LIMIT: i64 = 1024;
/// Build container paths that are writable: each is a per-build host directory (the root
/// filesystem is read-only; a tmpfs would charge `node_modules` to the build's memory and would
/// be gone before the output can be read).
const WRITABLE_IN_CONTAINER: [(&str, &str); 3] = [
    ("code", "/mnt/code"),
    ("build", "/usr/local/build"),
    ("tmp", "/tmp"),
];
/// Build containers get at least this much memory, like Appwrite.
const MIN_BUILD_MEMORY_MB: u32 = 1024;
/// How long a cancellation is remembered for jobs that arrive after it.
const CANCEL_MEMORY: Duration = Duration::from_secs(3600);
/// Attempts at publishing a terminal event before the job is handed back to the queue.
const TERMINAL_PUBLISH_ATTEMPTS: u32 = 3;

/// Tunables of the builder (from settings).
#[derive(Clone, Debug)]
pub struct BuilderConfig {
    /// Host path of the CA bundle to mount, when it exists.
    pub ca_bundle: Option<String>,
    pub log_interval: Duration,
    pub default_timeout_seconds: u32,
    pub max_build_size: u64,
    /// Host directory holding one sub-directory per running build (bind-mounted into it).
    pub work_dir: std::path::PathBuf,
    /// Docker network build containers join (None = the default bridge).
    pub network: Option<String>,
}

impl Default for BuilderConfig {
    fn default() -> Self {
        Self {
            work_dir: std::path::PathBuf::from(crate::settings::DEFAULT_WORK_DIR),
            network: None,
            ca_bundle: None,
            log_interval: Duration::from_millis(500),
            default_timeout_seconds: 900,
            max_build_size: 2_000_000_000,
        }
    }
}

/// Builds deployments. One instance serves every job of the process.
pub struct Builder {
    sandbox: Sandbox,
    store: Arc<dyn ObjectStore>,
    events: Arc<dyn EventSink>,
    config: BuilderConfig,
    /// Builds running in this process: deployment id -> its cancel token.
    running: Mutex<HashMap<String, CancellationToken>>,
    /// Recently canceled deployments, so a job arriving after its cancel is not built.
    canceled: Mutex<HashMap<String, Instant>>,
}

/// The docker container name of a deployment's build; stable so a redelivered job finds and
/// removes the leftover of an earlier attempt.
pub fn container_name(job: &BuildJob) -> String {
    format!(
        "fnplat-build-{}-{}",
        name_fragment(&job.project_id),
        name_fragment(&job.deployment_id)
    )
}

/// The build container's command: extract the source, then run the runtime's build helper with
/// the deployment's build commands as one safely quoted argument.
pub fn build_command(commands: &str) -> Vec<String> {
    vec![
        "bash".to_owned(),
        "-c".to_owned(),
        format!(
            "mkdir -p /mnt/code && tar -zxf {SOURCE_IN_CONTAINER} -C /mnt/code && bash /usr/local/server/helpers/build.sh {}",
            sandbox::shell::quote(commands)
        ),
    ]
}

/// The build container's environment: the job's variables, then the platform's (which win).
pub fn build_env(job: &BuildJob, with_ca_bundle: bool) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = job
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.insert(
        "OPEN_RUNTIMES_ENTRYPOINT".to_owned(),
        job.entrypoint.clone(),
    );
    // The image's HOME and npm cache are not writable by the sandbox user; /tmp is.
    env.insert("HOME".to_owned(), "/tmp".to_owned());
    env.insert("npm_config_cache".to_owned(), "/tmp/.npm".to_owned());
    if with_ca_bundle {
        for key in ["NODE_EXTRA_CA_CERTS", "npm_config_cafile", "PIP_CERT"] {
            env.insert(
                key.to_owned(),
                crate::settings::CONTAINER_CA_BUNDLE.to_owned(),
            );
        }
    }
    env.into_iter().collect()
}

/// The last line of a successful build's log.
pub fn finished_line(now: chrono::DateTime<chrono::Local>) -> String {
    format!(
        "[{}] [appwrite] Deployment finished.",
        now.format("%H:%M:%S")
    )
}

/// Appends `line` on its own line.
fn append_line(logs: &str, line: &str) -> String {
    if logs.is_empty() || logs.ends_with('\n') {
        format!("{logs}{line}")
    } else {
        format!("{logs}\n{line}")
    }
}

/// The build log collected so far, and the part not yet sent as a chunk.
#[derive(Default)]
struct LogBuffer {
    decoder: Utf8Decoder,
    full: String,
    pending: String,
}

impl LogBuffer {
    fn push(&mut self, bytes: &[u8]) {
        let text = self.decoder.push(bytes);
        self.full.push_str(&text);
        self.pending.push_str(&text);
        // Bound memory: keep twice the stored maximum, trimmed to the maximum at the end.
        if self.full.len() > 4 * MAX_LOG_CHARS {
            self.full = truncate_tail(&self.full, 2 * MAX_LOG_CHARS, "Logs");
        }
    }

    fn finish(&mut self) {
        let rest = self.decoder.finish();
        self.full.push_str(&rest);
        self.pending.push_str(&rest);
    }

    fn take_pending(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    fn full(&self) -> String {
        truncate_tail(&self.full, MAX_LOG_CHARS, "Logs")
    }
}

/// Builds the events of one build, with increasing sequence numbers. The sequence starts from the
/// attempt's start time so a redelivered build's events order after the earlier attempt's.
struct Reporter<'a> {
    events: &'a dyn EventSink,
    job: &'a BuildJob,
    sequence: u64,
    started: Instant,
}

impl<'a> Reporter<'a> {
    fn new(events: &'a dyn EventSink, job: &'a BuildJob) -> Self {
        let base = u64::try_from(sandbox::now_unix_ms())
            .unwrap_or(0)
            .saturating_mul(1000);
        Self {
            events,
            job,
            sequence: base,
            started: Instant::now(),
        }
    }

    fn event(&mut self, status: BuildStatus, logs: String) -> BuildEvent {
        self.sequence += 1;
        BuildEvent {
            project_id: self.job.project_id.clone(),
            function_id: self.job.function_id.clone(),
            deployment_id: self.job.deployment_id.clone(),
            status: status as i32,
            logs,
            build_size: 0,
            build_duration_ms: 0,
            output_path: String::new(),
            sequence: self.sequence,
            at_unix_ms: sandbox::now_unix_ms(),
        }
    }

    async fn status(&mut self, status: BuildStatus) -> Result<(), queue::QueueError> {
        let event = self.event(status, String::new());
        self.events.publish(&event).await
    }

    /// A log chunk; best effort (the terminal event carries the full log anyway).
    async fn chunk(&mut self, logs: String) {
        if logs.is_empty() {
            return;
        }
        let event = self.event(BuildStatus::Unspecified, logs);
        if let Err(err) = self.events.publish(&event).await {
            tracing::warn!(error = %err, "could not publish a build log chunk");
        }
    }

    /// The terminal event, retried a few times; `Ack` once it is durable, else `Retry`.
    async fn terminal(&mut self, status: BuildStatus, logs: String, size: u64) -> Outcome {
        let mut event = self.event(status, logs);
        event.build_duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if status == BuildStatus::Ready {
            event.build_size = size;
            event.output_path = self.job.output_path.clone();
        }
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=TERMINAL_PUBLISH_ATTEMPTS {
            match self.events.publish(&event).await {
                Ok(()) => {
                    tracing::info!(status = status.as_appwrite(), "build finished");
                    return Outcome::Ack;
                }
                Err(err) if attempt == TERMINAL_PUBLISH_ATTEMPTS => {
                    return Outcome::Retry(format!(
                        "could not publish the terminal build event: {err}"
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "publishing the terminal build event failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        Outcome::Retry("could not publish the terminal build event".to_owned())
    }
}

/// How a build container run ended.
enum Terminal {
    Ready { size: u64 },
    Failed(String),
    Canceled,
}

/// Why a build could not reach a terminal state now.
#[derive(Debug, thiserror::Error)]
enum Interrupted {
    /// Infrastructure trouble (docker, storage); the job goes back to the queue.
    #[error("{0}")]
    Transient(String),
    #[error("worker is shutting down")]
    Shutdown,
}

impl From<SandboxError> for Interrupted {
    fn from(err: SandboxError) -> Self {
        Interrupted::Transient(err.to_string())
    }
}

impl Builder {
    pub fn new(
        sandbox: Sandbox,
        store: Arc<dyn ObjectStore>,
        events: Arc<dyn EventSink>,
        config: BuilderConfig,
    ) -> Self {
        Self {
            sandbox,
            store,
            events,
            config,
            running: Mutex::new(HashMap::new()),
            canceled: Mutex::new(HashMap::new()),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Cancels the deployment's build if it runs here, and remembers the cancel for a job that
    /// has not arrived yet.
    pub fn cancel(&self, deployment_id: &str) {
        if let Ok(mut canceled) = self.canceled.lock() {
            canceled.retain(|_, at| at.elapsed() < CANCEL_MEMORY);
            canceled.insert(deployment_id.to_owned(), Instant::now());
        }
        if let Ok(running) = self.running.lock() {
            if let Some(token) = running.get(deployment_id) {
                tracing::info!(deployment.id = deployment_id, "canceling running build");
                token.cancel();
            }
        }
    }

    fn was_canceled(&self, deployment_id: &str) -> bool {
        self.canceled
            .lock()
            .map(|c| {
                c.get(deployment_id)
                    .is_some_and(|at| at.elapsed() < CANCEL_MEMORY)
            })
            .unwrap_or(false)
    }

    /// Handles one build job to a terminal event (`Ack`) or hands it back (`Retry`).
    pub async fn handle(&self, job: BuildJob, shutdown: &CancellationToken) -> Outcome {
        let span = tracing::info_span!("build", deployment.id = %job.deployment_id, function.id = %job.function_id);
        let cancel = CancellationToken::new();
        if let Ok(mut running) = self.running.lock() {
            running.insert(job.deployment_id.clone(), cancel.clone());
        }
        if self.was_canceled(&job.deployment_id) {
            cancel.cancel();
        }
        let outcome =
            tracing::Instrument::instrument(self.build(&job, &cancel, shutdown), span).await;
        if let Ok(mut running) = self.running.lock() {
            running.remove(&job.deployment_id);
        }
        outcome
    }

    async fn build(
        &self,
        job: &BuildJob,
        cancel: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> Outcome {
        let mut reporter = Reporter::new(self.events.as_ref(), job);
        if cancel.is_cancelled() {
            return reporter
                .terminal(
                    BuildStatus::Canceled,
                    "Build has been canceled.".to_owned(),
                    0,
                )
                .await;
        }
        if let Err(err) = reporter.status(BuildStatus::Processing).await {
            return Outcome::Retry(format!("could not publish the processing event: {err}"));
        }
        let source = match storage::get(self.store.as_ref(), &job.source_path).await {
            Ok(bytes) => bytes,
            Err(err @ StorageError::NotFound(_)) | Err(err @ StorageError::InvalidKey { .. }) => {
                let message = format!("Deployment source could not be read: {err}");
                return reporter.terminal(BuildStatus::Failed, message, 0).await;
            }
            Err(err) => return Outcome::Retry(format!("reading the source failed: {err}")),
        };
        let name = container_name(job);
        // A leftover from an earlier attempt of this job (worker crash, redelivery).
        if let Err(err) = self.sandbox.remove(&name).await {
            return Outcome::Retry(format!("could not remove leftover build container: {err}"));
        }
        let host_dir = self.config.work_dir.join(&name);
        if let Err(err) = prepare_build_dir(&host_dir, &source).await {
            return Outcome::Retry(format!(
                "could not prepare the build directory {}: {err}",
                host_dir.display()
            ));
        }
        let mut logs = LogBuffer::default();
        let result = self
            .run_container(
                &name,
                job,
                &host_dir,
                &mut logs,
                &mut reporter,
                cancel,
                shutdown,
            )
            .await;
        if let Err(err) = self.sandbox.remove(&name).await {
            tracing::warn!(error = %err, container = %name, "could not remove build container");
        }
        if let Err(err) = tokio::fs::remove_dir_all(&host_dir).await {
            tracing::warn!(error = %err, dir = %host_dir.display(), "could not remove build directory");
        }
        logs.finish();
        match result {
            Ok(Terminal::Ready { size }) => {
                let text = append_line(&logs.full(), &finished_line(chrono::Local::now()));
                reporter.terminal(BuildStatus::Ready, text, size).await
            }
            Ok(Terminal::Failed(message)) => {
                reporter
                    .terminal(BuildStatus::Failed, append_line(&logs.full(), &message), 0)
                    .await
            }
            Ok(Terminal::Canceled) => {
                reporter
                    .terminal(
                        BuildStatus::Canceled,
                        append_line(&logs.full(), "Build has been canceled."),
                        0,
                    )
                    .await
            }
            Err(Interrupted::Shutdown) => {
                Outcome::Retry("worker shutting down during the build".to_owned())
            }
            Err(Interrupted::Transient(message)) => Outcome::Retry(message),
        }
    }

    fn spec(&self, name: &str, job: &BuildJob, host_dir: &std::path::Path) -> ContainerSpec {
        let mut labels = HashMap::new();
        labels.insert(sandbox::LABEL_ROLE.to_owned(), "build".to_owned());
        labels.insert(
            sandbox::LABEL_DEPLOYMENT.to_owned(),
            job.deployment_id.clone(),
        );
        labels.insert("fnplat.project".to_owned(), job.project_id.clone());
        labels.insert("fnplat.function".to_owned(), job.function_id.clone());
        let mut binds: Vec<String> = WRITABLE_IN_CONTAINER
            .iter()
            .map(|(sub, path)| format!("{}:{path}", host_dir.join(sub).display()))
            .collect();
        binds.extend(
            self.config
                .ca_bundle
                .iter()
                .map(|host| format!("{host}:{}:ro", crate::settings::CONTAINER_CA_BUNDLE)),
        );
        ContainerSpec {
            name: name.to_owned(),
            image: job.image.clone(),
            cmd: build_command(&job.commands),
            env: build_env(job, self.config.ca_bundle.is_some()),
            labels,
            memory_mb: u64::from(job.memory_mb.max(MIN_BUILD_MEMORY_MB)),
            cpus: job.cpus,
            binds,
            publish: None,
            working_dir: None,
            user: Some(sandbox::SANDBOX_USER.to_owned()),
            tmpfs: Vec::new(),
            pids_limit: BUILD_PIDS_LIMIT,
            network: self.config.network.clone(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_container(
        &self,
        name: &str,
        job: &BuildJob,
        host_dir: &std::path::Path,
        logs: &mut LogBuffer,
        reporter: &mut Reporter<'_>,
        cancel: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> Result<Terminal, Interrupted> {
        let spec = self.spec(name, job, host_dir);
        let id = match self.sandbox.create(&spec).await {
            Ok(id) => id,
            Err(SandboxError::ImageNotFound(image)) => {
                return Ok(Terminal::Failed(format!(
                    "Runtime image {image} is not available on the build host."
                )));
            }
            Err(err) => return Err(err.into()),
        };
        if let Err(err) = reporter.status(BuildStatus::Building).await {
            return Err(Interrupted::Transient(format!(
                "could not publish the building event: {err}"
            )));
        }
        self.sandbox.start(&id).await?;
        let timeout_seconds = if job.timeout_seconds == 0 {
            self.config.default_timeout_seconds
        } else {
            job.timeout_seconds
        };
        let deadline = tokio::time::sleep(Duration::from_secs(u64::from(timeout_seconds)));
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(self.config.log_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stream = self.sandbox.follow_logs(&id);
        tokio::pin!(stream);
        enum End {
            Exited,
            TimedOut,
            Canceled,
            Shutdown,
        }
        let end = loop {
            tokio::select! {
                _ = cancel.cancelled() => break End::Canceled,
                _ = shutdown.cancelled() => break End::Shutdown,
                _ = &mut deadline => break End::TimedOut,
                _ = ticker.tick() => reporter.chunk(logs.take_pending()).await,
                item = stream.next() => match item {
                    Some(Ok(bytes)) => logs.push(&bytes),
                    Some(Err(err)) => return Err(err.into()),
                    None => break End::Exited,
                },
            }
        };
        match end {
            End::Exited => {}
            End::TimedOut => {
                let _ = self.sandbox.kill(&id).await;
                return Ok(Terminal::Failed(format!(
                    "Build timed out after {timeout_seconds} seconds."
                )));
            }
            End::Canceled => {
                let _ = self.sandbox.kill(&id).await;
                return Ok(Terminal::Canceled);
            }
            End::Shutdown => {
                let _ = self.sandbox.kill(&id).await;
                return Err(Interrupted::Shutdown);
            }
        }
        logs.finish();
        reporter.chunk(logs.take_pending()).await;
        let code = self.sandbox.wait_exit(&id).await?;
        if code != 0 {
            return Ok(Terminal::Failed(format!(
                "Build command exited with code {code}."
            )));
        }
        // OUTPUT_IN_CONTAINER, read from the host side of its bind mount.
        let output_file = host_dir.join("code").join(OUTPUT_FILE);
        let output = match tokio::fs::read(&output_file).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Terminal::Failed(
                    "Build finished without an output archive.".to_owned(),
                ));
            }
            Err(err) => {
                return Err(Interrupted::Transient(format!(
                    "reading the build output failed: {err}"
                )))
            }
        };
        let size = output.len() as u64;
        if size > self.config.max_build_size {
            return Ok(Terminal::Failed(format!(
                "Build size should be less than {} MBs.",
                self.config.max_build_size / 1_000_000
            )));
        }
        match storage::put(self.store.as_ref(), &job.output_path, Bytes::from(output)).await {
            Ok(()) => Ok(Terminal::Ready { size }),
            Err(err) if err.is_permanent() => Ok(Terminal::Failed(format!(
                "Build output could not be stored: {err}"
            ))),
            Err(err) => Err(Interrupted::Transient(format!(
                "storing the build output failed: {err}"
            ))),
        }
    }
}

/// A fresh per-build host directory with the writable sub-directories (owned by the sandbox
/// user) and the source tarball at what the container sees as `/tmp/code.tar.gz`.
async fn prepare_build_dir(host_dir: &std::path::Path, source: &[u8]) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(host_dir).await {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let dir = host_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        for (sub, _) in WRITABLE_IN_CONTAINER {
            sandbox::prepare_host_dir(&dir.join(sub))?;
        }
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(std::io::Error::other)??;
    let file_name = SOURCE_IN_CONTAINER.trim_start_matches("/tmp/");
    tokio::fs::write(host_dir.join("tmp").join(file_name), source).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> BuildJob {
        BuildJob {
            project_id: "p1".into(),
            deployment_id: "d1".into(),
            entrypoint: "index.js".into(),
            env: [
                ("A".to_owned(), "1".to_owned()),
                ("OPEN_RUNTIMES_ENTRYPOINT".to_owned(), "evil".to_owned()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn command_quotes_the_build_commands() {
        let cmd = build_command("npm install && echo 'done'");
        assert_eq!(cmd[0], "bash");
        assert_eq!(cmd[1], "-c");
        assert!(
            cmd[2].starts_with("mkdir -p /mnt/code && tar -zxf /tmp/code.tar.gz -C /mnt/code && ")
        );
        assert!(cmd[2].ends_with("helpers/build.sh 'npm install && echo '\\''done'\\'''"));
    }

    #[test]
    fn platform_env_wins_over_job_env() {
        let env: HashMap<_, _> = build_env(&job(), true).into_iter().collect();
        assert_eq!(env["OPEN_RUNTIMES_ENTRYPOINT"], "index.js");
        assert_eq!(env["A"], "1");
        assert_eq!(
            env["NODE_EXTRA_CA_CERTS"],
            "/etc/ssl/certs/ca-certificates.crt"
        );
        assert_eq!(env["PIP_CERT"], "/etc/ssl/certs/ca-certificates.crt");
        let without: HashMap<_, _> = build_env(&job(), false).into_iter().collect();
        assert!(!without.contains_key("npm_config_cafile"));
    }

    #[test]
    fn container_names_are_stable_and_safe() {
        assert_eq!(container_name(&job()), "fnplat-build-p1-d1");
    }

    #[test]
    fn finished_line_format() {
        let at = chrono::Local::now();
        let line = finished_line(at);
        assert!(line.starts_with('['));
        assert!(line.ends_with("] [appwrite] Deployment finished."));
        assert_eq!(
            line.len(),
            "[HH:MM:SS] [appwrite] Deployment finished.".len()
        );
    }

    #[test]
    fn append_line_adds_a_newline_only_when_needed() {
        assert_eq!(append_line("", "x"), "x");
        assert_eq!(append_line("a\n", "x"), "a\nx");
        assert_eq!(append_line("a", "x"), "a\nx");
    }

    #[test]
    fn log_buffer_tracks_pending_chunks() {
        let mut logs = LogBuffer::default();
        logs.push(b"one\n");
        assert_eq!(logs.take_pending(), "one\n");
        logs.push(b"two\n");
        logs.finish();
        assert_eq!(logs.take_pending(), "two\n");
        assert_eq!(logs.full(), "one\ntwo\n");
    }
}
