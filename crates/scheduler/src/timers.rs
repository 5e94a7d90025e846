//! The timer engine: one `tokio_cron_scheduler::JobScheduler` per process holding one one-shot job
//! per table item (a CRON entry's next slot, or a `scheduledAt` execution). croner computes the
//! slots (standard cron semantics, exact slot time); tokio-cron-scheduler only wakes us at them.
//!
//! A job's callback takes that item's due fires from the table (all missed slots of a CRON entry,
//! in order), hands them to the publisher in order, and re-syncs the jobs, which registers the
//! entry's next slot. [`Timers::sync`] keeps the job map equal to the table: a removed or replaced
//! entry loses its pending job, a new one gets one.
use crate::table::{Fire, Table, TimerKey};
use crate::SchedulerError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// How long a JobScheduler add/remove may take before we give up on it (it answers through
/// internal channels; never let a stuck one block the table).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A job this far past its time without having run is considered lost and is re-registered at the
/// next [`Timers::sync`] (every change and every re-sync).
const OVERDUE: Duration = Duration::from_secs(10);

/// Capacity of the engine's internal channels (its default, 200, would drop activations when
/// many entries are due in one tick, e.g. catch-up at start with many schedules).
const CHANNEL_SIZE: usize = 10_000;

pub struct Timers {
    scheduler: JobScheduler,
    table: Arc<Mutex<Table>>,
    /// item -> (the time its job is set for, the job's id in the JobScheduler)
    jobs: Mutex<HashMap<TimerKey, (DateTime<Utc>, Uuid)>>,
    fires: mpsc::UnboundedSender<Fire>,
}

fn engine_error(err: impl std::fmt::Display) -> SchedulerError {
    SchedulerError::Timer(err.to_string())
}

