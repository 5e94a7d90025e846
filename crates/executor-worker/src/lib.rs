//! executor-worker: consumes [`model::topology::EXECUTIONS_QUEUE`], runs each execution in a warm
//! (or cold-started) runtime container over the open-runtimes v5 protocol, answers the sync
//! caller on `reply_to` and publishes every [`model::proto::ExecutionResult`] on
//! [`model::topology::EXECUTION_RESULTS_QUEUE`].
//!
//! Container ownership: runtime containers carry the labels `fnplat.role=runtime`,
//! `fnplat.executor=<instance id>` (new per process) and `fnplat.node=<node>` (settings, default
//! the hostname). At start the executor removes every runtime container of its node (they were
//! left by earlier instances: a crash or a restart); at shutdown it removes its own. Executors
//! sharing one Docker engine must therefore have distinct node names.
//!
//! `main.rs` is thin: settings, [`build`], [`App::run`] until SIGTERM/SIGINT.

pub mod execute;
pub mod pool;
pub mod results;
pub mod settings;

pub use execute::Executor;
pub use pool::{Pool, PoolConfig};
pub use settings::Settings;

use model::proto::ExecutionJob;
use queue::{ConsumerConfig, Incoming, Publisher};
use sandbox::Sandbox;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bind(#[from] sandbox::worker::BindError),
    #[error("could not create the work dir {dir}: {source}")]
    WorkDir { dir: String, source: std::io::Error },
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error(transparent)]
    Storage(#[from] sandbox::storage::StorageError),
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
}

/// The HTTP client used for runtime calls: pooled keep-alive connections, no proxy.
pub fn runtime_http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(55))
        .pool_max_idle_per_host(64)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A new executor instance id (label `fnplat.executor`).
pub fn new_instance_id() -> String {
    format!("executor-{}", uuid::Uuid::new_v4().simple())
}

/// A built, not yet running, executor-worker.
pub struct App {
    settings: Settings,
    listener: TcpListener,
    admin_addr: SocketAddr,
    executor: Arc<Executor>,
    publisher: Arc<Publisher>,
    instance_id: String,
}

/// Sets the worker up from settings; binds the admin listener (port 0 = any free port).
pub async fn build(settings: Settings) -> Result<App, Error> {
    let (listener, admin_addr) = sandbox::worker::bind_admin(&settings.admin).await?;
    std::fs::create_dir_all(&settings.work_dir).map_err(|source| Error::WorkDir {
        dir: settings.work_dir.clone(),
        source,
    })?;
    let sandbox = Sandbox::connect(Some(settings.docker.host.as_str()))?;
    let store = sandbox::storage::open_local(&settings.storage.dir)?;
    let publisher = Arc::new(Publisher::new(settings.amqp.url()));
    let instance_id = new_instance_id();
    let config = PoolConfig {
        work_dir: settings.work_dir.clone().into(),
        instance_id: instance_id.clone(),
        node: settings.node_name(),
        host_ip: settings.runtime_host.clone(),
        idle_timeout: Duration::from_secs(settings.idle_timeout_seconds.max(1)),
        network: settings.docker.network().map(str::to_owned),
    };
    sandbox::worker::ensure_network_or_warn(&sandbox, &settings.docker, "runtime", "cold starts")
        .await;
    let pool = Arc::new(Pool::new(sandbox, store, runtime_http_client()?, config));
    let results = Arc::new(results::QueueResults::new(publisher.clone()));
    let executor = Arc::new(Executor::new(pool, results));
    Ok(App {
        settings,
        listener,
        admin_addr,
        executor,
        publisher,
        instance_id,
    })
}

impl App {
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Runs until `shutdown` fires: stops consuming, lets in-flight executions finish (up to
    /// `drain_seconds`), removes this instance's runtime containers and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        tracing::info!(admin = %self.admin_addr, instance = %self.instance_id, "executor-worker admin listener bound");
        let pool = self.executor.pool().clone();
        match pool.remove_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                "removed orphaned runtime containers of earlier instances"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "could not remove orphaned runtime containers")
            }
        }
        let admin_stop = CancellationToken::new();
        let ready = readiness(pool.clone(), self.publisher.clone());
        let admin = tokio::spawn(sandbox::admin::serve(
            self.listener,
            ready,
            admin_stop.clone(),
        ));

        let reaper_stop = CancellationToken::new();
        let reaper = tokio::spawn(reap_loop(pool.clone(), reaper_stop.clone()));

        let mut config = ConsumerConfig::queue(
            self.settings.amqp.url(),
            model::topology::EXECUTIONS_QUEUE,
            &self.instance_id,
            self.settings.amqp.prefetch.max(1),
        );
        config.drain = Duration::from_secs(self.settings.drain_seconds);
        let executor = self.executor.clone();
        let result = queue::run_consumer(
            config,
            shutdown.clone(),
            move |incoming: Incoming<ExecutionJob>| {
                let executor = executor.clone();
                async move { executor.handle(incoming).await }
            },
        )
        .await;
        reaper_stop.cancel();
        let _ = reaper.await;
        pool.remove_all_owned().await;
        admin_stop.cancel();
        let _ = admin.await;
        tracing::info!("executor-worker stopped");
        Ok(result?)
    }
}

async fn reap_loop(pool: Arc<Pool>, stop: CancellationToken) {
    let idle = pool.config().idle_timeout;
    let period = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(period) => {}
        }
        let removed = pool.reap_idle().await;
        if removed > 0 {
            tracing::debug!(removed, "idle runtimes reaped");
        }
    }
}

fn readiness(pool: Arc<Pool>, publisher: Arc<Publisher>) -> sandbox::admin::ReadyCheck {
    Arc::new(move || {
        let pool = pool.clone();
        let publisher = publisher.clone();
        Box::pin(async move { pool.sandbox().ping().await && publisher.ready().await })
    })
}
