//! The in-memory schedule table: CRON entries with their next slot, and one-off executions.
use chrono::{DateTime, Duration, Timelike, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// One active CRON schedule as the gateway reports it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CronSchedule {
    pub project_id: String,
    pub function_id: String,
    pub schedule: String,
}

/// One pending `scheduledAt` execution.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OneOff {
    pub project_id: String,
    pub function_id: String,
    pub execution_id: String,
    pub scheduled_at: DateTime<Utc>,
}

/// `GET /v1/internal/schedules` answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub catch_up_seconds: u64,
    pub allow_seconds: bool,
    pub schedules: Vec<CronSchedule>,
    pub scheduled: Vec<OneOff>,
}

/// A fire the ticker must publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fire {
    pub project_id: String,
    pub function_id: String,
    pub slot: DateTime<Utc>,
    pub execution_id: String,
}

struct Entry {
    expr: String,
    cron: croner::Cron,
    next: Option<DateTime<Utc>>,
}

impl Entry {
    /// Appends a fire for every slot of this entry due at `now` and advances it past `now`.
    fn take_due(
        &mut self,
        (project_id, function_id): &Key,
        now: DateTime<Utc>,
        fires: &mut Vec<Fire>,
    ) {
        while let Some(slot) = self.next.filter(|n| *n <= now) {
            fires.push(Fire {
                project_id: project_id.clone(),
                function_id: function_id.clone(),
                slot,
                execution_id: String::new(),
            });
            self.next = next_after(&self.cron, slot);
        }
    }
}

impl From<OneOff> for Fire {
    fn from(o: OneOff) -> Self {
        Fire {
            project_id: o.project_id,
            function_id: o.function_id,
            slot: o.scheduled_at,
            execution_id: o.execution_id,
        }
    }
}

type Key = (String, String);

/// What one pending timer stands for: a CRON entry's next slot, or a one-off execution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimerKey {
    Cron {
        project_id: String,
        function_id: String,
    },
    Once(String),
}

/// Parses like the gateway does: 5 fields (or a macro), or 6 with seconds when allowed.
pub fn parse_cron(expr: &str, allow_seconds: bool) -> Option<croner::Cron> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    let seconds = if expr.starts_with('@') || fields == 5 {
        croner::parser::Seconds::Disallowed
    } else if fields == 6 && allow_seconds {
        croner::parser::Seconds::Required
    } else {
        return None;
    };
    croner::parser::CronParser::builder()
        .seconds(seconds)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .ok()
}

/// The first slot strictly after `after`, on whole seconds (croner keeps the sub-second part of
/// its start time, which would make every slot late by that fraction).
fn next_after(cron: &croner::Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let whole = after.with_nanosecond(0).unwrap_or(after);
    cron.find_next_occurrence(&whole, false).ok()
}

#[derive(Default)]
pub struct Table {
    crons: HashMap<Key, Entry>,
    once: HashMap<String, OneOff>,
    pub catch_up: Duration,
    pub allow_seconds: bool,
}

impl Table {
    /// Replaces the whole table from a snapshot. Entries whose expression did not change keep their
    /// next slot; new entries start at `start_after` (now minus the catch-up window at start-up, so
    /// slots missed while no scheduler ran are fired late; now on later re-syncs).
    pub fn load(&mut self, snapshot: &Snapshot, start_after: DateTime<Utc>) {
        self.catch_up = Duration::seconds(snapshot.catch_up_seconds as i64);
        self.allow_seconds = snapshot.allow_seconds;
        let mut crons = HashMap::new();
        for s in &snapshot.schedules {
            let key = (s.project_id.clone(), s.function_id.clone());
            if let Some(entry) = self.crons.remove(&key).filter(|e| e.expr == s.schedule) {
                crons.insert(key, entry);
            } else if let Some(entry) = self.entry(&s.schedule, start_after) {
                crons.insert(key, entry);
            }
        }
        self.crons = crons;
        self.once = snapshot
            .scheduled
            .iter()
            .map(|o| (o.execution_id.clone(), o.clone()))
            .collect();
    }