/// The `Instant` to give tokio-cron-scheduler for a wall-clock slot. It stores a one-shot's due
/// time as `now + whole seconds of (instant - now)`, truncated to the second, which would fire up
/// to a second early; adding one second makes the stored second equal the slot (whole seconds).
/// Past slots (catch-up) are due at once.
fn instant_for(slot: DateTime<Utc>) -> Instant {
    let ahead = (slot - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    if ahead.is_zero() {
        Instant::now()
    } else {
        Instant::now() + ahead + Duration::from_secs(1)
    }
}

impl Timers {
    /// Starts the JobScheduler. Fires are sent, in slot order per item, to `fires`.
    pub async fn start(
        table: Arc<Mutex<Table>>,
        fires: mpsc::UnboundedSender<Fire>,
    ) -> Result<Arc<Self>, SchedulerError> {
        let scheduler = JobScheduler::new_with_channel_size(CHANNEL_SIZE)
            .await
            .map_err(engine_error)?;
        scheduler.start().await.map_err(engine_error)?;
        Ok(Arc::new(Self {
            scheduler,
            table,
            jobs: Mutex::new(HashMap::new()),
            fires,
        }))
    }

    pub fn table(&self) -> &Arc<Mutex<Table>> {
        &self.table
    }

    /// Makes the pending jobs match the table: removes jobs of items that are gone or whose next
    /// time changed, and registers a one-shot job at each item's next time.
    pub async fn sync(self: &Arc<Self>) {
        self.sync_boxed().await
    }

    /// (Boxed, so that the job callbacks, which sync again, have a nameable `Send` future.)
    fn sync_boxed(self: &Arc<Self>) -> BoxFuture {
        let this = self.clone();
        Box::pin(async move { this.sync_jobs().await })
    }

    async fn sync_jobs(self: &Arc<Self>) {
        let mut jobs = self.jobs.lock().await;
        let wanted = self.table.lock().await.pending();
        // A job still here well past its time lost its activation (the engine's broadcast channels
        // drop messages when they lag): replace it, it fires at once. Fires are taken from the
        // table under its lock, so a late original callback cannot fire a slot twice.
        let overdue = Utc::now() - chrono::Duration::from_std(OVERDUE).unwrap_or_default();
        let stale: Vec<TimerKey> = jobs
            .iter()
            .filter(|(key, (at, _))| wanted.get(*key) != Some(at) || *at < overdue)
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            let Some((at, id)) = jobs.remove(&key) else {
                continue;
            };
            // A job whose time has come has been activated (or lost its activation); the engine
            // deletes such one-shots itself, and removing one under it only makes it log errors.
            if at > Utc::now() {
                match tokio::time::timeout(CALL_TIMEOUT, self.scheduler.remove(&id)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::debug!(?key, error = %err, "timer job removal"),
                    Err(_) => tracing::warn!(?key, "timer job removal timed out"),
                }
            }
        }
        for (key, at) in wanted {
            if jobs.contains_key(&key) {
                continue;
            }
            let this = Arc::downgrade(self);
            let job_key = key.clone();
            let job = Job::new_one_shot_at_instant_async(instant_for(at), move |_, _| {
                let this = this.clone();
                let key = job_key.clone();
                Box::pin(async move {
                    if let Some(this) = this.upgrade() {
                        this.due(key, at).await;
                    }
                })
            });
            let job = match job {
                Ok(job) => job,
                Err(err) => {
                    tracing::error!(?key, error = %err, "cannot create a timer job");
                    continue;
                }
            };
            match tokio::time::timeout(CALL_TIMEOUT, self.scheduler.add(job)).await {
                Ok(Ok(id)) => {
                    jobs.insert(key, (at, id));
                }
                Ok(Err(err)) => tracing::error!(?key, error = %err, "cannot add a timer job"),
                Err(_) => tracing::error!(?key, "adding a timer job timed out"),
            }
        }
    }

    /// A job's callback: the item's slot `at` is due. Takes its fires (never before `at`, even if
    /// the monotonic and wall clocks disagree a little), hands them on and registers the next job.
    async fn due(self: Arc<Self>, key: TimerKey, at: DateTime<Utc>) {
        if let Ok(wait) = (at - Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        let fires = self
            .table
            .lock()
            .await
            .take_due_for(&key, Utc::now().max(at));
        for fire in fires {
            if self.fires.send(fire).is_err() {
                return; // the publisher has stopped: shutting down
            }
        }
        self.sync_boxed().await;
    }

    /// The pending job of an item and the time it is set for.
    pub async fn job(&self, key: &TimerKey) -> Option<(DateTime<Utc>, Uuid)> {
        self.jobs.lock().await.get(key).copied()
    }

    /// Whether the JobScheduler still holds a pending (not yet run, not removed) job `id`.
    pub async fn scheduled(&self, id: Uuid) -> bool {
        let mut scheduler = self.scheduler.clone();
        matches!(scheduler.next_tick_for_job(id).await, Ok(Some(_)))
    }

    /// Stops the JobScheduler (pending jobs are dropped; the table is re-loaded at the next start).
    pub async fn shutdown(&self) {
        let mut scheduler = self.scheduler.clone();
        if let Err(err) = scheduler.shutdown().await {
            tracing::warn!(error = %err, "timer engine shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Snapshot;
    use chrono::Timelike;

    fn snapshot(schedules: Vec<(&str, &str)>, scheduled: Vec<(&str, DateTime<Utc>)>) -> Snapshot {
        crate::table::test_snapshot(0, "g", schedules, scheduled)
    }

    /// A started engine over an empty table, its fire receiver, now and a whole second 3s later.
    async fn started() -> (
        Arc<Mutex<Table>>,
        mpsc::UnboundedReceiver<Fire>,
        Arc<Timers>,
        DateTime<Utc>,
        DateTime<Utc>,
    ) {
        let table = Arc::new(Mutex::new(Table::default())); // load() takes allow_seconds
        let (tx, rx) = mpsc::unbounded_channel();
        let timers = Timers::start(table.clone(), tx)
            .await
            .expect("engine starts");
        let now = Utc::now();
        let at = whole_seconds(now) + chrono::Duration::seconds(3);
        (table, rx, timers, now, at)
    }

    fn cron_key(f: &str) -> TimerKey {
        TimerKey::Cron {
            project_id: "p".into(),
            function_id: f.into(),
        }
    }

    fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
        t.with_nanosecond(0).unwrap_or(t)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_fire_through_the_job_scheduler_at_their_time() {
        let (table, mut rx, timers, now, at) = started().await;
        table.lock().await.load(
            &snapshot(vec![("f", "*/2 * * * * *")], vec![("e1", at)]),
            now,
        );
        timers.sync().await;

        let (first_slot, job) = timers.job(&cron_key("f")).await.expect("a pending job");
        assert!(first_slot > now && first_slot.nanosecond() == 0);
        assert_eq!(first_slot.timestamp() % 2, 0);
        assert!(
            timers.scheduled(job).await,
            "the job is in the JobScheduler"
        );
        assert!(timers.job(&TimerKey::Once("e1".into())).await.is_some());

        let mut cron_slots = Vec::new();
        let mut once = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while cron_slots.len() < 3 || once.is_empty() {
            let fire = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("fires missing: {cron_slots:?} {once:?}"))
                .expect("engine alive");
            let received = Utc::now();
            assert!(received >= fire.slot, "fired early: {fire:?} at {received}");
            let message = crate::fire_message(&fire);
            assert_eq!(message.slot_unix, fire.slot.timestamp());
            if fire.execution_id.is_empty() {
                assert_eq!(fire.function_id, "f");
                cron_slots.push(message.slot_unix);
            } else {
                assert_eq!(
                    (fire.execution_id.as_str(), fire.function_id.as_str()),
                    ("e1", "g")
                );
                once.push(message.slot_unix);
            }
        }
        let first = first_slot.timestamp();
        assert_eq!(cron_slots[..3], [first, first + 2, first + 4]);
        assert_eq!(once, vec![at.timestamp()]);
        // The one-off is gone; the cron entry has its next slot pending.
        assert!(timers.job(&TimerKey::Once("e1".into())).await.is_none());
        // The callback hands the fire over before it registers the next slot: wait for that.
        let mut next = None;
        for _ in 0..50 {
            next = timers
                .job(&cron_key("f"))
                .await
                .map(|(at, _)| at.timestamp());
            if next.is_some_and(|n| n > first + 4) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            next.is_some_and(|n| n > first + 4 && n % 2 == 0),
            "next slot not registered: {next:?}"
        );
        timers.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn removing_an_entry_cancels_its_pending_job() {
        let (table, mut rx, timers, now, at) = started().await;
        // Every 3rd second for f, a one-off for g, and an unrelated h every minute.
        table.lock().await.load(
            &snapshot(
                vec![("f", "*/3 * * * * *"), ("h", "0 * * * * *")],
                vec![("e1", at)],
            ),
            now,
        );
        timers.sync().await;
        let (_, f_job) = timers.job(&cron_key("f")).await.expect("f pending");
        let (_, e1_job) = timers
            .job(&TimerKey::Once("e1".into()))
            .await
            .expect("e1 pending");
        assert!(timers.scheduled(f_job).await && timers.scheduled(e1_job).await);

        // f's schedule is removed, g's one-off is cancelled (FunctionChanged handling).
        let empty = snapshot(vec![], vec![]);
        {
            let mut t = table.lock().await;
            t.apply_function("p", "f", &empty, Utc::now());
            t.apply_function("p", "g", &empty, Utc::now());
        }
        timers.sync().await;
        assert!(timers.job(&cron_key("f")).await.is_none());
        assert!(timers.job(&TimerKey::Once("e1".into())).await.is_none());
        assert!(
            !timers.scheduled(f_job).await,
            "f's job is still in the JobScheduler"
        );
        assert!(
            !timers.scheduled(e1_job).await,
            "e1's job is still in the JobScheduler"
        );
        assert!(timers.job(&cron_key("h")).await.is_some(), "h kept its job");

        // Past the times they were set for, nothing fired.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut fired = Vec::new();
        while let Ok(fire) = rx.try_recv() {
            if fire.function_id != "h" {
                fired.push(fire);
            }
        }
        assert!(fired.is_empty(), "removed items fired: {fired:?}");
        timers.shutdown().await;
    }
}
