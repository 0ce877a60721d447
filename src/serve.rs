//! `subsweep serve`: the `[[jobs]]` of jobs.toml on their cron schedules (UTC, with a seconds
//! field), driven by tokio-cron-scheduler.
//!
//! - A fire's logical date comes from the schedule: the scheduled instant's date minus one
//!   (a nightly at 00:30 closes the day that just ended), however late the fire runs.
//! - Every run of an entry brings it up to date: the dates after the last one it succeeded for,
//!   in order, capped at `[serve] catch_up_days` (the dates left out are reported, with the
//!   backfill command that covers them). On start, the same catch-up runs once.
//! - One worker runs the fires one after another, so no two runs overlap; another process
//!   holding a job makes the fire skip with a warning (the next fire catches up).
//! - SIGTERM or SIGINT: the run in flight finishes (or its transaction rolls back if the
//!   database goes away), the HTTP endpoints stop, then the process exits 0.
//! - With `[serve] listen`, `/healthz` and `/metrics` answer on that address (`serve/http.rs`):
//!   the scheduler keeps its [`health::Health`] up to date for them.

pub mod health;
mod http;
pub mod metrics;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use croner::Cron;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::App;
use crate::config::ScheduledJob;
use crate::error::{Error, Result};
use crate::jobs::JobName;
use crate::runner::{Runner, Summary, Trigger, dates};
use crate::store::ledger;
use health::{Health, LastRun};

/// What one `[[jobs]]` entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Nightly,
    Job(JobName),
}

impl Work {
    fn parse(name: &str) -> Result<Work> {
        if name == "nightly" {
            return Ok(Work::Nightly);
        }
        name.parse().map(Work::Job).map_err(Error::Usage)
    }

    /// The job whose ledger says how far this entry got.
    fn last_job(self) -> JobName {
        match self {
            Work::Nightly => JobName::Invoices,
            Work::Job(job) => job,
        }
    }
}

struct Entry {
    name: String,
    work: Work,
    cron: Cron,
}

/// The logical date a fire scheduled at `instant` processes.
pub fn logical_date(instant: DateTime<Utc>) -> NaiveDate {
    instant
        .date_naive()
        .pred_opt()
        .expect("a date has a day before it")
}

/// The scheduled instant of the fire happening at `now` (the latest occurrence not after it).
fn scheduled_instant(cron: &Cron, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_previous_occurrence(&now, true).ok()
}

/// The configuration has parsed every schedule already (`Config::load`); a schedule that got
/// here unparsed (a configuration built in code) still fails with its value named.
fn parse_cron(schedule: &str) -> Result<Cron> {
    crate::config::parse_schedule(schedule)
        .map_err(|e| Error::Usage(format!("schedule '{schedule}': {e}")))
}

fn entries(jobs: &[ScheduledJob]) -> Result<Vec<Entry>> {
    if jobs.is_empty() {
        return Err(Error::Usage(
            "jobs.toml has no [[jobs]] entries: add e.g. [[jobs]] name = \"nightly\" \
             schedule = \"0 30 0 * * *\""
                .into(),
        ));
    }
    jobs.iter()
        .map(|j| {
            Ok(Entry {
                name: j.name.clone(),
                work: Work::parse(&j.name)?,
                cron: parse_cron(&j.schedule)?,
            })
        })
        .collect()
}

