//! The job runner (SPEC section 8): runs jobs for logical dates exactly once, in order,
//! under advisory locks, and records every attempt in the ledger.
//!
//! - A job's database effects and its `succeeded` ledger row commit in one transaction
//!   (ingest-orders commits file by file, so its row is marked after the files are done).
//! - A succeeded (job, date) is not repeated without `force`; a failed or interrupted one is
//!   retried. ingest-orders is the exception: its unit of work is the inbox file (by hash),
//!   not the date, so it always scans the inbox.
//! - Each job is held with a PostgreSQL advisory lock on a dedicated connection for as long as
//!   the runner lives: a second process gets `Error::JobHeld` naming the holder.

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

use chrono::NaiveDate;
use diesel::{Connection, PgConnection};
use indicatif::ProgressBar;

use crate::app::App;
use crate::error::{Error, Result};
use crate::jobs::{self, JobContext, JobName, JobOutcome};
use crate::store::{self, ledger, sessions};
use crate::{failpoint, interrupt, output_folder};

/// The first key of subsweep's advisory locks (`'SUBS'`); the second is the job's index.
const LOCK_CLASS: i32 = 0x5355_4253;

/// Who started a run, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    Cron,
    Backfill,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Cron => "cron",
            Trigger::Backfill => "backfill",
        }
    }
}

/// What one job run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// The job had already succeeded for the date.
    Skipped,
    Done(JobOutcome),
}

/// What a day (or a range of days) left for the exit code: the input files that failed.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub jobs_run: usize,
    pub jobs_skipped: usize,
    pub failed_files: Vec<String>,
    /// Inbox files that could not be moved to archive/ or failed/, each with why.
    pub unmoved_files: Vec<String>,
}

impl Summary {
    pub fn add(&mut self, ran: &Ran) {
        match ran {
            Ran::Skipped => self.jobs_skipped += 1,
            Ran::Done(outcome) => {
                self.jobs_run += 1;
                self.failed_files
                    .extend(outcome.failed_files.iter().cloned());
                self.unmoved_files
                    .extend(outcome.unmoved_files.iter().cloned());
            }
        }
    }

    /// After everything else ran: 1 when an inbox file could not be moved (a disk problem the
    /// operator must fix; the file is still in the inbox), else 65 when an input file failed
    /// as a whole, else done.
    pub fn into_result(self) -> Result<Summary> {
        let failed = (!self.failed_files.is_empty()).then(|| {
            format!(
                "{} input file(s) failed and were moved to failed/ with their reasons: {}",
                self.failed_files.len(),
                self.failed_files.join(", ")
            )
        });
        if !self.unmoved_files.is_empty() {
            let mut message = format!(
                "{} inbox file(s) could not be moved and are still in the inbox (free space or \
                 fix permissions; the next run moves them):\n{}",
                self.unmoved_files.len(),
                self.unmoved_files.join("\n")
            );
            if let Some(failed) = failed {
                message = format!("{message}\n{failed}");
            }
            return Err(Error::Other(message));
        }
        match failed {
            Some(failed) => Err(Error::InputFailed(failed)),
            None => Ok(self),
        }
    }
}

/// A runner: the configuration, a work connection and a lock connection.
pub struct Runner<'a> {
    app: &'a App,
    work: PgConnection,
    locks: PgConnection,
    held: BTreeSet<JobName>,
    trigger: Trigger,
    /// The backend pid of the lock connection, recorded with each attempt.
    lock_pid: i32,
    /// Whether the last job that ran committed without waiting for the disk (a backfill's
    /// day): its commit is not durable until a later one that waits, or the server's log
    /// writer, has flushed it.
    unflushed: bool,
}

impl<'a> Runner<'a> {
    /// Connects (migrating the schema if needed), makes sure the output folder is this
    /// database's (exit 78 otherwise) and names the session after the command, so a second
    /// process can say who holds a job.
    pub fn open(app: &'a App, trigger: Trigger, command: &str) -> Result<Runner<'a>> {
        let mut work = app.connect()?;
        output_folder::claim(&mut work, &app.config, &app.database.describe())?;
        let mut locks = store::connect(&app.database.url())?;
        let name = format!("subsweep {command} (pid {})", std::process::id());
        sessions::set_application_name(&mut locks, &name)?;
        let lock_pid = sessions::backend_pid(&mut locks)?;
        Ok(Runner {
            app,
            work,
            locks,
            held: BTreeSet::new(),
            trigger,
            lock_pid,
            unflushed: false,
        })
    }

    /// From now on SIGINT and SIGTERM roll the job in flight back, record it as interrupted
    /// and end the run with [`Error::Interrupted`] (exit 130). For `run`, `nightly` and
    /// `backfill`; `serve` handles its signals itself.
    pub fn stop_on_signals(&mut self) -> Result<()> {
        let pid = sessions::backend_pid(&mut self.work)?;
        interrupt::install(self.app.database.url(), pid)
    }

    /// The work connection (for read-only questions after a run).
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.work
    }

