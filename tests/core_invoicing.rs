//! SPEC section 7, invoice numbers: `INV-<YYYYMM of the period start>-<NNNNNN>`, NNNNNN
//! restarting at 000001 for each invoice period, customers numbered in bytewise customer_id
//! order.

mod core;

use core::*;
use subsweep::domain::invoicing::{number_in_customer_order, period_containing};

fn numbers(period_start: &str, ids: &[&str]) -> Vec<(String, String)> {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    number_in_customer_order(d(period_start), ids, |id| id.as_str())
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .collect()
}

#[test]
fn customers_are_numbered_in_bytewise_order_not_a_locale_collation() {
    // A locale would give a-1, a_1, ä, b, B, Z (or similar); bytes give uppercase first,
    // '-' (0x2D) before '_' (0x5F), and 'ä' (0xC3 0xA4) after every ASCII letter.
    assert_eq!(
        numbers("2026-03-01", &["b", "B", "a-1", "a_1", "Z", "ä"]),
        pairs(&[
            ("INV-202603-000001", "B"),
            ("INV-202603-000002", "Z"),
            ("INV-202603-000003", "a-1"),
            ("INV-202603-000004", "a_1"),
            ("INV-202603-000005", "b"),
            ("INV-202603-000006", "ä"),
        ])
    );
    // Digits compare as characters, a prefix comes first.
    assert_eq!(
        numbers("2026-03-01", &["C-9", "C-10", "C", "C-1"]),
        pairs(&[
            ("INV-202603-000001", "C"),
            ("INV-202603-000002", "C-1"),
            ("INV-202603-000003", "C-10"),
            ("INV-202603-000004", "C-9"),
        ])
    );
}

#[test]
fn numbers_restart_at_000001_in_each_period_named_after_its_start_month() {
    // invoice_day 15: the period containing 2026-03-10 starts 2026-02-15, the next 2026-03-15.
    let first = period_containing(d("2026-03-10"), 15);
    let second = period_containing(d("2026-03-20"), 15);
    assert_eq!(first.start, d("2026-02-15"));
    assert_eq!(second.start, d("2026-03-15"));
    assert_eq!(
        numbers(&first.start.to_string(), &["C2", "C1"]),
        pairs(&[("INV-202602-000001", "C1"), ("INV-202602-000002", "C2")])
    );
    assert_eq!(
        numbers(&second.start.to_string(), &["C3"]),
        pairs(&[("INV-202603-000001", "C3")])
    );
    // A period that starts in December and ends in January carries December's month.
    let year_end = period_containing(d("2027-01-10"), 15);
    assert_eq!(year_end.start, d("2026-12-15"));
    assert_eq!(
        numbers(&year_end.start.to_string(), &["C1"]),
        pairs(&[("INV-202612-000001", "C1")])
    );
}

#[test]
fn a_period_with_no_customer_has_no_number() {
    assert!(numbers("2026-03-01", &[]).is_empty());
}
