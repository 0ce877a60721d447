//! Invariants of the pure core over random histories (proptest).

mod core;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use core::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use subsweep::domain::catalog::Offer;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::order::OrderEvent;
use subsweep::domain::vocabulary::{Action, BillingFrequency, Status};

/// One random step of a history: days after the previous one, and what happens.
#[derive(Debug, Clone)]
enum Move {
    Seats(u8),
    Suspend,
    Reactivate,
    Cancel,
    AutoRenew(bool),
    Usage(u16),
    AddonSeats(u8),
    SuspendAddon,
    ReactivateAddon,
}

fn moves() -> impl Strategy<Value = Vec<(u8, u8, Move)>> {
    let one = prop_oneof![
        4 => (1u8..6).prop_map(Move::Seats),
        3 => Just(Move::Suspend),
        3 => Just(Move::Reactivate),
        1 => Just(Move::Cancel),
        2 => any::<bool>().prop_map(Move::AutoRenew),
        2 => (1u16..500).prop_map(Move::Usage),
        2 => (1u8..4).prop_map(Move::AddonSeats),
        1 => Just(Move::SuspendAddon),
        1 => Just(Move::ReactivateAddon),
    ];
    prop::collection::vec((0u8..40, 0u8..24, one), 1..14)
}

#[derive(Debug, Clone)]
struct Scenario {
    base: Offer,
    start: NaiveDate,
    with_addon: bool,
    moves: Vec<(u8, u8, Move)>,
}

fn scenarios() -> impl Strategy<Value = Scenario> {
    (
        prop::sample::select(vec![
            (BillingFrequency::Monthly, 1u32),
            (BillingFrequency::Monthly, 12),
            (BillingFrequency::Annual, 12),
        ]),
        prop::sample::select(vec![0u32, 0, 30]),
        prop::sample::select(vec!["9.99", "30.00", "12.34"]),
        any::<bool>(),
        0i64..1500,
        any::<bool>(),
        moves(),
    )
        .prop_map(
            |((frequency, term), trial, price, metered, start, with_addon, moves)| {
                let mut base = Offer {
                    trial_days: trial,
                    ..offer("BASE", frequency, term, price)
                };
                if metered {
                    base = Offer {
                        trial_days: 0,
                        ..usage_offer("BASE", "0.07")
                    };
                }
                Scenario {
                    base,
                    start: d("2024-01-01") + Duration::days(start),
                    with_addon: with_addon && !metered,
                    moves,
                }
            },
        )
}

/// The orders of a scenario, each with its event time.
fn orders(s: &Scenario) -> Vec<OrderEvent> {
    let mut at = s.start.and_hms_opt(9, 0, 0).unwrap().and_utc();
    let seats =
        (s.base.billing_type == subsweep::domain::vocabulary::BillingType::License).then_some("2");
    let mut out = vec![purchase("P", &at.to_rfc3339(), "C1", "BASE", seats)];
    if s.with_addon {
        at += Duration::hours(1);
        out.push(addon_purchase(
            "PA",
            &at.to_rfc3339(),
            "C1",
            "ADD",
            "1",
            "P-1",
        ));
    }
    for (i, (days, hours, m)) in s.moves.iter().enumerate() {
        at += Duration::days(i64::from(*days))
            + Duration::hours(i64::from(*hours))
            + Duration::minutes(1);
        let time = at.to_rfc3339();
        let id = format!("E{i:02}");
        out.push(match m {
            Move::Seats(n) => change(&id, &time, "C1", "P-1", &n.to_string()),
            Move::Suspend => act(&id, &time, Action::Suspend, "C1", "P-1"),
            Move::Reactivate => act(&id, &time, Action::Reactivate, "C1", "P-1"),
            Move::Cancel => act(&id, &time, Action::Cancel, "C1", "P-1"),
            Move::AutoRenew(on) => auto_renew(&id, &time, "C1", "P-1", *on),
            Move::Usage(n) => usage(&id, &time, "C1", "P-1", &n.to_string()),
            Move::AddonSeats(n) => change(&id, &time, "C1", "PA-1", &n.to_string()),
            Move::SuspendAddon => act(&id, &time, Action::Suspend, "C1", "PA-1"),
            Move::ReactivateAddon => act(&id, &time, Action::Reactivate, "C1", "PA-1"),
        });
    }
    out
}

