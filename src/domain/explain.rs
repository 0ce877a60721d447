//! Why a family's lines exist, in words (what `subsweep explain` shows): the family's accepted
//! history replayed through the same replay the jobs use, step by step, and each line's cause
//! (see [`super::cause`]) said as the rule that made it.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::cause::{Cause, OrderPart, SeatSide};
use super::charges::{ChargeLine, ChargeType, LineKey};
use super::clock::{Moment, Step};
use super::lifecycle::Family;
use super::order::OrderEvent;
use super::policy::Policy;
use super::reject::Reject;
use super::replay::{ReplayEvent, replay_observed};
use super::subscription::Subscription;
use super::vocabulary::{Action, BillingFrequency};

/// One step of a family's replayed history that did something: an event, or a start-of-day
/// step that changed a member or made a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryStep {
    pub moment: Moment,
    /// The event applied (its index in the events given), or `None` for a start-of-day step.
    pub event: Option<usize>,
    /// Why the event no longer applies when replayed (its history changed since).
    pub refused: Option<Reject>,
    /// The members this step changed (or bought), as they stand right after it.
    pub changed: Vec<Subscription>,
    pub lines: Vec<ChargeLine>,
}

/// A family's history replayed through `through`.
#[derive(Debug, Clone)]
pub struct History {
    pub steps: Vec<HistoryStep>,
    /// The family as the replay leaves it (what the stored state caches).
    pub family: Family,
}

impl History {
    /// Which step made each line the history makes (the first, for a key made twice).
    pub fn origins(&self) -> HashMap<LineKey, usize> {
        let mut out = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            for line in &step.lines {
                out.entry(line.key()).or_insert(i);
            }
        }
        out
    }
}

/// Replays `events` for family `family_id` through `through`, keeping every step that did
/// something (the replay the jobs use: [`super::replay::replay`]).
pub fn history(
    family_id: &str,
    events: &[ReplayEvent<'_>],
    through: Moment,
    policy: &Policy,
) -> History {
    let mut steps = Vec::new();
    let mut before: Vec<Subscription> = Vec::new();
    let replayed = replay_observed(family_id, events, through, policy, &mut |seen| {
        let changed: Vec<Subscription> = seen
            .family
            .members
            .iter()
            .filter(|m| !before.contains(m))
            .cloned()
            .collect();
        if seen.event.is_some() || !changed.is_empty() || !seen.lines.is_empty() {
            steps.push(HistoryStep {
                moment: seen.moment,
                event: seen.event,
                refused: seen.verdict.and_then(|v| v.as_ref().err().cloned()),
                changed,
                lines: seen.lines.to_vec(),
            });
        }
        before = seen.family.members.clone();
    });
    History {
        steps,
        family: replayed.family,
    }
}

/// An order row applied after its own date: what an offset posted on `applied_on` corrects for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateEvent {
    pub order_id: String,
    pub line: u32,
    pub action: Action,
    pub event_date: NaiveDate,
    pub applied_on: NaiveDate,
}

/// The events applied late on `date`: dated before the day that applied them.
pub fn late_on<'a>(
    events: impl IntoIterator<Item = (&'a OrderEvent, NaiveDate)>,
    date: NaiveDate,
) -> Vec<LateEvent> {
    events
        .into_iter()
        .filter(|(e, applied_on)| *applied_on == date && e.event_date() < *applied_on)
        .map(|(e, applied_on)| LateEvent {
            order_id: e.order_id.clone(),
            line: e.line,
            action: e.action,
            event_date: e.event_date(),
            applied_on,
        })
        .collect()
}

/// What the words of a line may draw on besides the line itself.
#[derive(Debug, Clone, Copy)]
pub struct LineContext<'a> {
    pub policy: &'a Policy,
    /// The subscription the line is for (its terms and calendar).
    pub subscription: Option<&'a Subscription>,
    /// The order row an order cause names.
    pub event: Option<&'a OrderEvent>,
    /// A seat change: the seats before and after.
    pub seats: Option<(Decimal, Decimal)>,
    /// An offset: the line it corrects.
    pub corrected: Option<&'a ChargeLine>,
    /// An offset: the events applied late on the day it was posted.
    pub late: &'a [LateEvent],
}

