//! The `apply-orders` job: the day's order events (and late ones) applied to the subscription
//! families they touch, in (event time, order_id, line) order. The rules live in
//! `domain::book`; this file loads what they read, in batches, and writes back what they made.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use super::{JobContext, JobName, JobOutcome, Stopwatch};
use crate::domain::book::{self, Book};
use crate::domain::clock::{Moment, Step};
use crate::domain::event::FamilyEvent;
use crate::domain::subscription::Subscription;
use crate::domain::vocabulary::Action;
use crate::error::{Error, Result};
use crate::store::events::{self, NewApplied, OrdersMark, RuleReject};
use crate::store::{self, catalog, charges, clock, families};

/// Events are applied this many at a time (bounded memory whatever the day's volume).
const BATCH: usize = 10_000;

/// Runs `apply-orders` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let mut outcome = JobOutcome::default();
    let mut watch = Stopwatch::start();
    let state = clock::read_for_update(ctx.conn)?;
    let ready = Moment::new(date, Step::SuspensionExpiry);
    if state.is_none_or(|at| at < ready) {
        return Err(Error::Usage(format!(
            "apply-orders for {date} needs trial-conversions, renewals and suspension-expiry of \
             {date} first: run `subsweep nightly --date {date}`"
        )));
    }
    let policy = ctx.config.policy();
    let offers = catalog::load_offers(ctx.conn)?;
    let posting = charges::PostingTarget::resolve(ctx.conn, date, ctx.config.billing.invoice_day)?;

    let (mark, newest) = OrdersMark::freeze(ctx.conn)?;
    // Many events staged since the last run: the planner's statistics predate them (autovacuum
    // may not have come by yet), and with stale ones it scans the whole history for pending
    // events instead of following the mark.
    if newest - mark.event > store::BULK_ROWS {
        store::refresh_after_bulk(ctx.conn, &["staged_events"])?;
        watch.lap("analyze_staged");
    }
    let mut pending = events::pending(ctx.conn, date, mark)?;
    loop {
        let rows = pending.next(ctx.conn, BATCH)?;
        watch.lap("fetch");
        if rows.is_empty() {
            break;
        }
        let max_late_days = ctx.config.intake.max_late_days;
        let (too_old, events): (Vec<FamilyEvent>, Vec<FamilyEvent>) = rows
            .into_iter()
            .map(events::family_event)
            .partition(|e| book::out_of_range(&e.order, date, max_late_days).is_some());
        let too_old: Vec<RuleReject> = too_old
            .iter()
            .filter_map(|event| {
                let reject = book::out_of_range(&event.order, date, max_late_days)?;
                Some(RuleReject {
                    event,
                    code: reject.code.as_str().to_string(),
                    message: reject.message,
                })
            })
            .collect();
        outcome.add(
            "events_rejected",
            events::record_rejected(ctx.conn, date, &too_old)? as i64,
        );
        let mut book = load_book(ctx, date, &events, &offers, &policy, state)?;
        watch.lap("load");
        let result = book.apply_events(date, events);
        watch.lap("rules");

        // Write back: new subscriptions, changed states, lines, the accepted and the rejected.
        let created: BTreeSet<String> = result
            .accepted
            .iter()
            .filter(|a| a.event.order.action == Action::Purchase)
            .map(|a| a.subscription_id.clone())
            .collect();
        let (new, existing): (Vec<&Subscription>, Vec<&Subscription>) = result
            .changed
            .iter()
            .filter_map(|id| book.family(id))
            .flat_map(|f| f.members.iter())
            .partition(|s| created.contains(&s.id));
        families::insert_new(ctx.conn, &new)?;
        watch.lap("write_new_subscriptions");
        families::update_state(ctx.conn, &existing)?;
        watch.lap("write_states");
        let customer_of = |sub: &str| {
            book.subscription(sub)
                .map(|s| s.customer_id.clone())
                .expect("a line belongs to a subscription in the book")
        };
        let lines = charges::rows_for(&result.postings, &posting, customer_of);
        outcome.add("lines_posted", charges::insert(ctx.conn, &lines)? as i64);
        watch.lap("write_lines");
        let applied: Vec<NewApplied> = result
            .accepted
            .iter()
            .map(|a| NewApplied {
                event_id: a.event.event_id,
                subscription_id: a.subscription_id.clone(),
                family_id: a.family_id.clone(),
                customer_id: customer_of(&a.subscription_id),
                applied_on: date,
                retention_days: a.event.retention_days.map(|r| r as i32),
            })
            .collect();
        outcome.add(
            "events_applied",
            events::record_applied(ctx.conn, &applied)? as i64,
        );
        watch.lap("write_applied");
        let rejects: Vec<RuleReject> = result
            .rejected
            .iter()
            .map(|(event, reject)| RuleReject {
                event,
                code: reject.code.as_str().to_string(),
                message: reject.message.clone(),
            })
            .collect();
        outcome.add(
            "events_rejected",
            events::record_rejected(ctx.conn, date, &rejects)? as i64,
        );
        outcome.add("subscriptions_created", new.len() as i64);
        watch.lap("write_rejects");
    }
    if state.is_none_or(|at| at < Moment::new(date, Step::Orders)) {
        clock::advance(ctx.conn, Moment::new(date, Step::Orders))?;
    }
    mark.after_run(date, newest).store(ctx.conn)?;
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
    super::daily_reports::write(ctx, date)?;
    watch.lap("reports");
    watch.log(JobName::ApplyOrders);
    Ok(outcome)
}

