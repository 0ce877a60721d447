//! The three transition jobs (trial-conversions, renewals, suspension-expiry): carry the
//! subscription state to a (date, step) moment, applying the calendar's transitions to the
//! families due on each day on the way. Days the state clock skipped are caught up in order
//! (their lines are posted on the run's date); a moment already reached is not applied twice.

use chrono::NaiveDate;

use super::{JobContext, JobName, JobOutcome, Stopwatch};
use crate::domain::clock::{Moment, Step};
use crate::domain::subscription::{State, Subscription};
use crate::error::{Error, Result};
use crate::store::subscriptions::SubscriptionRow;
use crate::store::{self, charges, clock, families, line_stream};

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
                job_of(step)
            )));
        }
        Some(at) => at.next(),
        None => target,
    };
    let target_posting =
        charges::PostingTarget::resolve(ctx.conn, date, ctx.config.billing.invoice_day)?;
    let mut watch = Stopwatch::start();
    loop {
        if moment.step != Step::Orders {
            apply_step(ctx, moment, &target_posting, &mut outcome, &mut watch)?;
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
    // Lines appended in bulk: summarized for the BRIN searches (their statistics barely move:
    // a day posts a period's lines like the last). Subscriptions changed in bulk: re-analyzed.
    let count = |name| outcome.counts.get(name).copied().unwrap_or(0);
    if count("lines_posted") > store::BULK_ROWS {
        store::summarize_brin(ctx.conn, &["charge_lines"])?;
    }
    if count("subscriptions_changed") > store::BULK_ROWS {
        store::refresh_after_bulk(ctx.conn, &["subscriptions"])?;
    }
    watch.lap("analyze");
    watch.log(job_of(step));
    Ok(outcome)
}

fn job_of(step: Step) -> JobName {
    match step {
        Step::TrialConversions => JobName::TrialConversions,
        Step::Renewals => JobName::Renewals,
        Step::SuspensionExpiry => JobName::SuspensionExpiry,
        Step::Orders => JobName::ApplyOrders,
    }
}

/// Applies one step's transitions of one day to every family due.
fn apply_step(
    ctx: &mut JobContext<'_>,
    moment: Moment,
    posting: &charges::PostingTarget,
    outcome: &mut JobOutcome,
    watch: &mut Stopwatch,
) -> Result<()> {
    let Some(mut due) = families::due_members(ctx.conn, moment)? else {
        return Ok(());
    };
    // The rows of the last family fetched, which the next fetch may continue.
    let mut carried: Vec<SubscriptionRow> = Vec::new();
    let mut done = false;
    while !done {
        let fetched = due.next_by_position::<families::DueRow>(ctx.conn, BATCH)?;
        done = fetched.len() < BATCH;
        let mut rows = std::mem::take(&mut carried);
        rows.extend(fetched);
        if !done {
            carried = split_last_group(&mut rows, |r| r.family_id.as_str());
        }
        watch.lap("due");
        if rows.is_empty() {
            continue;
        }
        let mut loaded = families::assemble(rows);
        watch.lap("load");
        // The rules run inside the COPY of their lines: the server stores a family's lines
        // while the next family's are computed.
        let mut changed: Vec<Subscription> = Vec::new();
        let mut before: Vec<State> = Vec::new();
        let posted = line_stream::post(ctx.conn, posting, |sink| {
            for family in &mut loaded {
                before.clear();
                before.extend(family.members.iter().map(|m| m.state.clone()));
                for line in family.start_of_day(moment.date, moment.step) {
                    let customer = family
                        .member(&line.subscription_id)
                        .map(|m| m.customer_id.as_str())
                        .expect("a line belongs to a member of its family");
                    sink.push(&line, customer)?;
                }
                for (old, new) in before.iter().zip(&family.members) {
                    if *old != new.state {
                        changed.push(new.clone());
                    }
                }
            }
            Ok(())
        })?;
        watch.lap("rules_and_lines");
        outcome.add("families_due", loaded.len() as i64);
        outcome.add("lines_posted", posted as i64);
        let changed_refs: Vec<_> = changed.iter().collect();
        outcome.add(
            "subscriptions_changed",
            families::update_state(ctx.conn, &changed_refs)? as i64,
        );
        watch.lap("write_states");
    }
    Ok(())
}

/// Splits off the rows of `rows`' last group (rows grouped by `key`, each group contiguous):
/// the next fetch may continue that group.
pub(crate) fn split_last_group<T>(rows: &mut Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let Some(last) = rows.last().map(|r| key(r).to_string()) else {
        return Vec::new();
    };
    let cut = rows.partition_point(|r| key(r) != last);
    rows.split_off(cut)
}

#[cfg(test)]
mod tests {
    use super::split_last_group;

    #[test]
    fn the_last_family_of_a_fetch_waits_for_the_rest_of_its_members() {
        let mut rows = vec!["a", "b", "b", "c", "c"];
        let carried = split_last_group(&mut rows, |r| r);
        assert_eq!(rows, ["a", "b", "b"]);
        assert_eq!(carried, ["c", "c"]);

        let mut one_family = vec!["a", "a"];
        assert_eq!(split_last_group(&mut one_family, |r| r), ["a", "a"]);
        assert!(one_family.is_empty());

        let mut none: Vec<&str> = Vec::new();
        assert!(split_last_group(&mut none, |r| r).is_empty());
    }
}
