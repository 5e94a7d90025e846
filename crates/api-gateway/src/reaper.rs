//! Fails work whose owner is gone: executions past their timeout plus a margin, builds past the
//! build timeout plus a margin (the delivery promise: every request ends in a terminal state).
use crate::db::{self, Pool};
use crate::settings::Settings;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const PERIOD: Duration = Duration::from_secs(15);

pub async fn run(pool: Pool, settings: Arc<Settings>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(PERIOD) => {}
        }
        if let Err(err) = reap_once(&pool, &settings).await {
            tracing::warn!(error = %err, "reaper pass failed");
        }
    }
}

pub async fn reap_once(pool: &Pool, settings: &Settings) -> Result<(), db::DbError> {
    let mut conn = pool.get().await?;
    let executions =
        db::executions::fail_stale(&mut conn, settings.executions.reap_margin_seconds).await?;
    let build_window = i64::from(settings.build.timeout_seconds)
        + i64::try_from(settings.build.reap_margin_seconds).unwrap_or(60);
    let older_than = chrono::Utc::now() - chrono::Duration::seconds(build_window);
    let builds = db::deployments::fail_stale(
        &mut conn,
        older_than,
        "Build did not finish in time: no builder reported a result.",
    )
    .await?;
    if executions + builds > 0 {
        tracing::warn!(executions, builds, "reaped stale work");
    }
    Ok(())
}
