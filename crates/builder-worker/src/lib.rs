//! builder-worker: consumes [`model::topology::BUILDS_QUEUE`], builds each deployment in a runtime
//! container (see [`build`]), stores the output and reports [`model::proto::BuildEvent`]s on
//! [`model::topology::BUILD_EVENTS_QUEUE`]. Also listens to build cancellations broadcast on
//! [`model::topology::BUILD_CANCEL_EXCHANGE`].
//!
//! `main.rs` is thin: settings, [`build`], [`App::run`] until SIGTERM/SIGINT.

pub mod build;
pub mod events;
pub mod settings;

pub use build::{Builder, BuilderConfig};
pub use settings::Settings;

use model::proto::{BuildCancel, BuildJob};
use queue::{ConsumerConfig, Incoming, Outcome, Publisher};
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
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error(transparent)]
    Storage(#[from] sandbox::storage::StorageError),
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
}

/// A built, not yet running, builder-worker: the admin listener is bound, Docker and the object
/// store are set up.
pub struct App {
    settings: Settings,
    listener: TcpListener,
    admin_addr: SocketAddr,
    builder: Arc<Builder>,
    publisher: Arc<Publisher>,
}

/// Sets the worker up from settings; binds the admin listener (port 0 = any free port).
pub async fn build(settings: Settings) -> Result<App, Error> {
    let (listener, admin_addr) = sandbox::worker::bind_admin(&settings.admin).await?;
    let sandbox = Sandbox::connect(Some(settings.docker.host.as_str()))?;
    let store = sandbox::storage::open_local(&settings.storage.dir)?;
    let publisher = Arc::new(Publisher::new(settings.amqp.url()));
    let ca_bundle = if std::path::Path::new(&settings.ca_bundle).is_file() {
        Some(settings.ca_bundle.clone())
    } else {
        tracing::warn!(path = %settings.ca_bundle, "CA bundle not found; build containers get none mounted");
        None
    };
    let config = BuilderConfig {
        ca_bundle,
        log_interval: Duration::from_millis(settings.log_interval_ms.max(50)),
        default_timeout_seconds: settings.default_timeout_seconds.max(1),
        max_build_size: settings.max_build_size,
        work_dir: settings.work_dir.clone().into(),
        network: settings.docker.network().map(str::to_owned),
    };
    sandbox::worker::ensure_network_or_warn(&sandbox, &settings.docker, "sandbox", "builds").await;
    let events = Arc::new(events::QueueEvents::new(publisher.clone()));
    let builder = Arc::new(Builder::new(sandbox, store, events, config));
    Ok(App {
        settings,
        listener,
        admin_addr,
        builder,
        publisher,
    })
}

impl App {
    /// The bound admin address (`/health/livez`, `/health/readyz`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Runs until `shutdown` fires, then stops consuming, lets in-flight builds hand their jobs
    /// back (their containers are removed) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        tracing::info!(admin = %self.admin_addr, "builder-worker admin listener bound");
        let instance = format!("builder-{}", uuid::Uuid::new_v4().simple());
        let url = self.settings.amqp.url().to_owned();
        let ready = readiness(self.builder.clone(), self.publisher.clone());
        let admin_stop = CancellationToken::new();
        let admin = tokio::spawn(sandbox::admin::serve(
            self.listener,
            ready,
            admin_stop.clone(),
        ));

        let cancel_builder = self.builder.clone();
        let cancel_config = ConsumerConfig::broadcast(
            &url,
            model::topology::BUILD_CANCEL_EXCHANGE,
            &format!("{instance}-cancel"),
        );
        let cancel_loop = tokio::spawn(queue::run_consumer(
            cancel_config,
            shutdown.clone(),
            move |incoming: Incoming<BuildCancel>| {
                let builder = cancel_builder.clone();
                async move {
                    builder.cancel(&incoming.message.deployment_id);
                    Outcome::Ack
                }
            },
        ));

        let mut jobs_config = ConsumerConfig::queue(
            &url,
            model::topology::BUILDS_QUEUE,
            &instance,
            self.settings.amqp.prefetch.max(1),
        );
        jobs_config.drain = Duration::from_secs(20);
        let builder = self.builder.clone();
        let job_shutdown = shutdown.clone();
        let result = queue::run_consumer(
            jobs_config,
            shutdown.clone(),
            move |incoming: Incoming<BuildJob>| {
                let builder = builder.clone();
                let shutdown = job_shutdown.clone();
                async move { builder.handle(incoming.message, &shutdown).await }
            },
        )
        .await;
        if let Ok(Err(err)) = cancel_loop.await {
            tracing::warn!(error = %err, "build-cancel consumer stopped with an error");
        }
        admin_stop.cancel();
        let _ = admin.await;
        tracing::info!("builder-worker stopped");
        Ok(result?)
    }
}

fn readiness(builder: Arc<Builder>, publisher: Arc<Publisher>) -> sandbox::admin::ReadyCheck {
    Arc::new(move || {
        let builder = builder.clone();
        let publisher = publisher.clone();
        Box::pin(async move { builder.sandbox().ping().await && publisher.ready().await })
    })
}
