//! The warm pool: runtime containers keyed by deployment and configuration, cold-started on
//! demand (one at a time per key), shared by concurrent requests, reaped when idle.
use model::proto::ExecutionJob;
use object_store::ObjectStore;
use sandbox::docker::name_fragment;
use sandbox::storage::{self, StorageError};
use sandbox::{ContainerSpec, Sandbox, SandboxError};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The port runtimes listen on.
pub const RUNTIME_PORT: &str = "3000/tcp";
/// Where the build output goes inside a runtime container.
const CODE_IN_CONTAINER: &str = "/mnt/code/code.tar.gz";
/// Where the per-container log directory is mounted.
const LOGS_IN_CONTAINER: &str = "/mnt/logs";
/// Where `helpers/start.sh` extracts the build (a tmpfs: the root filesystem is read-only).
const FUNCTION_IN_CONTAINER: &str = "/usr/local/server/src/function";
/// The writable scratch directory of a runtime container (tmpfs).
const TMP_IN_CONTAINER: &str = "/tmp";
/// Most processes and threads in one runtime container.
pub const RUNTIME_PIDS_LIMIT: i64 = 256;
/// tmpfs size bound when the specification sets no memory limit (tmpfs pages are charged to the
/// container's memory limit anyway).
const DEFAULT_TMPFS_MB: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    #[error("Build output {0} not found. Redeploy the function.")]
    BuildMissing(String),
    #[error("Runtime did not become ready within the timeout.")]
    TimedOut,
    #[error("Runtime container exited during start-up.")]
    Exited,
    #[error("Runtime start-up failed: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("Runtime start-up failed: {0}")]
    Storage(StorageError),
    #[error("Runtime start-up failed: could not prepare the log directory: {0}")]
    LogsDir(std::io::Error),
}

/// Pool tunables.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub work_dir: PathBuf,
    /// This executor instance (label `fnplat.executor`).
    pub instance_id: String,
    /// This node (label `fnplat.node`).
    pub node: String,
    /// Host IP runtime ports are published on and called at.
    pub host_ip: String,
    pub idle_timeout: Duration,
    /// Docker network runtime containers join (None = the default bridge).
    pub network: Option<String>,
}

/// One warm runtime container.
#[derive(Debug)]
pub struct Runtime {
    pub container_id: String,
    pub name: String,
    pub port: u16,
    pub secret: String,
    pub logs_dir: PathBuf,
    /// Host directory of this container (logs dir, build output file).
    host_dir: PathBuf,
    pub base_url: String,
    last_used_ms: AtomicI64,
    in_flight: AtomicUsize,
    dead: AtomicBool,
}

impl Runtime {
    fn touch(&self) {
        self.last_used_ms
            .store(sandbox::now_unix_ms(), Ordering::Relaxed);
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }
}

/// A runtime handed to one request; releases it (and marks it used) on drop.
pub struct Lease {
    pub runtime: Arc<Runtime>,
    pub cold_start: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.runtime.touch();
        self.runtime.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct Slot {
    runtime: tokio::sync::Mutex<Option<Arc<Runtime>>>,
}

pub struct Pool {
    sandbox: Sandbox,
    store: Arc<dyn ObjectStore>,
    http: reqwest::Client,
    config: PoolConfig,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// The pool key of a job: the deployment plus a hash of everything that shapes the container,
/// so a changed variable, image or specification gets a fresh container.
pub fn pool_key(job: &ExecutionJob) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    job.image.hash(&mut hasher);
    job.build_path.hash(&mut hasher);
    job.entrypoint.hash(&mut hasher);
    let env: BTreeMap<&String, &String> = job.env.iter().collect();
    env.hash(&mut hasher);
    job.cpus.to_bits().hash(&mut hasher);
    job.memory_mb.hash(&mut hasher);
    format!("{}-{:016x}", job.deployment_id, hasher.finish())
}

/// The container's environment: the function's variables, then the platform's (which win).
pub fn runtime_env(job: &ExecutionJob, secret: &str) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = job
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.insert("OPEN_RUNTIMES_SECRET".to_owned(), secret.to_owned());
    env.insert(
        "OPEN_RUNTIMES_ENTRYPOINT".to_owned(),
        job.entrypoint.clone(),
    );
    env.insert("OPEN_RUNTIMES_CPUS".to_owned(), format_cpus(job.cpus));
    env.insert("OPEN_RUNTIMES_MEMORY".to_owned(), job.memory_mb.to_string());
    env.insert("CI".to_owned(), "true".to_owned());
    // The image's HOME is not writable by the sandbox user; /tmp is.
    env.insert("HOME".to_owned(), TMP_IN_CONTAINER.to_owned());
    env.into_iter().collect()
}

