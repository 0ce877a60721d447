//! SPEC section 5 on the pure core: terms and periods, renewals and expiry, cancellation
//! windows, trials, add-ons, suspension and data expiry.

mod core;

use core::*;
use subsweep::domain::catalog::Offer;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::reject::RejectCode;
use subsweep::domain::vocabulary::{Action, BillingFrequency, Status};

fn one(offer: Offer) -> Sim {
    Sim::new(vec![offer], vec![customer("C1", "2025-01-01")])
}

// ------------------------------------------------------------------ periods, terms, renewals

#[test]
fn a_january_31_start_bills_february_28_then_march_31() {
    let mut sim = one(monthly("M", "31.00"));
    sim.order(purchase("O", "2026-01-31T10:00:00Z", "C1", "M", Some("1")))
        .run_through("2026-04-30");
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2026-01-31",
                "2026-02-27",
                "1",
                "31.00"
            ),
            line("Cycle fee", "2026-02-28", "2026-03-30", "1", "31.00"),
            line("Cycle fee", "2026-03-31", "2026-04-29", "1", "31.00"),
            line("Cycle fee", "2026-04-30", "2026-05-30", "1", "31.00"),
        ]
    );
}

#[test]
fn a_february_29_annual_start_has_periods_of_365_and_366_days() {
    let mut sim = one(offer("A", BillingFrequency::Annual, 12, "365.00"));
    sim.order(purchase("O", "2024-02-29T10:00:00Z", "C1", "A", Some("1")))
        .run_through("2028-02-29");
    let lines: Vec<_> = sim
        .posted
        .iter()
        .map(|(on, l)| (on.to_string(), l.range.to_string(), l.period_days))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("2024-02-29".into(), "2024-02-29..2025-02-27".into(), 365),
            ("2025-02-28".into(), "2025-02-28..2026-02-27".into(), 365),
            ("2026-02-28".into(), "2026-02-28..2027-02-27".into(), 365),
            ("2027-02-28".into(), "2027-02-28..2028-02-28".into(), 366),
            ("2028-02-29".into(), "2028-02-29..2029-02-27".into(), 365),
        ]
    );
    // Every term is 12 months: each anniversary is a renewal.
    assert!(
        sim.posted[1..]
            .iter()
            .all(|(_, l)| l.charge_type == ChargeType::RenewFee)
    );
}

#[test]
fn a_twelve_month_term_billed_monthly_renews_after_twelve_periods() {
    let mut sim = one(monthly("M", "10.00"));
    sim.order(purchase("O", "2026-01-15T10:00:00Z", "C1", "M", Some("2")))
        .run_through("2027-02-15");
    let types: Vec<_> = sim
        .posted
        .iter()
        .map(|(on, l)| (on.to_string(), l.charge_type))
        .collect();
    assert_eq!(types[0], ("2026-01-15".into(), ChargeType::PurchaseProrate));
    assert!(types[1..12].iter().all(|(_, t)| *t == ChargeType::CycleFee));
    assert_eq!(types[12], ("2027-01-15".into(), ChargeType::RenewFee));
    assert_eq!(types[13], ("2027-02-15".into(), ChargeType::CycleFee));
    assert_eq!(
        sim.sub("O-1").view(d("2027-02-15")).term_end,
        Some(d("2028-01-14"))
    );
}

#[test]
fn a_one_month_term_renews_every_month_and_a_36_month_annual_term_cycles_twice() {
    let mut sim = one(offer("M1", BillingFrequency::Monthly, 1, "5.00"));
    sim.order(purchase("O", "2026-01-10T10:00:00Z", "C1", "M1", Some("1")))
        .run_through("2026-03-10");
    let types: Vec<_> = sim.posted.iter().map(|(_, l)| l.charge_type).collect();
    assert_eq!(
        types,
        [
            ChargeType::PurchaseProrate,
            ChargeType::RenewFee,
            ChargeType::RenewFee
        ]
    );

    let mut sim = one(offer("A36", BillingFrequency::Annual, 36, "100.00"));
    sim.order(purchase(
        "O",
        "2026-01-10T10:00:00Z",
        "C1",
        "A36",
        Some("1"),
    ))
    .run_through("2029-01-10");
    let types: Vec<_> = sim.posted.iter().map(|(_, l)| l.charge_type).collect();
    assert_eq!(
        types,
        [
            ChargeType::PurchaseProrate,
            ChargeType::CycleFee,
            ChargeType::CycleFee,
            ChargeType::RenewFee
        ]
    );
}

