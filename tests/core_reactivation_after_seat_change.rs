//! SPEC section 6, reactivation after a seat change: the suspension credits what was charged
//! (the whole net of the period within 30 days of the term's start, over the range charged;
//! later the rest of the period at the current quantity) and the reactivation charges at the
//! CURRENT quantity (the whole period within 30 days, later from the reactivation date), which
//! may differ from what the suspension credited. Seats cannot change while suspended.

mod core;

use core::*;
use subsweep::domain::reject::RejectCode;
use subsweep::domain::vocabulary::{Action, Status};

/// 30.00 a seat a month, 12-month term, bought 2018-06-01 with `seats` (periods on the 1st).
fn bought(seats: &str) -> Sim {
    let mut sim = Sim::new(
        vec![monthly("M", "30.00"), addon("A", &["M"], "5.00")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase(
        "O",
        "2018-06-01T09:00:00Z",
        "C1",
        "M",
        Some(seats),
    ));
    sim
}

fn suspend(id: &str, time: &str, sub: &str) -> subsweep::domain::order::OrderEvent {
    act(id, time, Action::Suspend, "C1", sub)
}

fn reactivate(id: &str, time: &str, sub: &str) -> subsweep::domain::order::OrderEvent {
    act(id, time, Action::Reactivate, "C1", sub)
}

#[test]
fn within_30_days_seats_raised_then_suspended_and_reactivated_charge_the_whole_period_at_the_new_count()
 {
    let mut sim = bought("1");
    sim.order(change("Q", "2018-06-10T09:00:00Z", "C1", "O-1", "3"))
        .order(suspend("S", "2018-06-15T09:00:00Z", "O-1"))
        .order(reactivate("R", "2018-06-20T09:00:00Z", "O-1"))
        .run_through("2018-07-01");
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-06-01",
                "2018-06-30",
                "1",
                "30.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-10",
                "2018-06-30",
                "1",
                "-21.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-10",
                "2018-06-30",
                "3",
                "63.00"
            ),
            // The whole net charged for June: 30 - 21 + 63.
            line("Cancel fee", "2018-06-01", "2018-06-30", "3", "-72.00"),
            // The whole of June at the current 3 seats.
            line("Activation fee", "2018-06-01", "2018-06-30", "3", "90.00"),
            line("Cycle fee", "2018-07-01", "2018-07-31", "3", "90.00"),
        ]
    );
}

#[test]
fn within_30_days_seats_lowered_then_suspended_credit_the_net_charged_and_reactivation_the_new_count()
 {
    let mut sim = bought("3");
    sim.order(change("Q", "2018-06-16T09:00:00Z", "C1", "O-1", "1"))
        .order(suspend("S", "2018-06-20T09:00:00Z", "O-1"))
        .order(reactivate("R", "2018-06-25T09:00:00Z", "O-1"))
        .run_through("2018-06-30");
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-06-01",
                "2018-06-30",
                "3",
                "90.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-16",
                "2018-06-30",
                "3",
                "-45.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-16",
                "2018-06-30",
                "1",
                "15.00"
            ),
            line("Cancel fee", "2018-06-01", "2018-06-30", "1", "-60.00"),
            line("Activation fee", "2018-06-01", "2018-06-30", "1", "30.00"),
        ]
    );
    assert_eq!(sim.total_of("O-1"), dec("30.00"));
}

#[test]
fn after_30_days_both_lines_are_prorated_at_the_current_count() {
    let mut sim = bought("1");
    sim.order(change("Q", "2018-07-10T09:00:00Z", "C1", "O-1", "2"))
        .order(suspend("S", "2018-07-20T09:00:00Z", "O-1"))
        .order(reactivate("R", "2018-07-25T09:00:00Z", "O-1"))
        .run_through("2018-07-31");
    assert_eq!(
        sim.lines_of("O-1")[1..],
        [
            line("Cycle fee", "2018-07-01", "2018-07-31", "1", "30.00"),
            line(
                "Cycle instance prorate",
                "2018-07-10",
                "2018-07-31",
                "1",
                "-21.29"
            ),
            line(
                "Cycle instance prorate",
                "2018-07-10",
                "2018-07-31",
                "2",
                "42.58"
            ),
            // 12 of 31 days at 2 seats.
            line("Cancel fee", "2018-07-20", "2018-07-31", "2", "-23.23"),
            // 7 of 31 days at 2 seats.
            line("Activation fee", "2018-07-25", "2018-07-31", "2", "13.55"),
        ]
    );
}

