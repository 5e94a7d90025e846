//! The scheduler service: fires CRON slots and one-off `scheduledAt` executions as `ScheduleFire`
//! messages on `fnplat.schedule-fires`.
//!
//! - At start it loads every active schedule and pending one-off execution from the gateway
//!   (`GET /v1/internal/schedules`, API key) and fires the slots missed within the catch-up window.
//! - It learns of changes through `FunctionChanged` broadcasts (re-fetching that function), and
//!   re-loads everything every `resync_seconds` as a safety net. It never reads the database.
//! - croner computes the slots (standard cron semantics, exact slot time); a tokio-cron-scheduler
//!   `JobScheduler` runs the timers, one one-shot job per entry at its next slot ([`timers`]).
//! - Every replica fires every slot; the gateway turns `(function, slot)` into at most one
//!   execution, so replicas need no coordination and a dead replica causes no miss.

pub mod table;
pub mod timers;

use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::Utc;
use model::proto::{FunctionChanged, ScheduleFire};
use model::settings::{AdminSettings, AmqpSettings};
use queue::{ConsumerConfig, Incoming, Outcome, PublishOptions, Publisher};
use serde::Deserialize;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use table::{Fire, Snapshot, Table};
use timers::Timers;
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

/// Where the gateway is and how to authenticate to its internal endpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct GatewaySettings {
    #[serde(default = "default_gateway_url")]
    pub url: String,
    #[serde(default = "default_project")]
    pub project_id: String,
    #[serde(default)]
    pub api_key: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            url: default_gateway_url(),
            project_id: default_project(),
            api_key: String::new(),
        }
    }
}

fn default_gateway_url() -> String {
    "http://127.0.0.1:8080".into()
}
fn default_project() -> String {
    "local".into()
}
fn default_resync() -> u64 {
    60
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub amqp: AmqpSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub gateway: GatewaySettings,
    /// Full re-load from the gateway this often (a safety net for lost change broadcasts).
    #[serde(default = "default_resync")]
    pub resync_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot bind the admin listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
    #[error("gateway request failed: {0}")]
    Gateway(String),
    #[error("timer engine: {0}")]
    Timer(String),
}

/// Readiness shared with the admin endpoint.
#[derive(Clone, Default)]
pub struct Health {
    broker: Arc<AtomicBool>,
    loaded: Arc<AtomicBool>,
}

