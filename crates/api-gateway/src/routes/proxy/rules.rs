//! `GET /v1/proxy/rules`: 200 `{"total":0,"rules":[]}` (spec 2.5). This platform has no custom
//! domains, so there are never rules; `appwrite push function` lists them before and after a
//! deploy and aborts on any answer but a list or a scope error. Query parameters are ignored.
use crate::auth::{Authorized, FunctionsRead};
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

pub async fn handler(_auth: Authorized<FunctionsRead>) -> Result<HttpResponse, ApiError> {
    Ok(super::super::json(
        StatusCode::OK,
        crate::wire::list::<serde_json::Value>("rules", 0, Vec::new()),
    ))
}
