//! The invoice files of SPEC section 7: `invoice-lines.csv` re-emitted from the period's lines
//! as the database streams them, and `invoices.csv` from the stored invoices. While the lines
//! are written, each invoice's count and sum are accumulated from the very cells written, and
//! must equal the invoice's stored count and total (computed separately, by SQL, when the
//! invoice was numbered): a file whose lines do not add up to its invoices is never published.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::cells::{self, NumberCell};
use crate::store::invoices::{OfferNames, StoredInvoice};

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

/// The columns of `store/invoice_lines.sql`, as the export streams them.
const EXPORT_FIELDS: usize = 16;

/// The cells of one streamed line (a record of the period's export) from its ChargeType on,
/// in [`LINE_HEADER`] order: text cells defused, numbers, dates and the billing cycle as
/// [`borrowed_line_cells`] writes them for the same values, borrowed from the record whenever
/// the database wrote them so already (almost always: nothing is parsed then but the dates).
/// `Err` says what is wrong with a value, checked in column order.
fn export_cells(r: &csv::StringRecord) -> Result<[Cow<'_, str>; 10], String> {
    // Read first, in column order, so the first bad value is the one reported.
    let start_date = cells::date_of_text(&r[6])?;
    let end_date = cells::date_of_text(&r[7])?;
    let billable_days = cells::integer_of_text(&r[8])?;
    let period_days = cells::integer_of_text(&r[9])?;
    let unit_price = NumberCell::Price.of(&r[10])?;
    let quantity = NumberCell::Quantity.of(&r[11])?;
    let amount = NumberCell::Amount.of(&r[12])?;
    let cycle = match &r[14] {
        "1" => "monthly",
        "12" => "annual",
        other => {
            let months = cells::integer_of_text(other)?;
            billing_cycle(months.parse().expect("a whole number"))
                .ok_or_else(|| format!("billing every {months} months"))?
        }
    };
    let posted_on = cells::date_of_text(&r[15])?;
    Ok([
        start_date,
        end_date,
        billable_days,
        period_days,
        unit_price,
        quantity,
        amount,
        cells::text_cell(&r[13]),
        Cow::Borrowed(cycle),
        posted_on,
    ])
}

/// The amount cell `cell` ([`cells::amount`]'s two decimals) in hundredths.
fn cents(cell: &str) -> i128 {
    let b = cell.as_bytes();
    let (negative, unsigned) = match b.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, b),
    };
    let quick =
        (unsigned.len() >= 4 && unsigned.len() <= 30 && unsigned[unsigned.len() - 3] == b'.')
            .then(|| {
                unsigned
                    .iter()
                    .filter(|&&c| c != b'.')
                    .try_fold(0i128, |n, &c| {
                        c.is_ascii_digit().then(|| n * 10 + i128::from(c - b'0'))
                    })
            })
            .flatten();
    match quick {
        Some(n) if negative => -n,
        Some(n) => n,
        None => {
            let mut value: Decimal = cell.parse().expect("a formatted amount parses back");
            value.rescale(2);
            value.mantissa()
        }
    }
}

