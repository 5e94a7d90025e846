//! CRON schedules and one-off `scheduledAt` executions (spec 6.3), gateway side.
//!
//! Every scheduler replica fires every slot as a `ScheduleFire`. The consumer here turns a fire into
//! at most one execution: the `(project, function, slot)` primary key of `schedule_slots` is claimed
//! in the same transaction that inserts the execution and its outbox job, so duplicate fires (other
//! replicas, redeliveries, catch-up after a restart) are no-ops. Slots older than the catch-up
//! window are recorded as `skipped` instead of running.
use crate::db;
use crate::db::schedules::{self as sdb, SlotRow, SLOT_FIRED};
use crate::domain::ExecutionRequest;
use crate::jobs;
use crate::triggered::Run;
use chrono::{DateTime, TimeZone, Utc};
use model::proto::{FunctionChanged, ScheduleFire};
use prost::Message;
use queue::{Incoming, Outcome, Publisher};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
pub struct ScheduleSettings {
    /// Slots missed by at most this much (all schedulers down, broker outage) still run late;
    /// older ones are recorded as `skipped`. Schedulers read it from the gateway at start.
    #[serde(default = "default_catch_up")]
    pub catch_up_seconds: u64,
    /// Accept 6-field CRON expressions with a leading seconds field (tests; off by default).
    #[serde(default)]
    pub allow_seconds: bool,
    /// `scheduledAt` must be at least this far in the future (spec 2.3: 60 s).
    #[serde(default = "default_min_scheduled_at")]
    pub min_scheduled_at_seconds: i64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            catch_up_seconds: default_catch_up(),
            allow_seconds: false,
            min_scheduled_at_seconds: default_min_scheduled_at(),
        }
    }
}

fn default_catch_up() -> u64 {
    300
}
fn default_min_scheduled_at() -> i64 {
    60
}

/// Parses a `schedule` value: standard 5-field CRON (macros such as `@hourly` too), or 6 fields
/// with leading seconds when `allow_seconds`. Day-of-month and day-of-week combine with OR, like
/// classic cron.
pub fn parse_cron(expr: &str, allow_seconds: bool) -> Result<croner::Cron, String> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    let seconds = if expr.starts_with('@') || fields == 5 {
        croner::parser::Seconds::Disallowed
    } else if fields == 6 && allow_seconds {
        croner::parser::Seconds::Required
    } else {
        return Err(format!("expected 5 fields, got {fields}"));
    };
    croner::parser::CronParser::builder()
        .seconds(seconds)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

/// Slots of `cron` strictly after `after` and strictly before `before`, at most `limit`.
pub fn slots_between(
    cron: &croner::Cron,
    after: DateTime<Utc>,
    before: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    cron.iter_after(after)
        .take_while(|s| *s < before)
        .take(limit)
        .collect()
}

/// Validates `scheduledAt` (spec 2.3): ISO 8601, seconds and milliseconds 0, at least
/// `min_ahead_seconds` in the future.
pub fn check_scheduled_at(
    value: &str,
    now: DateTime<Utc>,
    min_ahead_seconds: i64,
) -> Result<DateTime<Utc>, crate::error::ApiError> {
    use chrono::Timelike;
    let invalid = |rule: &str| {
        crate::error::ApiError::ArgumentInvalid(format!("Invalid `scheduledAt` param: {rule}"))
    };
    let at = DateTime::parse_from_rfc3339(value)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|n| n.and_utc())
        })
        .map_err(|_| invalid("Value must be valid date in ISO 8601 format."))?;
    if at.second() != 0 || at.nanosecond() != 0 {
        return Err(invalid(
            "Value must be a date with seconds and milliseconds set to 0.",
        ));
    }
    if at <= now + chrono::Duration::seconds(min_ahead_seconds) {
        return Err(invalid(&format!(
            "Value must be a date at least {min_ahead_seconds} seconds in the future."
        )));
    }
    Ok(at)
}

/// Tells every scheduler (and cache) that a function's schedule-relevant state changed. Best
/// effort: schedulers also re-load the full set periodically.
pub async fn announce(publisher: &Publisher, project_id: &str, function_id: &str, change: &str) {
    let message = FunctionChanged {
        project_id: project_id.to_owned(),
        function_id: function_id.to_owned(),
        change: change.to_owned(),
    };
    let sent = tokio::time::timeout(
        Duration::from_secs(2),
        publisher.broadcast(model::topology::FUNCTION_CHANGED_EXCHANGE, "", &message),
    )
    .await;
    match sent {
        Ok(Ok(())) => {
            tracing::debug!(function.id = %function_id, %change, "function change announced")
        }
        Ok(Err(err)) => {
            tracing::warn!(function.id = %function_id, error = %err, "could not announce function change")
        }
        Err(_) => {
            tracing::warn!(function.id = %function_id, "announcing a function change timed out")
        }
    }
}

