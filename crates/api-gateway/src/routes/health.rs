//! `GET /health/livez` (process up) and `GET /health/readyz` (PostgreSQL and RabbitMQ usable).
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "pass"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (database, broker) = tokio::join!(crate::db::ping(&state.pool), state.publisher.ready());
    let body = serde_json::json!({
        "status": if database && broker { "pass" } else { "fail" },
        "database": database,
        "broker": broker,
    });
    if database && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /v1/health/version` (public, no project): `{"version": "<Appwrite version spoken>"}`.
/// `appwrite client --endpoint` checks it before saving the endpoint.
pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"version": model::APPWRITE_VERSION}))
}
