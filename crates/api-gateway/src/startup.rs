//! Building and running the application: settings in, a bound listener and background tasks out.
use crate::db::{self, Pool};
use crate::routes;
use crate::settings::Settings;
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use queue::{ConsumerConfig, Publisher, RpcClient};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared by every handler (`web::Data<AppState>`).
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: Pool,
    pub store: Arc<dyn ObjectStore>,
    pub publisher: Arc<Publisher>,
    pub rpc: RpcClient,
    /// Wakes the outbox relay right after a job was committed.
    pub outbox_wake: Arc<Notify>,
    /// Background work started by handlers (e.g. file clean-up) that shutdown waits for.
    pub tasks: TaskTracker,
    /// Abuse-limit counters (`crate::rate_limit`), shared by every HTTP worker.
    pub limiters: Arc<crate::rate_limit::Limiters>,
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// How long shutdown waits for background tasks after the HTTP server stopped.
const DRAIN: Duration = Duration::from_secs(25);

impl Application {
    /// Validates settings, migrates the database, binds the listener and starts the background
    /// tasks (outbox relay, consumers, reaper). Nothing binds when settings are invalid.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
        let settings = Arc::new(settings);
        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let database_url = settings.database.url.expose_secret().to_owned();
        db::run_migrations(&database_url).await?;
        let pool = db::pool(&database_url, settings.database.max_connections)?;

        std::fs::create_dir_all(&settings.storage.dir)
            .map_err(|e| anyhow::anyhow!("creating storage dir {}: {e}", settings.storage.dir))?;
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(&settings.storage.dir)?);

        let amqp_url = settings.amqp.url().to_owned();
        let publisher = Arc::new(Publisher::new(amqp_url.clone()));
        let rpc = RpcClient::new(amqp_url.clone());
        let outbox_wake = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();

        tasks.spawn(crate::outbox::run(
            pool.clone(),
            publisher.clone(),
            outbox_wake.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::reaper::run(
            pool.clone(),
            settings.clone(),
            shutdown.clone(),
        ));
        let prefetch = settings.amqp.prefetch;
        {
            let pool = pool.clone();
            let config = ConsumerConfig::queue(
                &amqp_url,
                model::topology::BUILD_EVENTS_QUEUE,
                "api-gateway-build-events",
                prefetch,
            );
            let token = shutdown.clone();
            let publisher = publisher.clone();
            tasks.spawn(async move {
                let handler = move |m: queue::Incoming<model::proto::BuildEvent>| {
                    crate::consumers::on_build_event(pool.clone(), publisher.clone(), m)
                };
                if let Err(err) = queue::run_consumer(config, token, handler).await {
                    tracing::error!(error = %err, "build events consumer stopped");
                }
            });
        }
        {
            let pool = pool.clone();
            let config = ConsumerConfig::queue(
                &amqp_url,
                model::topology::EXECUTION_RESULTS_QUEUE,
                "api-gateway-execution-results",
                prefetch,
            );
            let token = shutdown.clone();
            let publisher = publisher.clone();
            tasks.spawn(async move {
                let handler = move |m: queue::Incoming<model::proto::ExecutionResult>| {
                    let (pool, publisher) = (pool.clone(), publisher.clone());
                    async move {
                        let (project, function, execution) = (
                            m.message.project_id.clone(),
                            m.message.function_id.clone(),
                            m.message.execution_id.clone(),
                        );
                        let outcome =
                            crate::consumers::handle_execution_result(pool.clone(), m).await;
                        if outcome == queue::Outcome::Ack {
                            crate::events::emit_update_from_db(
                                &pool,
                                &publisher,
                                &project,
                                &function,
                                None,
                                Some(&execution),
                            )
                            .await;
                        }
                        outcome
                    }
                };
                if let Err(err) = queue::run_consumer(config, token, handler).await {
                    tracing::error!(error = %err, "execution results consumer stopped");
                }
            });
        }

        {
            let ctx = crate::triggered::TriggerContext {
                pool: pool.clone(),
                settings: settings.clone(),
                outbox_wake: outbox_wake.clone(),
                publisher: publisher.clone(),
                tasks: tasks.clone(),
            };
            let config = ConsumerConfig::queue(
                &amqp_url,
                model::topology::SCHEDULE_FIRES_QUEUE,
                "api-gateway-schedule-fires",
                prefetch,
            );
            let token = shutdown.clone();
            tasks.spawn(async move {
                let handler = move |m| crate::schedules::handle_fire(ctx.clone(), m);
                if let Err(err) = queue::run_consumer(config, token, handler).await {
                    tracing::error!(error = %err, "schedule fires consumer stopped");
                }
            });
        }

        tasks.spawn(crate::events::run(
            crate::triggered::TriggerContext {
                pool: pool.clone(),
                settings: settings.clone(),
                outbox_wake: outbox_wake.clone(),
                publisher: publisher.clone(),
                tasks: tasks.clone(),
            },
            amqp_url.clone(),
            prefetch,
            shutdown.clone(),
        ));

        let state = web::Data::new(AppState {
            settings: settings.clone(),
            pool,
            store,
            publisher,
            rpc,
            outbox_wake,
            tasks: tasks.clone(),
            limiters: Arc::new(crate::rate_limit::Limiters::new(&settings.rate_limit)),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(crate::params::MAX_JSON_BODY))
                .app_data(routes::path_config())
                .app_data(routes::query_config())
                .app_data(routes::json_config())
                .wrap(actix_web::middleware::from_fn(crate::format::middleware))
                .wrap(actix_web::middleware::from_fn(crate::head::middleware))
                // Outside the format middleware: function domains answer raw.
                .wrap(actix_web::middleware::from_fn(crate::domains::middleware))
                .wrap(actix_web::middleware::Logger::new("%r %s %Dms").exclude("/health/livez"))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(20)
        .run();
        tracing::info!(port, "api-gateway listening");
        Ok(Self {
            port,
            server,
            shutdown,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancelling this token stops the application like SIGTERM does.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until SIGTERM/SIGINT or the shutdown token, then drains: the HTTP server finishes
    /// in-flight requests, then background tasks stop consuming and finish under a deadline.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            shutdown,
            tasks,
            ..
        } = self;
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        let token = shutdown.clone();
        tokio::select! {
            _ = wait_for_signal() => tracing::info!("shutdown signal received"),
            _ = token.cancelled() => tracing::info!("shutdown requested"),
        }
        handle.stop(true).await;
        let served = server_task.await;
        shutdown.cancel();
        tasks.close();
        if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
            tracing::warn!("background tasks did not finish before the drain deadline");
        }
        tracing::info!("api-gateway stopped");
        served??;
        Ok(())
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only SIGINT stops the gateway");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
