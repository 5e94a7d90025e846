//! Starts the real scheduler against the real RabbitMQ (a fresh vhost) and a stand-in gateway,
//! and checks: readiness after the initial load, CRON slots fired as `ScheduleFire` messages on
//! the real queue (with catch-up of the window at start), a change announced on the fanout
//! exchange picked up within a second, and a clean shutdown.
use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use model::proto::{FunctionChanged, ScheduleFire};
use model::settings::AdminSettings;
use prost::Message;
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("rabbitmqctl runs (RabbitMQ installed? run scripts/infra-up.sh): {e}")
        });
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Vhost(String);
impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

#[tokio::test]
async fn fires_slots_follows_changes_and_stops_cleanly() {
    let vhost = Vhost(format!("test_sched_{}", std::process::id()));
    rabbitmqctl(&["add_vhost", &vhost.0]);
    rabbitmqctl(&[
        "set_permissions",
        "-p",
        &vhost.0,
        "fnplat",
        ".*",
        ".*",
        ".*",
    ]);
    let amqp_url = format!("amqp://fnplat:fnplat@127.0.0.1:5672/{}", vhost.0);

    // Stand-in gateway: function f1 every 2 s from the start; f2 appears after a change.
    let schedules = Arc::new(Mutex::new(vec![("f1", "*/2 * * * * *")]));
    let fetches = Arc::new(Mutex::new(Vec::<String>::new()));
    let gw_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let gw_port = gw_listener.local_addr().expect("addr").port();
    let (s2, f2) = (schedules.clone(), fetches.clone());
    let gateway = HttpServer::new(move || {
        let (s, f) = (s2.clone(), f2.clone());
        App::new().route(
            "/v1/internal/schedules",
            web::get().to(move |req: actix_web::HttpRequest| {
                let (s, f) = (s.clone(), f.clone());
                async move {
                    assert_eq!(req.headers().get("x-appwrite-key").and_then(|v| v.to_str().ok()), Some("k"));
                    f.lock().unwrap_or_else(|e| e.into_inner()).push(req.query_string().to_owned());
                    let list: Vec<_> = s
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .iter()
                        .map(|(id, expr)| serde_json::json!({"projectId": "p", "functionId": id, "schedule": expr}))
                        .collect();
                    HttpResponse::Ok().json(serde_json::json!({
                        "catchUpSeconds": 5, "allowSeconds": true, "schedules": list, "scheduled": [],
                    }))
                }
            }),
        )
    })
    .workers(1)
    .listen(gw_listener)
    .expect("listen")
    .run();
    let gw_handle = gateway.handle();
    tokio::spawn(gateway);

    let port = free_port();
    let settings = scheduler::Settings {
        amqp: serde_json::from_value(serde_json::json!({"url": amqp_url})).expect("amqp settings"),
        admin: AdminSettings {
            host: "127.0.0.1".into(),
            port,
        },
        gateway: scheduler::GatewaySettings {
            url: format!("http://127.0.0.1:{gw_port}"),
            project_id: "p".into(),
            api_key: "k".into(),
        },
        resync_seconds: 3600,
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(scheduler::run(settings, shutdown.clone()));

    let client = reqwest::Client::new();
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

    // Read the fires from the real queue.
    let conn = queue::connect_once(&amqp_url).await.expect("connect");
    let channel = conn.create_channel().await.expect("channel");
    queue::declare_topology(&channel).await.expect("topology");
    let mut consumer = channel
        .basic_consume(
            model::topology::SCHEDULE_FIRES_QUEUE,
            "test",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let started = chrono::Utc::now().timestamp();
    let mut f1_slots = Vec::new();
    let mut f2_slots = Vec::new();
    let mut announced = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline && (f1_slots.len() < 6 || f2_slots.len() < 2) {
        let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(Duration::from_secs(3), consumer.next()).await
        else {
            continue;
        };
        let fire = ScheduleFire::decode(delivery.data.as_slice()).expect("ScheduleFire");
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        assert_eq!(fire.project_id, "p");
        assert_eq!(
            fire.slot_unix % 2,
            0,
            "slot {} is not on the */2 grid",
            fire.slot_unix
        );
        match fire.function_id.as_str() {
            "f1" => f1_slots.push(fire.slot_unix),
            "f2" => f2_slots.push(fire.slot_unix),
            other => panic!("unexpected function {other}"),
        }
        if f1_slots.len() >= 4 && !announced {
            schedules
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(("f2", "*/2 * * * * *"));
            let publisher = queue::Publisher::new(amqp_url.clone());
            let change = FunctionChanged {
                project_id: "p".into(),
                function_id: "f2".into(),
                change: "create".into(),
            };
            publisher
                .broadcast(model::topology::FUNCTION_CHANGED_EXCHANGE, "", &change)
                .await
                .expect("announce");
            announced = true;
        }
    }
    // Catch-up: the first fires cover the 5 s window before the start.
    assert!(
        f1_slots.first().is_some_and(|s| *s < started),
        "no catch-up fire: {f1_slots:?} started {started}"
    );
    let mut sorted = f1_slots.clone();
    sorted.dedup();
    assert_eq!(sorted, f1_slots, "f1 slots fired twice or out of order");
    assert!(f1_slots.len() >= 6, "f1 fired {f1_slots:?}");
    assert!(
        f2_slots.len() >= 2,
        "the change was not applied: f2 fired {f2_slots:?}"
    );
    assert!(
        fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|q| q.contains("functionId=f2")),
        "the scheduler did not re-fetch the changed function"
    );

    shutdown.cancel();
    let finished = tokio::time::timeout(Duration::from_secs(15), task).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "scheduler did not stop cleanly: {finished:?}"
    );
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/health/livez"))
            .send()
            .await
            .is_err(),
        "admin listener still up after shutdown"
    );
    let _ = channel.close(200, "done").await;
    let _ = conn.close(200, "done").await;
    gw_handle.stop(true).await;
}
