//! SPEC section 6: "Usage recorded late for a period already billed is posted as `Offset a
//! line item` over that period's range." The offset is the late units at the unit price,
//! posted on the day the row is applied; late usage of a period not billed yet simply joins
//! that period's total.

mod core;

use core::*;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::vocabulary::Action;

/// A metered subscription at 0.50 a unit bought 2018-03-01 (periods on the 1st), 10 units on
/// 2018-03-10: its March line (5.00) is posted on 2018-04-01.
fn metered() -> Sim {
    let mut sim = Sim::new(
        vec![usage_offer("U", "0.50")],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase("O", "2018-03-01T08:00:00Z", "C1", "U", None))
        .order(usage("U1", "2018-03-10T08:00:00Z", "C1", "O-1", "10"));
    sim
}

#[test]
fn late_usage_of_a_billed_period_is_an_offset_of_the_late_units_over_that_period() {
    let mut sim = metered();
    sim.deliver_on(
        usage("U2", "2018-03-20T08:00:00Z", "C1", "O-1", "4"),
        d("2018-04-03"),
    )
    .run_through("2018-04-03");
    assert_eq!(
        sim.lines_of("O-1"),
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
    let [offset] = sim.posted_on("2018-04-03")[..] else {
        panic!("one line posted on the day of application")
    };
    assert_eq!(offset.charge_type, ChargeType::Offset);
    assert_eq!(offset.unit_price, dec("0.50"));
    assert_eq!((offset.billable_days, offset.period_days), (31, 31));
}

#[test]
fn each_late_usage_row_is_offset_by_its_own_units() {
    let mut sim = metered();
    sim.deliver_on(
        usage("U2", "2018-03-20T08:00:00Z", "C1", "O-1", "4"),
        d("2018-04-03"),
    )
    .deliver_on(
        usage("U3", "2018-03-31T23:00:00Z", "C1", "O-1", "2.5"),
        d("2018-04-09"),
    )
    .run_through("2018-04-09");
    assert_eq!(
        sim.lines_of("O-1")[1..],
        [
            line(
                "Offset a line item",
                "2018-03-01",
                "2018-03-31",
                "4",
                "2.00"
            ),
            line(
                "Offset a line item",
                "2018-03-01",
                "2018-03-31",
                "2.5",
                "1.25"
            ),
        ]
    );
    assert_eq!(sim.posted_on("2018-04-09").len(), 1);
    assert_eq!(sim.total_of("O-1"), dec("8.25"));
}

#[test]
fn late_usage_of_the_current_period_joins_its_total() {
    // Dated 2018-04-02, applied 2018-04-05: April is not billed yet, so nothing is posted then;
    // April's one line on 2018-05-01 carries every unit.
    let mut sim = metered();
    sim.order(usage("U2", "2018-04-04T08:00:00Z", "C1", "O-1", "3"))
        .deliver_on(
            usage("U3", "2018-04-02T08:00:00Z", "C1", "O-1", "4"),
            d("2018-04-05"),
        )
        .run_through("2018-05-01");
    assert!(sim.posted_on("2018-04-05").is_empty());
    assert_eq!(
        sim.lines_of("O-1"),
        vec![
            line(
                "Assess usage fee for current cycle",
                "2018-03-01",
                "2018-03-31",
                "10",
                "5.00"
            ),
            line(
                "Assess usage fee for current cycle",
                "2018-04-01",
                "2018-04-30",
                "7",
                "3.50"
            ),
        ]
    );
}

#[test]
fn late_usage_of_a_period_that_posted_no_line_posts_that_period_line() {
    // April had no units, so no line was posted on 2018-05-01: the late units have nothing to
    // offset and become April's line, posted on the day of application.
    let mut sim = metered();
    sim.deliver_on(
        usage("U2", "2018-04-20T08:00:00Z", "C1", "O-1", "6"),
        d("2018-05-03"),
    )
    .run_through("2018-05-03");
    assert_eq!(
        sim.lines_of("O-1")[1..],
        [line(
            "Assess usage fee for current cycle",
            "2018-04-01",
            "2018-04-30",
            "6",
            "3.00"
        )]
    );
    assert_eq!(sim.posted_on("2018-05-03").len(), 1);
}

#[test]
fn late_usage_before_a_cancellation_offsets_the_cancel_usage_line() {
    // Cancelled 2018-04-15 with 2 units billed to that date; 4 units dated 2018-04-10 arrive
    // on 2018-04-18.
    let mut sim = metered();
    sim.order(usage("U2", "2018-04-05T08:00:00Z", "C1", "O-1", "2"))
        .order(act(
            "K",
            "2018-04-15T08:00:00Z",
            Action::Cancel,
            "C1",
            "O-1",
        ))
        .deliver_on(
            usage("U3", "2018-04-10T08:00:00Z", "C1", "O-1", "4"),
            d("2018-04-18"),
        )
        .run_through("2018-04-18");
    assert_eq!(sim.reject_of("U3"), None);
    assert_eq!(
        sim.lines_of("O-1")[1..],
        [
            line(
                "Assess usage fee when cancel",
                "2018-04-01",
                "2018-04-15",
                "2",
                "1.00"
            ),
            line(
                "Offset a line item",
                "2018-04-01",
                "2018-04-15",
                "4",
                "2.00"
            ),
        ]
    );
}

#[test]
fn a_late_cancel_moves_a_billed_period_usage_to_a_cancel_line_and_offsets_all_its_units() {
    // March's 10 units were billed on 2018-04-01; a cancel dated 2018-03-25 arrives on
    // 2018-04-03: the March line should not exist (offset, all 10 units), the usage is billed
    // up to the cancel date instead.
    let mut sim = metered();
    sim.deliver_on(
        act("K", "2018-03-25T08:00:00Z", Action::Cancel, "C1", "O-1"),
        d("2018-04-03"),
    )
    .run_through("2018-04-03");
    assert_eq!(sim.reject_of("K"), None);
    let mut fixed: Vec<_> = sim
        .posted_on("2018-04-03")
        .into_iter()
        .map(|l| {
            (
                l.charge_type.as_str(),
                l.range.start.to_string(),
                l.range.end.to_string(),
                l.quantity.normalize().to_string(),
                l.amount.to_string(),
            )
        })
        .collect();
    fixed.sort();
    assert_eq!(
        fixed,
        vec![
            (
                "Assess usage fee when cancel",
                "2018-03-01".into(),
                "2018-03-25".into(),
                "10".into(),
                "5.00".into()
            ),
            (
                "Offset a line item",
                "2018-03-01".into(),
                "2018-03-31".into(),
                "10".into(),
                "-5.00".into()
            ),
        ]
    );
    assert_eq!(sim.total_of("O-1"), dec("5.00"));
}
