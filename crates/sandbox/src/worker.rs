//! Start-up shared by `builder-worker` and `executor-worker`: the process entry point ([`main`]:
//! telemetry, settings, signals, build, run), the admin listener bind ([`bind_admin`]) and the
//! sandbox network check ([`ensure_network_or_warn`]).
use crate::{DockerSettings, Sandbox};
use model::settings::AdminSettings;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The admin listener could not be bound (or its address read).
#[derive(Debug, thiserror::Error)]
#[error("could not bind the admin listener on {addr}: {source}")]
pub struct BindError {
    pub addr: String,
    pub source: std::io::Error,
}

/// Binds the worker's admin listener (port 0 = any free port) and returns it with its address.
pub async fn bind_admin(admin: &AdminSettings) -> Result<(TcpListener, SocketAddr), BindError> {
    let addr = format!("{}:{}", admin.host, admin.port);
    let listener = crate::admin::bind(&admin.host, admin.port)
        .await
        .map_err(|source| BindError {
            addr: addr.clone(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| BindError { addr, source })?;
    Ok((listener, local))
}

/// Creates the sandbox network of `docker` when one is configured; a failure is only logged
/// (`purpose` names the network in the log, `consequence` what fails until it exists).
pub async fn ensure_network_or_warn(
    sandbox: &Sandbox,
    docker: &DockerSettings,
    purpose: &str,
    consequence: &str,
) {
    if let Some(network) = docker.network() {
        if let Err(err) = sandbox.ensure_network(network, docker.bridge.trim()).await {
            tracing::warn!(error = %err, network, "could not create the {purpose} network; {consequence} will fail until it exists");
        }
    }
}

/// The whole `main` of a worker binary: telemetry as `service`, settings of type `S` from the
/// `prefix` environment (`BUILDER`, `EXECUTOR`), SIGTERM/SIGINT cancel the shutdown token,
/// `build(settings)`, then `run(worker, shutdown)`. Every failure is logged and exits with failure.
pub async fn main<S, W, BuildErr, RunErr, Build, BuildFut, Run, RunFut>(
    service: &str,
    prefix: &str,
    build: Build,
    run: Run,
) -> ExitCode
where
    S: DeserializeOwned,
    BuildErr: std::fmt::Display,
    RunErr: std::fmt::Display,
    Build: FnOnce(S) -> BuildFut,
    BuildFut: Future<Output = Result<W, BuildErr>>,
    Run: FnOnce(W, CancellationToken) -> RunFut,
    RunFut: Future<Output = Result<(), RunErr>>,
{
    model::telemetry::init(service);
    let settings = match model::settings::load::<S>(prefix) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "invalid settings");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    crate::signal::cancel_on_signals(shutdown.clone());
    let worker = match build(settings).await {
        Ok(worker) => worker,
        Err(err) => {
            tracing::error!(error = %err, "{service} failed to start");
            return ExitCode::FAILURE;
        }
    };
    match run(worker, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "{service} stopped with an error");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bind_admin_reports_the_bound_port() {
        let admin = AdminSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
        };
        let (_listener, addr) = bind_admin(&admin).await.expect("bind");
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }

    #[tokio::test]
    async fn bind_admin_error_names_the_address() {
        let (held, addr) = bind_admin(&AdminSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
        })
        .await
        .expect("bind");
        let err = bind_admin(&AdminSettings {
            host: "127.0.0.1".to_owned(),
            port: addr.port(),
        })
        .await
        .expect_err("port in use");
        assert!(
            err.to_string().starts_with(&format!(
                "could not bind the admin listener on 127.0.0.1:{}: ",
                addr.port()
            )),
            "{err}"
        );
        drop(held);
    }
}
