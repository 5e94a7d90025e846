//! Starts the real scheduler against the real RabbitMQ and checks health and clean shutdown.
use model::settings::{AdminSettings, AmqpSettings};
use std::net::TcpListener;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

#[tokio::test]
async fn serves_health_and_stops_on_shutdown() {
    let port = free_port();
    assert_ne!(port, 0);
    let settings = scheduler::Settings {
        amqp: AmqpSettings::default(),
        admin: AdminSettings {
            host: "127.0.0.1".into(),
            port,
        },
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(scheduler::run(settings, shutdown.clone()));

    let client = reqwest::Client::new();
    let live = format!("http://127.0.0.1:{port}/health/livez");
    let ready = format!("http://127.0.0.1:{port}/health/readyz");
    let mut became_ready = false;
    for _ in 0..100 {
        if let Ok(resp) = client.get(&ready).send().await {
            if resp.status().is_success() {
                became_ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        became_ready,
        "scheduler never became ready (is RabbitMQ running? run scripts/infra-up.sh)"
    );
    let resp = client.get(&live).send().await.expect("livez answers");
    assert_eq!(resp.status(), 200);

    shutdown.cancel();
    let finished = tokio::time::timeout(Duration::from_secs(15), task).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "scheduler did not stop cleanly: {finished:?}"
    );
    assert!(
        client.get(&live).send().await.is_err(),
        "admin listener still up after shutdown"
    );
}
