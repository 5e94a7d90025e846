use api_gateway::{Application, Settings};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    model::telemetry::init("api-gateway");
    let settings = match model::settings::load::<Settings>("GATEWAY") {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration (GATEWAY__AUTH__API_KEY is required)");
            return std::process::ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("admin") {
        return match api_gateway::admin::run(&settings, &args[1..]).await {
            Ok(out) => {
                println!("{out}");
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("admin: {err:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = ?err, "api-gateway failed to start");
            return std::process::ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = ?err, "api-gateway stopped with an error");
            std::process::ExitCode::FAILURE
        }
    }
}
