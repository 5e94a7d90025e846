//! `HEAD` on any `GET` route (spec §15 client row "HEAD on executions list ⇒ 200 empty"):
//! Appwrite's router serves `HEAD` with the `GET` handler and sends no body. The request is
//! routed as `GET`; actix-http still knows the connection asked for `HEAD` (the codec records the
//! parsed method) and writes the status and headers only.
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