    /// Takes the advisory locks of `jobs`, all or none: if another process holds one, the
    /// ones taken here are released and the error names the holder.
    pub fn hold(&mut self, wanted: &[JobName]) -> Result<()> {
        let mut taken = Vec::new();
        for &job in wanted {
            if self.held.contains(&job) {
                continue;
            }
            if !sessions::try_advisory_lock(&mut self.locks, LOCK_CLASS, lock_key(job))? {
                let holder = self.holder(job)?;
                for job in taken {
                    self.unlock(job)?;
                }
                return Err(Error::JobHeld(format!(
                    "{job} is already running in another process ({holder}); try again when it \
                     has finished"
                )));
            }
            self.held.insert(job);
            taken.push(job);
        }
        Ok(())
    }

    /// Releases every lock this runner holds.
    pub fn release(&mut self) -> Result<()> {
        for job in self.held.clone() {
            self.unlock(job)?;
        }
        Ok(())
    }

    fn unlock(&mut self, job: JobName) -> Result<()> {
        sessions::advisory_unlock(&mut self.locks, LOCK_CLASS, lock_key(job))?;
        self.held.remove(&job);
        Ok(())
    }

    fn holder(&mut self, job: JobName) -> Result<String> {
        Ok(
            match sessions::lock_holder(&mut self.locks, LOCK_CLASS, lock_key(job))? {
                Some(h) => format!(
                    "held by '{}', database pid {}, connected since {}",
                    h.application_name.as_deref().unwrap_or("?"),
                    h.pid,
                    h.since.as_deref().unwrap_or("?")
                ),
                None => "the holder has just finished".to_string(),
            },
        )
    }

    /// Runs `job` for `date` (taking its lock if not held yet).
    pub fn run(&mut self, job: JobName, date: NaiveDate, force: bool) -> Result<Ran> {
        self.run_with(job, date, force, true)
    }

