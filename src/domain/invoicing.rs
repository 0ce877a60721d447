//! Invoice periods and numbers (SPEC section 7): periods run from `invoice_day` to the day
//! before the next month's `invoice_day`; numbers are `INV-<YYYYMM>-<NNNNNN>`. A period's
//! invoices are numbered, or the period refused, by [`number_invoices`].

use std::collections::BTreeSet;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

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

/// The most invoices one period can have: numbers have six digits.
pub const MAX_INVOICES: usize = 999_999;

/// What one customer's lines of a period add up to (the job's store computes it from the lines
/// themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLines {
    pub customer_id: String,
    pub line_count: i64,
    pub total: Decimal,
    /// The lowest and highest currency of the subscriptions the lines belong to (None when no
    /// line's subscription is known).
    pub min_currency: Option<String>,
    pub max_currency: Option<String>,
    /// Lines whose subscription is unknown.
    pub orphan_lines: i64,
}

/// A numbered invoice of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedInvoice {
    pub invoice_number: String,
    pub customer_id: String,
    pub period: DateRange,
    pub line_count: i32,
    pub total: Decimal,
    pub currency: String,
}

/// Why a period's invoice cannot be emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// More customers have lines than six-digit numbers can number.
    TooManyInvoices { period: DateRange, customers: usize },
    /// One customer's lines cannot make an invoice (the first such customer, in number order).
    Customer {
        period: DateRange,
        customer_id: String,
        why: CustomerRefusal,
    },
}

/// Why one customer's lines cannot make an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRefusal {
    /// Lines whose subscription is unknown (they could not be written out).
    OrphanLines(i64),
    /// Lines in more than one currency (lowest .. highest).
    MixedCurrencies {
        lowest: Option<String>,
        highest: Option<String>,
    },
    /// More lines than one invoice can count.
    TooManyLines(i64),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooManyInvoices { period, customers } => write!(
                f,
                "the period {} .. {} has {customers} customers with lines: invoice numbers \
                 have six digits",
                period.start, period.end
            ),
            Refusal::Customer {
                period,
                customer_id,
                why,
            } => write!(
                f,
                "invoice of {} .. {} refused: customer {customer_id}: {why}",
                period.start, period.end
            ),
        }
    }
}

impl fmt::Display for CustomerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomerRefusal::OrphanLines(n) => {
                write!(f, "{n} lines belong to no known subscription")
            }
            CustomerRefusal::MixedCurrencies { lowest, highest } => write!(
                f,
                "lines in several currencies ({} .. {})",
                lowest.as_deref().unwrap_or(""),
                highest.as_deref().unwrap_or("")
            ),
            CustomerRefusal::TooManyLines(_) => f.write_str("too many lines for one invoice"),
        }
    }
}

impl std::error::Error for Refusal {}

