//! `GET /v1/functions/runtimes` (scope public): the installed runtimes.
use crate::auth::ProjectOnly;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::wire;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn handler(
    _project: ProjectOnly,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let runtimes: Vec<wire::Runtime> = model::catalogue::all_runtimes()
        .filter(|r| state.settings.runtime_installed(&r.id))
        .map(Into::into)
        .collect();
    let total = runtimes.len() as i64;
    Ok(super::super::json(
        StatusCode::OK,
        wire::list("runtimes", total, runtimes),
    ))
}
