//! The three transition jobs (trial-conversions, renewals, suspension-expiry): carry the
//! subscription state to a (date, step) moment, applying the calendar's transitions to the
//! families due on each day on the way. Days the state clock skipped are caught up in order
//! (their lines are posted on the run's date); a moment already reached is not applied twice.

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, SmallInt};

use super::{JobContext, JobOutcome};
use crate::domain::calendar::month_end;
use crate::domain::lifecycle::{Moment, Step};
use crate::domain::posting::Posting;
use crate::error::{Error, Result};
use crate::store::{charges, clock, families};

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
    let due = due_families(ctx.conn, moment)?;
    for chunk in due.chunks(BATCH) {
        let mut loaded = families::load(ctx.conn, chunk)?;
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
        let customer_of = |sub: &str| {
            loaded
                .iter()
                .flat_map(|f| f.members.iter())
                .find(|m| m.id == sub)
                .map(|m| m.customer_id.clone())
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
    Ok(())
}

#[derive(QueryableByName)]
struct FamilyId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    family_id: String,
}

/// The families with a member whose transition of `moment.step` may fall on `moment.date`
/// (a superset is fine: the rules decide; this only narrows the search).
fn due_families(conn: &mut PgConnection, moment: Moment) -> QueryResult<Vec<String>> {
    let day = moment.date;
    let rows: Vec<FamilyId> = match moment.step {
        Step::TrialConversions => diesel::sql_query(
            "SELECT DISTINCT family_id FROM subscriptions \
             WHERE in_trial AND status = 'active' AND trial_end_date < $1 ORDER BY family_id",
        )
        .bind::<Date, _>(day)
        .load(conn)?,
        Step::Renewals => diesel::sql_query(include_str!("due_renewals.sql"))
            .bind::<Date, _>(day)
            .bind::<SmallInt, _>(day.day() as i16)
            .bind::<Bool, _>(month_end(day) == day)
            .bind::<SmallInt, _>(day.month() as i16)
            .load(conn)?,
        Step::SuspensionExpiry => diesel::sql_query(
            "SELECT DISTINCT family_id FROM subscriptions \
             WHERE status = 'suspended' AND data_expires_on <= $1 ORDER BY family_id",
        )
        .bind::<Date, _>(day)
        .load(conn)?,
        Step::Orders => Vec::new(),
    };
    Ok(rows.into_iter().map(|r| r.family_id).collect())
}
