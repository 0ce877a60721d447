//! What `/healthz` answers: the scheduler's own view of itself, kept in memory by `serve` and
//! judged at a given instant (the caller reads the clock).
//!
//! Healthy: the scheduler runs, every entry's fires arrive when its schedule says, and every
//! entry's last run succeeded (or none has finished yet). Otherwise each reason is one line.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use croner::Cron;

use crate::jobs::JobName;

/// How late a fire may arrive before the scheduler counts as stopped: the cron scheduler
/// ticks about twice a second, so a fire a minute late is one that will not come.
pub const FIRE_GRACE_SECONDS: i64 = 60;

/// How the last run of an entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastRun {
    /// Every date up to `through` is done (or there was nothing to do).
    Succeeded { through: NaiveDate },
    /// `job` for `date` failed with `error` (no job when the run could not start at all, for
    /// example when the database could not be reached).
    Failed {
        job: Option<JobName>,
        date: NaiveDate,
        error: String,
    },
}

/// Runs of an entry since `serve` started, by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub succeeded: u64,
    pub failed: u64,
    /// Another process held a job: the run was skipped (the next fire catches up).
    pub skipped: u64,
}

/// One `[[jobs]]` entry as the health check sees it.
#[derive(Debug, Clone)]
pub struct EntryHealth {
    pub name: String,
    cron: Cron,
    /// The scheduled instant of the latest fire the cron scheduler delivered.
    last_fire: Option<DateTime<Utc>>,
    pub last_run: Option<LastRun>,
    pub runs: RunCounts,
}

/// The scheduler's state, shared between the scheduler and the HTTP endpoints.
#[derive(Debug, Clone)]
pub struct Health {
    /// When the cron scheduler started: fires scheduled after it are expected.
    started_at: Option<DateTime<Utc>>,
    stopping: bool,
    pub entries: Vec<EntryHealth>,
    /// The entry running now and the date it is bringing itself up to.
    running: Option<(usize, NaiveDate)>,
}

/// `/healthz`'s answer: healthy or not, and the lines of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub healthy: bool,
    pub lines: Vec<String>,
}

impl Verdict {
    /// The body: `ok` or `unhealthy`, then one line per fact or reason.
    pub fn body(&self) -> String {
        let mut body = String::from(if self.healthy { "ok\n" } else { "unhealthy\n" });
        for line in &self.lines {
            body.push_str(line);
            body.push('\n');
        }
        body
    }
}

impl Health {
    /// The entries (name and schedule), none fired yet, the scheduler not started yet.
    pub fn new(entries: impl IntoIterator<Item = (String, Cron)>) -> Health {
        Health {
            started_at: None,
            stopping: false,
            entries: entries
                .into_iter()
                .map(|(name, cron)| EntryHealth {
                    name,
                    cron,
                    last_fire: None,
                    last_run: None,
                    runs: RunCounts::default(),
                })
                .collect(),
            running: None,
        }
    }

    /// The cron scheduler started at `at`.
    pub fn started(&mut self, at: DateTime<Utc>) {
        self.started_at = Some(at);
    }

    /// `serve` is stopping: the scheduler fires no more.
    pub fn stopping(&mut self) {
        self.stopping = true;
    }

    /// Whether the scheduler runs (started and not stopping).
    pub fn scheduler_up(&self) -> bool {
        self.started_at.is_some() && !self.stopping
    }

    /// The cron scheduler delivered entry `index`'s fire scheduled at `instant`.
    pub fn fired(&mut self, index: usize, instant: DateTime<Utc>) {
        if let Some(entry) = self.entries.get_mut(index) {
            entry.last_fire = entry.last_fire.max(Some(instant));
        }
    }

    /// Entry `index` starts bringing itself up to `date`.
    pub fn run_started(&mut self, index: usize, date: NaiveDate) {
        self.running = Some((index, date));
    }

    /// Entry `index`'s run ended with `last_run`.
    pub fn run_finished(&mut self, index: usize, last_run: LastRun) {
        self.running = None;
        if let Some(entry) = self.entries.get_mut(index) {
            match last_run {
                LastRun::Succeeded { .. } => entry.runs.succeeded += 1,
                LastRun::Failed { .. } => entry.runs.failed += 1,
            }
            entry.last_run = Some(last_run);
        }
    }

    /// Entry `index`'s run was skipped (another process held a job): its last outcome stands.
    pub fn run_skipped(&mut self, index: usize) {
        self.running = None;
        if let Some(entry) = self.entries.get_mut(index) {
            entry.runs.skipped += 1;
        }
    }