#[test]
fn seats_cannot_change_while_suspended_and_reactivation_charges_the_count_before() {
    let mut sim = bought("2");
    sim.order(suspend("S", "2018-06-05T09:00:00Z", "O-1"))
        .order(change("Q", "2018-06-07T09:00:00Z", "C1", "O-1", "5"))
        .order(reactivate("R", "2018-06-10T09:00:00Z", "O-1"))
        .order(change("Q2", "2018-06-16T09:00:00Z", "C1", "O-1", "5"))
        .run_through("2018-06-30");
    assert_eq!(sim.reject_of("Q"), Some(RejectCode::InvalidTransition));
    assert_eq!(sim.reject_of("Q2"), None);
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-06-01",
                "2018-06-30",
                "2",
                "60.00"
            ),
            line("Cancel fee", "2018-06-01", "2018-06-30", "2", "-60.00"),
            line("Activation fee", "2018-06-01", "2018-06-30", "2", "60.00"),
            line(
                "Cycle instance prorate",
                "2018-06-16",
                "2018-06-30",
                "2",
                "-30.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-16",
                "2018-06-30",
                "5",
                "75.00"
            ),
        ]
    );
    assert_eq!(sim.sub("O-1").state.status, Status::Active);
    assert_eq!(sim.sub("O-1").state.quantity, Some(dec("5")));
}

#[test]
fn an_addon_in_its_first_partial_period_is_credited_and_recharged_over_the_range_it_pays_for() {
    // SPEC example 2's add-on (5.00, bought 2018-06-10: 21 of 30 days), seats 1 -> 2 on
    // 2018-06-20 (11 days left), suspended 2018-06-25 and reactivated 2018-06-28.
    let mut sim = bought("1");
    sim.order(addon_purchase(
        "OA",
        "2018-06-10T09:00:00Z",
        "C1",
        "A",
        "1",
        "O-1",
    ))
    .order(change("Q", "2018-06-20T09:00:00Z", "C1", "OA-1", "2"))
    .order(suspend("S", "2018-06-25T09:00:00Z", "OA-1"))
    .order(reactivate("R", "2018-06-28T09:00:00Z", "OA-1"))
    .run_through("2018-06-30");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-06-10",
                "2018-06-30",
                "1",
                "3.50"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-20",
                "2018-06-30",
                "1",
                "-1.83"
            ),
            line(
                "Cycle instance prorate",
                "2018-06-20",
                "2018-06-30",
                "2",
                "3.67"
            ),
            // The net charged over 2018-06-10..2018-06-30: 3.50 - 1.83 + 3.67.
            line("Cancel fee", "2018-06-10", "2018-06-30", "2", "-5.34"),
            // 2 seats over the same 21 days.
            line("Activation fee", "2018-06-10", "2018-06-30", "2", "7.00"),
        ]
    );
}

#[test]
fn a_late_seat_change_before_a_suspension_corrects_the_credit_and_the_reactivation() {
    // The seat change (dated before the suspension) arrives after the reactivation was
    // applied: everything is billed as if applied on its own date, the differences posted as
    // offsets on the day of application.
    let mut sim = bought("1");
    sim.order(suspend("S", "2018-06-15T09:00:00Z", "O-1"))
        .order(reactivate("R", "2018-06-20T09:00:00Z", "O-1"))
        .deliver_on(
            change("Q", "2018-06-10T09:00:00Z", "C1", "O-1", "3"),
            d("2018-06-22"),
        )
        .run_through("2018-06-30");
    assert_eq!(sim.reject_of("Q"), None);
    // Same net as when the change came on time: 90.00 for June.
    assert_eq!(sim.total_of("O-1"), dec("90.00"));
    let fixed: Vec<_> = sim
        .posted_on("2018-06-22")
        .into_iter()
        .map(|l| (l.charge_type.as_str(), l.amount.to_string()))
        .collect();
    assert_eq!(
        fixed,
        vec![
            ("Cycle instance prorate", "-21.00".to_string()),
            ("Cycle instance prorate", "63.00".to_string()),
            ("Offset a line item", "-42.00".to_string()),
            ("Offset a line item", "60.00".to_string()),
        ]
    );
}
