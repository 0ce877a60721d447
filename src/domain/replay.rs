//! Charges as a function of history: a family's accepted events are replayed from its first
//! purchase through a moment, with the calendar's transitions in between, giving the state it
//! is in and every line it should have been charged. Late events are admitted by replaying
//! with them in place, so they are billed as if applied on their own date.

use chrono::NaiveDate;

use super::charges::ChargeLine;
use super::clock::{Moment, Step};
use super::event::{Checks, FamilyEvent};
use super::lifecycle::Family;
use super::policy::Policy;
use super::reject::{Reject, RejectCode};

/// An event to replay and how much of the rules it goes through.
#[derive(Debug, Clone, Copy)]
pub struct ReplayEvent<'a> {
    pub event: &'a FamilyEvent,
    pub checks: Checks<'a>,
}

/// The outcome of a replay.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub family: Family,
    /// Every line the history makes, in the order it makes them.
    pub lines: Vec<ChargeLine>,
    /// Per event (same order as given): applied (with the retention days a suspension
    /// resolved), or why not.
    pub verdicts: Vec<Result<Option<u32>, Reject>>,
}

/// One step of a replay, as it happens: a start-of-day step or an event (its index in the
/// events given), the family right after it, and the lines it made.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub moment: Moment,
    /// The event applied, or `None` for a start-of-day step.
    pub event: Option<usize>,
    pub family: &'a Family,
    pub lines: &'a [ChargeLine],
    /// For an event: applied, or why not.
    pub verdict: Option<&'a Result<Option<u32>, Reject>>,
}

/// Replays `events` (any order; those after `through` are left out) for family `family_id`.
pub fn replay(
    family_id: &str,
    events: &[ReplayEvent<'_>],
    through: Moment,
    policy: &Policy,
) -> Replayed {
    replay_observed(family_id, events, through, policy, &mut |_| {})
}

/// [`replay`], telling `observe` about every step as it is taken (what `explain` shows).
pub fn replay_observed(
    family_id: &str,
    events: &[ReplayEvent<'_>],
    through: Moment,
    policy: &Policy,
    observe: &mut dyn FnMut(Observed<'_>),
) -> Replayed {
    let mut order: Vec<usize> = (0..events.len())
        .filter(|&i| {
            let date = events[i].event.order.event_date();
            Moment::new(date, Step::Orders) <= through
        })
        .collect();
    order.sort_by(|&a, &b| events[a].event.sort_key().cmp(&events[b].event.sort_key()));
    let mut verdicts: Vec<Result<Option<u32>, Reject>> = events
        .iter()
        .map(|_| {
            Err(Reject::new(
                RejectCode::InvalidTransition,
                "dated after the replayed moment",
            ))
        })
        .collect();
    let mut family = Family::empty(family_id);
    let mut lines = Vec::new();
    let Some(&first) = order.first() else {
        return Replayed {
            family,
            lines,
            verdicts,
        };
    };

    let mut date = events[first].event.order.event_date();
    let mut next_event = 0;
    loop {
        for step in [
            Step::TrialConversions,
            Step::Renewals,
            Step::SuspensionExpiry,
        ] {
            if Moment::new(date, step) <= through {
                let made = family.start_of_day(date, step);
                observe(Observed {
                    moment: Moment::new(date, step),
                    event: None,
                    family: &family,
                    lines: &made,
                    verdict: None,
                });
                lines.extend(made);
            }
        }
        while next_event < order.len() && events[order[next_event]].event.order.event_date() == date
        {
            let i = order[next_event];
            let made = match family.apply(events[i].event, events[i].checks, policy) {
                Ok(applied) => {
                    verdicts[i] = Ok(applied.retention_days);
                    applied.lines
                }
                Err(reject) => {
                    verdicts[i] = Err(reject);
                    Vec::new()
                }
            };
            observe(Observed {
                moment: Moment::new(date, Step::Orders),
                event: Some(i),
                family: &family,
                lines: &made,
                verdict: Some(&verdicts[i]),
            });
            lines.extend(made);
            next_event += 1;
        }
        let upcoming_event = order
            .get(next_event)
            .map(|&i| events[i].event.order.event_date());
        let upcoming_transition = family.next_transition_after(date);
        let next = match (upcoming_event, upcoming_transition) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(d) => d,
                None => break,
            },
        };
        if next > through.date {
            break;
        }
        date = next;
    }
    Replayed {
        family,
        lines,
        verdicts,
    }
}

/// The outcome of admitting new events into a family's history.
#[derive(Debug, Clone)]
pub struct Admission {
    pub family: Family,
    /// Every line the admitted history makes.
    pub lines: Vec<ChargeLine>,
    /// Per new event: admitted (with the retention days a suspension resolved), or rejected
    /// and why.
    pub verdicts: Vec<Result<Option<u32>, Reject>>,
}

/// Admits `new` events (in (time, order, line) order) into a history of `accepted` ones, one
/// at a time. A new event is rejected when it fails at its own moment, or when placing it there
/// would make an event accepted earlier impossible (it is then `invalid_transition`).
pub fn admit(
    family_id: &str,
    accepted: &[ReplayEvent<'_>],
    new: &[ReplayEvent<'_>],
    through: Moment,
    policy: &Policy,
) -> Admission {
    let baseline = replay(family_id, accepted, through, policy);
    let mut admitted: Vec<ReplayEvent<'_>> = accepted.to_vec();
    let mut failing_before: Vec<bool> = baseline.verdicts.iter().map(Result::is_err).collect();

    let mut order: Vec<usize> = (0..new.len()).collect();
    order.sort_by(|&a, &b| new[a].event.sort_key().cmp(&new[b].event.sort_key()));
    let mut verdicts: Vec<Result<Option<u32>, Reject>> = vec![Ok(None); new.len()];
    for i in order {
        let mut trial = admitted.clone();
        trial.push(new[i]);
        let outcome = replay(family_id, &trial, through, policy);
        let own = outcome
            .verdicts
            .last()
            .cloned()
            .expect("the trial has the new event");
        let broken = outcome.verdicts[..admitted.len()]
            .iter()
            .zip(&failing_before)
            .position(|(verdict, failed_before)| verdict.is_err() && !failed_before);
        verdicts[i] = match (own, broken) {
            (Err(reject), _) => Err(reject),
            (Ok(_), Some(b)) => {
                let other = &admitted[b].event.order;
                Err(Reject::new(
                    RejectCode::InvalidTransition,
                    format!(
                        "arrives late and conflicts with order {} line {} ({} at {}) applied earlier",
                        other.order_id,
                        other.line,
                        other.action,
                        other.event_time.to_rfc3339()
                    ),
                ))
            }
            (Ok(retention), None) => {
                admitted.push(new[i]);
                failing_before.push(false);
                Ok(retention)
            }
        };
    }
    let last = replay(family_id, &admitted, through, policy);
    Admission {
        family: last.family,
        lines: last.lines,
        verdicts,
    }
}

/// The first date a family's replay must start from: its first event.
pub fn first_date(events: &[ReplayEvent<'_>]) -> Option<NaiveDate> {
    events.iter().map(|e| e.event.order.event_date()).min()
}
