//! The README's "Business rules": decisions SPEC.md leaves open, one test each.

mod core;

use core::*;
use subsweep::domain::catalog::Offer;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::reject::RejectCode;
use subsweep::domain::vocabulary::{Action, BillingFrequency, Status};

#[test]
fn a_subscription_keeps_the_price_it_was_bought_with() {
    let mut sim = Sim::new(
        vec![monthly("M", "10.00")],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("O", "2026-01-05T10:00:00Z", "C1", "M", Some("1")))
        .run_through("2026-01-05");
    // The catalog changes: a new book with the new price, holding the old families.
    let mut repriced = Sim::new(
        vec![monthly("M", "99.00")],
        vec![customer("C1", "2026-01-01")],
    );
    for family in sim.book.families() {
        repriced.book.insert_family(family.clone(), None);
    }
    repriced.day = sim.day;
    repriced.order(purchase("N", "2026-02-05T10:00:00Z", "C1", "M", Some("1")));
    repriced.run_through("2026-02-05");
    assert_eq!(
        repriced.lines_of("O-1"),
        vec![line("Cycle fee", "2026-02-05", "2026-03-04", "1", "10.00")]
    );
    assert_eq!(repriced.lines_of("N-1")[0].4, "99.00");
}

#[test]
fn an_addon_of_an_addon_is_not_eligible_and_a_base_on_a_plain_purchase_is_ignored() {
    let mut sim = Sim::new(
        vec![monthly("B", "10.00"), addon("A", &["B", "A"], "2.00")],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("P", "2026-01-05T10:00:00Z", "C1", "B", Some("1")))
        .order(addon_purchase(
            "Q",
            "2026-01-05T11:00:00Z",
            "C1",
            "A",
            "1",
            "P-1",
        ))
        .order(addon_purchase(
            "R",
            "2026-01-05T12:00:00Z",
            "C1",
            "A",
            "1",
            "Q-1",
        ))
        .order(subsweep::domain::order::OrderEvent {
            base_subscription_id: Some("P-1".into()),
            ..purchase("S", "2026-01-05T13:00:00Z", "C1", "B", Some("1"))
        })
        .run_through("2026-01-05");
    assert_eq!(sim.reject_of("R"), Some(RejectCode::AddonNotEligible));
    assert_eq!(sim.reject_of("S"), None);
    assert!(sim.sub("S-1").parent.is_none());
}

#[test]
fn an_addon_on_an_annual_base_is_billed_annually_at_its_own_price() {
    let mut sim = Sim::new(
        vec![
            offer("B", BillingFrequency::Annual, 12, "120.00"),
            addon("A", &["B"], "12.00"),
        ],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("P", "2026-01-01T10:00:00Z", "C1", "B", Some("1")))
        .order(addon_purchase(
            "Q",
            "2027-01-01T11:00:00Z",
            "C1",
            "A",
            "1",
            "P-1",
        ))
        .run_through("2028-01-01");
    assert_eq!(
        sim.lines_of("Q-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2027-01-01",
                "2027-12-31",
                "1",
                "12.00"
            ),
            line("Renew fee", "2028-01-01", "2028-12-31", "1", "12.00"),
        ]
    );
}