/// The invoices of `period`: one per customer with lines, numbered from 000001 in bytewise
/// customer_id order ([`number_in_customer_order`]), with the count and total of its lines. The
/// period is refused when it has more customers than numbers, or, for the first customer in
/// number order whose lines cannot make an invoice: lines of no known subscription, lines in
/// several currencies, more lines than an invoice counts.
pub fn number_invoices(
    period: DateRange,
    customers: Vec<CustomerLines>,
) -> Result<Vec<NumberedInvoice>, Refusal> {
    if customers.len() > MAX_INVOICES {
        return Err(Refusal::TooManyInvoices {
            period,
            customers: customers.len(),
        });
    }
    number_in_customer_order(period.start, customers, |c| &c.customer_id)
        .into_iter()
        .map(|(invoice_number, c)| {
            let refuse = |why| Refusal::Customer {
                period,
                customer_id: c.customer_id.clone(),
                why,
            };
            if c.orphan_lines > 0 {
                return Err(refuse(CustomerRefusal::OrphanLines(c.orphan_lines)));
            }
            let currency = match (&c.min_currency, &c.max_currency) {
                (Some(a), Some(b)) if a == b => a.clone(),
                _ => {
                    return Err(refuse(CustomerRefusal::MixedCurrencies {
                        lowest: c.min_currency.clone(),
                        highest: c.max_currency.clone(),
                    }));
                }
            };
            let line_count = i32::try_from(c.line_count)
                .map_err(|_| refuse(CustomerRefusal::TooManyLines(c.line_count)))?;
            Ok(NumberedInvoice {
                invoice_number,
                customer_id: c.customer_id,
                period,
                line_count,
                total: c.total,
                currency,
            })
        })
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

    fn lines(customer: &str, count: i64, total: &str, currency: &str) -> CustomerLines {
        CustomerLines {
            customer_id: customer.into(),
            line_count: count,
            total: total.parse().unwrap(),
            min_currency: Some(currency.into()),
            max_currency: Some(currency.into()),
            orphan_lines: 0,
        }
    }

    fn march() -> DateRange {
        DateRange::new(d("2026-03-01"), d("2026-03-31"))
    }

    #[test]
    fn a_period_is_numbered_in_bytewise_customer_order_with_its_totals() {
        let invoices = number_invoices(
            march(),
            vec![
                lines("b", 2, "20.00", "EUR"),
                lines("B", 1, "5.50", "USD"),
                lines("a", 3, "-1.00", "USD"),
            ],
        )
        .unwrap();
        let got: Vec<(&str, &str, i32, String, &str)> = invoices
            .iter()
            .map(|i| {
                (
                    i.invoice_number.as_str(),
                    i.customer_id.as_str(),
                    i.line_count,
                    i.total.to_string(),
                    i.currency.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("INV-202603-000001", "B", 1, "5.50".to_string(), "USD"),
                ("INV-202603-000002", "a", 3, "-1.00".to_string(), "USD"),
                ("INV-202603-000003", "b", 2, "20.00".to_string(), "EUR"),
            ]
        );
        assert!(invoices.iter().all(|i| i.period == march()));
        assert_eq!(number_invoices(march(), vec![]), Ok(vec![]));
    }

    #[test]
    fn lines_of_no_known_subscription_refuse_the_period_naming_the_customer() {
        let mut orphaned = lines("C2", 4, "9.00", "USD");
        orphaned.orphan_lines = 2;
        let refusal =
            number_invoices(march(), vec![lines("C1", 1, "1.00", "USD"), orphaned]).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::Customer {
                period: march(),
                customer_id: "C2".into(),
                why: CustomerRefusal::OrphanLines(2),
            }
        );
        assert_eq!(
            refusal.to_string(),
            "invoice of 2026-03-01 .. 2026-03-31 refused: customer C2: 2 lines belong to no \
             known subscription"
        );
    }

    #[test]
    fn lines_in_several_currencies_refuse_the_period() {
        let mut mixed = lines("C1", 2, "3.00", "EUR");
        mixed.max_currency = Some("USD".into());
        let refusal = number_invoices(march(), vec![mixed]).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "invoice of 2026-03-01 .. 2026-03-31 refused: customer C1: lines in several \
             currencies (EUR .. USD)"
        );
    }

    #[test]
    fn orphan_lines_are_named_before_currencies_and_the_first_customer_in_number_order_wins() {
        let mut both = lines("C2", 2, "3.00", "EUR");
        both.orphan_lines = 1;
        both.max_currency = Some("USD".into());
        let mut later = lines("C3", 1, "1.00", "EUR");
        later.orphan_lines = 1;
        let refusal = number_invoices(march(), vec![later, both]).unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::Customer { ref customer_id, why: CustomerRefusal::OrphanLines(1), .. }
                if customer_id == "C2"
        ));
    }

    #[test]
    fn more_lines_than_an_invoice_counts_refuse_the_period() {
        let big = lines("C1", i64::from(i32::MAX) + 1, "1.00", "USD");
        let refusal = number_invoices(march(), vec![big]).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "invoice of 2026-03-01 .. 2026-03-31 refused: customer C1: too many lines for one \
             invoice"
        );
        let fits = lines("C1", i64::from(i32::MAX), "1.00", "USD");
        assert_eq!(
            number_invoices(march(), vec![fits]).unwrap()[0].line_count,
            i32::MAX
        );
    }

    #[test]
    fn more_customers_than_six_digit_numbers_refuse_the_period() {
        let customers = |n: usize| -> Vec<CustomerLines> {
            (0..n)
                .map(|i| lines(&format!("C{i:07}"), 1, "1.00", "USD"))
                .collect()
        };
        let refusal = number_invoices(march(), customers(MAX_INVOICES + 1)).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "the period 2026-03-01 .. 2026-03-31 has 1000000 customers with lines: invoice \
             numbers have six digits"
        );
        let full = number_invoices(march(), customers(MAX_INVOICES)).unwrap();
        assert_eq!(full.last().unwrap().invoice_number, "INV-202603-999999");
    }
}
