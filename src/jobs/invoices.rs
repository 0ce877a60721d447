//! The `invoices` job (SPEC section 7): on the last day of an invoice period, number the
//! period's invoices (once: a re-run finds them stored and never renumbers) and write
//! `invoice-lines.csv` and `invoices.csv` from what is stored, so every run of the same period
//! writes the same bytes.

use chrono::NaiveDate;

use super::{JobContext, JobName, JobOutcome, Stopwatch};
use crate::domain::calendar::DateRange;
use crate::domain::clock::{Moment, Step};
use crate::domain::invoicing;
use crate::error::{Error, Result};
use crate::output::atomic::write_csv_atomically;
use crate::output::invoices::{self as files, LinesError};
use crate::store::clock;
use crate::store::invoices::{self, Invoice, NewRun};

/// invoice-lines.csv.
pub const LINES_FILE: &str = "invoice-lines.csv";
/// invoices.csv.
pub const INVOICES_FILE: &str = "invoices.csv";

/// Runs `invoices` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let mut outcome = JobOutcome::default();
    let invoice_day = ctx.config.billing.invoice_day;
    if !invoicing::closes_period(date, invoice_day) {
        outcome.add("invoices", 0);
        return Ok(outcome);
    }
    let period = invoicing::period_containing(date, invoice_day);
    let mut watch = Stopwatch::start();
    // Locking the clock row keeps state jobs from posting into the period meanwhile; lines of
    // the period's last day must all be posted before its invoice is taken.
    let state = clock::read_for_update(ctx.conn)?;
    if state.is_none_or(|at| at < Moment::new(date, Step::Orders)) {
        return Err(Error::Usage(format!(
            "the invoice of {} .. {} needs every job of {date} before it: run \
             `subsweep nightly --date {date}`",
            period.start, period.end
        )));
    }

    // The period's lines were mostly posted since the statistics were last taken (the
    // rollover day posts a month's worth at once, and autovacuum may not have come by): with
    // statistics that have never seen the period, the planner expects one line and joins them
    // all to their subscriptions in a nested loop (0.5 s instead of 0.1 s for 75,000 lines).
    crate::store::analyze(ctx.conn, &["charge_lines"])?;
    watch.lap("analyze");

    if invoices::run_exists(ctx.conn, period.start)? {
        outcome.add("periods_reemitted", 1);
    } else {
        let list = number_invoices(ctx, period)?;
        let run = NewRun {
            period_start: period.start,
            period_end: period.end,
            emitted_on: date,
            invoice_count: count_i32(list.len()),
            line_count: list.iter().map(|i| i.line_count).sum(),
        };
        invoices::insert_run(ctx.conn, &run, &list)?;
        // The planner's statistics know nothing of the invoices just numbered (autovacuum has
        // not seen them): estimating one invoice for the period, it joined the lines in a nested
        // loop, 348 s for 10k invoices of 75k lines in the benchmark instead of 0.4 s.
        crate::store::analyze(ctx.conn, &["invoices"])?;
        outcome.add("periods_emitted", 1);
    }
    watch.lap("number");

    let stored = invoices::stored(ctx.conn, period.start)?;
    let offers = invoices::offer_names(ctx.conn)?;
    watch.lap("stored");
    let dir = ctx.config.invoices_dir(period.start);
    let partner = ctx.config.partner.id.clone();
    let bom = ctx.config.output_bom;
    let mut control: Option<LinesError> = None;
    let mut lines = 0;
    let written = invoices::read_period_lines(ctx.conn, period.start, |rows| {
        write_csv_atomically(&dir.join(LINES_FILE), bom, |out| {
            match files::write_lines(out, &mut *rows, &partner, &stored, &offers) {
                Ok(n) => {
                    lines = n;
                    Ok(())
                }
                Err(LinesError::Io(e)) => Err(e),
                Err(e) => {
                    control = Some(e);
                    Err(std::io::Error::other("control totals"))
                }
            }
        })
    })?;
    if let Some(e) = control {
        return Err(Error::Other(format!(
            "invoice of {} .. {} refused: {e}",
            period.start, period.end
        )));
    }
    written?;
    watch.lap("lines_file");
    write_csv_atomically(&dir.join(INVOICES_FILE), bom, |out| {
        files::write_invoices(out, &stored)
    })?;
    watch.lap("invoices_file");
    watch.log(JobName::Invoices);
    outcome.add("invoices", stored.len() as i64);
    outcome.add("invoice_lines", lines as i64);
    Ok(outcome)
}

/// The period's invoices, numbered by the core from what the store adds up per customer
/// (`invoicing::number_invoices`, which also decides when the period is refused).
fn number_invoices(ctx: &mut JobContext<'_>, period: DateRange) -> Result<Vec<Invoice>> {
    let customers = invoices::customer_totals(ctx.conn, period.start)?
        .into_iter()
        .map(|t| invoicing::CustomerLines {
            customer_id: t.customer_id,
            line_count: t.line_count,
            total: t.total,
            min_currency: t.min_currency,
            max_currency: t.max_currency,
            orphan_lines: t.orphan_lines,
        })
        .collect();
    let numbered = invoicing::number_invoices(period, customers)
        .map_err(|refusal| Error::Other(refusal.to_string()))?;
    Ok(numbered
        .into_iter()
        .map(|i| Invoice {
            invoice_number: i.invoice_number,
            customer_id: i.customer_id,
            period_start: i.period.start,
            period_end: i.period.end,
            line_count: i.line_count,
            total: i.total,
            currency: i.currency,
        })
        .collect())
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).expect("invoice counts are bounded by six-digit numbers")
}