#[test]
fn a_suspended_subscription_renews_silently_or_ends_at_its_term_end() {
    let m1 = offer("M1", BillingFrequency::Monthly, 1, "5.00");
    let mut sim = Sim::new(vec![m1.clone()], vec![customer("C1", "2026-01-01")]);
    sim.order(purchase("O", "2026-01-10T10:00:00Z", "C1", "M1", Some("1")))
        .order(act(
            "S",
            "2026-01-20T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .run_through("2026-03-15");
    assert_eq!(sim.sub("O-1").state.status, Status::Suspended);
    assert!(sim.lines_of_type("O-1", ChargeType::RenewFee).is_empty());

    let mut sim = Sim::new(vec![m1], vec![customer("C1", "2026-01-01")]);
    sim.order(purchase("O", "2026-01-10T10:00:00Z", "C1", "M1", Some("1")))
        .order(act(
            "S",
            "2026-01-20T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .order(auto_renew("R", "2026-01-21T10:00:00Z", "C1", "O-1", false))
        .run_through("2026-03-15");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Expired);
    assert_eq!(sub.state.ended_on, Some(d("2026-02-10")));
}

#[test]
fn a_suspended_subscription_cancelled_within_the_window_is_refunded_in_full() {
    let mut sim = Sim::new(
        vec![monthly("M", "30.00")],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("O", "2026-03-01T10:00:00Z", "C1", "M", Some("1")))
        .order(act(
            "S",
            "2026-03-01T12:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .order(act(
            "K",
            "2026-03-02T09:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-03-02");
    assert_eq!(sim.sub("O-1").state.status, Status::Cancelled);
    assert_eq!(sim.total_of("O-1"), dec("0"));
    assert_eq!(
        sim.lines_of_type("O-1", ChargeType::CancelFee).len(),
        3,
        "the suspension credit, then one per line"
    );
}

#[test]
fn usage_recorded_before_a_suspension_is_billed_at_period_end_even_while_suspended() {
    let mut sim = Sim::new(
        vec![usage_offer("U", "1.00")],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("O", "2026-01-01T10:00:00Z", "C1", "U", None))
        .order(usage("U1", "2026-01-20T10:00:00Z", "C1", "O-1", "5"))
        .order(act(
            "S",
            "2026-01-25T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .order(usage("U2", "2026-01-26T10:00:00Z", "C1", "O-1", "5"))
        .order(change("Q", "2026-01-26T11:00:00Z", "C1", "O-1", "2"))
        .run_through("2026-02-01");
    assert_eq!(sim.reject_of("U2"), Some(RejectCode::InvalidTransition));
    assert_eq!(sim.reject_of("Q"), Some(RejectCode::InvalidTransition));
    assert_eq!(
        sim.lines_of("O-1"),
        vec![line(
            "Assess usage fee for current cycle",
            "2026-01-01",
            "2026-01-31",
            "5",
            "5.00"
        )]
    );

    let mut sim = Sim::new(
        vec![usage_offer("U", "1.00")],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("O", "2026-01-01T10:00:00Z", "C1", "U", None))
        .order(usage("U1", "2026-03-02T10:00:00Z", "C1", "O-1", "7"))
        .order(act(
            "S",
            "2026-03-03T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .run_through("2026-06-30");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Deleted);
    assert_eq!(sub.state.ended_on, Some(d("2026-06-01")));
    assert_eq!(
        sim.lines_of("O-1"),
        vec![line(
            "Assess usage fee for current cycle",
            "2026-03-01",
            "2026-03-31",
            "7",
            "7.00"
        )]
    );
}

#[test]
fn a_converted_trial_is_past_its_cancellation_window() {
    let trial = Offer {
        trial_days: 30,
        ..monthly("T", "12.00")
    };
    let mut sim = Sim::new(vec![trial], vec![customer("C1", "2026-01-01")]);
    sim.order(purchase("O", "2026-03-01T10:00:00Z", "C1", "T", Some("1")))
        .order(act(
            "K",
            "2026-03-31T12:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-03-31");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Active);
    assert!(sub.state.cancel_at_term_end);
    assert_eq!(sim.total_of("O-1"), dec("12.00"));
}

#[test]
fn the_export_shows_a_trial_planned_dates_and_no_period_for_an_ended_subscription() {
    let trial = Offer {
        trial_days: 30,
        ..monthly("T", "12.00")
    };
    let mut sim = Sim::new(
        vec![trial, monthly("M", "5.00")],
        vec![customer("C1", "2026-01-01")],
    );
    sim.order(purchase("O", "2026-03-10T10:00:00Z", "C1", "T", Some("1")))
        .order(purchase("P", "2026-03-10T10:00:00Z", "C1", "M", Some("1")))
        .order(act(
            "K",
            "2026-03-10T12:00:00Z",
            Action::Cancel,
            "C1",
            "P-1",
        ))
        .run_through("2026-03-20");
    let trial = sim.sub("O-1").view(d("2026-03-20"));
    assert_eq!(trial.paid_start, Some(d("2026-04-09")));
    assert_eq!(trial.term_end, Some(d("2027-04-08")));
    assert_eq!(trial.current_period, None);
    let ended = sim.sub("P-1").view(d("2026-03-20"));
    assert_eq!(ended.current_period, None);
    assert_eq!(ended.term_end, Some(d("2027-03-09")));
}
