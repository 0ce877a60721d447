//! The invoice files of SPEC section 7: `invoice-lines.csv` re-emitted from the period's lines
//! as the database streams them, and `invoices.csv` from the stored invoices. While the lines
//! are written, each invoice's count and sum are accumulated from the very cells written, and
//! must equal the invoice's stored count and total (computed separately, by SQL, when the
//! invoice was numbered): a file whose lines do not add up to its invoices is never published.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::cells;
use crate::store::invoices::{Invoice, LINE_FIELDS};

/// invoice-lines.csv's columns, in order.
pub const LINE_HEADER: [&str; 22] = [
    "PartnerId",
    "CustomerId",
    "CustomerName",
    "CustomerCountry",
    "InvoiceNumber",
    "OrderId",
    "SubscriptionId",
    "ParentSubscriptionId",
    "OfferId",
    "OfferName",
    "PublisherName",
    "ChargeType",
    "ChargeStartDate",
    "ChargeEndDate",
    "BillableDays",
    "PeriodDays",
    "UnitPrice",
    "Quantity",
    "Amount",
    "Currency",
    "BillingCycleType",
    "PostedOn",
];

/// invoices.csv's columns, in order.
pub const INVOICE_HEADER: [&str; 8] = [
    "InvoiceNumber",
    "CustomerId",
    "CustomerName",
    "PeriodStart",
    "PeriodEnd",
    "LineCount",
    "Total",
    "Currency",
];

/// Why the lines of a period could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("reading the period's lines from the database: {0}")]
    Read(#[from] csv::Error),
    #[error("line {row} of the period's lines: {problem}")]
    BadValue { row: u64, problem: String },
    #[error(
        "control totals differ for {invoice}: the lines written count {written_lines} for \
         {written_total}, the invoice says {expected_lines} for {expected_total}; nothing was \
         published (check charge_lines against subscriptions, customers and offers)"
    )]
    ControlTotals {
        invoice: String,
        written_lines: i64,
        written_total: Decimal,
        expected_lines: i64,
        expected_total: Decimal,
    },
}

/// The billing cycle of a subscription billed every `months` months.
fn billing_cycle(months: &str) -> Option<&'static str> {
    match months {
        "1" => Some("monthly"),
        "12" => Some("annual"),
        _ => None,
    }
}

/// Writes invoice-lines.csv from `rows` (CSV rows as [`crate::store::invoices::period_lines`]
/// streams them) and checks them against `invoices`: every invoice must get exactly its stored
/// line count and total, and no line may belong to another invoice. Returns the number of lines.
pub fn write_lines(
    out: &mut dyn Write,
    rows: impl BufRead,
    partner_id: &str,
    invoices: &[Invoice],
) -> Result<u64, LinesError> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(LINE_HEADER)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(rows);
    let mut written: HashMap<&str, (i64, Decimal)> = invoices
        .iter()
        .map(|i| (i.invoice_number.as_str(), (0, Decimal::ZERO)))
        .collect();
    let partner = cells::text(partner_id);
    let mut record = csv::StringRecord::new();
    let mut count = 0u64;
    while reader.read_record(&mut record)? {
        count += 1;
        let bad = |problem: String| LinesError::BadValue {
            row: count,
            problem,
        };
        if record.len() != LINE_FIELDS {
            return Err(bad(format!(
                "{} fields, expected {LINE_FIELDS}",
                record.len()
            )));
        }
        let f = |i: usize| &record[i];
        let decimal = |i: usize| {
            f(i).parse::<Decimal>()
                .map_err(|e| bad(format!("'{}' is not a number: {e}", f(i))))
        };
        let date = |i: usize| {
            f(i).parse::<NaiveDate>()
                .map_err(|e| bad(format!("'{}' is not a date: {e}", f(i))))
        };
        let amount = cells::amount(decimal(17)?);
        let invoice = f(3);
        match written.get_mut(invoice) {
            Some((lines, total)) => {
                *lines += 1;
                // Sum what the file says, not what the database holds.
                *total += amount
                    .parse::<Decimal>()
                    .expect("a formatted amount parses back");
            }
            None => {
                return Err(bad(format!(
                    "invoice {invoice} is not an invoice of this period"
                )));
            }
        }
        let cycle =
            billing_cycle(f(19)).ok_or_else(|| bad(format!("billing every {} months", f(19))))?;
        csv.write_record([
            partner.as_str(),
            &cells::text(f(0)),
            &cells::text(f(1)),
            &cells::text(f(2)),
            &cells::text(invoice),
            &cells::text(f(4)),
            &cells::text(f(5)),
            &cells::text(f(6)),
            &cells::text(f(7)),
            &cells::text(f(8)),
            &cells::text(f(9)),
            &cells::text(f(10)),
            &cells::date(Some(date(11)?)),
            &cells::date(Some(date(12)?)),
            f(13),
            f(14),
            &cells::price(decimal(15)?),
            &cells::quantity(Some(decimal(16)?)),
            &amount,
            &cells::text(f(18)),
            cycle,
            &cells::date(Some(date(20)?)),
        ])?;
    }
    for invoice in invoices {
        let (lines, total) = written[invoice.invoice_number.as_str()];
        if lines != i64::from(invoice.line_count) || total != invoice.total {
            return Err(LinesError::ControlTotals {
                invoice: invoice.invoice_number.clone(),
                written_lines: lines,
                written_total: total,
                expected_lines: i64::from(invoice.line_count),
                expected_total: invoice.total,
            });
        }
    }
    csv.flush()?;
    Ok(count)
}