    fn entry(&self, expr: &str, start_after: DateTime<Utc>) -> Option<Entry> {
        let Some(cron) = parse_cron(expr, self.allow_seconds) else {
            tracing::warn!(%expr, "unparseable schedule ignored");
            return None;
        };
        Some(Entry {
            expr: expr.to_owned(),
            next: next_after(&cron, start_after),
            cron,
        })
    }

    /// Applies the gateway's current view of one function (after a `FunctionChanged`).
    pub fn apply_function(
        &mut self,
        project_id: &str,
        function_id: &str,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) {
        let key = (project_id.to_owned(), function_id.to_owned());
        match snapshot
            .schedules
            .iter()
            .find(|s| s.project_id == project_id && s.function_id == function_id)
        {
            Some(s) => {
                let keep = self.crons.get(&key).is_some_and(|e| e.expr == s.schedule);
                if !keep {
                    match self.entry(&s.schedule, now) {
                        Some(e) => {
                            tracing::info!(function.id = %function_id, schedule = %s.schedule, next = ?e.next, "schedule set");
                            self.crons.insert(key, e);
                        }
                        None => {
                            self.crons.remove(&key);
                        }
                    }
                }
            }
            None => {
                if self.crons.remove(&key).is_some() {
                    tracing::info!(function.id = %function_id, "schedule removed");
                }
            }
        }
        self.once
            .retain(|_, o| !(o.project_id == project_id && o.function_id == function_id));
        for o in &snapshot.scheduled {
            if o.project_id == project_id && o.function_id == function_id {
                self.once.insert(o.execution_id.clone(), o.clone());
            }
        }
    }

    /// Takes every fire due at `now` (advancing CRON entries past it) and returns them with the
    /// time of the next due item.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> (Vec<Fire>, Option<DateTime<Utc>>) {
        let mut fires = Vec::new();
        for (key, entry) in self.crons.iter_mut() {
            entry.take_due(key, now, &mut fires);
        }
        let due: Vec<String> = self
            .once
            .iter()
            .filter(|(_, o)| o.scheduled_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        fires.extend(
            due.iter()
                .filter_map(|id| self.once.remove(id))
                .map(Fire::from),
        );
        fires.sort_by_key(|f| f.slot);
        let next = self
            .crons
            .values()
            .filter_map(|e| e.next)
            .chain(self.once.values().map(|o| o.scheduled_at))
            .min();
        (fires, next)
    }

    /// Every item's next due time (what the timer engine must have a pending job for).
    pub fn pending(&self) -> HashMap<TimerKey, DateTime<Utc>> {
        let crons = self.crons.iter().filter_map(|((p, f), e)| {
            e.next.map(|n| {
                (
                    TimerKey::Cron {
                        project_id: p.clone(),
                        function_id: f.clone(),
                    },
                    n,
                )
            })
        });
        let once = self
            .once
            .iter()
            .map(|(id, o)| (TimerKey::Once(id.clone()), o.scheduled_at));
        crons.chain(once).collect()
    }

    /// Takes the fires of one item due at `now` (every missed slot of a CRON entry, in order,
    /// advancing it past `now`; or the one-off itself).
    pub fn take_due_for(&mut self, key: &TimerKey, now: DateTime<Utc>) -> Vec<Fire> {
        let mut fires = Vec::new();
        match key {
            TimerKey::Cron {
                project_id,
                function_id,
            } => {
                let k = (project_id.clone(), function_id.clone());
                if let Some(entry) = self.crons.get_mut(&k) {
                    entry.take_due(&k, now, &mut fires);
                }
            }
            TimerKey::Once(id) => {
                if self.once.get(id).is_some_and(|o| o.scheduled_at <= now) {
                    fires.extend(self.once.remove(id).map(Fire::from));
                }
            }
        }
        fires
    }