/// Runs the scheduler until SIGTERM/SIGINT (and the endpoints of `[serve] listen`, bound
/// before anything runs so that an address in use stops `serve` at once, exit 78).
pub fn serve(app: &App) -> Result<()> {
    let entries = entries(&app.config.jobs)?;
    let endpoint = http::bind(&app.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run_scheduler(app, entries, endpoint));
    // A scrape still waiting for the database does not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// How long the endpoints get to finish their requests once serve stops.
const HTTP_STOP_TIMEOUT: Duration = Duration::from_secs(5);

async fn run_scheduler(
    app: &App,
    entries: Vec<Entry>,
    endpoint: Option<(std::net::TcpListener, std::net::SocketAddr)>,
) -> Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (fires, mut queue) = mpsc::unbounded_channel::<(usize, NaiveDate, bool)>();
    let health = Arc::new(Mutex::new(Health::new(
        entries.iter().map(|e| (e.name.clone(), e.cron.clone())),
    )));

    let scheduler = JobScheduler::new().await.map_err(scheduler_error)?;
    for (index, entry) in entries.iter().enumerate() {
        let fires = fires.clone();
        let cron = entry.cron.clone();
        let health = health.clone();
        let job = Job::new_async(entry.cron.pattern.to_string(), move |_id, _scheduler| {
            let fires = fires.clone();
            let instant = scheduled_instant(&cron, Utc::now()).unwrap_or_else(Utc::now);
            http::lock(&health).fired(index, instant);
            Box::pin(async move {
                let _ = fires.send((index, logical_date(instant), true));
            })
        })
        .map_err(scheduler_error)?;
        scheduler.add(job).await.map_err(scheduler_error)?;
    }

    // Catch up first: the date each entry's latest scheduled fire stands for.
    let now = Utc::now();
    for (index, entry) in entries.iter().enumerate() {
        if let Some(instant) = scheduled_instant(&entry.cron, now) {
            let _ = fires.send((index, logical_date(instant), false));
        }
    }
    scheduler.start().await.map_err(scheduler_error)?;
    http::lock(&health).started(Utc::now());
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = endpoint.map(|(listener, address)| {
        if http::is_loopback(address) {
            tracing::info!("serve: /healthz and /metrics on http://{address}");
        } else {
            tracing::warn!(
                "serve: /healthz and /metrics on http://{address}, which is not a loopback \
                 address: whoever reaches this machine on that port can read them"
            );
        }
        let endpoints = http::Endpoints::new(
            health.clone(),
            app.database.url(),
            app.config.intake.inbox.clone(),
        );
        tokio::spawn(http::run(listener, endpoints, async move {
            let _ = http_stopped.await;
        }))
    });
    tracing::info!(
        entries = entries.len(),
        "serve: scheduler started ({}); SIGTERM or SIGINT stops it",
        entries
            .iter()
            .map(|e| format!("{} at '{}'", e.name, e.cron.pattern))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let app_ref = app;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            fire = queue.recv() => {
                let Some((index, date, fired)) = fire else { break };
                let entry = &entries[index];
                if fired {
                    tracing::info!("serve: {} fired for {date}", entry.name);
                } else {
                    tracing::info!("serve: {} catching up through {date}", entry.name);
                }
                // The job runs on this thread: the select above is not polled meanwhile, so a
                // signal waits until the run in flight has finished. The endpoints run on
                // the runtime's workers and keep answering.
                http::lock(&health).run_started(index, date);
                let outcome = tokio::task::block_in_place(|| fire_entry(app_ref, entry, date));
                let mut health = http::lock(&health);
                match outcome {
                    Some(last_run) => health.run_finished(index, last_run),
                    None => health.run_skipped(index),
                }
            }
        }
    }
    tracing::info!("serve: stopping");
    http::lock(&health).stopping();
    let mut scheduler = scheduler;
    let _ = scheduler.shutdown().await;
    let _ = stop_http.send(());
    if let Some(server) = server {
        match tokio::time::timeout(HTTP_STOP_TIMEOUT, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("serve: {e}"),
            Ok(Err(e)) => tracing::warn!("serve: the health and metrics endpoints failed: {e}"),
            Err(_) => tracing::warn!(
                "serve: the health and metrics endpoints did not stop within {} s; stopping \
                 anyway",
                HTTP_STOP_TIMEOUT.as_secs()
            ),
        }
    }
    Ok(())
}

/// Brings one entry up to `date`: the dates after its last success, in order, capped. `None`
/// when another process held a job (the run was skipped).
fn fire_entry(app: &App, entry: &Entry, date: NaiveDate) -> Option<LastRun> {
    match catch_up(app, entry, date) {
        Ok(through) => Some(LastRun::Succeeded { through }),
        Err(failure) => match failure.error {
            Error::JobHeld(message) => {
                tracing::warn!("serve: {}: {message}", entry.name);
                None
            }
            e => {
                tracing::error!("serve: {} for {date} failed: {e}", entry.name);
                Some(LastRun::Failed {
                    job: failure.job,
                    date: failure.date,
                    error: e.to_string(),
                })
            }
        },
    }
}

/// Why a run of an entry stopped: the job and date it stopped at (no job when it failed
/// before any job, or after them), and the error.
struct Failure {
    job: Option<JobName>,
    date: NaiveDate,
    error: Error,
}

