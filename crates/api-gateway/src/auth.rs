//! Projects, API keys, scopes and roles (spec 1.1, 1.3).
//!
//! Callers:
//! - **Key** (`X-Appwrite-Key`): the key configured at start-up (`auth.project_id` /
//!   `auth.api_key`, every scope of that project), a key stored in `api_keys` (its own scopes and
//!   expiry, `401 project_key_expired` once expired), or an `ephemeral_<JWT>` key issued to an
//!   execution or build (the function's `scopes`; `401 api_key_expired` once expired). A key that
//!   is unknown in the named project makes the caller a guest, as in Appwrite.
//! - **User** (`X-Appwrite-JWT`, HS256 signed with `auth.jwt_secret`, claims `userId`, optional
//!   `sessionId`, `exp`): holds `executions.read` and `executions.write`; an invalid or expired
//!   JWT is `401 user_unauthorized`.
//! - **Guest**: holds `executions.write` only.
//!
//! A missing or unknown `X-Appwrite-Project` is `404 project_not_found`; a route scope the caller
//! lacks is `401 general_unauthorized_scope` with Appwrite's message format. Users and guests are
//! then checked against a function's `execute` roles and never see disabled functions.
use crate::db::functions::FunctionRow;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::tokens::{self, TokenError};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use secrecy::ExposeSecret;
use std::marker::PhantomData;

/// A route scope (spec 1.3).
pub trait Scope {
    const NAME: &'static str;
    const GUESTS_HAVE_IT: bool = false;
    const USERS_HAVE_IT: bool = false;
}

pub struct FunctionsRead;
pub struct FunctionsWrite;
pub struct ExecutionsRead;
pub struct ExecutionsWrite;
/// Project-wide variables (`/v1/project/variables`).
pub struct ProjectRead;
pub struct ProjectWrite;

impl Scope for FunctionsRead {
    const NAME: &'static str = "functions.read";
}
impl Scope for FunctionsWrite {
    const NAME: &'static str = "functions.write";
}
impl Scope for ExecutionsRead {
    const NAME: &'static str = "executions.read";
    const USERS_HAVE_IT: bool = true;
}
impl Scope for ExecutionsWrite {
    const NAME: &'static str = "executions.write";
    const GUESTS_HAVE_IT: bool = true;
    const USERS_HAVE_IT: bool = true;
}
impl Scope for ProjectRead {
    const NAME: &'static str = "projects.read";
}
impl Scope for ProjectWrite {
    const NAME: &'static str = "projects.write";
}

/// Every scope a full key holds (the start-up key). Function `scopes` may name others too.
pub const ALL_SCOPES: &[&str] = &[
    "functions.read",
    "functions.write",
    "executions.read",
    "executions.write",
    "projects.read",
    "projects.write",
    "rules.read",
    "rules.write",
];

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An API key (scopes in `Authorized::scopes`); bypasses `execute` roles.
    Key,
    /// A user acting through a JWT.
    User {
        id: String,
        jwt: String,
    },
    Guest,
}

/// A request authorised for scope `S` in its project.
pub struct Authorized<S> {
    pub project_id: String,
    pub caller: Caller,
    /// The key's scopes (empty for users and guests).
    pub scopes: Vec<String>,
    _scope: PhantomData<S>,
}

