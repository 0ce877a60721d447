//! The three transition jobs (trial-conversions, renewals, suspension-expiry): carry the
//! subscription state to a (date, step) moment, applying the calendar's transitions to the
//! families due on each day on the way. Days the state clock skipped are caught up in order
//! (their lines are posted on the run's date); a moment already reached is not applied twice.

use chrono::NaiveDate;

use super::{JobContext, JobName, JobOutcome, Stopwatch};
use crate::domain::clock::{Moment, Step};
use crate::domain::lifecycle::Family;
use crate::domain::subscription::{State, Subscription};
use crate::error::{Error, Result};
use crate::store::{self, charges, clock, due_reader, families, line_stream, reader};

pub(crate) use crate::store::families::split_last_group;

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
    // Where the lines go: read when the first family is due (a quiet day reads no more).
    let mut target_posting = None;
    // The due families may be read on a second connection when one step is applied: then
    // nothing the job writes is read by it (see store::due_reader); not on Citus.
    let steps = steps_between(moment, target);
    let second = match (&ctx.database_url, ctx.config.database.citus) {
        (Some(url), false) if steps == 1 && store::reader::can_start(ctx.conn)? => {
            Some(url.clone())
        }
        _ => None,
    };
    let mut watch = Stopwatch::start();
    loop {
        if moment.step != Step::Orders {
            let second = second.as_deref();
            apply_step(
                ctx,
                date,
                moment,
                &mut target_posting,
                second,
                &mut outcome,
                &mut watch,
            )?;
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
    // Lines appended in bulk: summarized for the BRIN searches (the invoice run, their one
    // reader by period, refreshes their statistics itself). Subscriptions changed in bulk:
    // re-analyzed.
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

/// How many moments from `first` through `last` apply transitions (all but orders steps).
fn steps_between(first: Moment, last: Moment) -> usize {
    let mut moment = first;
    let mut steps = 0;
    loop {
        if moment.step != Step::Orders {
            steps += 1;
        }
        if moment >= last {
            return steps;
        }
        moment = moment.next();
    }
}

fn job_of(step: Step) -> JobName {
    match step {
        Step::TrialConversions => JobName::TrialConversions,
        Step::Renewals => JobName::Renewals,
        Step::SuspensionExpiry => JobName::SuspensionExpiry,
        Step::Orders => JobName::ApplyOrders,
    }
}

/// Applies one step's transitions of one day to every family due. The first fetch is read on
/// the job's connection; when more are due and `second` names the database, the rest on a
/// second connection to it while this one writes (a day with little due opens none).
fn apply_step(
    ctx: &mut JobContext<'_>,
    date: NaiveDate,
    moment: Moment,
    posting: &mut Option<charges::PostingTarget>,
    second: Option<&str>,
    outcome: &mut JobOutcome,
    watch: &mut Stopwatch,
) -> Result<()> {
    // A step with nothing due is one question (on Citus the cursor answers, as before).
    if !ctx.config.database.citus && !families::any_due(ctx.conn, moment)? {
        return Ok(());
    }
    let Some(cursor) = families::due_members(ctx.conn, moment)? else {
        return Ok(());
    };
    let mut due = families::DueBatches::new(cursor);
    let Some(first) = due.next(ctx.conn, BATCH)? else {
        return Ok(());
    };
    let mut reader = None;
    if let Some(url) = second.filter(|_| !due.is_done()) {
        // Opened before the job's cursor is given up: a server with no connection to spare
        // (max_connections, a pooler's limit) makes the job read on its own, as it did before.
        match reader::connect(url) {
            Ok(second) => {
                if let Some(from) = due.stop(ctx.conn)? {
                    reader = Some(due_reader::start(ctx.conn, second, moment, from, BATCH)?);
                }
            }
            Err(e) => tracing::warn!(
                job = %job_of(moment.step),
                error = %e,
                "the due families are read on the job's own connection"
            ),
        }
    }
    watch.lap("due");
    if posting.is_none() {
        *posting = Some(charges::PostingTarget::resolve(
            ctx.conn,
            date,
            ctx.config.billing.invoice_day,
        )?);
    }
    let posting = posting.as_ref().expect("resolved above");
    let mut rows = Some(first);
    loop {
        let loaded = if let Some(rows) = rows.take() {
            let loaded = families::assemble(rows);
            watch.lap("load");
            loaded
        } else if let Some(reader) = reader.as_mut() {
            let next = reader.next_batch(crate::interrupt::requested)?;
            watch.lap("due");
            match next {
                Some(loaded) => loaded,
                None => break,
            }
        } else {
            let next = due.next(ctx.conn, BATCH)?;
            watch.lap("due");
            match next {
                Some(rows) => {
                    let loaded = families::assemble(rows);
                    watch.lap("load");
                    loaded
                }
                None => break,
            }
        };
        if !loaded.is_empty() {
            apply_to(ctx, moment, posting, loaded, outcome, watch)?;
        }
    }
    Ok(())
}

/// The step's transitions of a batch of families: their lines posted, their states written.
fn apply_to(
    ctx: &mut JobContext<'_>,
    moment: Moment,
    posting: &charges::PostingTarget,
    mut loaded: Vec<Family>,
    outcome: &mut JobOutcome,
    watch: &mut Stopwatch,
) -> Result<()> {
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
        families::update_state(ctx.conn, &changed_refs, ctx.config.database.citus)? as i64,
    );
    watch.lap("write_states");
    Ok(())
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