/// What the fire consumer needs.
pub type FireContext = crate::triggered::TriggerContext;

fn retry(err: impl std::fmt::Display) -> Outcome {
    Outcome::Retry(err.to_string())
}

/// Handles one `ScheduleFire`.
pub async fn handle_fire(ctx: FireContext, incoming: Incoming<ScheduleFire>) -> Outcome {
    let fire = incoming.message;
    if fire.execution_id.is_empty() {
        fire_slot(&ctx, &fire).await
    } else {
        fire_scheduled(&ctx, &fire).await
    }
}

async fn fire_slot(ctx: &FireContext, fire: &ScheduleFire) -> Outcome {
    let Some(slot) = Utc.timestamp_opt(fire.slot_unix, 0).single() else {
        return Outcome::Dead(format!("bad slot {}", fire.slot_unix));
    };
    let mut conn = match ctx.pool.get().await {
        Ok(c) => c,
        Err(e) => return retry(e),
    };
    let function = match db::functions::find(&mut conn, &fire.project_id, &fire.function_id).await {
        Ok(Some(f)) => f,
        Ok(None) => return Outcome::Ack,
        Err(e) => return retry(e),
    };
    if !function.enabled || function.schedule.is_empty() || function.deployment_id.is_empty() {
        tracing::info!(function.id = %function.id, %slot, "fire for an inactive schedule dropped");
        return Outcome::Ack;
    }
    let Ok(cron) = parse_cron(&function.schedule, ctx.settings.schedules.allow_seconds) else {
        return Outcome::Ack;
    };
    // A replica that has not yet learned of a schedule change may fire a stale slot.
    if !cron.is_time_matching(&slot).unwrap_or(false) || slot < function.created_at {
        tracing::info!(function.id = %function.id, %slot, "fire for a slot not in the current schedule dropped");
        return Outcome::Ack;
    }
    let now = Utc::now();
    let window = chrono::Duration::seconds(ctx.settings.schedules.catch_up_seconds as i64);
    let horizon = now - window;
    // Slots between the last recorded one and the catch-up horizon were missed for good.
    match sdb::last_slot_before(&mut conn, &function.project_id, &function.id, slot).await {
        Ok(Some(last)) if last < horizon => {
            let missed = slots_between(&cron, last, horizon.min(slot), 1000);
            if !missed.is_empty() {
                match sdb::record_skipped(&mut conn, &function.project_id, &function.id, &missed)
                    .await
                {
                    Ok(n) if n > 0 => {
                        tracing::warn!(function.id = %function.id, skipped = n, first = %missed[0], "missed schedule slots beyond the catch-up window recorded as skipped")
                    }
                    Ok(_) => {}
                    Err(e) => return retry(e),
                }
            }
        }
        Ok(_) => {}
        Err(e) => return retry(e),
    }
    if slot < horizon {
        return match sdb::record_skipped(&mut conn, &function.project_id, &function.id, &[slot])
            .await
        {
            Ok(n) => {
                if n > 0 {
                    tracing::warn!(function.id = %function.id, %slot, "slot older than the catch-up window recorded as skipped");
                }
                Outcome::Ack
            }
            Err(e) => retry(e),
        };
    }
    let deployment = match db::deployments::find(
        &mut conn,
        &function.project_id,
        &function.id,
        &function.deployment_id,
    )
    .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return Outcome::Ack,
        Err(e) => return retry(e),
    };
    let execution_id = model::ids::unique_id();
    let request = ExecutionRequest {
        body: String::new(),
        is_async: true,
        path: "/".into(),
        method: "POST".into(),
        headers: Vec::new(),
        scheduled_at: None,
    };
    let run = Run {
        function: &function,
        deployment: &deployment,
        execution_id: &execution_id,
        request: &request,
        trigger: "schedule",
        event: "",
    };
    let job = match run.job(&ctx.settings, &mut conn, now).await {
        Ok(job) => job,
        Err(reason) => return Outcome::Retry(reason),
    };
    let row = run.row(
        jobs::stored_request_headers(&[("x-appwrite-client-ip".into(), String::new())]),
        now,
    );
    let slot_row = SlotRow {
        project_id: function.project_id.clone(),
        function_id: function.id.clone(),
        slot,
        status: SLOT_FIRED.into(),
        execution_id: execution_id.clone(),
        created_at: now,
    };
    match sdb::insert_fire(&mut conn, &slot_row, &row, &job).await {
        Ok(true) => {
            ctx.started(&row, "create");
            let delay_ms = (now - slot).num_milliseconds();
            tracing::info!(function.id = %function.id, execution.id = %execution_id, %slot, delay_ms, "schedule slot fired");
            Outcome::Ack
        }
        Ok(false) => {
            tracing::debug!(function.id = %function.id, %slot, "duplicate fire ignored");
            Outcome::Ack
        }
        Err(e) => retry(e),
    }
}