#[test]
fn auto_renew_off_expires_the_subscription_at_term_end() {
    let mut sim = one(offer("M1", BillingFrequency::Monthly, 1, "5.00"));
    sim.order(purchase("O", "2026-01-10T10:00:00Z", "C1", "M1", Some("1")))
        .order(auto_renew("R", "2026-01-20T10:00:00Z", "C1", "O-1", false))
        .run_through("2026-03-01");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Expired);
    assert_eq!(sub.state.ended_on, Some(d("2026-02-10")));
    assert_eq!(sim.posted.len(), 1, "no renewal is charged");
}

// ------------------------------------------------------------------ cancellation

#[test]
fn a_monthly_cancel_less_than_24_hours_after_purchase_credits_everything_at_once() {
    let mut sim = one(monthly("M", "30.00"));
    sim.order(purchase("O", "2026-03-10T10:00:00Z", "C1", "M", Some("1")))
        .order(change("Q", "2026-03-10T12:00:00Z", "C1", "O-1", "3"))
        .order(act(
            "K",
            "2026-03-11T09:59:59Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-04-30");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Cancelled);
    assert_eq!(sub.state.ended_on, Some(d("2026-03-11")));
    assert_eq!(sim.total_of("O-1"), dec("0"));
    let credits = sim.lines_of_type("O-1", ChargeType::CancelFee);
    assert_eq!(credits.len(), 3, "one credit per line charged so far");
    assert!(credits.iter().all(|l| l.quantity > dec("0")));
}

#[test]
fn a_monthly_cancel_exactly_24_hours_after_purchase_is_scheduled_for_term_end() {
    let mut sim = one(monthly("M", "30.00"));
    sim.order(purchase("O", "2026-03-10T10:00:00Z", "C1", "M", Some("1")))
        .order(act(
            "K",
            "2026-03-11T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-04-10");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Active);
    assert!(sub.state.cancel_at_term_end && !sub.state.auto_renew);
    assert!(sim.lines_of_type("O-1", ChargeType::CancelFee).is_empty());
    sim.run_through("2027-03-10");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Cancelled);
    assert_eq!(sub.state.ended_on, Some(d("2027-03-10")));
    assert!(sim.lines_of_type("O-1", ChargeType::RenewFee).is_empty());
}