/// Writes invoices.csv: one row per invoice, with its customer's name, in the given order.
pub fn write_invoices(out: &mut dyn Write, invoices: &[(Invoice, String)]) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(INVOICE_HEADER)?;
    for (invoice, customer_name) in invoices {
        csv.write_record([
            cells::text(&invoice.invoice_number),
            cells::text(&invoice.customer_id),
            cells::text(customer_name),
            cells::date(Some(invoice.period_start)),
            cells::date(Some(invoice.period_end)),
            invoice.line_count.to_string(),
            cells::amount(invoice.total),
            cells::text(&invoice.currency),
        ])?;
    }
    csv.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn invoice(number: &str, lines: i32, total: Decimal) -> Invoice {
        Invoice {
            invoice_number: number.into(),
            customer_id: "C1".into(),
            period_start: "2026-03-01".parse().unwrap(),
            period_end: "2026-03-31".parse().unwrap(),
            line_count: lines,
            total,
            currency: "USD".into(),
        }
    }

    const ROW: &str = "C1,=Name,US,INV-202603-000001,O1,O1-1,,OF1,Offer,Pub,Cycle fee,\
                       2026-03-01,2026-03-31,31,31,4.5,2,-9,USD,1,2026-03-01\n";

    #[test]
    fn lines_are_formatted_and_checked_against_their_invoice() {
        let mut out = Vec::new();
        let n = write_lines(
            &mut out,
            ROW.as_bytes(),
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9))],
        )
        .unwrap();
        assert_eq!(n, 1);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "P1,C1,'=Name,US,INV-202603-000001,O1,O1-1,,OF1,Offer,Pub,Cycle fee,2026-03-01,\
             2026-03-31,31,31,4.50,2,-9.00,USD,monthly,2026-03-01"
        );
    }

    #[test]
    fn a_total_that_does_not_match_is_refused() {
        let err = write_lines(
            &mut Vec::new(),
            ROW.as_bytes(),
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9.01))],
        )
        .unwrap_err();
        assert!(matches!(err, LinesError::ControlTotals { .. }), "{err}");
        // A missing line is refused too.
        let err = write_lines(
            &mut Vec::new(),
            &b""[..],
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9))],
        )
        .unwrap_err();
        assert!(matches!(err, LinesError::ControlTotals { .. }), "{err}");
    }
}