async fn fire_scheduled(ctx: &FireContext, fire: &ScheduleFire) -> Outcome {
    let mut conn = match ctx.pool.get().await {
        Ok(c) => c,
        Err(e) => return retry(e),
    };
    let request =
        match sdb::scheduled_request(&mut conn, &fire.project_id, &fire.execution_id).await {
            Ok(Some(r)) => r,
            // Already started (duplicate fire) or deleted (cancelled).
            Ok(None) => return Outcome::Ack,
            Err(e) => return retry(e),
        };
    let function =
        match db::functions::find(&mut conn, &fire.project_id, &request.function_id).await {
            Ok(Some(f)) => f,
            Ok(None) => return Outcome::Ack,
            Err(e) => return retry(e),
        };
    let deployment = match db::deployments::find(
        &mut conn,
        &function.project_id,
        &function.id,
        &function.deployment_id,
    )
    .await
    {
        Ok(Some(d)) => d,
        Ok(None) => {
            tracing::warn!(execution.id = %fire.execution_id, "scheduled execution has no active deployment to run on");
            return Outcome::Ack;
        }
        Err(e) => return retry(e),
    };
    let headers: Vec<(String, String)> =
        serde_json::from_value(request.headers.clone()).unwrap_or_default();
    let exec_request = ExecutionRequest {
        body: request.body.clone(),
        is_async: true,
        path: request.path.clone(),
        method: request.method.clone(),
        headers,
        scheduled_at: None,
    };
    let now = Utc::now();
    let run = Run {
        function: &function,
        deployment: &deployment,
        execution_id: &fire.execution_id,
        request: &exec_request,
        trigger: "schedule",
        event: "",
    };
    let job = match run.job(&ctx.settings, &mut conn, now).await {
        Ok(job) => job,
        Err(reason) => return Outcome::Retry(reason),
    };
    match sdb::start_scheduled(
        &mut conn,
        &fire.project_id,
        &fire.execution_id,
        &deployment.id,
        model::topology::EXECUTIONS_QUEUE,
        job.encode_to_vec(),
    )
    .await
    {
        Ok(started) => {
            if started {
                ctx.outbox_wake.notify_one();
                // Its `create` event went out when it was scheduled; starting it is an update.
                let (pool, publisher) = (ctx.pool.clone(), ctx.publisher.clone());
                let (project, function_id) = (fire.project_id.clone(), function.id.clone());
                let execution = fire.execution_id.clone();
                ctx.tasks.spawn(async move {
                    crate::events::emit_update_from_db(
                        &pool,
                        &publisher,
                        &project,
                        &function_id,
                        None,
                        Some(&execution),
                    )
                    .await;
                });
                let delay_ms = now.timestamp_millis() - fire.slot_unix * 1000;
                tracing::info!(execution.id = %fire.execution_id, delay_ms, "scheduled execution started");
            }
            Outcome::Ack
        }
        Err(e) => retry(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_rules() {
        assert!(parse_cron("*/5 * * * *", false).is_ok());
        assert!(parse_cron("0 0 * * 0", false).is_ok());
        assert!(parse_cron("@hourly", false).is_ok());
        assert!(parse_cron("not cron", false).is_err());
        assert!(parse_cron("61 * * * *", false).is_err());
        assert!(parse_cron("* * * *", false).is_err());
        assert!(parse_cron("*/2 * * * * *", false).is_err());
        assert!(parse_cron("*/2 * * * * *", true).is_ok());
    }

    #[test]
    fn slots_between_is_exclusive() {
        let cron = parse_cron("* * * * *", false).unwrap_or_else(|e| panic!("{e}"));
        let a = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let b = a + chrono::Duration::minutes(5);
        let s = slots_between(&cron, a, b, 100);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0], a + chrono::Duration::minutes(1));
    }
}