impl<'a> LineContext<'a> {
    /// A context with nothing but the policy.
    pub fn bare(policy: &'a Policy) -> LineContext<'a> {
        LineContext {
            policy,
            subscription: None,
            event: None,
            seats: None,
            corrected: None,
            late: &[],
        }
    }
}

/// A quantity as people write it (`2`, `12.5`).
fn plain(q: Decimal) -> String {
    q.normalize().to_string()
}

/// `b/p of the period`, or `the whole period` when the line covers all of it.
fn share(line: &ChargeLine) -> String {
    if line.billable_days == line.period_days {
        "the whole period".to_string()
    } else {
        format!("{}/{} of the period", line.billable_days, line.period_days)
    }
}

/// The cancellation window of a subscription billed at `frequency`, in the unit it is set in.
fn window(policy: &Policy, frequency: Option<BillingFrequency>) -> String {
    match frequency {
        Some(BillingFrequency::Annual) => {
            format!("{} days", policy.cancel_window_annual.num_days())
        }
        Some(BillingFrequency::Monthly) => {
            format!("{} hours", policy.cancel_window_monthly.num_hours())
        }
        None => "the cancellation window".to_string(),
    }
}

/// A short name for what a cause made (for the line a full credit takes back).
fn short(cause: &Cause) -> String {
    match cause {
        Cause::Purchase => "the purchase".into(),
        Cause::Conversion => "the trial's conversion".into(),
        Cause::Period => "a new billing period".into(),
        Cause::Renewal => "a renewal".into(),
        Cause::Usage => "metered usage".into(),
        Cause::Deletion => "the data's deletion".into(),
        Cause::Order {
            order_id,
            line,
            part,
        } => match part {
            OrderPart::Whole => format!("order {order_id} line {line}"),
            OrderPart::Seats(_) => format!("order {order_id} line {line}'s seat change"),
            OrderPart::Refund { .. } => format!("order {order_id} line {line}'s credit"),
        },
        Cause::Offset { posted_on, line_id } => {
            format!("the correction of line {line_id} posted on {posted_on}")
        }
    }
}

/// Days from the start of the term to the order row's date, if both are known.
fn days_into_term(ctx: &LineContext<'_>) -> Option<i64> {
    let date = ctx.event?.event_date();
    ctx.subscription?.days_into_term(date)
}

/// The rule that made `line` (whose cause is `cause`), in words.
pub fn words(line: &ChargeLine, cause: &Cause, ctx: &LineContext<'_>) -> String {
    let sub = ctx.subscription;
    let from = line.range.start;
    match cause {
        Cause::Purchase => match sub {
            Some(s) if s.is_addon() => format!(
                "add-on bought on {from}: charged to the end of the base's period, {}",
                share(line)
            ),
            _ if line.billable_days == line.period_days => {
                format!("bought on {from}: the first period in full")
            }
            _ => format!("bought on {from}: first period prorated {}", share(line)),
        },
        Cause::Conversion => {
            if line.billable_days == line.period_days {
                format!("trial converted on {from}: the first paid period")
            } else {
                format!(
                    "trial converted on {from}: the first paid period, {}",
                    share(line)
                )
            }
        }
        Cause::Period => format!("new billing period {}", line.range),
        Cause::Renewal => match sub {
            Some(s) => format!(
                "renewed for a new {}-month term: its first period {}",
                s.terms.term_months, line.range
            ),
            None => format!("renewed for a new term: its first period {}", line.range),
        },
        Cause::Usage => {
            let what = match line.charge_type {
                ChargeType::UsageCancel => {
                    format!("metered usage up to the end on {}", line.range.end)
                }
                _ => format!("metered usage of the period {}", line.range),
            };
            format!(
                "{what}: {} units × {}",
                plain(line.quantity),
                line.unit_price
            )
        }
        Cause::Deletion => "suspended data expired: subscription deleted".into(),
        Cause::Order {
            order_id,
            line: row,
            part,
        } => match part {
            OrderPart::Whole => {
                let action = ctx.event.map(|e| e.action);
                let suspended = action == Some(Action::Suspend)
                    || (action.is_none() && line.charge_type == ChargeType::CancelFee);
                let (verb, effect) = if suspended {
                    ("suspended", "credit")
                } else {
                    ("reactivated", "charge")
                };
                match days_into_term(ctx) {
                    Some(n) if n < 30 => format!(
                        "{verb} {n} days into the term (less than 30): {effect} the whole \
                         period{}",
                        if suspended {
                            "'s net amount charged"
                        } else {
                            " at the current seats"
                        }
                    ),
                    Some(n) => format!("{verb} {n} days into the term: {effect} {}", share(line)),
                    None => format!(
                        "{verb} by order {order_id} line {row}: {effect} {}",
                        share(line)
                    ),
                }
            }
            OrderPart::Seats(side) => {
                let (old, new) = ctx.seats.unwrap_or(match side {
                    SeatSide::Old => (line.quantity, Decimal::ZERO),
                    SeatSide::New => (Decimal::ZERO, line.quantity),
                });
                let which = match side {
                    SeatSide::Old => "the old seats credited",
                    SeatSide::New => "the new seats charged",
                };
                if ctx.seats.is_some() {
                    format!(
                        "seats {}→{}: prorated {}/{} ({which})",
                        plain(old),
                        plain(new),
                        line.billable_days,
                        line.period_days
                    )
                } else {
                    format!(
                        "seat change: prorated {}/{} ({which})",
                        line.billable_days, line.period_days
                    )
                }
            }
            OrderPart::Refund {
                charge_type,
                refunded,
            } => format!(
                "cancel within {}: full credit of the {charge_type} line of {}",
                window(ctx.policy, sub.map(|s| s.terms.frequency)),
                short(refunded)
            ),
        },
        Cause::Offset { posted_on, line_id } => {
            let what = match ctx.corrected {
                Some(c) => format!("corrects line {line_id} ({} {})", c.charge_type, c.range),
                None => format!("corrects line {line_id}"),
            };
            let why: Vec<String> = ctx
                .late
                .iter()
                .map(|e| {
                    format!(
                        "late {} dated {} (order {} line {}) applied on {}",
                        e.action, e.event_date, e.order_id, e.line, e.applied_on
                    )
                })
                .collect();
            if why.is_empty() {
                format!(
                    "{what}: the family's history changed when orders were applied on {posted_on}"
                )
            } else {
                format!("{what}: {}", why.join("; "))
            }
        }
    }
}

/// The job of a start-of-day step, as `run` names it.
pub fn step_name(step: Step) -> &'static str {
    match step {
        Step::TrialConversions => "trial-conversions",
        Step::Renewals => "renewals",
        Step::SuspensionExpiry => "suspension-expiry",
        Step::Orders => "apply-orders",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::DateRange;
    use crate::domain::catalog::Partner;
    use crate::domain::charges::Sign;
    use crate::domain::policy::Permissions;
    use crate::domain::subscription::{State, Terms};
    use crate::domain::vocabulary::{BillingType, PartnerType, Status};
    use chrono::{DateTime, Utc};
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn policy() -> Policy {
        Policy {
            partner: Partner {
                id: "P".into(),
                partner_type: PartnerType::DirectBill,
            },
            permissions: Permissions::default(),
            cancel_window_monthly: chrono::Duration::hours(24),
            cancel_window_annual: chrono::Duration::days(14),
        }
    }

    /// A 12-month monthly license at 30.00 paid from 2018-06-01.
    fn sub(frequency: BillingFrequency) -> Subscription {
        Subscription {
            id: "S-1".into(),
            family_id: "S-1".into(),
            parent: None,
            customer_id: "C".into(),
            offer_id: "O".into(),
            order_id: "S".into(),
            order_line: 1,
            purchased_at: "2018-06-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            terms: Terms {
                billing_type: BillingType::License,
                frequency,
                term_months: 12,
                unit_price: dec!(30),
                currency: "USD".into(),
                trial_days: 0,
            },
            state: State {
                status: Status::Active,
                in_trial: false,
                quantity: Some(dec!(1)),
                auto_renew: true,
                cancel_at_term_end: false,
                cancel_with_base: false,
                trial_end: None,
                paid_start: Some(d("2018-06-01")),
                anchor: Some(d("2018-06-01")),
                suspended_on: None,
                suspended_with_base: false,
                data_expires_on: None,
                ended_on: None,
                usage_units: dec!(0),
            },
        }
    }

