//! SPEC section 5, add-ons: "Bought during the base's trial, it is free until the base
//! converts: its first charge and its first term then start on the base's conversion date."
//! The 30-day rules of section 6 count from that date; the cancellation window (section 5)
//! counts from the purchase row's event time.

mod core;

use core::*;
use subsweep::domain::catalog::Offer;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::vocabulary::{Action, BillingFrequency, Status};

/// Base `TB` (30.00 a month, 12-month term, 30-day trial) bought 2026-03-02: in trial
/// 2026-03-02..2026-03-31, converts 2026-04-01, periods on the 1st. Add-on `TA` (6.00) with 2
/// seats bought 2026-03-20 10:00, during the trial.
fn addon_in_trial(frequency: BillingFrequency, base_price: &str) -> Sim {
    let mut sim = Sim::new(
        vec![
            Offer {
                trial_days: 30,
                ..offer("TB", frequency, 12, base_price)
            },
            addon("TA", &["TB"], "6.00"),
        ],
        vec![customer("C1", "2025-01-01")],
    );
    sim.order(purchase(
        "OB",
        "2026-03-02T09:00:00Z",
        "C1",
        "TB",
        Some("1"),
    ))
    .order(addon_purchase(
        "OA",
        "2026-03-20T10:00:00Z",
        "C1",
        "TA",
        "2",
        "OB-1",
    ));
    sim
}

fn monthly_base() -> Sim {
    addon_in_trial(BillingFrequency::Monthly, "30.00")
}

#[test]
fn its_first_charge_is_the_whole_first_period_from_the_conversion_date() {
    let mut sim = monthly_base();
    sim.run_through("2026-03-31");
    assert!(sim.posted.is_empty(), "free until the base converts");
    sim.run_through("2026-05-01");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2026-04-01",
                "2026-04-30",
                "2",
                "12.00"
            ),
            line("Cycle fee", "2026-05-01", "2026-05-31", "2", "12.00"),
        ]
    );
    let addon = sim.sub("OA-1");
    assert_eq!(addon.state.paid_start, Some(d("2026-04-01")));
    // Its first term starts on the conversion date and ends with the base's.
    let term = addon.term_at(d("2026-04-10")).unwrap();
    assert_eq!((term.start, term.end), (d("2026-04-01"), d("2027-03-31")));
    assert_eq!(
        addon.view(d("2026-04-10")).paid_start,
        Some(d("2026-04-01"))
    );
    assert_eq!(addon.view(d("2026-04-10")).term_end, Some(d("2027-03-31")));
}

#[test]
fn an_annual_addon_bought_in_trial_pays_the_whole_first_year_from_the_conversion() {
    let mut sim = addon_in_trial(BillingFrequency::Annual, "300.00");
    sim.run_through("2026-04-01");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-04-01",
            "2027-03-31",
            "2",
            "12.00"
        )]
    );
}

#[test]
fn the_30_day_rules_count_from_the_conversion_date_not_the_purchase() {
    // Suspended on its own 24 days after the conversion (36 after its purchase): the whole
    // net charged for the period is credited; reactivated 27 days after it: the whole period.
    let mut sim = monthly_base();
    sim.order(act(
        "S",
        "2026-04-25T10:00:00Z",
        Action::Suspend,
        "C1",
        "OA-1",
    ))
    .order(act(
        "R",
        "2026-04-28T10:00:00Z",
        Action::Reactivate,
        "C1",
        "OA-1",
    ))
    .run_through("2026-04-30");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2026-04-01",
                "2026-04-30",
                "2",
                "12.00"
            ),
            line("Cancel fee", "2026-04-01", "2026-04-30", "2", "-12.00"),
            line("Activation fee", "2026-04-01", "2026-04-30", "2", "12.00"),
        ]
    );

    // 34 days after the conversion: the rest of the period only, both ways.
    let mut sim = monthly_base();
    sim.order(act(
        "S",
        "2026-05-05T10:00:00Z",
        Action::Suspend,
        "C1",
        "OA-1",
    ))
    .order(act(
        "R",
        "2026-05-20T10:00:00Z",
        Action::Reactivate,
        "C1",
        "OA-1",
    ))
    .run_through("2026-05-20");
    assert_eq!(
        sim.lines_of("OA-1")[2..],
        [
            line("Cancel fee", "2026-05-05", "2026-05-31", "2", "-10.45"),
            line("Activation fee", "2026-05-20", "2026-05-31", "2", "4.65"),
        ]
    );
}

#[test]
fn the_cancellation_window_counts_from_the_purchase_row_not_the_conversion() {
    // Within 24 hours of its purchase, still in trial: ended at once, nothing charged, ever.
    let mut sim = monthly_base();
    sim.order(act(
        "K",
        "2026-03-21T09:59:59Z",
        Action::Cancel,
        "C1",
        "OA-1",
    ))
    .run_through("2026-05-01");
    assert_eq!(sim.sub("OA-1").state.status, Status::Cancelled);
    assert_eq!(sim.sub("OA-1").state.ended_on, Some(d("2026-03-21")));
    assert!(sim.lines_of("OA-1").is_empty());
    assert_eq!(sim.sub("OB-1").state.status, Status::Active);

    // The morning of the conversion, 12 days after its purchase: past the monthly window, so
    // the cancel is scheduled for the term end and the first period is not refunded.
    let mut sim = monthly_base();
    sim.order(act(
        "K",
        "2026-04-01T09:00:00Z",
        Action::Cancel,
        "C1",
        "OA-1",
    ))
    .run_through("2026-04-02");
    let addon = sim.sub("OA-1");
    assert_eq!(addon.state.status, Status::Active);
    assert!(addon.state.cancel_at_term_end);
    assert!(sim.lines_of_type("OA-1", ChargeType::CancelFee).is_empty());
    assert_eq!(sim.total_of("OA-1"), dec("12.00"));
}

