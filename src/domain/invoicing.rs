//! Invoice periods and numbers (SPEC section 7): periods run from `invoice_day` to the day
//! before the next month's `invoice_day`; numbers are `INV-<YYYYMM>-<NNNNNN>`.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};

use super::calendar::{DateRange, anniversary};

/// The invoice period containing `date`, for `invoice_day` in 1..=28.
pub fn period_containing(date: NaiveDate, invoice_day: u32) -> DateRange {
    assert!(
        (1..=28).contains(&invoice_day),
        "invoice_day is validated to 1..=28"
    );
    let this_month = date
        .with_day(invoice_day)
        .expect("days 1..=28 exist in every month");
    let start = if date >= this_month {
        this_month
    } else {
        anniversary(this_month, 0)
            .checked_sub_months(chrono::Months::new(1))
            .expect("dates stay inside chrono's range")
    };
    let end = anniversary(start, 1)
        .pred_opt()
        .expect("dates stay inside chrono's range");
    DateRange::new(start, end)
}

/// The invoice period that starts right after `period`.
pub fn next_period(period: DateRange, invoice_day: u32) -> DateRange {
    period_containing(
        period
            .end
            .succ_opt()
            .expect("dates stay inside chrono's range"),
        invoice_day,
    )
}

/// The invoice period lines posted on `posted_on` belong to: the one containing it, or the
/// first after it whose invoice has not been emitted (`emitted` holds emitted period starts).
pub fn open_period(
    posted_on: NaiveDate,
    invoice_day: u32,
    emitted: &BTreeSet<NaiveDate>,
) -> DateRange {
    let mut period = period_containing(posted_on, invoice_day);
    while emitted.contains(&period.start) {
        period = next_period(period, invoice_day);
    }
    period
}

/// Whether `date` is the last day of its invoice period (the day its invoice is emitted).
pub fn closes_period(date: NaiveDate, invoice_day: u32) -> bool {
    period_containing(date, invoice_day).end == date
}

/// `INV-<YYYYMM of the period start>-<NNNNNN>`; `sequence` counts from 1 in customer_id order.
pub fn invoice_number(period_start: NaiveDate, sequence: u32) -> String {
    format!("INV-{}-{sequence:06}", period_start.format("%Y%m"))
}

/// The invoices of one period, numbered: sorted by customer_id byte by byte (never by a
/// locale's collation) and numbered from 000001, whatever earlier periods used.
pub fn number_in_customer_order<T>(
    period_start: NaiveDate,
    mut invoices: Vec<T>,
    customer_id: impl Fn(&T) -> &str,
) -> Vec<(String, T)> {
    invoices.sort_by(|a, b| customer_id(a).as_bytes().cmp(customer_id(b).as_bytes()));
    (1u32..)
        .zip(invoices)
        .map(|(sequence, invoice)| (invoice_number(period_start, sequence), invoice))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_run_from_invoice_day_to_the_day_before_the_next_one() {
        assert_eq!(
            period_containing(d("2026-03-15"), 1),
            DateRange::new(d("2026-03-01"), d("2026-03-31"))
        );
        assert_eq!(
            period_containing(d("2026-03-04"), 5),
            DateRange::new(d("2026-02-05"), d("2026-03-04"))
        );
        assert_eq!(
            period_containing(d("2026-03-05"), 5),
            DateRange::new(d("2026-03-05"), d("2026-04-04"))
        );
        assert_eq!(
            period_containing(d("2026-01-02"), 15),
            DateRange::new(d("2025-12-15"), d("2026-01-14"))
        );
        assert!(closes_period(d("2024-02-29"), 1));
        assert!(!closes_period(d("2024-02-28"), 1));
    }

    #[test]
    fn lines_posted_into_an_emitted_period_go_to_the_next_open_one() {
        let emitted: BTreeSet<NaiveDate> = [d("2026-03-01"), d("2026-04-01")].into();
        assert_eq!(
            open_period(d("2026-03-20"), 1, &emitted).start,
            d("2026-05-01")
        );
        assert_eq!(
            open_period(d("2026-02-20"), 1, &emitted).start,
            d("2026-02-01")
        );
    }

    #[test]
    fn numbers_carry_the_period_month_and_a_six_digit_sequence() {
        assert_eq!(invoice_number(d("2026-03-01"), 7), "INV-202603-000007");
    }
}
