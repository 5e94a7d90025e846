//! Project and API-key checks (spec 1.1, 1.3). The skeleton has one project and one key with
//! every scope; there are no sessions yet, so a caller without the key is a guest.
//!
//! Failures: a missing or foreign `X-Appwrite-Project` is `404 project_not_found`. A guest on a
//! route whose scope guests lack is `401 general_unauthorized_scope` (the type the CLI
//! recognises); guests do hold `executions.write`, so on createExecution they fail later, at the
//! function's `execute` roles, with `401 user_unauthorized`.
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;
use std::future::{ready, Ready};
use std::marker::PhantomData;

/// A route scope (spec 1.3).
pub trait Scope {
    const NAME: &'static str;
    const GUESTS_HAVE_IT: bool = false;
}

pub struct FunctionsRead;
pub struct FunctionsWrite;
pub struct ExecutionsRead;
pub struct ExecutionsWrite;

impl Scope for FunctionsRead {
    const NAME: &'static str = "functions.read";
}
impl Scope for FunctionsWrite {
    const NAME: &'static str = "functions.write";
}
impl Scope for ExecutionsRead {
    const NAME: &'static str = "executions.read";
}
impl Scope for ExecutionsWrite {
    const NAME: &'static str = "executions.write";
    const GUESTS_HAVE_IT: bool = true;
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Holder of the project's API key (all scopes, bypasses `execute` roles).
    Key,
    Guest,
}

/// A request authorised for scope `S` in the configured project.
pub struct Authorized<S> {
    pub project_id: String,
    pub caller: Caller,
    _scope: PhantomData<S>,
}

/// A request that named the configured project (public routes such as listRuntimes).
pub struct ProjectOnly {
    pub project_id: String,
}

fn state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn project(req: &HttpRequest) -> Result<String, ApiError> {
    let state = state(req)?;
    match header(req, "x-appwrite-project") {
        Some(p) if p == state.settings.auth.project_id => Ok(p.to_owned()),
        _ => Err(ApiError::ProjectNotFound),
    }
}

/// Constant-time comparison so the key cannot be guessed byte by byte from timings.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize<S: Scope>(req: &HttpRequest) -> Result<Authorized<S>, ApiError> {
    let project_id = project(req)?;
    let state = state(req)?;
    let key_ok = header(req, "x-appwrite-key")
        .is_some_and(|k| same_secret(k, state.settings.auth.api_key.expose_secret()));
    let caller = if key_ok { Caller::Key } else { Caller::Guest };
    if caller == Caller::Guest && !S::GUESTS_HAVE_IT {
        return Err(ApiError::UnauthorizedScope(format!(
            "User (role: guests) missing scopes ([\"{}\"])",
            S::NAME
        )));
    }
    Ok(Authorized {
        project_id,
        caller,
        _scope: PhantomData,
    })
}

impl<S: Scope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize::<S>(req))
    }
}

impl FromRequest for ProjectOnly {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(project(req).map(|project_id| ProjectOnly { project_id }))
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secret_comparison() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