    fn event(action: Action, time: &str) -> OrderEvent {
        OrderEvent {
            order_id: "R".into(),
            line: 2,
            event_time: time.parse().unwrap(),
            action,
            customer_id: "C".into(),
            requested_by: "admin_agent".into(),
            partner_id: "P".into(),
            offer_id: None,
            quantity: None,
            subscription_id: Some("S-1".into()),
            base_subscription_id: None,
            auto_renew: None,
            reason: None,
        }
    }

    fn line(charge_type: ChargeType, start: &str, end: &str, period_days: u32) -> ChargeLine {
        ChargeLine::prorated(
            "S-1",
            charge_type,
            DateRange::new(d(start), d(end)),
            period_days,
            dec!(30),
            dec!(1),
            Sign::Charge,
            "x",
        )
        .unwrap()
    }

    fn say(line: &ChargeLine, cause: &str, ctx: LineContext<'_>) -> String {
        words(line, &Cause::parse(cause).unwrap(), &ctx)
    }

    #[test]
    fn a_purchase_says_whether_its_first_period_is_whole() {
        let p = policy();
        let whole = line(ChargeType::PurchaseProrate, "2018-06-01", "2018-06-30", 30);
        assert_eq!(
            say(&whole, "purchase", LineContext::bare(&p)),
            "bought on 2018-06-01: the first period in full"
        );
        let mut addon = sub(BillingFrequency::Monthly);
        addon.parent = Some("B-1".into());
        let part = line(ChargeType::PurchaseProrate, "2018-06-10", "2018-06-30", 30);
        let ctx = LineContext {
            subscription: Some(&addon),
            ..LineContext::bare(&p)
        };
        assert_eq!(
            say(&part, "purchase", ctx),
            "add-on bought on 2018-06-10: charged to the end of the base's period, 21/30 of the period"
        );
    }

