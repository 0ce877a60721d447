//! The `apply-orders` job: the day's order events (and late ones) applied to the subscription
//! families they touch, in (event time, order_id, line) order. The rules live in
//! `domain::book`, and what they read is said by `domain::needs`: this file fetches that, in
//! batches, hands it to the core and writes back what it made.

use chrono::NaiveDate;
use diesel::PgConnection;

use super::{JobContext, JobName, JobOutcome, Stopwatch};
use crate::domain::book::{self, Book, Fetched, Written};
use crate::domain::charges::ChargeLine;
use crate::domain::clock::{Moment, Step};
use crate::domain::event::FamilyEvent;
use crate::domain::needs::Needs;
use crate::domain::reject::Reject;
use crate::domain::vocabulary::Action;
use crate::error::{Error, Result};
use crate::store::cursor::Cursor;
use crate::store::events::{self, NewApplied, OrdersMark, PendingEvent, RuleReject};
use crate::store::reader::{self, Reader};
use crate::store::{self, catalog, charges, families, line_stream};

/// Events are applied this many at a time (bounded memory whatever the day's volume).
const BATCH: usize = 10_000;

/// Runs `apply-orders` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let mut outcome = JobOutcome::default();
    let mut watch = Stopwatch::start();
    let clock = OrdersMark::clock_for_update(ctx.conn)?;
    let state = clock.map(|(at, _, _)| at);
    let ready = Moment::new(date, Step::SuspensionExpiry);
    let Some((_, likely_mark, likely_newest)) = clock.filter(|&(at, _, _)| at >= ready) else {
        return Err(Error::Usage(format!(
            "apply-orders for {date} needs trial-conversions, renewals and suspension-expiry of \
             {date} first: run `subsweep nightly --date {date}`"
        )));
    };
    // Many events staged since the last run: the planner's statistics predate them (autovacuum
    // may not have come by yet), and with stale ones it scans the whole history for pending
    // events instead of following the mark. Such a big day reads its pending events on a
    // second connection (`store::reader`) when the runner names the database, not on Citus:
    // the statistics are then refreshed and committed there before intake is frozen (the
    // reader plans with them; an ANALYZE after the freeze would wait on the job's own lock).
    let big = likely_newest - likely_mark.event > store::BULK_ROWS;
    let second = match (&ctx.database_url, ctx.config.database.citus) {
        (Some(url), false) if big && reader::can_start(ctx.conn)? => second_connection(url),
        _ => None,
    };
    if second.is_some() {
        watch.lap("analyze_staged");
    }
    let (mark, newest) = OrdersMark::freeze(ctx.conn)?;
    if second.is_none() && newest - mark.event > store::BULK_ROWS {
        store::refresh_after_bulk(ctx.conn, &["staged_events"])?;
        watch.lap("analyze_staged");
    }
    // A quiet day asks once whether anything is pending (on Citus the cursor answers, as
    // before); the offers and the posting target are read only when something is.
    let any = ctx.config.database.citus || events::any_pending(ctx.conn, date, mark)?;
    watch.lap("pending");
    if any {
        apply_pending(ctx, date, state, mark, second, &mut outcome, &mut watch)?;
    }
    let through = Some(Moment::new(date, Step::Orders)).filter(|&at| state.is_none_or(|s| s < at));
    mark.after_run(date, newest).store(ctx.conn, through)?;
    watch.lap("mark");
    // After a big day the planner's statistics are stale (autovacuum has not seen the rows):
    // refresh them so the reports and the next days' jobs find rows by index, not by scans.
    let written = outcome.counts.get("events_applied").copied().unwrap_or(0)
        + outcome.counts.get("events_rejected").copied().unwrap_or(0);
    if written > store::BULK_ROWS {
        store::refresh_after_bulk(
            ctx.conn,
            &[
                "applied_events",
                "subscriptions",
                "charge_lines",
                "rejected_rows",
            ],
        )?;
        watch.lap("analyze");
    }
    super::daily_reports::write(ctx, date, written > store::BULK_ROWS)?;
    watch.lap("reports");
    watch.log(JobName::ApplyOrders);
    Ok(outcome)
}

/// A second connection to `url` with the staged events' statistics refreshed, or None when it
/// cannot be had (the job then reads on its own, as a smaller day does).
fn second_connection(url: &str) -> Option<PgConnection> {
    events::pending_reader(url)
        .inspect_err(|e| {
            tracing::warn!(job = %JobName::ApplyOrders, error = %e,
                "the pending events are read on the job's own connection");
        })
        .ok()
}

/// Where the pending events come from: the job's own cursor, or a reader on a second
/// connection.
enum Pending {
    Here(Cursor<PendingEvent>),
    Ahead(Reader<Vec<PendingEvent>>),
}

impl Pending {
    /// The next batch of at most [`BATCH`] events; empty once all are read.
    fn next(&mut self, conn: &mut PgConnection) -> Result<Vec<PendingEvent>> {
        Ok(match self {
            Pending::Here(cursor) => cursor.next_by_position::<events::PendingRow>(conn, BATCH)?,
            Pending::Ahead(reader) => {
                let mut rows = Vec::with_capacity(BATCH);
                while rows.len() < BATCH {
                    match reader.next_batch(crate::interrupt::requested)? {
                        Some(chunk) => rows.extend(chunk),
                        None => break,
                    }
                }
                rows
            }
        })
    }
}

