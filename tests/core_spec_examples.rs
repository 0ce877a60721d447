//! SPEC.md section 6's five worked examples, as written, on the pure core.

mod core;

use core::*;
use subsweep::domain::vocabulary::{Action, BillingFrequency, Status};

#[test]
fn example_1_purchase_then_seats_one_to_two_on_february_1() {
    let mut sim = Sim::new(
        vec![monthly("OFF", "4.00")],
        vec![customer("C1", "2017-01-01")],
    );
    sim.order(purchase(
        "O1",
        "2018-01-13T10:00:00Z",
        "C1",
        "OFF",
        Some("1"),
    ))
    .order(change("O2", "2018-02-01T09:00:00Z", "C1", "O1-1", "2"))
    .run_through("2018-02-01");
    assert_eq!(
        sim.lines_of("O1-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-01-13",
                "2018-02-12",
                "1",
                "4.00"
            ),
            line(
                "Cycle instance prorate",
                "2018-02-01",
                "2018-02-12",
                "1",
                "-1.55"
            ),
            line(
                "Cycle instance prorate",
                "2018-02-01",
                "2018-02-12",
                "2",
                "3.10"
            ),
        ]
    );
}

#[test]
fn example_2_addon_prorated_to_the_end_of_the_base_period() {
    let mut sim = Sim::new(
        vec![monthly("BASE", "20.00"), addon("ADD", &["BASE"], "5.00")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase(
        "O1",
        "2018-05-01T08:00:00Z",
        "C1",
        "BASE",
        Some("1"),
    ))
    .order(addon_purchase(
        "O2",
        "2018-06-10T08:00:00Z",
        "C1",
        "ADD",
        "1",
        "O1-1",
    ))
    .run_through("2018-06-10");
    let add = sim.lines_of("O2-1");
    assert_eq!(
        add,
        vec![line(
            "Prorate fees when purchase",
            "2018-06-10",
            "2018-06-30",
            "1",
            "3.50"
        )]
    );
    let first = &sim.lines_of_type(
        "O2-1",
        subsweep::domain::charges::ChargeType::PurchaseProrate,
    )[0];
    assert_eq!((first.billable_days, first.period_days), (21, 30));
}

fn example_3_and_4_subscription() -> Sim {
    let mut sim = Sim::new(
        vec![offer("E3", BillingFrequency::Monthly, 12, "30.00")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase(
        "O1",
        "2018-06-01T08:00:00Z",
        "C1",
        "E3",
        Some("1"),
    ));
    sim
}

#[test]
fn example_3_suspension_34_days_into_the_term_credits_the_rest_of_the_period() {
    let mut sim = example_3_and_4_subscription();
    sim.order(act(
        "O2",
        "2018-07-05T12:00:00Z",
        Action::Suspend,
        "C1",
        "O1-1",
    ))
    .order(act(
        "O3",
        "2018-07-15T12:00:00Z",
        Action::Reactivate,
        "C1",
        "O1-1",
    ))
    .run_through("2018-07-15");
    assert_eq!(
        sim.lines_of("O1-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-06-01",
                "2018-06-30",
                "1",
                "30.00"
            ),
            line("Cycle fee", "2018-07-01", "2018-07-31", "1", "30.00"),
            line("Cancel fee", "2018-07-05", "2018-07-31", "1", "-26.13"),
            line("Activation fee", "2018-07-15", "2018-07-31", "1", "16.45"),
        ]
    );
}

#[test]
fn example_4_suspension_4_days_into_the_term_credits_the_whole_period() {
    let mut sim = example_3_and_4_subscription();
    sim.order(act(
        "O2",
        "2018-06-05T12:00:00Z",
        Action::Suspend,
        "C1",
        "O1-1",
    ))
    .order(act(
        "O3",
        "2018-06-10T12:00:00Z",
        Action::Reactivate,
        "C1",
        "O1-1",
    ))
    .run_through("2018-06-10");
    assert_eq!(
        sim.lines_of("O1-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2018-06-01",
                "2018-06-30",
                "1",
                "30.00"
            ),
            line("Cancel fee", "2018-06-01", "2018-06-30", "1", "-30.00"),
            line("Activation fee", "2018-06-01", "2018-06-30", "1", "30.00"),
        ]
    );
}

#[test]
fn example_5_retention_of_120_days_after_a_30_day_trial() {
    let trial = subsweep::domain::catalog::Offer {
        trial_days: 30,
        ..monthly("TRIAL", "10.00")
    };
    let mut sim = Sim::new(vec![trial], vec![customer("C1", "2026-01-01")]);
    sim.order(purchase(
        "O1",
        "2026-01-01T09:00:00Z",
        "C1",
        "TRIAL",
        Some("1"),
    ))
    .order(act(
        "O2",
        "2026-03-10T09:00:00Z",
        Action::Suspend,
        "C1",
        "O1-1",
    ))
    .run_through("2026-03-10");
    let sub = sim.sub("O1-1");
    assert_eq!(sub.state.trial_end, Some(d("2026-01-30")));
    assert_eq!(sub.state.paid_start, Some(d("2026-01-31")));
    assert_eq!(sub.state.status, Status::Suspended);
    assert_eq!(sub.state.data_expires_on, Some(d("2026-07-08")));
}
