use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    model::telemetry::init("builder-worker");
    let settings = match model::settings::load::<builder_worker::Settings>("BUILDER") {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "invalid settings");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    sandbox::signal::cancel_on_signals(shutdown.clone());
    let app = match builder_worker::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "builder-worker failed to start");
            return std::process::ExitCode::FAILURE;
        }
    };
    match app.run(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "builder-worker stopped with an error");
            std::process::ExitCode::FAILURE
        }
    }
}
