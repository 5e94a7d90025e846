#[tokio::main]
async fn main() -> std::process::ExitCode {
    sandbox::worker::main(
        "builder-worker",
        "BUILDER",
        builder_worker::build,
        builder_worker::App::run,
    )
    .await
}