/// Loads everything the rules read for a batch of events: the families they act on, the
/// families the purchase and suspension rules look across (a customer's holdings and paid
/// starts), the customers, and — for families taking the full path — their history.
fn load_book(
    ctx: &mut JobContext<'_>,
    date: NaiveDate,
    events: &[FamilyEvent],
    offers: &[crate::domain::catalog::Offer],
    policy: &crate::domain::policy::Policy,
    state: Option<Moment>,
) -> Result<Book> {
    let conn = &mut *ctx.conn;
    let named: Vec<String> = events
        .iter()
        .flat_map(|e| {
            [
                e.order.subscription_id.clone(),
                e.order.base_subscription_id.clone(),
            ]
        })
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut family_ids: BTreeSet<String> =
        families::family_of(conn, &named)?.into_values().collect();

    let one_per_customer: BTreeSet<&str> = offers
        .iter()
        .filter(|o| o.one_per_customer)
        .map(|o| o.offer_id.as_str())
        .collect();
    let holdings: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.order.action == Action::Purchase)
        .filter_map(|e| {
            let offer = e.order.offer_id.as_deref()?;
            one_per_customer
                .contains(offer)
                .then(|| (e.order.customer_id.clone(), offer.to_string()))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !holdings.is_empty() {
        family_ids.extend(families::of_customer_offers(conn, &holdings)?);
    }
    let suspending: Vec<String> = events
        .iter()
        .filter(|e| e.order.action == Action::Suspend)
        .map(|e| e.order.customer_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !suspending.is_empty() {
        family_ids.extend(families::of_customers(conn, &suspending)?);
    }
    let family_ids: Vec<String> = family_ids.into_iter().collect();
    let loaded = families::load(conn, &family_ids)?;

    let mut customer_ids: BTreeSet<String> =
        events.iter().map(|e| e.order.customer_id.clone()).collect();
    customer_ids.extend(
        loaded
            .iter()
            .flat_map(|f| f.members.iter().map(|m| m.customer_id.clone())),
    );
    let customer_ids: Vec<String> = customer_ids.into_iter().collect();
    let customers = catalog::load_customers(conn, &customer_ids)?;

    let mut posted = charges::posted_for_families(conn, &family_ids)?;
    let last = families::last_applied(conn, &family_ids)?;
    let mut book = Book::new(policy.clone(), offers.to_vec(), customers, state);
    for family in loaded {
        let lines = posted.remove(&family.id).unwrap_or_default();
        let last = last.get(&family.id).copied();
        book.insert_family(family, &lines, last, None);
    }

    // Families with an event out of order take the full path: give them their history.
    let late: Vec<String> = book.late_families(date, events).into_iter().collect();
    if !late.is_empty() {
        let mut histories = families::histories(conn, &late)?;
        let reloaded = families::load(conn, &late)?;
        let reloaded: HashMap<String, _> =
            reloaded.into_iter().map(|f| (f.id.clone(), f)).collect();
        for id in &late {
            let history = histories.remove(id).unwrap_or_default();
            let posted = history.posted.clone();
            let last = last.get(id).copied();
            // A family not in the database yet (a late purchase) starts from nothing.
            if let Some(family) = reloaded.get(id) {
                book.insert_family(family.clone(), &posted, last, Some(history));
            }
        }
    }
    Ok(book)
}