fn sim_for(s: &Scenario) -> Sim {
    Sim::new(
        vec![s.base.clone(), addon("ADD", &["BASE"], "4.00")],
        vec![customer("C1", "2023-06-01")],
    )
}

fn end_of(orders: &[OrderEvent]) -> NaiveDate {
    orders.last().unwrap().event_time.date_naive() + Duration::days(100)
}

/// Net amount per subscription (a subscription whose lines cancel out counts as nothing).
fn totals(sim: &Sim) -> BTreeMap<String, Decimal> {
    let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
    for (_, l) in &sim.posted {
        *out.entry(l.subscription_id.clone()).or_default() += l.amount;
    }
    out.retain(|_, total| !total.is_zero());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Events delivered late (in order) end in the same states, verdicts and totals as on time.
    #[test]
    fn late_events_are_billed_as_if_applied_on_their_own_date(s in scenarios(), delays in prop::collection::vec(0i64..45, 16)) {
        let orders = orders(&s);
        let end = end_of(&orders).to_string();
        let mut on_time = sim_for(&s);
        for o in &orders {
            on_time.order(o.clone());
        }
        on_time.run_through(&end);

        let mut late = sim_for(&s);
        let mut delivery = s.start;
        for (o, delay) in orders.iter().zip(delays.iter().cycle()) {
            delivery = delivery.max(o.event_time.date_naive() + Duration::days(*delay));
            late.deliver_on(o.clone(), delivery);
        }
        late.run_through(&end);

        prop_assert_eq!(totals(&late), totals(&on_time));
        let verdicts = |sim: &Sim| sim.rejected.iter().map(|(e, r)| (e.order.order_id.clone(), r.code)).collect::<Vec<_>>();
        let mut a = verdicts(&late);
        let mut b = verdicts(&on_time);
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
        for id in ["P-1", "PA-1"] {
            if let (Some(x), Some(y)) = (late.book.subscription(id), on_time.book.subscription(id)) {
                prop_assert_eq!(&x.state, &y.state, "{}", id);
            }
        }
    }

    /// Day-by-day processing posts exactly the lines a replay of the final history makes.
    #[test]
    fn the_fast_path_agrees_with_a_full_replay(s in scenarios()) {
        use subsweep::domain::clock::{Moment, Step};
        use subsweep::domain::event::Checks;
        use subsweep::domain::replay::{ReplayEvent, replay};
        let orders = orders(&s);
        let end = end_of(&orders);
        let mut sim = sim_for(&s);
        for o in &orders {
            sim.order(o.clone());
        }
        sim.run_through(&end.to_string());
        let family = sim.book.family("P-1").unwrap();
        let history = sim.book.history("P-1").unwrap();
        let events: Vec<ReplayEvent<'_>> = history
            .events
            .iter()
            .map(|e| ReplayEvent { event: e, checks: Checks::Replay { seed: family.member(&e.target()) } })
            .collect();
        let replayed = replay("P-1", &events, Moment::new(end, Step::Orders), &policy());
        prop_assert!(replayed.verdicts.iter().all(Result::is_ok));
        prop_assert_eq!(&replayed.family.members, &family.members);
        let posted: Vec<_> = sim.posted.iter().map(|(_, l)| l.clone()).collect();
        prop_assert_eq!(replayed.lines, posted);
    }

    /// Credits never exceed what was charged for a period, and no period is charged more than
    /// once at the highest seat count it had.
    #[test]
    fn credits_never_exceed_charges_and_no_range_is_charged_twice(s in scenarios()) {
        let orders = orders(&s);
        let mut sim = sim_for(&s);
        for o in &orders {
            sim.order(o.clone());
        }
        sim.run_through(&end_of(&orders).to_string());
        for id in ["P-1", "PA-1"] {
            let Some(sub) = sim.book.subscription(id) else { continue };
            if !sub.is_license() {
                continue;
            }
            let max_seats = orders.iter().filter_map(|o| o.quantity).fold(Decimal::from(2), Decimal::max);
            // Checked after each day's postings: the lines one event makes together (a
            // refund reversing a charge and a credit) are one movement.
            let mut per_period: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
            let mut days: Vec<NaiveDate> = sim.posted.iter().map(|(on, _)| *on).collect();
            days.dedup();
            for day in days {
                for (_, l) in sim.posted.iter().filter(|(on, l)| *on == day && l.subscription_id == id) {
                    let period = sub.period_at(l.range.start).unwrap();
                    *per_period.entry(period.start).or_default() += l.amount;
                }
                for (start, net) in &per_period {
                    prop_assert!(*net >= Decimal::ZERO, "{} period from {} went negative on {}: {}", id, start, day, net);
                    prop_assert!(
                        *net <= sub.terms.unit_price * max_seats + Decimal::new(5, 2),
                        "{} period from {} over-charged on {}: {}", id, start, day, net
                    );
                }
            }
        }
    }

    /// Whatever happens, an add-on's term ends with its base's, and a deleted subscription
    /// never changes again.
    #[test]
    fn addon_terms_follow_the_base_and_deleted_is_final(s in scenarios()) {
        let orders = orders(&s);
        let mut sim = sim_for(&s);
        let first = orders[0].event_time.date_naive();
        for o in &orders {
            sim.order(o.clone());
        }
        let mut deleted: BTreeMap<String, subsweep::domain::subscription::State> = BTreeMap::new();
        let mut day = first;
        let end = end_of(&orders);
        while day <= end {
            sim.run_through(&day.to_string());
            for id in ["P-1", "PA-1"] {
                let Some(sub) = sim.book.subscription(id) else { continue };
                if let Some(before) = deleted.get(id) {
                    prop_assert_eq!(before, &sub.state);
                } else if sub.state.status == Status::Deleted {
                    deleted.insert(id.to_string(), sub.state.clone());
                }
            }
            if let (Some(base), Some(add)) = (sim.book.subscription("P-1"), sim.book.subscription("PA-1"))
                && !base.state.status.is_ended() && !add.state.status.is_ended()
                && !base.state.in_trial && !add.state.in_trial
            {
                prop_assert_eq!(base.view(day).term_end, add.view(day).term_end);
            }
            day += Duration::days(7);
        }
    }

    /// A whole period at a constant seat count costs unit price × seats, even when suspended and
    /// reactivated within the same day.
    #[test]
    fn a_full_period_at_constant_quantity_costs_price_times_quantity(
        start in 0i64..1500, seats in 1u8..20, blip in 0i64..28, price in prop::sample::select(vec!["9.99", "30.00", "0.01", "1234.56"]),
    ) {
        let start = d("2024-01-01") + Duration::days(start);
        let mut sim = Sim::new(vec![monthly("M", price)], vec![customer("C1", "2023-01-01")]);
        let at = |date: NaiveDate, h: u32| date.and_hms_opt(h, 0, 0).unwrap().and_utc().to_rfc3339();
        sim.order(purchase("P", &at(start, 8), "C1", "M", Some(&seats.to_string())));
        let second_period = sim.sub_period_start(start);
        let blip_day = second_period + Duration::days(blip);
        sim.order(act("S", &at(blip_day, 9), Action::Suspend, "C1", "P-1"))
            .order(act("R", &at(blip_day, 10), Action::Reactivate, "C1", "P-1"))
            .run_through(&(second_period + Duration::days(40)).to_string());
        let sub = sim.sub("P-1");
        let period = sub.period_at(second_period).unwrap();
        let net: Decimal = sim.posted.iter().filter(|(_, l)| period.covers(&l.range)).map(|(_, l)| l.amount).sum();
        let full = subsweep::domain::money::round_amount(dec(price) * Decimal::from(seats));
        prop_assert_eq!(net, full);
        prop_assert!(sim.lines_of_type("P-1", ChargeType::CycleFee).iter().any(|l| l.range == period));
    }
}

trait PeriodStart {
    fn sub_period_start(&self, start: NaiveDate) -> NaiveDate;
}

impl PeriodStart for Sim {
    /// The start of the second monthly period of a subscription bought on `start`.
    fn sub_period_start(&self, start: NaiveDate) -> NaiveDate {
        subsweep::domain::calendar::anniversary(start, 1)
    }
}
