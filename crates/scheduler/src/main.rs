use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    model::telemetry::init("scheduler");
    let settings = match model::settings::load::<scheduler::Settings>("SCHEDULER") {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(scheduler::shutdown_on_signal(shutdown.clone()));
    match scheduler::run(settings, shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "scheduler failed");
            std::process::ExitCode::FAILURE
        }
    }
}