#[test]
fn an_annual_addon_cancelled_within_14_days_of_its_purchase_is_refunded_after_conversion() {
    // Bought 2026-03-20 10:00, charged on the conversion 2026-04-01, cancelled 2026-04-03
    // 10:00 (14 days less one second after the purchase): everything charged is credited.
    let mut sim = addon_in_trial(BillingFrequency::Annual, "300.00");
    sim.order(act(
        "K",
        "2026-04-03T09:59:59Z",
        Action::Cancel,
        "C1",
        "OA-1",
    ))
    .run_through("2026-04-03");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2026-04-01",
                "2027-03-31",
                "2",
                "12.00"
            ),
            line("Cancel fee", "2026-04-01", "2027-03-31", "2", "-12.00"),
        ]
    );
    assert_eq!(sim.sub("OA-1").state.status, Status::Cancelled);

    // Exactly 14 days: late, scheduled for the term end.
    let mut sim = addon_in_trial(BillingFrequency::Annual, "300.00");
    sim.order(act(
        "K",
        "2026-04-03T10:00:00Z",
        Action::Cancel,
        "C1",
        "OA-1",
    ))
    .run_through("2026-04-03");
    assert!(sim.sub("OA-1").state.cancel_at_term_end);
    assert_eq!(sim.total_of("OA-1"), dec("12.00"));
}

#[test]
fn seats_changed_during_the_trial_are_charged_from_the_conversion() {
    let mut sim = monthly_base();
    sim.order(change("Q", "2026-03-25T10:00:00Z", "C1", "OA-1", "5"))
        .run_through("2026-04-01");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-04-01",
            "2026-04-30",
            "5",
            "30.00"
        )]
    );
}

#[test]
fn a_base_suspended_across_its_conversion_converts_with_its_addon_on_reactivation() {
    let mut sim = monthly_base();
    sim.order(act(
        "S",
        "2026-03-25T10:00:00Z",
        Action::Suspend,
        "C1",
        "OB-1",
    ))
    .order(act(
        "R",
        "2026-04-10T10:00:00Z",
        Action::Reactivate,
        "C1",
        "OB-1",
    ))
    .run_through("2026-04-09");
    assert!(sim.posted.is_empty());
    assert_eq!(sim.sub("OA-1").state.status, Status::Suspended);
    sim.run_through("2026-04-10");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-04-10",
            "2026-05-09",
            "2",
            "12.00"
        )]
    );
    assert_eq!(sim.sub("OA-1").state.paid_start, Some(d("2026-04-10")));
    assert_eq!(
        sim.sub("OA-1").term_at(d("2026-04-10")).unwrap().end,
        d("2027-04-09")
    );
}

#[test]
fn a_late_addon_purchase_dated_in_the_trial_is_charged_from_the_conversion() {
    let mut sim = Sim::new(
        vec![
            Offer {
                trial_days: 30,
                ..monthly("TB", "30.00")
            },
            addon("TA", &["TB"], "6.00"),
        ],
        vec![customer("C1", "2025-01-01")],
    );
    sim.order(purchase(
        "OB",
        "2026-03-02T09:00:00Z",
        "C1",
        "TB",
        Some("1"),
    ))
    .deliver_on(
        addon_purchase("OA", "2026-03-20T10:00:00Z", "C1", "TA", "2", "OB-1"),
        d("2026-04-03"),
    )
    .run_through("2026-04-03");
    assert_eq!(sim.reject_of("OA"), None);
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-04-01",
            "2026-04-30",
            "2",
            "12.00"
        )]
    );
    assert_eq!(sim.posted_on("2026-04-03").len(), 1, "posted on delivery");
    assert_eq!(sim.sub("OA-1").state.paid_start, Some(d("2026-04-01")));
}

#[test]
fn an_addon_suspended_on_its_own_when_its_base_converts_converts_on_its_reactivation() {
    // Like a trial suspended across its conversion day: it converts when reactivated, charged
    // from then to the end of the base's period (21 of 30 days), its first term from then.
    let mut sim = monthly_base();
    sim.order(act(
        "S",
        "2026-03-25T10:00:00Z",
        Action::Suspend,
        "C1",
        "OA-1",
    ))
    .order(act(
        "R",
        "2026-04-10T10:00:00Z",
        Action::Reactivate,
        "C1",
        "OA-1",
    ))
    .run_through("2026-04-09");
    assert!(sim.lines_of("OA-1").is_empty());
    assert!(sim.sub("OA-1").state.in_trial);
    sim.run_through("2026-04-10");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-04-10",
            "2026-04-30",
            "2",
            "8.40"
        )]
    );
    let addon = sim.sub("OA-1");
    assert_eq!(addon.state.paid_start, Some(d("2026-04-10")));
    assert_eq!(
        addon.term_at(d("2026-04-10")).unwrap().start,
        d("2026-04-10")
    );
}
