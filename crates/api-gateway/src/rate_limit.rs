//! Abuse limits (spec 4 `general_rate_limit_exceeded`, spec 1.1 `X-RateLimit-*` headers).
//!
//! Like Appwrite's abuse labels on `createExecution` (60 calls per 60 s, keyed by caller IP and
//! user id), users (JWT) and guests get a fixed window per (project, IP, user id); windows are
//! aligned to multiples of the period (a window starting at 12:00:00 resets at 12:01:00).
//! API keys are exempt and get no headers. Every counted request gets `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` (calls left in this window after this one) and `X-RateLimit-Reset`
//! (unix seconds when the window ends); the call over the limit gets 429 with the same headers.
//! Requests count whether or not they then succeed (Appwrite checks abuse before the action).
//!
//! The counters live in this process: several gateway replicas each count separately, so the
//! effective limit is `limit × replicas`. `rate_limit.enabled = false` (`GATEWAY__RATE_LIMIT__
//! ENABLED=false`, the equivalent of `_APP_OPTIONS_ABUSE=disabled`) or a limit of 0 turns it off.
use crate::auth::Caller;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Debug, Deserialize)]
pub struct RateLimitSettings {
    /// `false` disables every abuse limit.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Calls of `createExecution` per window for one (project, IP, user); 0 = unlimited.
    #[serde(default = "default_limit")]
    pub create_execution_limit: u32,
    /// Window length in seconds.
    #[serde(default = "default_period")]
    pub period_seconds: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            create_execution_limit: default_limit(),
            period_seconds: default_period(),
        }
    }
}

fn default_enabled() -> bool {
    true
}

fn default_limit() -> u32 {
    60
}

fn default_period() -> u32 {
    60
}

/// The verdict for one counted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the window ends.
    pub reset: i64,
}

impl Verdict {
    fn write_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-ratelimit-limit", i64::from(self.limit)),
            ("x-ratelimit-remaining", i64::from(self.remaining)),
            ("x-ratelimit-reset", self.reset),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    count: u32,
}

/// Fixed-window counters of one limit.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    period: i64,
    windows: Mutex<HashMap<String, Window>>,
}

/// Above this many keys, windows that have ended are dropped on the next call.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    pub fn new(limit: u32, period_seconds: u32) -> Self {
        Self {
            limit,
            period: i64::from(period_seconds.max(1)),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one call of `key` at `now_unix` (seconds).
    pub fn hit(&self, key: &str, now_unix: i64) -> Verdict {
        let start = now_unix - now_unix.rem_euclid(self.period);
        let reset = start + self.period;
        // A poisoned lock only means another thread panicked mid-update of a counter: go on.
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| w.start >= start);
        }
        let window = windows
            .entry(key.to_owned())
            .or_insert(Window { start, count: 0 });
        if window.start != start {
            *window = Window { start, count: 0 };
        }
        let allowed = window.count < self.limit;
        if allowed {
            window.count += 1;
        }
        Verdict {
            allowed,
            limit: self.limit,
            remaining: self.limit.saturating_sub(window.count),
            reset,
        }
    }
}

/// The limiters of the gateway (one per limited route).
#[derive(Debug)]
pub struct Limiters {
    enabled: bool,
    pub create_execution: RateLimiter,
}

impl Limiters {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            enabled: settings.enabled && settings.create_execution_limit > 0,
            create_execution: RateLimiter::new(
                settings.create_execution_limit,
                settings.period_seconds,
            ),
        }
    }
}

/// The counter key of a non-key caller: project, IP and user id (empty for guests).
fn caller_key(project_id: &str, ip: &str, caller: &Caller) -> Option<String> {
    match caller {
        Caller::Key => None,
        Caller::User { id, .. } => Some(format!("{project_id}\n{ip}\n{id}")),
        Caller::Guest => Some(format!("{project_id}\n{ip}\n")),
    }
}

/// Route middleware of `POST /v1/functions/{functionId}/executions`.
pub async fn create_execution(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !state.limiters.enabled {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // An unknown project or a bad JWT: the handler answers with that error, uncounted.
    let Ok(identity) = crate::auth::identity(req.request()).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let Some(key) = caller_key(&identity.project_id, &ip, &identity.caller) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let verdict = state
        .limiters
        .create_execution
        .hit(&key, chrono::Utc::now().timestamp());
    if !verdict.allowed {
        tracing::info!(project.id = %identity.project_id, %ip, "createExecution rate limit exceeded");
        let mut response = ApiError::RateLimitExceeded.error_response();
        verdict.write_headers(response.headers_mut());
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    verdict.write_headers(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_counts_and_resets() {
        let limiter = RateLimiter::new(3, 60);
        let at = 1_200; // a window boundary
        let v: Vec<Verdict> = (0..4).map(|i| limiter.hit("k", at + i)).collect();
        assert_eq!(
            v.iter()
                .map(|v| (v.allowed, v.remaining))
                .collect::<Vec<_>>(),
            vec![(true, 2), (true, 1), (true, 0), (false, 0)]
        );
        assert!(v.iter().all(|v| v.reset == 1_260 && v.limit == 3));
        // another key has its own window
        assert_eq!(limiter.hit("other", at + 5).remaining, 2);
        // the last second of the window is still in it; the next window starts afresh
        assert!(!limiter.hit("k", at + 59).allowed);
        let next = limiter.hit("k", at + 60);
        assert_eq!((next.allowed, next.remaining, next.reset), (true, 2, 1_320));
    }

    #[test]
    fn ended_windows_are_pruned() {
        let limiter = RateLimiter::new(1, 10);
        for i in 0..=PRUNE_ABOVE {
            limiter.hit(&i.to_string(), 0);
        }
        limiter.hit("late", 10);
        let len = limiter.windows.lock().map(|w| w.len()).unwrap_or_default();
        assert_eq!(len, 1);
    }

    #[test]
    fn keys_are_per_project_ip_and_user_and_keys_are_exempt() {
        let user = Caller::User {
            id: "u1".into(),
            jwt: String::new(),
        };
        assert_eq!(caller_key("p", "1.2.3.4", &Caller::Key), None);
        assert_ne!(
            caller_key("p", "1.2.3.4", &user),
            caller_key("p", "1.2.3.4", &Caller::Guest)
        );
        assert_ne!(
            caller_key("p", "1.2.3.4", &user),
            caller_key("q", "1.2.3.4", &user)
        );
        assert_ne!(
            caller_key("p", "1.2.3.4", &user),
            caller_key("p", "1.2.3.5", &user)
        );
    }

    #[test]
    fn disabled_or_zero_limit_turns_it_off() {
        let off = RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        };
        assert!(!Limiters::new(&off).enabled);
        let zero = RateLimitSettings {
            create_execution_limit: 0,
            ..RateLimitSettings::default()
        };
        assert!(!Limiters::new(&zero).enabled);
        assert!(Limiters::new(&RateLimitSettings::default()).enabled);
    }
}
