#[tokio::main]
async fn main() -> std::process::ExitCode {
    sandbox::worker::main(
        "executor-worker",
        "EXECUTOR",
        executor_worker::build,
        executor_worker::App::run,
    )
    .await
}
