//! The scheduler service. In this first cut it starts, connects to RabbitMQ (declaring the
//! topology), serves its health endpoints and shuts down cleanly; firing CRON schedules and
//! `scheduledAt` executions lands with the scheduler issue.

use actix_web::{web, App, HttpResponse, HttpServer};
use model::settings::{AdminSettings, AmqpSettings};
use serde::Deserialize;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub amqp: AmqpSettings,
    #[serde(default)]
    pub admin: AdminSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot bind the admin listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
}

/// Readiness shared with the admin endpoint.
#[derive(Clone, Default)]
pub struct Health {
    broker: Arc<AtomicBool>,
}

impl Health {
    pub fn set_broker(&self, up: bool) {
        self.broker.store(up, Ordering::Relaxed);
    }
    pub fn ready(&self) -> bool {
        self.broker.load(Ordering::Relaxed)
    }
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().body("OK")
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    if health.ready() {
        HttpResponse::Ok().body("OK")
    } else {
        HttpResponse::ServiceUnavailable().body("broker unavailable")
    }
}

/// A running admin listener: its bound port and the server handle.
pub struct Admin {
    pub port: u16,
    server: actix_web::dev::Server,
}

impl Admin {
    pub fn start(settings: &AdminSettings, health: Health) -> Result<Self, SchedulerError> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(health.clone()))
                .route("/health/livez", web::get().to(livez))
                .route("/health/readyz", web::get().to(readyz))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }
}

/// Runs until `shutdown` fires: keeps a broker connection (reconnecting), serves health.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), SchedulerError> {
    let health = Health::default();
    let admin = Admin::start(&settings.admin, health.clone())?;
    tracing::info!(
        port = admin.port,
        "admin listener on /health/livez and /health/readyz"
    );
    let handle = admin.server.handle();
    let server = tokio::spawn(admin.server);

    while !shutdown.is_cancelled() {
        let connection = match queue::connect(settings.amqp.url(), &shutdown).await {
            Ok(c) => c,
            Err(queue::QueueError::Shutdown) => break,
            Err(err) => return Err(err.into()),
        };
        let channel = connection
            .create_channel()
            .await
            .map_err(queue::QueueError::from)?;
        queue::declare_topology(&channel).await?;
        health.set_broker(true);
        tracing::info!("connected to RabbitMQ");
        // Watch the connection; reconnect when it drops.
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if !connection.status().connected() {
                        tracing::warn!("lost RabbitMQ connection");
                        break;
                    }
                }
            }
        }
        health.set_broker(false);
        let _ = connection.close(200, "shutdown").await;
    }
    handle.stop(true).await;
    let _ = server.await;
    tracing::info!("scheduler stopped");
    Ok(())
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
pub async fn shutdown_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
