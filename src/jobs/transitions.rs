//! The three transition jobs (trial-conversions, renewals, suspension-expiry): carry the
//! subscription state to a (date, step) moment, applying the calendar's transitions to the
//! families due on each day on the way. Days the state clock skipped are caught up in order
//! (their lines are posted on the run's date); a moment already reached is not applied twice.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;

use super::{JobContext, JobOutcome};
use crate::domain::calendar::month_end;
use crate::domain::lifecycle::{Moment, Step};
use crate::domain::posting::Posting;
use crate::error::{Error, Result};
use crate::store::{self, charges, clock, families};

/// Families are loaded and written back this many at a time.
const BATCH: usize = 5_000;

/// Carries the state through `step` of `date`.
pub fn carry(ctx: &mut JobContext<'_>, date: NaiveDate, step: Step) -> Result<JobOutcome> {
    let target = Moment::new(date, step);
    let mut outcome = JobOutcome::default();
    let current = clock::read_for_update(ctx.conn)?;
    let mut moment = match current {
        Some(at) if at >= target => {
            outcome.add("already_done", 1);
            return Ok(outcome);
        }
        Some(at)
            if step != Step::TrialConversions && at < Moment::new(date, Step::TrialConversions) =>
        {
            return Err(Error::Usage(format!(
                "the state is at {} ({:?}); {} for {date} needs the earlier jobs of {date} first: \
                 run `subsweep nightly --date {date}`",
                at.date,
                at.step,
                job_name(step)
            )));
        }
        Some(at) => at.next(),
        None => target,
    };
    let target_posting =
        charges::PostingTarget::resolve(ctx.conn, date, ctx.config.billing.invoice_day)?;
    loop {
        if moment.step != Step::Orders {
            apply_step(ctx, moment, &target_posting, &mut outcome)?;
        } else if moment.date < date {
            // Orders of a skipped day wait: the next apply-orders takes them as late events.
            outcome.add("days_caught_up", 1);
        }
        if moment >= target {
            break;
        }
        moment = moment.next();
    }
    clock::advance(ctx.conn, target)?;
    let written = outcome.counts.get("lines_posted").copied().unwrap_or(0)
        + outcome
            .counts
            .get("subscriptions_changed")
            .copied()
            .unwrap_or(0);
    if written > store::BULK_ROWS {
        store::refresh_after_bulk(ctx.conn, &["charge_lines", "subscriptions"])?;
    }
    Ok(outcome)
}

fn job_name(step: Step) -> &'static str {
    match step {
        Step::TrialConversions => "trial-conversions",
        Step::Renewals => "renewals",
        Step::SuspensionExpiry => "suspension-expiry",
        Step::Orders => "apply-orders",
    }
}

/// Applies one step's transitions of one day to every family due.
fn apply_step(
    ctx: &mut JobContext<'_>,
    moment: Moment,
    posting: &charges::PostingTarget,
    outcome: &mut JobOutcome,
) -> Result<()> {
    let Some(due) = due_query(moment) else {
        return Ok(());
    };
    // A cursor, so memory stays flat however many families are due.
    diesel::sql_query(format!("DECLARE due_families NO SCROLL CURSOR FOR {due}"))
        .execute(ctx.conn)?;
    loop {
        let chunk: Vec<String> = diesel::sql_query(format!("FETCH {BATCH} FROM due_families"))
            .load::<FamilyId>(ctx.conn)?
            .into_iter()
            .map(|r| r.family_id)
            .collect();
        if chunk.is_empty() {
            break;
        }
        let mut loaded = families::load(ctx.conn, &chunk)?;
        let mut made = Vec::new();
        let mut changed = Vec::new();
        for family in &mut loaded {
            let before = family.members.clone();
            made.extend(
                family
                    .start_of_day(moment.date, moment.step)
                    .into_iter()
                    .map(Posting::New),
            );
            for (old, new) in before.iter().zip(&family.members) {
                if old.state != new.state {
                    changed.push(new.clone());
                }
            }
        }
        let customers: HashMap<&str, &str> = loaded
            .iter()
            .flat_map(|f| f.members.iter())
            .map(|m| (m.id.as_str(), m.customer_id.as_str()))
            .collect();
        let customer_of = |sub: &str| {
            customers
                .get(sub)
                .map(|c| c.to_string())
                .expect("a line belongs to a loaded subscription")
        };
        let rows = charges::rows_for(&made, posting, customer_of);
        outcome.add("families_due", chunk.len() as i64);
        outcome.add("lines_posted", charges::insert(ctx.conn, &rows)? as i64);
        let changed_refs: Vec<_> = changed.iter().collect();
        outcome.add(
            "subscriptions_changed",
            families::update_state(ctx.conn, &changed_refs)? as i64,
        );
    }
    diesel::sql_query("CLOSE due_families").execute(ctx.conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct FamilyId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    family_id: String,
}

/// The query for the families with a member whose transition of `moment.step` may fall on
/// `moment.date` (a superset is fine: the rules decide; this only narrows the search). Dates
/// and numbers render as plain literals: nothing from input reaches this SQL.
fn due_query(moment: Moment) -> Option<String> {
    let day = moment.date;
    match moment.step {
        Step::TrialConversions => Some(format!(
            "SELECT DISTINCT family_id FROM subscriptions \
             WHERE in_trial AND status = 'active' AND trial_end_date < DATE '{day}' \
             ORDER BY family_id"
        )),
        Step::Renewals => Some(
            include_str!("due_renewals.sql")
                .replace("$1", &format!("DATE '{day}'"))
                .replace("$2", &day.day().to_string())
                .replace(
                    "$3",
                    if month_end(day) == day {
                        "TRUE"
                    } else {
                        "FALSE"
                    },
                )
                .replace("$4", &day.month().to_string()),
        ),
        Step::SuspensionExpiry => Some(format!(
            "SELECT DISTINCT family_id FROM subscriptions \
             WHERE status = 'suspended' AND data_expires_on <= DATE '{day}' ORDER BY family_id"
        )),
        Step::Orders => None,
    }
}
