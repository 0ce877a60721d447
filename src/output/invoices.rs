//! The invoice files of SPEC section 7: `invoice-lines.csv` re-emitted from the period's lines
//! as the database streams them, and `invoices.csv` from the stored invoices. While the lines
//! are written, each invoice's count and sum are accumulated from the very cells written, and
//! must equal the invoice's stored count and total (computed separately, by SQL, when the
//! invoice was numbered): a file whose lines do not add up to its invoices is never published.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::cells;
use crate::store::export::{InvoiceLineRow, RowError};
use crate::store::invoices::Invoice;

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
fn billing_cycle(months: i64) -> Option<&'static str> {
    match months {
        1 => Some("monthly"),
        12 => Some("annual"),
        _ => None,
    }
}

/// The values of one invoice line as the database holds them (text as stored, `""` for an
/// absent parent). Both `invoices` and `preview` write a line through [`line_cells`], so the
/// two can never format a line differently.
#[derive(Debug, Clone, Copy)]
pub struct LineValues<'a> {
    pub customer_id: &'a str,
    pub customer_name: &'a str,
    pub customer_country: &'a str,
    pub invoice_number: &'a str,
    pub order_id: &'a str,
    pub subscription_id: &'a str,
    pub parent_subscription_id: &'a str,
    pub offer_id: &'a str,
    pub offer_name: &'a str,
    pub publisher_name: &'a str,
    pub charge_type: &'a str,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub billable_days: i64,
    pub period_days: i64,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub currency: &'a str,
    pub billing_months: i64,
    pub posted_on: NaiveDate,
}

/// The 22 cells of one invoice-lines.csv row, in [`LINE_HEADER`] order; `partner_cell` is the
/// partner id already formatted with [`cells::text`]. Fails only on a billing frequency the
/// file cannot name.
pub fn line_cells(partner_cell: &str, v: &LineValues<'_>) -> Result<[String; 22], String> {
    Ok(borrowed_line_cells(partner_cell, v)?.map(Cow::into_owned))
}

/// [`line_cells`], borrowing the text cells written as they are stored (most are).
pub fn borrowed_line_cells<'a>(
    partner_cell: &'a str,
    v: &LineValues<'a>,
) -> Result<[Cow<'a, str>; 22], String> {
    let cycle = billing_cycle(v.billing_months)
        .ok_or_else(|| format!("billing every {} months", v.billing_months))?;
    let owned = |cell: String| Cow::Owned(cell);
    Ok([
        Cow::Borrowed(partner_cell),
        cells::text_cell(v.customer_id),
        cells::text_cell(v.customer_name),
        cells::text_cell(v.customer_country),
        cells::text_cell(v.invoice_number),
        cells::text_cell(v.order_id),
        cells::text_cell(v.subscription_id),
        cells::text_cell(v.parent_subscription_id),
        cells::text_cell(v.offer_id),
        cells::text_cell(v.offer_name),
        cells::text_cell(v.publisher_name),
        cells::text_cell(v.charge_type),
        owned(cells::date(Some(v.start_date))),
        owned(cells::date(Some(v.end_date))),
        owned(v.billable_days.to_string()),
        owned(v.period_days.to_string()),
        owned(cells::price(v.unit_price)),
        owned(cells::quantity(Some(v.quantity))),
        owned(cells::amount(v.amount)),
        cells::text_cell(v.currency),
        Cow::Borrowed(cycle),
        owned(cells::date(Some(v.posted_on))),
    ])
}

impl From<RowError> for LinesError {
    fn from(e: RowError) -> Self {
        match e {
            RowError::Read(e) => LinesError::Read(e),
            RowError::BadValue { row, problem } => LinesError::BadValue { row, problem },
        }
    }
}

impl<'a> LineValues<'a> {
    /// The values of line `r` on invoice `invoice_number`.
    fn of(r: &'a InvoiceLineRow, invoice_number: &'a str) -> Self {
        LineValues {
            customer_id: &r.customer_id,
            customer_name: &r.customer_name,
            customer_country: &r.customer_country,
            invoice_number,
            order_id: &r.order_id,
            subscription_id: &r.subscription_id,
            parent_subscription_id: &r.parent_subscription_id,
            offer_id: &r.offer_id,
            offer_name: &r.offer_name,
            publisher_name: &r.publisher_name,
            charge_type: &r.charge_type,
            start_date: r.start_date,
            end_date: r.end_date,
            billable_days: r.billable_days,
            period_days: r.period_days,
            unit_price: r.unit_price,
            quantity: r.quantity,
            amount: r.amount,
            currency: &r.currency,
            billing_months: r.billing_months,
            posted_on: r.posted_on,
        }
    }
}