#[test]
fn an_annual_cancel_within_14_days_refunds_and_exactly_14_days_is_late() {
    let annual = offer("A", BillingFrequency::Annual, 12, "120.00");
    let mut sim = one(annual.clone());
    sim.order(purchase("O", "2026-03-01T10:00:00Z", "C1", "A", Some("1")))
        .order(act(
            "K",
            "2026-03-15T09:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-03-15");
    assert_eq!(sim.sub("O-1").state.status, Status::Cancelled);
    assert_eq!(sim.total_of("O-1"), dec("0"));

    let mut sim = one(annual);
    sim.order(purchase("O", "2026-03-01T10:00:00Z", "C1", "A", Some("1")))
        .order(act(
            "K",
            "2026-03-15T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-03-15");
    assert_eq!(sim.sub("O-1").state.status, Status::Active);
    assert!(sim.sub("O-1").state.cancel_at_term_end);
    assert_eq!(sim.total_of("O-1"), dec("120.00"));
}

#[test]
fn turning_auto_renew_back_on_withdraws_a_scheduled_cancellation() {
    let mut sim = one(offer("M1", BillingFrequency::Monthly, 1, "5.00"));
    sim.order(purchase("O", "2026-01-10T10:00:00Z", "C1", "M1", Some("1")))
        .order(act(
            "K",
            "2026-01-20T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .order(auto_renew("R", "2026-02-01T10:00:00Z", "C1", "O-1", true))
        .run_through("2026-02-10");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.status, Status::Active);
    assert!(!sub.state.cancel_at_term_end && sub.state.auto_renew);
    assert_eq!(sim.lines_of_type("O-1", ChargeType::RenewFee).len(), 1);
}

#[test]
fn a_second_late_cancel_is_an_invalid_transition() {
    let mut sim = one(monthly("M", "5.00"));
    sim.order(purchase("O", "2026-01-10T10:00:00Z", "C1", "M", Some("1")))
        .order(act(
            "K",
            "2026-01-20T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .order(act(
            "K2",
            "2026-01-21T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-01-21");
    assert_eq!(sim.reject_of("K2"), Some(RejectCode::InvalidTransition));
}

#[test]
fn cancelling_a_metered_subscription_ends_it_and_bills_usage_to_date() {
    let mut sim = one(usage_offer("U", "0.25"));
    sim.order(purchase("O", "2026-03-05T10:00:00Z", "C1", "U", None))
        .order(usage("U1", "2026-03-20T10:00:00Z", "C1", "O-1", "100"))
        .order(usage("U2", "2026-04-06T10:00:00Z", "C1", "O-1", "10.5"))
        .order(act(
            "K",
            "2026-04-20T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .order(usage("U3", "2026-04-21T10:00:00Z", "C1", "O-1", "7"))
        .run_through("2026-05-31");
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Assess usage fee for current cycle",
                "2026-03-05",
                "2026-04-04",
                "100",
                "25.00"
            ),
            line(
                "Assess usage fee when cancel",
                "2026-04-05",
                "2026-04-20",
                "10.5",
                "2.63"
            ),
        ]
    );
    assert_eq!(sim.reject_of("U3"), Some(RejectCode::InvalidTransition));
}

// ------------------------------------------------------------------ trials

fn trial_offer() -> Offer {
    Offer {
        trial_days: 30,
        ..monthly("T", "12.00")
    }
}

#[test]
fn a_trial_is_free_then_converts_the_day_after_it_ends() {
    let mut sim = one(trial_offer());
    sim.order(purchase("O", "2026-03-10T10:00:00Z", "C1", "T", Some("1")))
        .run_through("2026-04-08");
    let sub = sim.sub("O-1");
    assert!(sub.state.in_trial);
    assert_eq!(sub.state.trial_end, Some(d("2026-04-08")));
    assert!(sim.posted.is_empty());
    sim.run_through("2026-04-09");
    let sub = sim.sub("O-1");
    assert!(!sub.state.in_trial);
    assert_eq!(sub.state.paid_start, Some(d("2026-04-09")));
    assert_eq!(
        sim.lines_of("O-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-04-09",
            "2026-05-08",
            "1",
            "12.00"
        )]
    );
    assert_eq!(sub.view(d("2026-04-09")).term_end, Some(d("2027-04-08")));
}

#[test]
fn a_trial_suspended_across_its_conversion_day_converts_on_reactivation() {
    let mut sim = one(trial_offer());
    sim.order(purchase("O", "2026-03-10T10:00:00Z", "C1", "T", Some("2")))
        .order(act(
            "S",
            "2026-04-01T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .order(act(
            "R",
            "2026-04-20T10:00:00Z",
            Action::Reactivate,
            "C1",
            "O-1",
        ))
        .run_through("2026-04-19");
    assert!(
        sim.sub("O-1").state.in_trial,
        "still in trial while suspended past its end"
    );
    assert!(sim.posted.is_empty());
    sim.run_through("2026-05-20");
    let sub = sim.sub("O-1");
    assert_eq!(sub.state.paid_start, Some(d("2026-04-20")));
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2026-04-20",
                "2026-05-19",
                "2",
                "24.00"
            ),
            line("Cycle fee", "2026-05-20", "2026-06-19", "2", "24.00"),
        ]
    );
}