/// Runs the dates an entry is behind by; returns the date it is done through.
fn catch_up(app: &App, entry: &Entry, date: NaiveDate) -> Result<NaiveDate, Failure> {
    let outside = |error: Error| Failure {
        job: None,
        date,
        error,
    };
    let mut runner =
        Runner::open(app, Trigger::Cron, &format!("serve {}", entry.name)).map_err(outside)?;
    let last = ledger::last_succeeded(runner.conn(), entry.work.last_job().as_str())
        .map_err(|e| outside(e.into()))?;
    let first = last.and_then(|d| d.succ_opt()).unwrap_or(date);
    let mut todo = dates(first, date);
    let cap = app.config.serve.catch_up_days.max(1) as usize;
    if todo.len() > cap {
        let dropped = todo.len() - cap;
        let (from, to) = (todo[0], todo[dropped - 1]);
        tracing::warn!(
            "serve: {} missed {dropped} date(s) {from}..{to}, more than [serve] catch_up_days = \
             {cap}; they are left out: run `subsweep backfill --from {from} --to {to}`",
            entry.name
        );
        todo.drain(..dropped);
    }
    let jobs: &[JobName] = match &entry.work {
        Work::Nightly => &JobName::NIGHTLY,
        Work::Job(job) => std::slice::from_ref(job),
    };
    // As `nightly` does: every lock up front, all or none.
    runner.hold(jobs).map_err(outside)?;
    let mut total = Summary::default();
    let mut unmoved = Vec::new();
    for day in &todo {
        let day = *day;
        let mut summary = Summary::default();
        for &job in jobs {
            let ran = runner.run(job, day, false).map_err(|error| Failure {
                job: Some(job),
                date: day,
                error,
            })?;
            summary.add(&ran);
        }
        if !summary.failed_files.is_empty() {
            tracing::warn!(
                "serve: input files failed for {day}: {}",
                summary.failed_files.join(", ")
            );
        }
        for why in &summary.unmoved_files {
            tracing::error!("serve: an inbox file could not be moved for {day}: {why}");
            unmoved.push((day, why.clone()));
        }
        total.jobs_run += summary.jobs_run;
        total.jobs_skipped += summary.jobs_skipped;
    }
    runner.release().map_err(outside)?;
    match (todo.first(), todo.last()) {
        (Some(from), Some(to)) => tracing::info!(
            entry = %entry.name,
            jobs_run = total.jobs_run,
            jobs_skipped = total.jobs_skipped,
            "serve: {} done for {}: {} job run(s), {} already done",
            entry.name,
            if from == to { from.to_string() } else { format!("{from}..{to}") },
            total.jobs_run,
            total.jobs_skipped
        ),
        _ => tracing::info!(
            entry = %entry.name,
            "serve: {} for {date}: nothing to do (done through {})",
            entry.name,
            last.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
        ),
    }
    report_inbox(app);
    // A file left in the inbox because it could not be moved is a disk problem the operator
    // must fix (`nightly` exits 1 for it): the run counts as failed.
    if let Some((day, why)) = unmoved.into_iter().next() {
        return Err(Failure {
            job: Some(JobName::IngestOrders),
            date: day,
            error: Error::Other(format!("an inbox file could not be moved: {why}")),
        });
    }
    Ok(todo.last().copied().or(last).unwrap_or(date))
}

/// Order files still in the inbox after a fire (not settled yet, or dropped after the day's
/// ingest): the next fire takes them.
fn report_inbox(app: &App) {
    let inbox = &app.config.intake.inbox;
    let mut waiting: Vec<String> = match std::fs::read_dir(inbox) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| crate::intake::inbox::is_order_file_name(name))
            .map(|name| crate::shown::name(&name).into_owned())
            .collect(),
        Err(e) => {
            tracing::warn!(
                "serve: cannot read the inbox {}: {e}",
                crate::shown::path(inbox)
            );
            return;
        }
    };
    if waiting.is_empty() {
        return;
    }
    waiting.sort();
    let count = waiting.len();
    const SHOWN: usize = 10;
    if waiting.len() > SHOWN {
        let more = waiting.len() - SHOWN;
        waiting.truncate(SHOWN);
        waiting.push(format!("and {more} more"));
    }
    tracing::info!(
        waiting = count,
        "serve: {count} file(s) waiting in the inbox {} for the next fire: {}",
        crate::shown::path(inbox),
        waiting.join(", ")
    );
}

fn scheduler_error(e: tokio_cron_scheduler::JobSchedulerError) -> Error {
    Error::Other(format!("scheduler: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_fire_processes_the_day_before_its_scheduled_instant() {
        let cron = parse_cron("0 30 0 * * *").unwrap();
        // Fired late, at 00:31:10: still the 00:30 fire, for the day before.
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 0, 31, 10).unwrap();
        let instant = scheduled_instant(&cron, now).unwrap();
        assert_eq!(instant, Utc.with_ymd_and_hms(2026, 3, 1, 0, 30, 0).unwrap());
        assert_eq!(logical_date(instant).to_string(), "2026-02-28");
    }

    #[test]
    fn schedules_need_a_seconds_field() {
        assert!(parse_cron("30 0 * * *").is_err());
        assert!(parse_cron("*/2 * * * * *").is_ok());
    }

    #[test]
    fn entries_name_jobs_or_nightly() {
        let jobs = [ScheduledJob {
            name: "renewals".into(),
            schedule: "0 0 1 * * *".into(),
        }];
        assert_eq!(
            entries(&jobs).unwrap()[0].work,
            Work::Job(JobName::Renewals)
        );
        assert!(entries(&[]).is_err());
    }
}