/// Writes invoice-lines.csv from `rows` (the period's lines, as
/// [`crate::store::invoices::read_period_lines`] streams them, by customer) and checks them
/// against `invoices`: each line goes on its customer's invoice (a line whose customer has no
/// invoice of the period is not written), the invoice numbers must never go backwards (the file
/// is in invoice order), and every invoice must get exactly its stored line count and total.
/// Returns the number of lines.
pub fn write_lines(
    out: &mut dyn Write,
    rows: impl IntoIterator<Item = Result<InvoiceLineRow, RowError>>,
    partner_id: &str,
    invoices: &[Invoice],
) -> Result<u64, LinesError> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(LINE_HEADER)?;
    let of_customer: HashMap<&str, usize> = invoices
        .iter()
        .enumerate()
        .map(|(n, i)| (i.customer_id.as_str(), n))
        .collect();
    let mut written: Vec<(i64, Decimal)> = vec![(0, Decimal::ZERO); invoices.len()];
    let mut previous: Option<&str> = None;
    let partner = cells::text(partner_id);
    let mut count = 0u64;
    for row in rows {
        let row = row?;
        let Some(&n) = of_customer.get(row.customer_id.as_str()) else {
            continue;
        };
        count += 1;
        let bad = |problem: String| LinesError::BadValue {
            row: count,
            problem,
        };
        let invoice = invoices[n].invoice_number.as_str();
        if previous.is_some_and(|p| p > invoice) {
            return Err(bad(format!(
                "invoice {invoice} comes after {}: the lines are not in invoice order",
                previous.unwrap_or_default()
            )));
        }
        previous = Some(invoice);
        let values = LineValues::of(&row, invoice);
        let cells = borrowed_line_cells(&partner, &values).map_err(bad)?;
        let (lines, total) = &mut written[n];
        *lines += 1;
        // Sum what the file says, not what the database holds.
        *total += cells[18]
            .parse::<Decimal>()
            .expect("a formatted amount parses back");
        csv.write_record(cells.iter().map(|cell| cell.as_bytes()))?;
    }
    for (invoice, &(lines, total)) in invoices.iter().zip(&written) {
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
    use crate::store::export::Rows;
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

    const ROW: &str = "C1,=Name,US,O1,O1-1,,OF1,Offer,Pub,Cycle fee,\
                       2026-03-01,2026-03-31,31,31,4.5,2,-9,USD,1,2026-03-01\n";

    #[test]
    fn lines_are_formatted_and_checked_against_their_invoice() {
        let mut out = Vec::new();
        let n = write_lines(
            &mut out,
            Rows::new(ROW.as_bytes()),
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
            Rows::new(ROW.as_bytes()),
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9.01))],
        )
        .unwrap_err();
        assert!(matches!(err, LinesError::ControlTotals { .. }), "{err}");
        // A missing line is refused too.
        let err = write_lines(
            &mut Vec::new(),
            Rows::new(&b""[..]),
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9))],
        )
        .unwrap_err();
        assert!(matches!(err, LinesError::ControlTotals { .. }), "{err}");
    }

    fn of(customer: &str, number: &str, lines: i32, total: Decimal) -> Invoice {
        Invoice {
            customer_id: customer.into(),
            ..invoice(number, lines, total)
        }
    }

    #[test]
    fn each_line_goes_on_its_customers_invoice_in_invoice_order() {
        let rows = format!(
            "{ROW}{}{}",
            ROW.replace("C1,", "C0,"),
            ROW.replace("C1,", "C2,")
        );
        // C0 has no invoice of the period: its line is not written (nor counted).
        let invoices = [
            of("C1", "INV-202603-000001", 1, dec!(-9)),
            of("C2", "INV-202603-000002", 1, dec!(-9)),
        ];
        let mut out = Vec::new();
        let n = write_lines(&mut out, Rows::new(rows.as_bytes()), "P1", &invoices).unwrap();
        assert_eq!(n, 2);
        let text = String::from_utf8(out).unwrap();
        let numbers: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap())
            .collect();
        assert_eq!(numbers, ["INV-202603-000001", "INV-202603-000002"]);

        // Numbers that do not follow the customers' order: refused, nothing silently reordered.
        let swapped = [
            of("C1", "INV-202603-000002", 1, dec!(-9)),
            of("C2", "INV-202603-000001", 1, dec!(-9)),
        ];
        let err =
            write_lines(&mut Vec::new(), Rows::new(rows.as_bytes()), "P1", &swapped).unwrap_err();
        assert!(matches!(err, LinesError::BadValue { row: 2, .. }), "{err}");
    }
}
