//! `GET /v1/functions/specifications`: the compute specifications (spec 11.2).
use crate::auth::{Authorized, FunctionsRead};
use crate::error::ApiError;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

pub async fn handler(_auth: Authorized<FunctionsRead>) -> Result<HttpResponse, ApiError> {
    let specs: Vec<wire::Specification> = model::catalogue::SPECIFICATIONS
        .iter()
        .map(|s| wire::Specification {
            memory: s.memory_mb,
            cpus: s.cpus,
            enabled: true,
            slug: s.slug.to_owned(),
        })
        .collect();
    let total = specs.len() as i64;
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("specifications", total, specs),
    ))
}