/// Applies the events pending on `date` (after `mark`), a batch at a time, read on `second`
/// when given.
fn apply_pending(
    ctx: &mut JobContext<'_>,
    date: NaiveDate,
    state: Option<Moment>,
    mark: OrdersMark,
    second: Option<PgConnection>,
    outcome: &mut JobOutcome,
    watch: &mut Stopwatch,
) -> Result<()> {
    let policy = ctx.config.policy();
    let offers = catalog::load_offers(ctx.conn)?;
    let posting = charges::PostingTarget::resolve(ctx.conn, date, ctx.config.billing.invoice_day)?;
    // Nothing the pending query reads has been written yet: a reader may start here.
    let mut pending = match second {
        Some(second) => Pending::Ahead(events::pending_ahead(ctx.conn, second, date, mark)?),
        None => Pending::Here(events::pending(ctx.conn, date, mark)?),
    };
    loop {
        let rows = pending.next(ctx.conn)?;
        watch.lap("fetch");
        if rows.is_empty() {
            break;
        }
        let (rows, customers) = events::split_customers(rows);
        let (events, too_old) = book::take_in_range(
            rows.into_iter().map(events::family_event).collect(),
            date,
            ctx.config.intake.max_late_days,
        );
        outcome.add(
            "events_rejected",
            events::record_rejected(ctx.conn, date, &rule_rejects(&too_old))? as i64,
        );
        // The protocol of `domain::needs`: what the rules read, fetched; the plan, made once;
        // the posted lines and histories it needs, fetched; the plan applied.
        let needs = Needs::of(&events, &offers);
        let mut book = Book::new(policy.clone(), offers.clone(), customers, state);
        let family_ids = families::needed(ctx.conn, &needs)?;
        let mut last = families::last_applied(ctx.conn, &family_ids)?;
        for family in families::load(ctx.conn, &family_ids)? {
            let last = last.remove(&family.id);
            book.insert_family(family, last);
        }
        let plan = book.plan(date, events);
        let fetched = Fetched {
            posted: charges::posted_for_families(ctx.conn, &family_ids)?,
            accepted: families::accepted_events(ctx.conn, plan.histories())?,
        };
        watch.lap("load");
        // The rules run inside the COPY of the lines they post: the server stores a step's
        // lines while the next step is computed (`store::line_stream`).
        let mut result = None;
        let posted = line_stream::post(ctx.conn, &posting, |sink| {
            let outcome = book.apply_posting(plan, fetched, |book, postings| {
                postings
                    .iter()
                    .try_for_each(|p| sink.push_posting(p, customer_of(book, p.line())))
            })?;
            result = Some(outcome);
            Ok(())
        })?;
        let result = result.expect("the COPY ran the rules");
        outcome.add("lines_posted", posted as i64);
        watch.lap("rules_and_lines");

        // Write back: new subscriptions, changed states, the accepted and the rejected.
        let Written { new, existing } = book.written(&result);
        families::insert_new(ctx.conn, &new)?;
        watch.lap("write_new_subscriptions");
        families::update_state(ctx.conn, &existing, ctx.config.database.citus)?;
        watch.lap("write_states");
        let applied: Vec<NewApplied<'_>> = result
            .accepted
            .iter()
            .map(|a| NewApplied {
                event_id: a.event.event_id,
                subscription_id: &a.subscription_id,
                family_id: &a.family_id,
                // A purchase bought its subscription for the customer it names.
                customer_id: match a.event.order.action {
                    Action::Purchase => &a.event.order.customer_id,
                    _ => subscriber(&book, &a.subscription_id),
                },
                applied_on: date,
                retention_days: a.event.retention_days.map(|r| r as i32),
            })
            .collect();
        outcome.add(
            "events_applied",
            events::record_applied(ctx.conn, &applied)? as i64,
        );
        watch.lap("write_applied");
        outcome.add(
            "events_rejected",
            events::record_rejected(ctx.conn, date, &rule_rejects(&result.rejected))? as i64,
        );
        outcome.add("subscriptions_created", new.len() as i64);
        watch.lap("write_rejects");
    }
    Ok(())
}

/// The customer of subscription `id`, which the book holds (a line or an accepted event
/// belongs to a subscription of its families).
fn subscriber<'b>(book: &'b Book, id: &str) -> &'b str {
    &book
        .subscription(id)
        .expect("a line belongs to a subscription in the book")
        .customer_id
}

fn customer_of<'b>(book: &'b Book, line: &ChargeLine) -> &'b str {
    subscriber(book, &line.subscription_id)
}

/// The rows the rules rejected, as the store records them.
fn rule_rejects(rejected: &[(FamilyEvent, Reject)]) -> Vec<RuleReject<'_>> {
    rejected
        .iter()
        .map(|(event, reject)| RuleReject {
            event,
            code: reject.code.as_str().to_string(),
            message: reject.message.clone(),
        })
        .collect()
}
