//! SPEC section 6 on the pure core: the sequences that break billing engines, and late events
//! billed as if they had been applied on their own date.

mod core;

use core::*;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::reject::RejectCode;
use subsweep::domain::vocabulary::{Action, Status};

fn thirty_a_month() -> Sim {
    let mut sim = Sim::new(
        vec![monthly("M", "30.00")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase("O", "2018-06-01T08:00:00Z", "C1", "M", Some("1")));
    sim
}

#[test]
fn quantity_changes_on_the_first_and_the_last_day_of_a_period() {
    let mut sim = thirty_a_month();
    sim.order(change("Q1", "2018-07-01T10:00:00Z", "C1", "O-1", "3"))
        .order(change("Q2", "2018-07-31T10:00:00Z", "C1", "O-1", "2"))
        .run_through("2018-07-31");
    assert_eq!(
        sim.lines_of("O-1")[2..],
        [
            line(
                "Cycle instance prorate",
                "2018-07-01",
                "2018-07-31",
                "1",
                "-30.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-07-01",
                "2018-07-31",
                "3",
                "90.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-07-31",
                "2018-07-31",
                "3",
                "-2.90"
            ),
            line(
                "Cycle instance prorate",
                "2018-07-31",
                "2018-07-31",
                "2",
                "1.94"
            ),
        ]
    );
}

#[test]
fn repeated_suspend_and_reactivate_within_one_period_never_credits_more_than_charged() {
    let mut sim = thirty_a_month();
    for (day, action) in [
        (5, Action::Suspend),
        (8, Action::Reactivate),
        (12, Action::Suspend),
        (20, Action::Reactivate),
    ] {
        sim.order(act(
            &format!("E{day}"),
            &format!("2018-06-{day:02}T10:00:00Z"),
            action,
            "C1",
            "O-1",
        ));
    }
    sim.run_through("2018-06-30");
    // Within 30 days of the term's start: whole-period credit and charge each time.
    assert_eq!(sim.total_of("O-1"), dec("30.00"));
    let mut running = dec("0");
    for (_, l) in &sim.posted {
        running += l.amount;
        assert!(
            running >= dec("0"),
            "the period's net never goes below zero"
        );
        assert!(running <= dec("30.00"), "the period is never charged twice");
    }
}

#[test]
fn repeated_suspend_and_reactivate_across_a_period_boundary_charges_each_day_once() {
    let mut sim = thirty_a_month();
    for (date, action) in [
        ("2018-07-10", Action::Suspend),
        ("2018-07-20", Action::Reactivate),
        ("2018-07-25", Action::Suspend),
        ("2018-08-05", Action::Reactivate),
        ("2018-08-06", Action::Suspend),
        ("2018-08-06", Action::Reactivate),
    ] {
        let id = format!("E{date}{action}");
        let hour = if action == Action::Reactivate { 11 } else { 10 };
        sim.order(act(
            &id,
            &format!("{date}T{hour}:00:00Z"),
            action,
            "C1",
            "O-1",
        ));
    }
    sim.run_through("2018-08-31");
    // Charged days of July: 1-9 and 20-24 (14 of 31); of August: 5-31 (27 of 31).
    let july = dec("30") * dec("14") / dec("31");
    let august = dec("30") * dec("27") / dec("31");
    let expected = dec("30.00") + july + august;
    let total = sim.total_of("O-1");
    assert!(
        (total - expected).abs() < dec("0.05"),
        "total {total}, expected about {expected}"
    );
    let cycles: Vec<_> = sim
        .lines_of_type("O-1", ChargeType::CycleFee)
        .iter()
        .map(|l| l.range.start)
        .collect();
    assert_eq!(
        cycles,
        [d("2018-07-01")],
        "no cycle fee while suspended on Aug 1"
    );
    assert_eq!(sim.sub("O-1").state.status, Status::Active);
}

#[test]
fn a_late_suspension_after_the_next_cycle_fee_was_posted_is_offset() {
    let mut sim = thirty_a_month();
    sim.run_through("2018-07-04");
    sim.deliver_on(
        act("S", "2018-07-05T12:00:00Z", Action::Suspend, "C1", "O-1"),
        d("2018-08-03"),
    );
    sim.run_through("2018-08-03");
    let august_3: Vec<_> = sim
        .posted_on("2018-08-03")
        .iter()
        .map(|l| {
            (
                l.charge_type,
                l.range.to_string(),
                format!("{:.2}", l.amount),
            )
        })
        .collect();
    assert_eq!(
        august_3,
        vec![
            (
                ChargeType::CancelFee,
                "2018-07-05..2018-07-31".to_string(),
                "-26.13".to_string()
            ),
            (
                ChargeType::Offset,
                "2018-08-01..2018-08-31".to_string(),
                "-30.00".to_string()
            ),
        ]
    );
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Suspended);
    assert_eq!(sub.state.suspended_on, Some(d("2018-07-05")));
    // Billed as if on time: same total as the on-time history.
    let mut on_time = thirty_a_month();
    on_time
        .order(act(
            "S",
            "2018-07-05T12:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .run_through("2018-08-03");
    assert_eq!(sim.total_of("O-1"), on_time.total_of("O-1"));
}

#[test]
fn a_late_purchase_is_billed_for_every_period_since_its_date() {
    let mut sim = Sim::new(
        vec![monthly("M", "10.00")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.deliver_on(
        purchase("O", "2018-01-10T08:00:00Z", "C1", "M", Some("1")),
        d("2018-03-15"),
    );
    sim.run_through("2018-03-15");
    let types: Vec<_> = sim
        .posted_on("2018-03-15")
        .iter()
        .map(|l| (l.charge_type, l.range.start.to_string()))
        .collect();
    assert_eq!(
        types,
        [
            (ChargeType::PurchaseProrate, "2018-01-10".to_string()),
            (ChargeType::CycleFee, "2018-02-10".to_string()),
            (ChargeType::CycleFee, "2018-03-10".to_string()),
        ]
    );
}

#[test]
fn re_applying_a_day_posts_nothing() {
    use subsweep::domain::event::FamilyEvent;
    let mut sim = thirty_a_month();
    sim.order(change("Q", "2018-06-10T10:00:00Z", "C1", "O-1", "2"))
        .run_through("2018-07-02");
    let before = sim.posted.len();
    // The same day run again, with no new events: nothing new.
    let outcome = sim
        .book
        .apply_events(d("2018-07-02"), Vec::<FamilyEvent>::new());
    assert!(outcome.postings.is_empty());
    assert_eq!(sim.posted.len(), before);
}

#[test]
fn a_late_event_that_would_invalidate_a_later_one_is_rejected() {
    let mut sim = thirty_a_month();
    sim.order(change("Q", "2018-06-20T10:00:00Z", "C1", "O-1", "2"))
        .run_through("2018-06-25");
    // A suspension dated before the seat change would make that change impossible.
    sim.deliver_on(
        act("S", "2018-06-15T10:00:00Z", Action::Suspend, "C1", "O-1"),
        d("2018-06-26"),
    );
    sim.run_through("2018-06-26");
    assert_eq!(sim.reject_of("S"), Some(RejectCode::InvalidTransition));
    assert_eq!(sim.sub("O-1").state.status, Status::Active);
    assert!(sim.posted_on("2018-06-26").is_empty());
}

#[test]
fn late_usage_for_a_closed_period_is_billed_by_an_offset() {
    let mut sim = Sim::new(
        vec![usage_offer("U", "0.50")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase("O", "2018-03-01T08:00:00Z", "C1", "U", None))
        .order(usage("U1", "2018-03-10T08:00:00Z", "C1", "O-1", "10"))
        .deliver_on(
            usage("U2", "2018-03-20T08:00:00Z", "C1", "O-1", "4"),
            d("2018-04-03"),
        )
        .run_through("2018-04-03");
    let lines = sim.lines_of("O-1");
    assert_eq!(
        lines,
        vec![
            line(
                "Assess usage fee for current cycle",
                "2018-03-01",
                "2018-03-31",
                "10",
                "5.00"
            ),
            line(
                "Offset a line item",
                "2018-03-01",
                "2018-03-31",
                "4",
                "2.00"
            ),
        ]
    );
}