/// Writes invoice-lines.csv from `export` (the period's lines as
/// [`crate::store::invoices::read_period_lines`] streams them: CSV, no header, by customer) and
/// checks them against `invoices`: each line goes on its customer's invoice, with the
/// customer's name and country stored with it (a line whose customer has no invoice of the
/// period is not written), the invoice numbers must never go
/// backwards (the file is in invoice order), and every invoice must get exactly its stored line
/// count and total. Returns the number of lines.
///
/// Each record is read into one reused buffer and its cells written from it: a line costs no
/// allocation unless a text needs defusing or a number is not written as the file writes it.
pub fn write_lines(
    out: &mut dyn Write,
    export: impl BufRead,
    partner_id: &str,
    invoices: &[StoredInvoice],
    offers: &HashMap<String, OfferNames>,
) -> Result<u64, LinesError> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(LINE_HEADER)?;
    let of_customer: HashMap<&str, usize> = invoices
        .iter()
        .enumerate()
        .map(|(n, i)| (i.invoice.customer_id.as_str(), n))
        .collect();
    // Lines come by customer: the previous line's customer and invoice, looked up once.
    let mut customer = String::new();
    let mut invoice_of_customer: Option<usize> = None;
    let mut written: Vec<(i64, i128)> = vec![(0, 0); invoices.len()];
    let mut previous: Option<&str> = None;
    let partner = cells::text(partner_id);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(export);
    let mut record = csv::StringRecord::new();
    let mut read = 0u64;
    let mut count = 0u64;
    while reader.read_record(&mut record)? {
        read += 1;
        if record.len() != EXPORT_FIELDS {
            return Err(LinesError::BadValue {
                row: read,
                problem: format!("{} fields, expected {EXPORT_FIELDS}", record.len()),
            });
        }
        // A line whose offer is not in the catalog is not written (as a join would drop it).
        let Some(offer) = offers.get(&record[4]) else {
            continue;
        };
        let cells =
            export_cells(&record).map_err(|problem| LinesError::BadValue { row: read, problem })?;
        if read == 1 || customer != record[0] {
            customer.clear();
            customer.push_str(&record[0]);
            invoice_of_customer = of_customer.get(customer.as_str()).copied();
        }
        let Some(n) = invoice_of_customer else {
            continue;
        };
        count += 1;
        let stored = &invoices[n];
        let invoice = stored.invoice.invoice_number.as_str();
        if previous.is_some_and(|p| p > invoice) {
            return Err(LinesError::BadValue {
                row: count,
                problem: format!(
                    "invoice {invoice} comes after {}: the lines are not in invoice order",
                    previous.unwrap_or_default()
                ),
            });
        }
        previous = Some(invoice);
        let (lines, total) = &mut written[n];
        *lines += 1;
        // Sum what the file says, not what the database holds.
        *total += cents(&cells[6]);
        csv.write_field(&partner)?;
        csv.write_field(cells::text_cell(&record[0]).as_bytes())?;
        csv.write_field(cells::text_cell(&stored.customer_name).as_bytes())?;
        csv.write_field(cells::text_cell(&stored.customer_country).as_bytes())?;
        csv.write_field(cells::text_cell(invoice).as_bytes())?;
        for i in 1..=4 {
            csv.write_field(cells::text_cell(&record[i]).as_bytes())?;
        }
        csv.write_field(cells::text_cell(&offer.name).as_bytes())?;
        csv.write_field(cells::text_cell(&offer.publisher_name).as_bytes())?;
        csv.write_field(cells::text_cell(&record[5]).as_bytes())?;
        for cell in &cells {
            csv.write_field(cell.as_bytes())?;
        }
        csv.write_record(None::<&[u8]>)?;
    }
    for (stored, &(lines, cents)) in invoices.iter().zip(&written) {
        let invoice = &stored.invoice;
        let total = Decimal::try_from_i128_with_scale(cents, 2).unwrap_or(if cents < 0 {
            Decimal::MIN
        } else {
            Decimal::MAX
        });
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
pub fn write_invoices(out: &mut dyn Write, invoices: &[StoredInvoice]) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(INVOICE_HEADER)?;
    for stored in invoices {
        let invoice = &stored.invoice;
        csv.write_record([
            cells::text(&invoice.invoice_number),
            cells::text(&invoice.customer_id),
            cells::text(&stored.customer_name),
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
    use crate::store::invoices::Invoice;
    use rust_decimal_macros::dec;

    fn invoice(number: &str, lines: i32, total: Decimal) -> StoredInvoice {
        StoredInvoice {
            invoice: Invoice {
                invoice_number: number.into(),
                customer_id: "C1".into(),
                period_start: "2026-03-01".parse().unwrap(),
                period_end: "2026-03-31".parse().unwrap(),
                line_count: lines,
                total,
                currency: "USD".into(),
            },
            customer_name: "=Name".into(),
            customer_country: "US".into(),
        }
    }

    fn offers() -> HashMap<String, OfferNames> {
        HashMap::from([(
            "OF1".to_string(),
            OfferNames {
                name: "Offer".into(),
                publisher_name: "Pub".into(),
            },
        )])
    }

    const ROW: &str = "C1,O1,O1-1,,OF1,Cycle fee,\
                       2026-03-01,2026-03-31,31,31,4.5,2,-9,USD,1,2026-03-01\n";

    #[test]
    fn lines_are_formatted_and_checked_against_their_invoice() {
        let mut out = Vec::new();
        let n = write_lines(
            &mut out,
            ROW.as_bytes(),
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9))],
            &offers(),
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
            &offers(),
        )
        .unwrap_err();
        assert!(matches!(err, LinesError::ControlTotals { .. }), "{err}");
        // A missing line is refused too.
        let err = write_lines(
            &mut Vec::new(),
            &b""[..],
            "P1",
            &[invoice("INV-202603-000001", 1, dec!(-9))],
            &offers(),
        )
        .unwrap_err();
        assert!(matches!(err, LinesError::ControlTotals { .. }), "{err}");
    }

    fn of(customer: &str, number: &str, lines: i32, total: Decimal) -> StoredInvoice {
        let mut stored = invoice(number, lines, total);
        stored.invoice.customer_id = customer.into();
        stored
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
        let n = write_lines(&mut out, rows.as_bytes(), "P1", &invoices, &offers()).unwrap();
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
            write_lines(&mut Vec::new(), rows.as_bytes(), "P1", &swapped, &offers()).unwrap_err();
        assert!(matches!(err, LinesError::BadValue { row: 2, .. }), "{err}");
    }
}