    /// [`Runner::run`]; with `durable` false the job's commit does not wait for the disk (see
    /// [`ledger::finish_succeeded`]): for a backfill's days.
    fn run_with(
        &mut self,
        job: JobName,
        date: NaiveDate,
        force: bool,
        durable: bool,
    ) -> Result<Ran> {
        if interrupt::requested() {
            return Err(Error::Interrupted(format!(
                "interrupted before {job} for {date}: {}",
                rerun_hint(job, date, self.trigger.as_str())
            )));
        }
        self.hold(&[job])?;
        let name = job.as_str();
        let before = predecessor(job);
        let (previous, done) =
            ledger::get_with(&mut self.work, name, before.map(JobName::as_str), date)?;
        if previous.as_ref().is_some_and(|r| r.succeeded())
            && !force
            && job != JobName::IngestOrders
        {
            tracing::info!(job = name, date = %date, "already succeeded; skipped (use --force to run again)");
            return Ok(Ran::Skipped);
        }
        if let Some(before) = before
            && !done.as_ref().is_some_and(|r| r.succeeded())
        {
            let state = match done {
                Some(r) => format!("its run is {}", r.status),
                None => "it has not run".to_string(),
            };
            return Err(Error::Usage(format!(
                "{job} for {date} needs {before} for {date} first ({state}): run \
                 `subsweep nightly --date {date}`"
            )));
        }

        let started = Instant::now();
        let attempt = ledger::start(
            &mut self.work,
            name,
            date,
            self.trigger.as_str(),
            self.lock_pid,
        )?;
        let result = self.execute(job, date, durable);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(outcome) => {
                self.unflushed = !durable;
                let counts = counts_json(&outcome);
                tracing::info!(
                    job = name,
                    date = %date,
                    status = "succeeded",
                    attempt,
                    trigger = self.trigger.as_str(),
                    elapsed_ms,
                    counts = %counts,
                    "job run"
                );
                Ok(Ran::Done(outcome))
            }
            Err(_) if interrupt::requested() => {
                let message = format!(
                    "interrupted and rolled back: {}",
                    rerun_hint(job, date, self.trigger.as_str())
                );
                // A cancel the watcher sent may still land on the first statement after the
                // rollback: try the ledger once more.
                for _ in 0..2 {
                    if ledger::finish(
                        &mut self.work,
                        name,
                        date,
                        "interrupted",
                        "{}",
                        Some(&message),
                    )
                    .is_ok()
                    {
                        break;
                    }
                }
                tracing::warn!(
                    job = name,
                    date = %date,
                    status = "interrupted",
                    attempt,
                    trigger = self.trigger.as_str(),
                    elapsed_ms,
                    "job run"
                );
                Err(Error::Interrupted(format!("{job} for {date} {message}")))
            }
            Err(e) => {
                let rolled_back = if job.is_one_transaction() {
                    "nothing of the job was committed (its transaction was rolled back)"
                } else {
                    "nothing of the job was committed for the file in progress, which stays in \
                     the inbox (files finished before it are kept)"
                };
                let e = e.into_connection_lost(&format!("{job} for {date}"), rolled_back);
                let message = e.to_string();
                // The work connection may be gone (that is often why the job failed): the
                // row then stays `running`, which the next attempt treats the same way.
                let _ = ledger::finish(&mut self.work, name, date, "failed", "{}", Some(&message));
                // The error itself is said once, by whoever ends the run (the command's
                // final message, serve's fire outcome); this record says which run failed.
                tracing::error!(
                    job = name,
                    date = %date,
                    status = "failed",
                    attempt,
                    trigger = self.trigger.as_str(),
                    elapsed_ms,
                    "job run"
                );
                Err(e)
            }
        }
    }

    /// The job itself, with its ledger row marked succeeded in the same transaction.
    fn execute(&mut self, job: JobName, date: NaiveDate, durable: bool) -> Result<JobOutcome> {
        let config = &self.app.config;
        let name = job.as_str();
        let finish = |conn: &mut PgConnection, outcome: &JobOutcome| -> Result<()> {
            pause_if_armed(conn, name)?;
            failpoint::hit(&format!("{name}:before-commit"));
            if interrupt::requested() {
                // Rolls the job's transaction back (the caller records the interruption).
                return Err(Error::Interrupted(format!("{name} for {date} interrupted")));
            }
            ledger::finish_succeeded(conn, name, date, &counts_json(outcome), durable)?;
            Ok(())
        };
        let database_url = Some(self.app.database.url());
        if job.is_one_transaction() {
            let outcome = self.work.transaction::<_, Error, _>(|conn| {
                let mut ctx = JobContext {
                    config,
                    conn,
                    wall_clock: SystemTime::now(),
                    database_url,
                };
                let outcome = jobs::execute(job, &mut ctx, date)?;
                finish(ctx.conn, &outcome)?;
                Ok(outcome)
            })?;
            failpoint::hit(&format!("{name}:after-commit"));
            Ok(outcome)
        } else {
            let mut ctx = JobContext {
                config,
                conn: &mut self.work,
                wall_clock: SystemTime::now(),
                database_url,
            };
            let outcome = jobs::execute(job, &mut ctx, date)?;
            finish(ctx.conn, &outcome)?;
            Ok(outcome)
        }
    }

    /// The whole day: every job for `date` in SPEC section 1's order, under all six locks.
    pub fn nightly(&mut self, date: NaiveDate, force: bool) -> Result<Summary> {
        self.hold(&JobName::NIGHTLY)?;
        let mut summary = Summary::default();
        for job in JobName::NIGHTLY {
            let ran = self.run(job, date, force)?;
            summary.add(&ran);
        }
        Ok(summary)
    }

    /// Ingests once (as of `from`), then runs every date from `from` to `to` in order. Dates
    /// whose jobs already succeeded are skipped, so a second invocation after a crash
    /// continues where the first stopped.
    pub fn backfill(&mut self, from: NaiveDate, to: NaiveDate) -> Result<Summary> {
        self.hold(&JobName::NIGHTLY)?;
        let mut summary = Summary::default();
        summary.add(&self.run(JobName::IngestOrders, from, false)?);
        let days = dates(from, to);
        let bar = progress_bar(days.len() as u64);
        // The days' commits do not wait for the disk, but the last job's does, which makes
        // them all durable before the process says anything (see `ledger::finish_succeeded`).
        let done: BTreeSet<(String, NaiveDate)> =
            ledger::succeeded_between(&mut self.work, from, to)?
                .into_iter()
                .collect();
        let last_to_run = days
            .iter()
            .rev()
            .flat_map(|date| {
                JobName::NIGHTLY[1..]
                    .iter()
                    .rev()
                    .map(move |job| (*date, *job))
            })
            .find(|(date, job)| !done.contains(&(job.as_str().to_string(), *date)));
        let citus = self.app.config.database.citus;
        let ran: Result<()> = (|| {
            for date in days {
                bar.set_message(date.to_string());
                for job in &JobName::NIGHTLY[1..] {
                    // On Citus every commit waits: a job's transaction spans the workers,
                    // whose prepared parts commit once the coordinator's commit returns, so a
                    // coordinator commit lost in a crash would split the job.
                    let durable = citus || last_to_run == Some((date, *job));
                    let ran = self.run_with(*job, date, false, durable)?;
                    summary.add(&ran);
                }
                bar.inc(1);
            }
            Ok(())
        })();
        bar.finish_and_clear();
        // Normally the last job's commit has flushed them all; when the run ended otherwise
        // (an interruption between two jobs), wait for the server's log writer.
        let flushed = if self.unflushed {
            ledger::flush_commits(&mut self.work)
        } else {
            Ok(())
        };
        ran?;
        flushed?;
        self.unflushed = false;
        Ok(summary)
    }
}