    #[test]
    fn a_conversion_a_period_and_a_renewal_say_so() {
        let p = policy();
        let s = sub(BillingFrequency::Monthly);
        let ctx = LineContext {
            subscription: Some(&s),
            ..LineContext::bare(&p)
        };
        let l = line(ChargeType::PurchaseProrate, "2018-07-01", "2018-07-31", 31);
        assert_eq!(
            say(&l, "conversion", ctx),
            "trial converted on 2018-07-01: the first paid period"
        );
        let l = line(ChargeType::CycleFee, "2018-07-01", "2018-07-31", 31);
        assert_eq!(
            say(&l, "period", ctx),
            "new billing period 2018-07-01..2018-07-31"
        );
        let l = line(ChargeType::RenewFee, "2019-06-01", "2019-06-30", 30);
        assert_eq!(
            say(&l, "renewal", ctx),
            "renewed for a new 12-month term: its first period 2019-06-01..2019-06-30"
        );
    }

    #[test]
    fn usage_says_units_and_price() {
        let p = policy();
        let mut l = line(ChargeType::UsageCycle, "2018-03-01", "2018-03-31", 31);
        l.quantity = dec!(10.50);
        l.unit_price = dec!(0.5);
        assert_eq!(
            say(&l, "usage", LineContext::bare(&p)),
            "metered usage of the period 2018-03-01..2018-03-31: 10.5 units × 0.5"
        );
        l.charge_type = ChargeType::UsageCancel;
        assert_eq!(
            say(&l, "usage", LineContext::bare(&p)),
            "metered usage up to the end on 2018-03-31: 10.5 units × 0.5"
        );
        assert_eq!(
            say(&l, "deletion", LineContext::bare(&p)),
            "suspended data expired: subscription deleted"
        );
    }

    #[test]
    fn a_suspension_34_days_into_the_term_credits_27_of_31() {
        let p = policy();
        let s = sub(BillingFrequency::Monthly);
        let e = event(Action::Suspend, "2018-07-05T09:00:00Z");
        let ctx = LineContext {
            subscription: Some(&s),
            event: Some(&e),
            ..LineContext::bare(&p)
        };
        let l = line(ChargeType::CancelFee, "2018-07-05", "2018-07-31", 31);
        assert_eq!(
            say(&l, "order:R:2", ctx),
            "suspended 34 days into the term: credit 27/31 of the period"
        );
        let e = event(Action::Reactivate, "2018-07-15T09:00:00Z");
        let l = line(ChargeType::ActivationFee, "2018-07-15", "2018-07-31", 31);
        let ctx = LineContext {
            event: Some(&e),
            ..ctx
        };
        assert_eq!(
            say(&l, "order:R:2", ctx),
            "reactivated 44 days into the term: charge 17/31 of the period"
        );
    }

    #[test]
    fn a_suspension_within_30_days_credits_the_whole_period() {
        let p = policy();
        let s = sub(BillingFrequency::Monthly);
        let e = event(Action::Suspend, "2018-06-05T09:00:00Z");
        let ctx = LineContext {
            subscription: Some(&s),
            event: Some(&e),
            ..LineContext::bare(&p)
        };
        let l = line(ChargeType::CancelFee, "2018-06-01", "2018-06-30", 30);
        assert_eq!(
            say(&l, "order:R:2", ctx),
            "suspended 4 days into the term (less than 30): credit the whole period's net \
             amount charged"
        );
        let e = event(Action::Reactivate, "2018-06-10T09:00:00Z");
        let ctx = LineContext {
            event: Some(&e),
            ..ctx
        };
        assert_eq!(
            say(&l, "order:R:2", ctx),
            "reactivated 9 days into the term (less than 30): charge the whole period at the \
             current seats"
        );
        // Without the row, the line still says what it did.
        assert_eq!(
            say(&l, "order:R:2", LineContext::bare(&p)),
            "suspended by order R line 2: credit the whole period"
        );
    }