impl<S> Authorized<S> {
    pub fn is_key(&self) -> bool {
        self.caller == Caller::Key
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.caller {
            Caller::User { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether this caller may read an execution started by `owner` (spec 3.3: the creating
    /// user gets the only `read` permission): keys read all, users their own, guests none.
    pub fn may_read_execution(&self, owner: Option<&str>) -> bool {
        match &self.caller {
            Caller::Key => true,
            Caller::User { id, .. } => owner == Some(id.as_str()),
            Caller::Guest => false,
        }
    }

    /// The owner filter of listExecutions: `None` (all) for keys, the user id otherwise (a guest
    /// never gets here: guests lack `executions.read`, and would match no owner).
    pub fn execution_owner_filter(&self) -> Option<&str> {
        match &self.caller {
            Caller::Key => None,
            Caller::User { id, .. } => Some(id),
            Caller::Guest => Some(""),
        }
    }

    /// Non-key callers do not see disabled functions (404 `function_not_found`).
    pub fn check_visible(&self, function: &FunctionRow) -> Result<(), ApiError> {
        if !self.is_key() && !function.enabled {
            return Err(ApiError::FunctionNotFound);
        }
        Ok(())
    }

    /// Users and guests must match one of the function's `execute` roles (401
    /// `user_unauthorized`); keys bypass them.
    pub fn check_execute(&self, function: &FunctionRow) -> Result<(), ApiError> {
        if self.is_key() || roles_allow(&self.caller, &function.execute) {
            Ok(())
        } else {
            Err(ApiError::UserUnauthorized)
        }
    }

    /// Sets `x-appwrite-user-id` / `x-appwrite-user-jwt` for a user caller (spec 7.4).
    pub fn user_headers(&self, headers: &mut [(String, String)]) {
        if let Caller::User { id, jwt } = &self.caller {
            for (name, value) in headers.iter_mut() {
                match name.as_str() {
                    "x-appwrite-user-id" => value.clone_from(id),
                    "x-appwrite-user-jwt" => value.clone_from(jwt),
                    _ => {}
                }
            }
        }
    }
}

/// Whether `caller` matches one of the permission `roles` (spec 1.3). Without sessions there is
/// no verification status, team or label, so `users/verified`, `team:`, `member:` and `label:`
/// roles never match.
pub fn roles_allow(caller: &Caller, roles: &[String]) -> bool {
    roles.iter().any(|role| match (role.as_str(), caller) {
        ("any", _) => true,
        ("guests", Caller::Guest) => true,
        ("users", Caller::User { .. }) => true,
        (r, Caller::User { id, .. }) => r.strip_prefix("user:") == Some(id.as_str()),
        _ => false,
    })
}

/// A request that named an existing project (public routes such as listRuntimes).
pub struct ProjectOnly {
    pub project_id: String,
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Constant-time comparison so the key cannot be guessed byte by byte from timings.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn project(state: &AppState, req: &HttpRequest) -> Result<String, ApiError> {
    let Some(project) = header(req, "x-appwrite-project") else {
        return Err(ApiError::ProjectNotFound);
    };
    if project == state.settings.auth.project_id {
        return Ok(project);
    }
    if !model::ids::is_valid_id(&project) {
        return Err(ApiError::ProjectNotFound);
    }
    let mut conn = state.pool.get().await?;
    if crate::db::keys::project_exists(&mut conn, &project).await? {
        Ok(project)
    } else {
        Err(ApiError::ProjectNotFound)
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Canonical scope name (the deprecated `execution.*` aliases).
fn canonical(scope: &str) -> &str {
    match scope {
        "execution.read" => "executions.read",
        "execution.write" => "executions.write",
        other => other,
    }
}

/// Identifies the caller of `project_id`: (caller, key scopes).
async fn identify(
    state: &AppState,
    req: &HttpRequest,
    project_id: &str,
) -> Result<(Caller, Vec<String>), ApiError> {
    let auth = &state.settings.auth;
    if let Some(key) = header(req, "x-appwrite-key") {
        if let Some(token) = key.strip_prefix(tokens::EPHEMERAL_PREFIX) {
            let secret = tokens::ephemeral_secret(auth.api_key.expose_secret());
            match tokens::verify(token, &secret, now_unix()) {
                Ok(claims) if claims["projectId"] == project_id => {
                    let scopes = claims["scopes"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(|s| canonical(s).to_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                    return Ok((Caller::Key, scopes));
                }
                Err(TokenError::Expired) => return Err(ApiError::ApiKeyExpired),
                _ => return Ok((Caller::Guest, Vec::new())),
            }
        }
        if project_id == auth.project_id && same_secret(&key, auth.api_key.expose_secret()) {
            return Ok((
                Caller::Key,
                ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            ));
        }
        let mut conn = state.pool.get().await?;
        if let Some(row) =
            crate::db::keys::find_key(&mut conn, project_id, &tokens::hash_secret(&key)).await?
        {
            if row.expire.is_some_and(|e| e <= chrono::Utc::now()) {
                return Err(ApiError::ProjectKeyExpired);
            }
            let scopes = row.scopes.iter().map(|s| canonical(s).to_owned()).collect();
            return Ok((Caller::Key, scopes));
        }
        return Ok((Caller::Guest, Vec::new()));
    }
    if let Some(jwt) = header(req, "x-appwrite-jwt") {
        let Some(secret) = &auth.jwt_secret else {
            return Err(ApiError::UserUnauthorized);
        };
        let claims = tokens::verify(&jwt, secret.expose_secret().as_bytes(), now_unix())
            .map_err(|_| ApiError::UserUnauthorized)?;
        let id = claims["userId"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or(ApiError::UserUnauthorized)?;
        return Ok((
            Caller::User {
                id: id.to_owned(),
                jwt,
            },
            Vec::new(),
        ));
    }
    Ok((Caller::Guest, Vec::new()))
}

fn missing_scope(caller: &Caller, project_id: &str, scope: &str) -> ApiError {
    let who = match caller {
        Caller::Key => format!("app.{project_id}@service.localhost (role: applications)"),
        Caller::User { id, .. } => format!("{id} (role: users)"),
        Caller::Guest => "User (role: guests)".to_owned(),
    };
    ApiError::UnauthorizedScope(format!("{who} missing scopes ([\"{scope}\"])"))
}

/// Who is calling, in which project. Cached in the request's extensions, so a route middleware
/// (the abuse limiter) and the route's `Authorized` extractor identify the caller once.
#[derive(Debug, Clone)]
pub struct Identity {
    pub project_id: String,
    pub caller: Caller,
    pub scopes: Vec<String>,
}

/// The request's project and caller (404 `project_not_found`, 401 for bad keys or JWTs).
pub async fn identity(req: &HttpRequest) -> Result<Identity, ApiError> {
    let cached = req.extensions().get::<Identity>().cloned();
    if let Some(found) = cached {
        return Ok(found);
    }
    let state = state(req)?;
    let project_id = project(&state, req).await?;
    let (caller, scopes) = identify(&state, req, &project_id).await?;
    let found = Identity {
        project_id,
        caller,
        scopes,
    };
    req.extensions_mut().insert(found.clone());
    Ok(found)
}

async fn authorize<S: Scope>(req: HttpRequest) -> Result<Authorized<S>, ApiError> {
    let Identity {
        project_id,
        caller,
        scopes,
    } = identity(&req).await?;
    let allowed = match &caller {
        Caller::Key => scopes.iter().any(|s| s == S::NAME),
        Caller::User { .. } => S::USERS_HAVE_IT,
        Caller::Guest => S::GUESTS_HAVE_IT,
    };
    if !allowed {
        return Err(missing_scope(&caller, &project_id, S::NAME));
    }
    Ok(Authorized {
        project_id,
        caller,
        scopes,
        _scope: PhantomData,
    })
}

impl<S: Scope + 'static> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authorize::<S>(req.clone()))
    }
}

impl FromRequest for ProjectOnly {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let project_id = project(&state, &req).await?;
            Ok(ProjectOnly { project_id })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn execute_roles() {
        let user = Caller::User {
            id: "u1".into(),
            jwt: String::new(),
        };
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(roles_allow(&user, &roles(&["any"])));
        assert!(roles_allow(&user, &roles(&["users"])));
        assert!(roles_allow(&user, &roles(&["user:u1"])));
        assert!(!roles_allow(&user, &roles(&["user:u2", "guests"])));
        assert!(roles_allow(&Caller::Guest, &roles(&["guests"])));
        assert!(!roles_allow(&Caller::Guest, &roles(&["users"])));
        assert!(!roles_allow(&Caller::Guest, &roles(&[])));
        assert_eq!(canonical("execution.read"), "executions.read");
    }
}