    /// The verdict at `now`.
    pub fn verdict(&self, now: DateTime<Utc>) -> Verdict {
        let mut reasons = Vec::new();
        let mut facts = Vec::new();
        match self.started_at {
            None => reasons.push("scheduler stopped: it has not started".to_string()),
            Some(_) if self.stopping => {
                reasons.push("scheduler stopped: serve is shutting down".to_string())
            }
            Some(started) => {
                // A fire due a while ago that never came: the cron scheduler has stopped.
                let due_by = now - Duration::seconds(FIRE_GRACE_SECONDS);
                for entry in &self.entries {
                    let Ok(due) = entry.cron.find_previous_occurrence(&due_by, true) else {
                        continue;
                    };
                    if due > started && entry.last_fire.is_none_or(|fired| fired < due) {
                        reasons.push(format!(
                            "scheduler stopped: {}'s fire scheduled at {} has not come",
                            entry.name,
                            due.format("%Y-%m-%dT%H:%M:%SZ")
                        ));
                    }
                }
            }
        }
        for entry in &self.entries {
            match &entry.last_run {
                None => facts.push(format!("{}: no run finished yet", entry.name)),
                Some(LastRun::Succeeded { through }) => {
                    facts.push(format!("{}: succeeded through {through}", entry.name))
                }
                Some(LastRun::Failed { job, date, error }) => reasons.push(format!(
                    "last run failed: {}: {} for {date}: {}",
                    entry.name,
                    job.map(|j| j.as_str()).unwrap_or("the run"),
                    crate::store::one_line(error)
                )),
            }
        }
        if let Some((index, date)) = self.running
            && let Some(entry) = self.entries.get(index)
        {
            facts.push(format!("{}: running for {date}", entry.name));
        }
        let healthy = reasons.is_empty();
        reasons.extend(facts);
        Verdict {
            healthy,
            lines: reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 31, h, m, s).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn nightly_at_0030() -> Health {
        let cron = crate::config::parse_schedule("0 30 0 * * *").unwrap();
        let mut health = Health::new([("nightly".to_string(), cron)]);
        health.started(at(0, 0, 0));
        health
    }

    #[test]
    fn healthy_before_any_run_is_due() {
        let health = nightly_at_0030();
        let verdict = health.verdict(at(0, 10, 0));
        assert!(verdict.healthy, "{verdict:?}");
        assert_eq!(verdict.body(), "ok\nnightly: no run finished yet\n");
    }

    #[test]
    fn a_failed_run_names_the_job_the_date_and_the_error() {
        let mut health = nightly_at_0030();
        health.fired(0, at(0, 30, 0));
        health.run_started(0, date("2026-07-30"));
        health.run_finished(
            0,
            LastRun::Failed {
                job: Some(JobName::ApplyOrders),
                date: date("2026-07-30"),
                error: "cannot create /srv/out/reports/2026-07-30:\n Not a directory".into(),
            },
        );
        let verdict = health.verdict(at(0, 31, 0));
        assert!(!verdict.healthy);
        assert_eq!(
            verdict.lines,
            [
                "last run failed: nightly: apply-orders for 2026-07-30: cannot create \
              /srv/out/reports/2026-07-30: Not a directory"
            ]
        );
        // The next run that succeeds makes it healthy again.
        health.run_finished(
            0,
            LastRun::Succeeded {
                through: date("2026-07-30"),
            },
        );
        let verdict = health.verdict(at(0, 32, 0));
        assert!(verdict.healthy, "{verdict:?}");
        assert_eq!(verdict.lines, ["nightly: succeeded through 2026-07-30"]);
        assert_eq!(health.entries[0].runs.failed, 1);
        assert_eq!(health.entries[0].runs.succeeded, 1);
    }

    #[test]
    fn a_skipped_run_keeps_the_last_outcome() {
        let mut health = nightly_at_0030();
        health.fired(0, at(0, 30, 0));
        health.run_skipped(0);
        assert!(health.verdict(at(0, 31, 0)).healthy);
        assert_eq!(health.entries[0].runs.skipped, 1);
    }

    #[test]
    fn a_fire_that_does_not_come_means_the_scheduler_stopped() {
        let health = nightly_at_0030();
        // 00:30 passed, a minute of grace passed, no fire arrived.
        assert!(health.verdict(at(0, 30, 59)).healthy);
        let verdict = health.verdict(at(0, 31, 1));
        assert!(!verdict.healthy);
        assert_eq!(
            verdict.lines[0],
            "scheduler stopped: nightly's fire scheduled at 2026-07-31T00:30:00Z has not come"
        );
        // A schedule whose time passed before the start is not expected.
        let mut late_start = nightly_at_0030();
        late_start.started(at(0, 45, 0));
        assert!(late_start.verdict(at(1, 0, 0)).healthy);
    }

    #[test]
    fn stopping_or_not_started_is_unhealthy() {
        let mut health = nightly_at_0030();
        health.stopping();
        assert!(!health.scheduler_up());
        assert_eq!(
            health.verdict(at(0, 1, 0)).lines[0],
            "scheduler stopped: serve is shutting down"
        );
        let cron = crate::config::parse_schedule("0 30 0 * * *").unwrap();
        let fresh = Health::new([("nightly".to_string(), cron)]);
        assert!(!fresh.verdict(at(0, 1, 0)).healthy);
    }
}