    #[test]
    fn a_seat_change_says_old_and_new_seats() {
        let p = policy();
        let l = line(
            ChargeType::CycleInstanceProrate,
            "2018-02-01",
            "2018-02-12",
            31,
        );
        let ctx = LineContext {
            seats: Some((dec!(1), dec!(2))),
            ..LineContext::bare(&p)
        };
        assert_eq!(
            say(&l, "order:R:2:new", ctx),
            "seats 1→2: prorated 12/31 (the new seats charged)"
        );
        assert_eq!(
            say(&l, "order:R:2:old", ctx),
            "seats 1→2: prorated 12/31 (the old seats credited)"
        );
        assert_eq!(
            say(&l, "order:R:2:old", LineContext::bare(&p)),
            "seat change: prorated 12/31 (the old seats credited)"
        );
    }

    #[test]
    fn a_cancel_within_the_window_says_the_window_of_its_frequency() {
        let p = policy();
        let l = line(ChargeType::CancelFee, "2018-06-01", "2018-06-30", 30);
        let monthly = sub(BillingFrequency::Monthly);
        let ctx = LineContext {
            subscription: Some(&monthly),
            ..LineContext::bare(&p)
        };
        assert_eq!(
            say(&l, "order:R:2/Prorate fees when purchase/purchase", ctx),
            "cancel within 24 hours: full credit of the Prorate fees when purchase line of the \
             purchase"
        );
        let annual = sub(BillingFrequency::Annual);
        let ctx = LineContext {
            subscription: Some(&annual),
            ..LineContext::bare(&p)
        };
        assert_eq!(
            say(&l, "order:R:2/Cycle instance prorate/order:Q:1:new", ctx),
            "cancel within 14 days: full credit of the Cycle instance prorate line of order Q \
             line 1's seat change"
        );
    }

    #[test]
    fn an_offset_names_the_line_it_corrects_and_the_late_event() {
        let p = policy();
        let corrected = line(ChargeType::CycleFee, "2018-08-01", "2018-08-31", 31);
        let mut l = corrected.clone();
        l.charge_type = ChargeType::Offset;
        let late = [LateEvent {
            order_id: "R".into(),
            line: 2,
            action: Action::Suspend,
            event_date: d("2018-07-05"),
            applied_on: d("2018-08-03"),
        }];
        let ctx = LineContext {
            corrected: Some(&corrected),
            late: &late,
            ..LineContext::bare(&p)
        };
        assert_eq!(
            say(&l, "offset:2018-08-03:12", ctx),
            "corrects line 12 (Cycle fee 2018-08-01..2018-08-31): late suspend dated 2018-07-05 \
             (order R line 2) applied on 2018-08-03"
        );
        assert_eq!(
            say(&l, "offset:2018-08-03:12", LineContext::bare(&p)),
            "corrects line 12: the family's history changed when orders were applied on 2018-08-03"
        );
    }

    #[test]
    fn late_events_are_those_applied_after_their_own_date() {
        let on_time = event(Action::Suspend, "2018-08-03T09:00:00Z");
        let late = event(Action::Reactivate, "2018-07-05T09:00:00Z");
        let other_day = event(Action::Cancel, "2018-07-01T09:00:00Z");
        let found = late_on(
            [
                (&on_time, d("2018-08-03")),
                (&late, d("2018-08-03")),
                (&other_day, d("2018-08-04")),
            ],
            d("2018-08-03"),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Reactivate);
        assert_eq!(found[0].event_date, d("2018-07-05"));
    }

    /// Every cause goes through `cause.rs`: the producers spell none themselves, so every kind
    /// the core can write is a `Cause` variant, and `words` matches them all (the compiler
    /// checks it).
    #[test]
    fn the_producers_of_lines_spell_no_cause_of_their_own() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
        for file in [
            "lifecycle.rs",
            "lines.rs",
            "event.rs",
            "posting.rs",
            "book.rs",
            "replay.rs",
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for spelling in [
                "\"purchase\"",
                "\"conversion\"",
                "\"period\"",
                "\"renewal\"",
                "\"usage\"",
                "\"deletion\"",
                "\"order:",
                "\"offset:",
                ":old\"",
                ":new\"",
                "{cause}",
            ] {
                assert!(
                    !code.contains(spelling),
                    "{file} spells a cause ({spelling}) itself: build it with domain::cause"
                );
            }
        }
    }
}