#[test]
fn cancelling_during_a_trial_ends_it_at_once_with_nothing_charged() {
    let mut sim = one(trial_offer());
    sim.order(purchase("O", "2026-03-10T10:00:00Z", "C1", "T", Some("1")))
        .order(act(
            "K",
            "2026-03-25T10:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .run_through("2026-05-01");
    assert_eq!(sim.sub("O-1").state.status, Status::Cancelled);
    assert!(sim.posted.is_empty());
}

// ------------------------------------------------------------------ add-ons

fn base_and_addon() -> Sim {
    let mut sim = Sim::new(
        vec![
            offer("B", BillingFrequency::Monthly, 12, "30.00"),
            addon("A", &["B"], "6.00"),
        ],
        vec![customer("C1", "2025-01-01")],
    );
    sim.order(purchase("OB", "2026-01-01T10:00:00Z", "C1", "B", Some("1")))
        .order(addon_purchase(
            "OA",
            "2026-02-16T10:00:00Z",
            "C1",
            "A",
            "2",
            "OB-1",
        ));
    sim
}

#[test]
fn an_addon_follows_its_base_calendar_and_term() {
    let mut sim = base_and_addon();
    sim.run_through("2026-04-01");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![
            line(
                "Prorate fees when purchase",
                "2026-02-16",
                "2026-02-28",
                "2",
                "5.57"
            ),
            line("Cycle fee", "2026-03-01", "2026-03-31", "2", "12.00"),
            line("Cycle fee", "2026-04-01", "2026-04-30", "2", "12.00"),
        ]
    );
    let (base, add) = (
        sim.sub("OB-1").view(d("2026-04-01")),
        sim.sub("OA-1").view(d("2026-04-01")),
    );
    assert_eq!(add.term_end, base.term_end);
    assert_eq!(add.term_end, Some(d("2026-12-31")));
}

#[test]
fn suspending_the_base_suspends_its_addons_and_reactivation_brings_back_only_those() {
    let mut sim = Sim::new(
        vec![monthly("B", "30.00"), addon("A", &["B"], "6.00")],
        vec![customer("C1", "2025-01-01")],
    );
    sim.order(purchase("OB", "2026-01-01T10:00:00Z", "C1", "B", Some("1")))
        .order(addon_purchase(
            "OA",
            "2026-01-02T10:00:00Z",
            "C1",
            "A",
            "1",
            "OB-1",
        ))
        .order(addon_purchase(
            "OC",
            "2026-01-02T11:00:00Z",
            "C1",
            "A",
            "1",
            "OB-1",
        ))
        .order(act(
            "S1",
            "2026-02-10T10:00:00Z",
            Action::Suspend,
            "C1",
            "OC-1",
        ))
        .order(act(
            "S2",
            "2026-02-11T10:00:00Z",
            Action::Suspend,
            "C1",
            "OB-1",
        ))
        .order(act(
            "R0",
            "2026-02-12T10:00:00Z",
            Action::Reactivate,
            "C1",
            "OA-1",
        ))
        .order(act(
            "R1",
            "2026-02-13T10:00:00Z",
            Action::Reactivate,
            "C1",
            "OB-1",
        ))
        .run_through("2026-02-13");
    assert_eq!(
        sim.reject_of("R0"),
        Some(RejectCode::InvalidTransition),
        "not while the base is suspended"
    );
    assert_eq!(sim.sub("OB-1").state.status, Status::Active);
    assert_eq!(sim.sub("OA-1").state.status, Status::Active);
    assert_eq!(
        sim.sub("OC-1").state.status,
        Status::Suspended,
        "suspended on its own, stays suspended"
    );
    // The add-on suspended with the base was credited and charged on the base's dates.
    assert_eq!(
        sim.lines_of_type("OA-1", ChargeType::CancelFee)[0]
            .range
            .start,
        d("2026-02-11")
    );
    assert_eq!(
        sim.lines_of_type("OA-1", ChargeType::ActivationFee)[0]
            .range
            .start,
        d("2026-02-13")
    );
}

#[test]
fn cancelling_the_base_cancels_its_addons_the_same_way() {
    let mut sim = Sim::new(
        vec![monthly("B", "30.00"), addon("A", &["B"], "6.00")],
        vec![customer("C1", "2025-01-01")],
    );
    sim.order(purchase("OB", "2026-01-01T10:00:00Z", "C1", "B", Some("1")))
        .order(addon_purchase(
            "OA",
            "2026-01-01T12:00:00Z",
            "C1",
            "A",
            "1",
            "OB-1",
        ))
        .order(act(
            "K",
            "2026-01-02T09:00:00Z",
            Action::Cancel,
            "C1",
            "OB-1",
        ))
        .run_through("2026-01-02");
    assert_eq!(sim.sub("OA-1").state.status, Status::Cancelled);
    assert_eq!(sim.total_of("OA-1"), dec("0"));

    let mut sim = base_and_addon();
    sim.order(act(
        "K",
        "2026-03-05T09:00:00Z",
        Action::Cancel,
        "C1",
        "OB-1",
    ))
    .run_through("2027-01-01");
    for id in ["OB-1", "OA-1"] {
        assert_eq!(sim.sub(id).state.status, Status::Cancelled, "{id}");
        assert_eq!(sim.sub(id).state.ended_on, Some(d("2027-01-01")), "{id}");
    }
}

#[test]
fn turning_the_base_auto_renew_back_on_withdraws_the_addons_cascaded_cancellation() {
    let mut sim = base_and_addon();
    sim.order(act(
        "K",
        "2026-03-05T09:00:00Z",
        Action::Cancel,
        "C1",
        "OB-1",
    ))
    .order(auto_renew("R", "2026-03-06T09:00:00Z", "C1", "OB-1", true))
    .run_through("2027-01-01");
    for id in ["OB-1", "OA-1"] {
        assert_eq!(sim.sub(id).state.status, Status::Active, "{id}");
    }
    assert_eq!(sim.lines_of_type("OA-1", ChargeType::RenewFee).len(), 1);
}

#[test]
fn an_expiring_base_takes_its_addons_with_it() {
    let mut sim = base_and_addon();
    sim.order(auto_renew("R", "2026-03-05T09:00:00Z", "C1", "OB-1", false))
        .run_through("2027-01-01");
    assert_eq!(sim.sub("OB-1").state.status, Status::Expired);
    assert_eq!(sim.sub("OA-1").state.status, Status::Expired);
    assert!(sim.lines_of_type("OA-1", ChargeType::RenewFee).is_empty());
}

#[test]
fn an_addon_bought_during_the_base_trial_is_free_until_the_base_converts() {
    let mut sim = Sim::new(
        vec![
            Offer {
                trial_days: 30,
                ..monthly("B", "30.00")
            },
            addon("A", &["B"], "6.00"),
        ],
        vec![customer("C1", "2025-01-01")],
    );
    sim.order(purchase("OB", "2026-03-01T10:00:00Z", "C1", "B", Some("1")))
        .order(addon_purchase(
            "OA",
            "2026-03-10T10:00:00Z",
            "C1",
            "A",
            "1",
            "OB-1",
        ))
        .run_through("2026-03-30");
    assert!(sim.posted.is_empty());
    assert!(sim.sub("OA-1").state.in_trial);
    sim.run_through("2026-03-31");
    assert_eq!(
        sim.lines_of("OA-1"),
        vec![line(
            "Prorate fees when purchase",
            "2026-03-31",
            "2026-04-29",
            "1",
            "6.00"
        )]
    );
    assert_eq!(sim.sub("OA-1").state.paid_start, Some(d("2026-03-31")));
}

// ------------------------------------------------------------------ suspension and data expiry

fn suspended_on_march_10() -> Sim {
    // Opened 2026-01-01, first paid start 2026-01-21: gap 20, retention 110 days.
    let mut sim = one(monthly("M", "10.00"));
    sim.book = subsweep::domain::book::Book::new(
        policy(),
        vec![monthly("M", "10.00")],
        vec![customer("C1", "2026-01-01")],
        None,
    );
    sim.book.keep_histories();
    sim.order(purchase("O", "2026-01-21T10:00:00Z", "C1", "M", Some("1")))
        .order(act(
            "S",
            "2026-03-10T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ));
    sim
}

#[test]
fn data_expires_retention_days_after_suspension_and_the_sweep_deletes_it_that_day() {
    let mut sim = suspended_on_march_10();
    sim.run_through("2026-06-27");
    assert_eq!(sim.sub("O-1").state.data_expires_on, Some(d("2026-06-28")));
    assert_eq!(sim.sub("O-1").state.status, Status::Suspended);
    sim.run_through("2026-06-28");
    assert_eq!(sim.sub("O-1").state.status, Status::Deleted);
    assert_eq!(sim.sub("O-1").state.ended_on, Some(d("2026-06-28")));
}

#[test]
fn reactivation_the_day_before_data_expiry_works_and_on_the_day_is_data_expired() {
    let mut sim = suspended_on_march_10();
    sim.order(act(
        "R",
        "2026-06-27T23:59:00Z",
        Action::Reactivate,
        "C1",
        "O-1",
    ))
    .run_through("2026-06-30");
    assert_eq!(sim.reject_of("R"), None);
    assert_eq!(sim.sub("O-1").state.status, Status::Active);

    let mut sim = suspended_on_march_10();
    sim.order(act(
        "R",
        "2026-06-28T00:00:00Z",
        Action::Reactivate,
        "C1",
        "O-1",
    ))
    .run_through("2026-06-30");
    assert_eq!(sim.reject_of("R"), Some(RejectCode::DataExpired));
}

#[test]
fn retention_is_capped_at_120_days_and_never_below_90() {
    use subsweep::domain::lifecycle::retention_days;
    assert_eq!(retention_days(d("2026-01-01"), Some(d("2026-01-01"))), 90);
    assert_eq!(retention_days(d("2026-01-01"), Some(d("2026-01-21"))), 110);
    assert_eq!(retention_days(d("2026-01-01"), Some(d("2026-06-01"))), 120);
    assert_eq!(retention_days(d("2026-03-01"), Some(d("2026-01-01"))), 90);
    assert_eq!(retention_days(d("2026-03-01"), None), 90);
}

#[test]
fn deleting_a_base_deletes_its_addons() {
    let mut sim = base_and_addon();
    sim.order(act(
        "S",
        "2026-03-10T10:00:00Z",
        Action::Suspend,
        "C1",
        "OB-1",
    ))
    .run_through("2026-08-31");
    for id in ["OB-1", "OA-1"] {
        assert_eq!(sim.sub(id).state.status, Status::Deleted, "{id}");
    }
}

#[test]
fn a_suspended_subscription_is_not_charged_but_its_calendar_keeps_running() {
    let mut sim = one(monthly("M", "10.00"));
    sim.order(purchase("O", "2026-01-15T10:00:00Z", "C1", "M", Some("1")))
        .order(act(
            "S",
            "2026-03-20T10:00:00Z",
            Action::Suspend,
            "C1",
            "O-1",
        ))
        .order(act(
            "R",
            "2026-05-01T10:00:00Z",
            Action::Reactivate,
            "C1",
            "O-1",
        ))
        .run_through("2026-05-15");
    let cycles: Vec<_> = sim
        .lines_of_type("O-1", ChargeType::CycleFee)
        .iter()
        .map(|l| l.range.start.to_string())
        .collect();
    assert_eq!(cycles, ["2026-02-15", "2026-03-15", "2026-05-15"]);
    let activation = &sim.lines_of_type("O-1", ChargeType::ActivationFee)[0];
    assert_eq!(activation.range.to_string(), "2026-05-01..2026-05-14");
}
