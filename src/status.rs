//! `subsweep status`: recent job runs, what is pending, and the files ingested.

use std::collections::BTreeSet;
use std::io::Write;

use chrono::NaiveDate;
use diesel::PgConnection;

use crate::config::Config;
use crate::domain::clock::Step;
use crate::domain::invoicing;
use crate::error::Result;
use crate::jobs::JobName;
use crate::runner::{rerun_hint, run_is_alive};
use crate::store::{self, clock, ledger};

/// Writes the status report.
pub fn write(out: &mut dyn Write, conn: &mut PgConnection, config: &Config) -> Result<()> {
    writeln!(out, "Recent job runs (newest first):")?;
    writeln!(
        out,
        "  {:<18} {:<10} {:<11} {:>7} {:<8} {:<20} counts / error",
        "job", "date", "status", "attempt", "trigger", "finished (UTC)"
    )?;
    let runs = ledger::recent(conn, 30)?;
    if runs.is_empty() {
        writeln!(out, "  (none yet)")?;
    }
    for run in runs {
        let finished = run
            .finished_at
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let (status, detail) = run_state(conn, &run)?;
        writeln!(
            out,
            "  {:<18} {:<10} {:<11} {:>7} {:<8} {:<20} {}",
            run.job, run.logical_date, status, run.attempt, run.trigger, finished, detail
        )?;
    }

    writeln!(out, "\nPending:")?;
    let carried = clock::read(conn)?;
    match carried {
        Some(at) => writeln!(
            out,
            "  subscription state carried through {} ({})",
            at.date,
            step_words(at.step)
        )?,
        None => writeln!(out, "  no logical date processed yet")?,
    }
    // Rows dated after the last day processed wait for their own day; the latest of them is
    // shown so that a mistyped year (2062 for 2026) is seen before that day comes.
    let pending = store::status::pending_groups(conn, carried.map(|at| at.date))?;
    if pending.is_empty() {
        writeln!(out, "  no staged order events waiting")?;
    }
    for group in pending {
        let (Some(first), Some(last)) = (group.first, group.last) else {
            continue;
        };
        match carried {
            Some(at) if first > at.date => writeln!(
                out,
                "  {} staged order event(s) not applied yet, dated {first}..{last}: after {}, \
                 they wait for their own day, the latest for {last}",
                group.events, at.date
            )?,
            _ => writeln!(
                out,
                "  {} staged order event(s) not applied yet, dated {first}..{last}",
                group.events
            )?,
        }
    }
    let (waiting, strays) = crate::intake::inbox::count(&config.intake.inbox);
    writeln!(
        out,
        "  {waiting} file(s) waiting in the inbox {}",
        crate::shown::path(&config.intake.inbox)
    )?;
    if strays > 0 {
        writeln!(
            out,
            "  {strays} inbox entr(ies) named *.csv that are not regular files (links, FIFOs, \
             folders): never read, the next ingest moves them to {}",
            crate::shown::path(&config.intake.failed)
        )?;
    }

    writeln!(out, "\nFiles (newest first):")?;
    let files = store::status::recent_files(conn, 20)?;
    if files.is_empty() {
        writeln!(out, "  (none yet)")?;
    }
    for f in files {
        write!(
            out,
            "  {:<10} {:<8} {} received {} = staged {} + rejected {}",
            f.logical_date,
            f.outcome,
            crate::shown::name(&f.file_name),
            f.rows_received,
            f.rows_staged,
            f.rows_rejected
        )?;
        match f.error {
            Some(error) => writeln!(out, "  ({})", error.lines().next().unwrap_or(""))?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}

/// The status a ledger row stands for and its detail. A `running` row whose process no longer
/// holds the job's lock was interrupted (killed, crashed, lost its connection): it says so and
/// what to run.
fn run_state(conn: &mut PgConnection, run: &ledger::JobRun) -> Result<(&'static str, String)> {
    let job = run.job.parse::<JobName>().ok();
    let hint = |job: JobName| rerun_hint(job, run.logical_date, &run.trigger);
    Ok(match (run.status.as_str(), job) {
        ("running", Some(job)) if !run_is_alive(conn, job, run.lock_pid)? => {
            ("interrupted", format!("interrupted: {}", hint(job)))
        }
        ("running", _) => ("running", "-".to_string()),
        ("succeeded", _) => ("succeeded", run.counts.clone()),
        ("interrupted", Some(job)) => ("interrupted", format!("interrupted: {}", hint(job))),
        ("interrupted", None) => ("interrupted", "interrupted".to_string()),
        _ => (
            "failed",
            run.error.clone().unwrap_or_else(|| run.counts.clone()),
        ),
    })
}

/// What the state clock's step means, in words.
pub(crate) fn step_words(step: Step) -> &'static str {
    match step {
        Step::TrialConversions => "after trial conversions",
        Step::Renewals => "after renewals",
        Step::SuspensionExpiry => "after suspension expiry",
        Step::Orders => "after the day's orders",
    }
}

fn inbox_waiting(config: &Config) -> usize {
    crate::intake::inbox::count(&config.intake.inbox).0
}

/// `backfill --dry-run`: what a backfill over `from..=to` would do, changing nothing.
pub fn write_backfill_plan(
    out: &mut dyn Write,
    conn: &mut PgConnection,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<()> {
    let has_schema = store::status::schema_present(conn)?;
    let done: BTreeSet<(String, NaiveDate)> = if has_schema {
        ledger::succeeded_between(conn, from, to)?
            .into_iter()
            .collect()
    } else {
        BTreeSet::new()
    };
    writeln!(
        out,
        "dry run: nothing is changed. backfill {from}..{to} would:"
    )?;
    writeln!(
        out,
        "  ingest-orders as of {from}: {} file(s) in {}",
        inbox_waiting(config),
        crate::shown::path(&config.intake.inbox)
    )?;
    // The money of the periods it would close, from preview's computation (read-only).
    let money = if has_schema {
        Some(crate::store::preview::in_snapshot(
            conn,
            |conn| -> Result<_> {
                let plan = crate::preview::plan(conn, config, Some(to), to)?;
                let totals = crate::preview::totals(conn, &plan, None)?;
                Ok((plan.pending_events, totals))
            },
        )?)
    } else {
        None
    };
    let mut nothing = 0;
    for date in crate::runner::dates(from, to) {
        let todo: Vec<&str> = JobName::NIGHTLY[1..]
            .iter()
            .map(|j| j.as_str())
            .filter(|j| !done.contains(&(j.to_string(), date)))
            .collect();
        if todo.is_empty() {
            nothing += 1;
            continue;
        }
        let invoice = if invoicing::closes_period(date, config.billing.invoice_day)
            && todo.contains(&"invoices")
        {
            " (closes an invoice period)"
        } else {
            ""
        };
        writeln!(out, "  {date}: {}{invoice}", todo.join(", "))?;
        if !invoice.is_empty() {
            let period = invoicing::period_containing(date, config.billing.invoice_day);
            let totals = money
                .as_ref()
                .and_then(|(_, t)| t.get(&period.start))
                .cloned()
                .unwrap_or_default();
            writeln!(
                out,
                "      invoice period {} .. {}: {}",
                period.start,
                period.end,
                totals.describe()
            )?;
        }
    }
    if nothing > 0 {
        writeln!(out, "  {nothing} date(s) already done, skipped")?;
    }
    if let Some((pending, _)) = money {
        writeln!(
            out,
            "  invoice totals as `subsweep preview --through {to}` computes them: if no further \
             orders arrive ({pending} staged order event(s) not applied yet and the files in the \
             inbox are not counted)"
        )?;
    }
    Ok(())
}