/// Test-only: with `SUBSWEEP_FAILPOINT=<job>:pause` the job, its work done but not committed,
/// waits a minute in a statement (so a signal's cancel ends it like any long statement).
fn pause_if_armed(conn: &mut PgConnection, job: &str) -> Result<()> {
    let name = format!("{job}:pause");
    if failpoint::armed(&name) {
        eprintln!("subsweep: failpoint {name} hit, pausing");
        sessions::sleep(conn, 60)?;
    }
    Ok(())
}

/// The command that finishes what an interrupted run of `job` for `date` left.
pub fn rerun_hint(job: JobName, date: NaiveDate, trigger: &str) -> String {
    match (job, trigger) {
        (_, "backfill") => {
            format!("run the same `subsweep backfill` again (it resumes at {job} for {date})")
        }
        _ => format!("run `subsweep nightly --date {date}` again"),
    }
}

/// Whether the run recorded with lock session `lock_pid` is alive: that session still holds
/// `job`'s advisory lock. Read-only (pg_locks), so it never disturbs the holder. Without a
/// recorded session, any holder counts.
pub fn run_is_alive(conn: &mut PgConnection, job: JobName, lock_pid: Option<i32>) -> Result<bool> {
    Ok(sessions::lock_is_held(
        conn,
        LOCK_CLASS,
        lock_key(job),
        lock_pid,
    )?)
}

/// The job that must have succeeded for the same date first (ingest stands outside the
/// order: backfill ingests once for the whole range).
pub fn predecessor(job: JobName) -> Option<JobName> {
    match job {
        JobName::IngestOrders | JobName::TrialConversions => None,
        JobName::Renewals => Some(JobName::TrialConversions),
        JobName::SuspensionExpiry => Some(JobName::Renewals),
        JobName::ApplyOrders => Some(JobName::SuspensionExpiry),
        JobName::Invoices => Some(JobName::ApplyOrders),
    }
}

fn lock_key(job: JobName) -> i32 {
    JobName::NIGHTLY
        .iter()
        .position(|j| *j == job)
        .expect("every job is in NIGHTLY") as i32
        + 1
}

/// Every date from `from` to `to`, inclusive.
pub fn dates(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

/// The backfill's bar on a terminal (nothing otherwise): the date being run, days done of
/// the total, and the time left. Log lines print above it.
pub fn progress_bar(len: u64) -> ProgressBar {
    crate::logging::progress_bar(
        len,
        "backfill {msg} [{bar:30}] {pos}/{len} days, {elapsed} so far, ETA {eta}",
    )
}

/// The outcome's counts as a JSON object, for the ledger and the summary log line.
pub fn counts_json(outcome: &JobOutcome) -> String {
    let map: serde_json::Map<String, serde_json::Value> = outcome
        .counts
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_but_the_first_two_waits_for_the_one_before_it() {
        let order: Vec<JobName> = JobName::NIGHTLY[1..].to_vec();
        for pair in order.windows(2) {
            assert_eq!(predecessor(pair[1]), Some(pair[0]));
        }
        assert_eq!(predecessor(JobName::TrialConversions), None);
        assert_eq!(predecessor(JobName::IngestOrders), None);
    }

    #[test]
    fn lock_keys_are_distinct() {
        let keys: BTreeSet<i32> = JobName::NIGHTLY.iter().map(|j| lock_key(*j)).collect();
        assert_eq!(keys.len(), 6);
    }

    #[test]
    fn dates_are_inclusive_and_empty_when_reversed() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(dates(d("2026-02-27"), d("2026-03-01")).len(), 3);
        assert!(dates(d("2026-03-02"), d("2026-03-01")).is_empty());
    }
}