/// The writable paths of a runtime container: `/tmp` and the function directory, tmpfs bounded
/// by the function's memory.
pub fn runtime_tmpfs(memory_mb: u64) -> Vec<(String, String)> {
    let size = if memory_mb == 0 {
        DEFAULT_TMPFS_MB
    } else {
        memory_mb
    };
    vec![
        (
            TMP_IN_CONTAINER.to_owned(),
            format!("rw,exec,nosuid,nodev,size={size}m,mode=1777"),
        ),
        (
            FUNCTION_IN_CONTAINER.to_owned(),
            format!(
                "rw,exec,nosuid,nodev,size={size}m,mode=0755,uid={uid},gid={uid}",
                uid = sandbox::SANDBOX_UID
            ),
        ),
    ]
}

fn format_cpus(cpus: f64) -> String {
    if cpus.fract() == 0.0 {
        format!("{}", cpus as i64)
    } else {
        format!("{cpus}")
    }
}

fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Pool {
    pub fn new(
        sandbox: Sandbox,
        store: Arc<dyn ObjectStore>,
        http: reqwest::Client,
        config: PoolConfig,
    ) -> Self {
        Self {
            sandbox,
            store,
            http,
            config,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        match self.slots.lock() {
            Ok(mut slots) => slots.entry(key.to_owned()).or_default().clone(),
            Err(poisoned) => poisoned
                .into_inner()
                .entry(key.to_owned())
                .or_default()
                .clone(),
        }
    }

    /// A runtime for `job`: the warm one, or a cold-started one (only one cold start per key at a
    /// time; concurrent callers wait for it and share it). Gives up at `deadline`.
    pub async fn acquire(
        &self,
        job: &ExecutionJob,
        deadline: Instant,
    ) -> Result<Lease, ColdStartError> {
        let key = pool_key(job);
        let slot = self.slot(&key);
        let mut guard = tokio::time::timeout_at(deadline, slot.runtime.lock())
            .await
            .map_err(|_| ColdStartError::TimedOut)?;
        if let Some(runtime) = guard.as_ref() {
            if !runtime.is_dead() {
                runtime.in_flight.fetch_add(1, Ordering::AcqRel);
                runtime.touch();
                return Ok(Lease {
                    runtime: runtime.clone(),
                    cold_start: false,
                });
            }
            let dead = runtime.clone();
            *guard = None;
            self.remove_runtime(&dead).await;
        }
        let runtime = self.cold_start(job, &key, deadline).await?;
        runtime.in_flight.fetch_add(1, Ordering::AcqRel);
        *guard = Some(runtime.clone());
        Ok(Lease {
            runtime,
            cold_start: true,
        })
    }

    async fn cold_start(
        &self,
        job: &ExecutionJob,
        key: &str,
        deadline: Instant,
    ) -> Result<Arc<Runtime>, ColdStartError> {
        let short_instance: String = self
            .config
            .instance_id
            .chars()
            .rev()
            .take(8)
            .collect::<String>()
            .chars()
            .rev()
            .collect();
        let name = format!("fnplat-rt-{}-{}", short_instance, name_fragment(key));
        let host_dir = self.config.work_dir.join(&name);
        let started = Instant::now();
        let result =
            tokio::time::timeout_at(deadline, self.start_container(job, &name, &host_dir)).await;
        match result {
            Ok(Ok(runtime)) => {
                tracing::info!(container = %name, ms = started.elapsed().as_millis() as u64, "runtime cold-started");
                Ok(Arc::new(runtime))
            }
            Ok(Err(err)) => {
                self.cleanup(&name, &host_dir).await;
                Err(err)
            }
            Err(_) => {
                self.cleanup(&name, &host_dir).await;
                Err(ColdStartError::TimedOut)
            }
        }
    }

    async fn start_container(
        &self,
        job: &ExecutionJob,
        name: &str,
        host_dir: &std::path::Path,
    ) -> Result<Runtime, ColdStartError> {
        let code = match storage::get(self.store.as_ref(), &job.build_path).await {
            Ok(bytes) => bytes,
            Err(StorageError::NotFound(path)) => return Err(ColdStartError::BuildMissing(path)),
            Err(err) => return Err(ColdStartError::Storage(err)),
        };
        // A leftover of this name (an earlier attempt) would block the create.
        self.sandbox.remove(name).await?;
        let logs_dir = host_dir.join("logs");
        tokio::fs::create_dir_all(&logs_dir)
            .await
            .map_err(ColdStartError::LogsDir)?;
        set_world_writable(&logs_dir)
            .await
            .map_err(ColdStartError::LogsDir)?;
        // The build output is bind-mounted read-only (an upload into a read-only root filesystem
        // is refused); `helpers/start.sh` extracts it into the function tmpfs.
        let code_file = host_dir.join("code.tar.gz");
        tokio::fs::write(&code_file, &code)
            .await
            .map_err(ColdStartError::LogsDir)?;
        let secret = new_secret();
        let mut labels = HashMap::new();
        labels.insert(sandbox::LABEL_ROLE.to_owned(), "runtime".to_owned());
        labels.insert(
            sandbox::LABEL_DEPLOYMENT.to_owned(),
            job.deployment_id.clone(),
        );
        labels.insert(
            sandbox::LABEL_EXECUTOR.to_owned(),
            self.config.instance_id.clone(),
        );
        labels.insert(sandbox::LABEL_NODE.to_owned(), self.config.node.clone());
        labels.insert("fnplat.project".to_owned(), job.project_id.clone());
        labels.insert("fnplat.function".to_owned(), job.function_id.clone());
        let spec = ContainerSpec {
            name: name.to_owned(),
            image: job.image.clone(),
            cmd: vec![
                "bash".to_owned(),
                "/usr/local/server/helpers/start.sh".to_owned(),
                "bash /usr/local/server/helpers/server.sh".to_owned(),
            ],
            env: runtime_env(job, &secret),
            labels,
            memory_mb: u64::from(job.memory_mb),
            cpus: job.cpus,
            binds: vec![
                format!("{}:{LOGS_IN_CONTAINER}", logs_dir.display()),
                format!("{}:{CODE_IN_CONTAINER}:ro", code_file.display()),
            ],
            publish: Some((RUNTIME_PORT.to_owned(), self.config.host_ip.clone())),
            working_dir: Some("/usr/local/server".to_owned()),
            user: Some(sandbox::SANDBOX_USER.to_owned()),
            tmpfs: runtime_tmpfs(u64::from(job.memory_mb)),
            pids_limit: RUNTIME_PIDS_LIMIT,
            network: self.config.network.clone(),
        };
        let id = self.sandbox.create(&spec).await?;
        self.sandbox.start(&id).await?;
        let port = self.sandbox.host_port(&id, RUNTIME_PORT).await?;
        let base_url = format!("http://{}:{port}", self.config.host_ip);
        self.wait_healthy(&id, &base_url).await?;
        let runtime = Runtime {
            container_id: id,
            name: name.to_owned(),
            port,
            secret,
            logs_dir,
            host_dir: host_dir.to_path_buf(),
            base_url,
            last_used_ms: AtomicI64::new(sandbox::now_unix_ms()),
            in_flight: AtomicUsize::new(0),
            dead: AtomicBool::new(false),
        };
        Ok(runtime)
    }

    /// Polls `GET /__opr/health` until it answers 200 (the caller bounds the wait).
    async fn wait_healthy(&self, id: &str, base_url: &str) -> Result<(), ColdStartError> {
        let url = format!("{base_url}/__opr/health");
        let mut delay = Duration::from_millis(20);
        let mut attempts = 0u32;
        loop {
            let ok = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status() == reqwest::StatusCode::OK)
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            attempts += 1;
            if attempts.is_multiple_of(10) && !self.sandbox.is_running(id).await? {
                return Err(ColdStartError::Exited);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    async fn cleanup(&self, name: &str, host_dir: &std::path::Path) {
        if let Err(err) = self.sandbox.remove(name).await {
            tracing::warn!(error = %err, container = %name, "could not remove runtime container");
        }
        if let Err(err) = tokio::fs::remove_dir_all(host_dir).await {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %err, dir = %host_dir.display(), "could not remove runtime dir");
            }
        }
    }

    async fn remove_runtime(&self, runtime: &Runtime) {
        runtime.dead.store(true, Ordering::Relaxed);
        self.cleanup(&runtime.name, &runtime.host_dir).await;
    }

    /// Marks a runtime unhealthy (timed out, connection failed): it is removed now and the next
    /// request for its deployment cold-starts a new one.
    pub async fn discard(&self, runtime: &Arc<Runtime>) {
        tracing::info!(container = %runtime.name, "discarding unhealthy runtime");
        runtime.dead.store(true, Ordering::Relaxed);
        let slots = self.slot_list();
        for slot in slots {
            if let Ok(mut guard) = slot.runtime.try_lock() {
                if guard.as_ref().is_some_and(|r| Arc::ptr_eq(r, runtime)) {
                    *guard = None;
                }
            }
        }
        self.cleanup(&runtime.name, &runtime.host_dir).await;
    }

    /// Removes runtimes idle longer than the idle timeout; returns how many were removed.
    pub async fn reap_idle(&self) -> usize {
        let idle_ms = i64::try_from(self.config.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        let now = sandbox::now_unix_ms();
        let slots: Vec<(String, Arc<Slot>)> = self
            .slots
            .lock()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut removed = 0;
        for (key, slot) in slots {
            let victim = match slot.runtime.try_lock() {
                Ok(mut guard) => {
                    let idle = guard.as_ref().is_some_and(|r| {
                        r.in_flight.load(Ordering::Acquire) == 0
                            && now - r.last_used_ms.load(Ordering::Relaxed) >= idle_ms
                    });
                    if idle {
                        guard.take()
                    } else {
                        None
                    }
                }
                // A cold start or an acquire holds it: busy, not idle.
                Err(_) => None,
            };
            if let Some(runtime) = victim {
                tracing::info!(container = %runtime.name, "removing idle runtime");
                self.remove_runtime(&runtime).await;
                removed += 1;
            }
            // Forget empty slots nobody else holds.
            if let Ok(mut slots) = self.slots.lock() {
                let empty = slots.get(&key).is_some_and(|s| {
                    Arc::strong_count(s) == 2
                        && s.runtime.try_lock().map(|g| g.is_none()).unwrap_or(false)
                });
                if empty {
                    slots.remove(&key);
                }
            }
        }
        removed
    }

    /// Removes every runtime container this instance owns (shutdown).
    pub async fn remove_all_owned(&self) {
        let slots = self.slot_list();
        for slot in slots {
            let taken = slot.runtime.lock().await.take();
            if let Some(runtime) = taken {
                self.remove_runtime(&runtime).await;
            }
        }
        match self
            .sandbox
            .list_labelled(&[
                (sandbox::LABEL_ROLE, "runtime"),
                (sandbox::LABEL_EXECUTOR, &self.config.instance_id),
            ])
            .await
        {
            Ok(list) => {
                for c in list {
                    let _ = self.sandbox.remove(&c.id).await;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not list runtime containers at shutdown")
            }
        }
    }

    /// Removes runtime containers left on this node by earlier executor instances (crash,
    /// restart): at start this instance owns none, so every runtime container labelled with this
    /// node is an orphan.
    pub async fn remove_orphans(&self) -> Result<usize, SandboxError> {
        let list = self
            .sandbox
            .list_labelled(&[
                (sandbox::LABEL_ROLE, "runtime"),
                (sandbox::LABEL_NODE, &self.config.node),
            ])
            .await?;
        let mut removed = 0;
        for c in list {
            if c.labels.get(sandbox::LABEL_EXECUTOR).map(String::as_str)
                == Some(self.config.instance_id.as_str())
            {
                continue;
            }
            self.sandbox.remove(&c.id).await?;
            let _ = tokio::fs::remove_dir_all(self.config.work_dir.join(&c.name)).await;
            removed += 1;
        }
        Ok(removed)
    }

    /// The current slots (a copy: the map's lock is not held while they are used).
    fn slot_list(&self) -> Vec<Arc<Slot>> {
        self.slots
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of warm runtimes (tests, metrics).
    pub fn warm_count(&self) -> usize {
        let slots = self.slot_list();
        slots
            .iter()
            .filter(|s| s.runtime.try_lock().map(|g| g.is_some()).unwrap_or(true))
            .count()
    }
}

#[cfg(unix)]
async fn set_world_writable(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The runtime may run as a non-root user inside the container and must write its log files.
    tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).await
}

#[cfg(not(unix))]
async fn set_world_writable(_dir: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ExecutionJob {
        ExecutionJob {
            deployment_id: "dep1".into(),
            image: "img".into(),
            build_path: "builds/x.tar.gz".into(),
            entrypoint: "index.js".into(),
            env: [
                ("A".to_owned(), "1".to_owned()),
                ("CI".to_owned(), "false".to_owned()),
            ]
            .into_iter()
            .collect(),
            cpus: 0.5,
            memory_mb: 512,
            ..Default::default()
        }
    }

    #[test]
    fn pool_key_changes_with_configuration_only() {
        let a = job();
        let mut same = job();
        same.execution_id = "other".into();
        same.body = b"x".to_vec();
        assert_eq!(pool_key(&a), pool_key(&same));
        assert!(pool_key(&a).starts_with("dep1-"));
        let mut env = job();
        env.env.insert("B".into(), "2".into());
        assert_ne!(pool_key(&a), pool_key(&env));
        let mut mem = job();
        mem.memory_mb = 1024;
        assert_ne!(pool_key(&a), pool_key(&mem));
        let mut cpus = job();
        cpus.cpus = 1.0;
        assert_ne!(pool_key(&a), pool_key(&cpus));
    }

    #[test]
    fn runtime_env_has_platform_values_that_win() {
        let env: HashMap<_, _> = runtime_env(&job(), "s3cr3t").into_iter().collect();
        assert_eq!(env["OPEN_RUNTIMES_SECRET"], "s3cr3t");
        assert_eq!(env["OPEN_RUNTIMES_ENTRYPOINT"], "index.js");
        assert_eq!(env["OPEN_RUNTIMES_CPUS"], "0.5");
        assert_eq!(env["OPEN_RUNTIMES_MEMORY"], "512");
        assert_eq!(env["CI"], "true");
        assert_eq!(env["A"], "1");
    }

    #[test]
    fn secrets_are_32_hex_chars_and_random() {
        let a = new_secret();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_secret());
        assert_eq!(format_cpus(2.0), "2");
    }
}