    pub fn len(&self) -> (usize, usize) {
        (self.crons.len(), self.once.len())
    }
}

/// A snapshot of project `p` for tests: cron `(function, schedule)` pairs and `(execution, at)`
/// one-offs of `oneoff_function`.
#[cfg(test)]
pub(crate) fn test_snapshot(
    catch_up_seconds: u64,
    oneoff_function: &str,
    schedules: Vec<(&str, &str)>,
    scheduled: Vec<(&str, DateTime<Utc>)>,
) -> Snapshot {
    Snapshot {
        catch_up_seconds,
        allow_seconds: true,
        schedules: schedules
            .into_iter()
            .map(|(f, s)| CronSchedule {
                project_id: "p".into(),
                function_id: f.into(),
                schedule: s.into(),
            })
            .collect(),
        scheduled: scheduled
            .into_iter()
            .map(|(e, at)| OneOff {
                project_id: "p".into(),
                function_id: oneoff_function.into(),
                execution_id: e.into(),
                scheduled_at: at,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, h, m, s)
            .single()
            .unwrap_or_default()
    }

    fn snapshot(schedules: Vec<(&str, &str)>, scheduled: Vec<(&str, DateTime<Utc>)>) -> Snapshot {
        test_snapshot(300, "f", schedules, scheduled)
    }

    #[test]
    fn catch_up_fires_missed_slots_in_the_window_once() {
        let mut table = Table {
            allow_seconds: true,
            ..Default::default()
        };
        // Started at 10:03:30 with a 5-minute window: 09:59..10:03 are due at once.
        table.load(
            &snapshot(vec![("f", "* * * * *")], vec![]),
            t(10, 3, 30) - Duration::seconds(300),
        );
        let (fires, next) = table.take_due(t(10, 3, 30));
        let slots: Vec<_> = fires.iter().map(|f| f.slot).collect();
        assert_eq!(
            slots,
            vec![
                t(9, 59, 0),
                t(10, 0, 0),
                t(10, 1, 0),
                t(10, 2, 0),
                t(10, 3, 0)
            ]
        );
        assert_eq!(next, Some(t(10, 4, 0)));
        let (again, _) = table.take_due(t(10, 3, 59));
        assert!(again.is_empty());
    }

    #[test]
    fn changes_replace_and_remove() {
        let mut table = Table::default();
        table.load(
            &snapshot(vec![("f", "*/2 * * * * *")], vec![("e1", t(10, 0, 5))]),
            t(10, 0, 0),
        );
        assert_eq!(table.len(), (1, 1));
        let (fires, _) = table.take_due(t(10, 0, 5));
        assert_eq!(
            fires.iter().filter(|f| f.execution_id.is_empty()).count(),
            2
        ); // :02, :04
        assert_eq!(fires.iter().filter(|f| f.execution_id == "e1").count(), 1);
        table.apply_function("p", "f", &snapshot(vec![], vec![]), t(10, 0, 6));
        assert_eq!(table.len(), (0, 0));
        let (fires, next) = table.take_due(t(10, 1, 0));
        assert!(fires.is_empty() && next.is_none());
    }

    #[test]
    fn slots_are_whole_seconds() {
        let mut table = Table::default();
        let start = t(10, 0, 0) + Duration::milliseconds(702);
        table.load(&snapshot(vec![("f", "*/2 * * * * *")], vec![]), start);
        let (_, next) = table.take_due(start);
        assert_eq!(next, Some(t(10, 0, 2)));
    }

    #[test]
    fn standard_cron_semantics() {
        assert!(parse_cron("*/5 * * * *", false).is_some());
        assert!(parse_cron("@daily", false).is_some());
        assert!(parse_cron("*/5 * * * * *", false).is_none());
        assert!(parse_cron("nope", true).is_none());
    }
}