impl Health {
    pub fn set_broker(&self, up: bool) {
        self.broker.store(up, Ordering::Relaxed);
    }
    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::Relaxed);
    }
    pub fn ready(&self) -> bool {
        self.broker.load(Ordering::Relaxed) && self.loaded.load(Ordering::Relaxed)
    }
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().body("OK")
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    if health.ready() {
        HttpResponse::Ok().body("OK")
    } else {
        HttpResponse::ServiceUnavailable().body("broker unavailable or schedules not loaded")
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

/// Fetches the gateway's view of schedules (all, or one function's).
pub async fn fetch(
    http: &reqwest::Client,
    gateway: &GatewaySettings,
    function_id: Option<&str>,
) -> Result<Snapshot, SchedulerError> {
    let mut request = http
        .get(format!(
            "{}/v1/internal/schedules",
            gateway.url.trim_end_matches('/')
        ))
        .header("x-appwrite-project", &gateway.project_id)
        .header("x-appwrite-key", &gateway.api_key)
        .timeout(Duration::from_secs(10));
    if let Some(id) = function_id {
        request = request.query(&[("functionId", id)]);
    }
    let response = request
        .send()
        .await
        .map_err(|e| SchedulerError::Gateway(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(SchedulerError::Gateway(format!("{status}: {body}")));
    }
    response
        .json::<Snapshot>()
        .await
        .map_err(|e| SchedulerError::Gateway(e.to_string()))
}

struct Shared {
    timers: Arc<Timers>,
    http: reqwest::Client,
    settings: Settings,
}

/// Runs until `shutdown` fires: loads the schedules, fires slots, follows changes, serves health.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), SchedulerError> {
    let health = Health::default();
    let admin = Admin::start(&settings.admin, health.clone())?;
    tracing::info!(
        port = admin.port,
        "admin listener on /health/livez and /health/readyz"
    );
    let handle = admin.server.handle();
    let server = tokio::spawn(admin.server);

    let (fires_tx, fires_rx) = mpsc::unbounded_channel();
    let timers = Timers::start(Arc::new(Mutex::new(Table::default())), fires_tx).await?;
    let shared = Arc::new(Shared {
        timers: timers.clone(),
        http: reqwest::Client::new(),
        settings: settings.clone(),
    });
    let publisher = Arc::new(Publisher::new(settings.amqp.url()));
    let tasks = tokio_util::task::TaskTracker::new();

    // Follow changes first so that nothing announced during the initial load is lost.
    {
        let shared = shared.clone();
        let config = ConsumerConfig::broadcast(
            settings.amqp.url(),
            model::topology::FUNCTION_CHANGED_EXCHANGE,
            "scheduler-function-changed",
        );
        let token = shutdown.clone();
        tasks.spawn(async move {
            let handler = move |m: Incoming<FunctionChanged>| on_change(shared.clone(), m);
            if let Err(err) = queue::run_consumer(config, token, handler).await {
                tracing::error!(error = %err, "function-changed consumer stopped");
            }
        });
    }
    tasks.spawn(watch_broker(
        publisher.clone(),
        health.clone(),
        shutdown.clone(),
    ));

    // Initial load, retried until the gateway answers.
    let mut delay = Duration::from_millis(200);
    loop {
        match fetch(&shared.http, &settings.gateway, None).await {
            Ok(snapshot) => {
                let mut table = shared.timers.table().lock().await;
                let start_after =
                    Utc::now() - chrono::Duration::seconds(snapshot.catch_up_seconds as i64);
                table.allow_seconds = snapshot.allow_seconds;
                table.load(&snapshot, start_after);
                let (crons, once) = table.len();
                tracing::info!(
                    schedules = crons,
                    scheduled = once,
                    catch_up_seconds = snapshot.catch_up_seconds,
                    "schedules loaded"
                );
                drop(table);
                shared.timers.sync().await;
                break;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot load schedules from the gateway, retrying in {delay:?}");
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        tasks.close();
                        tasks.wait().await;
                        timers.shutdown().await;
                        handle.stop(true).await;
                        let _ = server.await;
                        return Ok(());
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    health.set_loaded();
    tasks.spawn(resync(shared.clone(), shutdown.clone()));
    publish_fires(fires_rx, publisher, shutdown.clone()).await;

    timers.shutdown().await;
    tasks.close();
    tasks.wait().await;
    handle.stop(true).await;
    let _ = server.await;
    tracing::info!("scheduler stopped");
    Ok(())
}

async fn on_change(shared: Arc<Shared>, incoming: Incoming<FunctionChanged>) -> Outcome {
    let change = incoming.message;
    match fetch(
        &shared.http,
        &shared.settings.gateway,
        Some(&change.function_id),
    )
    .await
    {
        Ok(snapshot) => {
            shared.timers.table().lock().await.apply_function(
                &change.project_id,
                &change.function_id,
                &snapshot,
                Utc::now(),
            );
            shared.timers.sync().await;
            tracing::debug!(function.id = %change.function_id, change = %change.change, "function change applied");
            Outcome::Ack
        }
        Err(err) => Outcome::Retry(err.to_string()),
    }
}

async fn resync(shared: Arc<Shared>, shutdown: CancellationToken) {
    let every = Duration::from_secs(shared.settings.resync_seconds.max(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match fetch(&shared.http, &shared.settings.gateway, None).await {
            Ok(snapshot) => {
                shared
                    .timers
                    .table()
                    .lock()
                    .await
                    .load(&snapshot, Utc::now());
                shared.timers.sync().await;
            }
            Err(err) => tracing::warn!(error = %err, "schedule re-sync failed"),
        }
    }
}

async fn watch_broker(publisher: Arc<Publisher>, health: Health, shutdown: CancellationToken) {
    loop {
        health.set_broker(publisher.ready().await);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Publishes the fires the timer jobs hand over, one at a time in the order they come.
async fn publish_fires(
    mut fires: mpsc::UnboundedReceiver<Fire>,
    publisher: Arc<Publisher>,
    shutdown: CancellationToken,
) {
    loop {
        let fire = tokio::select! {
            _ = shutdown.cancelled() => return,
            fire = fires.recv() => fire,
        };
        let Some(fire) = fire else { return };
        publish(&publisher, &fire, &shutdown).await;
    }
}

/// The message for one fire (`slot_unix` is the slot, the gateway's dedupe key with the function).
pub fn fire_message(fire: &Fire) -> ScheduleFire {
    ScheduleFire {
        project_id: fire.project_id.clone(),
        function_id: fire.function_id.clone(),
        slot_unix: fire.slot.timestamp(),
        execution_id: fire.execution_id.clone(),
    }
}

/// Publishes one fire with confirms, retrying until it is accepted or shutdown.
async fn publish(publisher: &Publisher, fire: &Fire, shutdown: &CancellationToken) {
    let message = fire_message(fire);
    let mut delay = Duration::from_millis(100);
    loop {
        match publisher
            .publish(
                "",
                model::topology::SCHEDULE_FIRES_QUEUE,
                &message,
                &PublishOptions::default(),
            )
            .await
        {
            Ok(()) => {
                let late_ms = (Utc::now() - fire.slot).num_milliseconds();
                tracing::info!(function.id = %fire.function_id, execution.id = %fire.execution_id, slot = %fire.slot, late_ms, "fired");
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, slot = %fire.slot, "could not publish a fire, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
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
