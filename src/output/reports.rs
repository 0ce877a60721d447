//! The daily reports of SPEC section 7 in `out/reports/<D>/`: `rejects.csv`,
//! `provisioning.csv` and `suspended.csv`, formatted from the rows the caller streams from the
//! store (`jobs::daily_reports` fetches and places them).

use std::io::{self, BufRead, Write};

use rust_decimal::Decimal;

use super::cells;
use crate::domain::order::COLUMNS;

/// rejects.csv's leading columns; the 13 order columns follow under their own names.
pub const REJECTS_LEADING: [&str; 4] =
    ["source_file", "source_line", "error_code", "error_message"];

/// provisioning.csv's columns.
pub const PROVISIONING_HEADER: [&str; 9] = [
    "SubscriptionId",
    "CustomerId",
    "CustomerName",
    "OfferId",
    "OfferName",
    "PublisherName",
    "Quantity",
    "PurchasedOn",
    "PublisherSetupUrl",
];

/// suspended.csv's columns.
pub const SUSPENDED_HEADER: [&str; 7] = [
    "SubscriptionId",
    "CustomerId",
    "CustomerName",
    "OfferId",
    "ParentSubscriptionId",
    "SuspendedOn",
    "DataExpiresOn",
];

/// How a column of a report is written.
#[derive(Clone, Copy)]
enum Cell {
    /// Text from users or the catalog: defused.
    Text,
    /// A number or a date the database formatted (ISO dates): as is.
    Plain,
    /// A quantity: a plain number.
    Quantity,
}

use Cell::{Plain, Quantity, Text};

/// Writes rejects.csv from the rows of a day's rejects (CSV as
/// [`crate::store::reports::rejects`] streams them): file, line, code, message, then the 13
/// order values as written.
pub fn write_rejects(out: &mut dyn Write, rows: impl BufRead) -> io::Result<()> {
    let mut header: Vec<&str> = REJECTS_LEADING.to_vec();
    header.extend(COLUMNS);
    let mut kinds = vec![Text, Plain, Text, Text];
    kinds.extend([Text; 13]);
    write_report(out, &header, &kinds, rows)
}

/// Writes provisioning.csv from the rows of [`crate::store::reports::provisioning`].
pub fn write_provisioning(out: &mut dyn Write, rows: impl BufRead) -> io::Result<()> {
    write_report(
        out,
        &PROVISIONING_HEADER,
        &[Text, Text, Text, Text, Text, Text, Quantity, Plain, Text],
        rows,
    )
}

/// Writes suspended.csv from the rows of [`crate::store::reports::suspended`].
pub fn write_suspended(out: &mut dyn Write, rows: impl BufRead) -> io::Result<()> {
    write_report(
        out,
        &SUSPENDED_HEADER,
        &[Text, Text, Text, Text, Text, Plain, Plain],
        rows,
    )
}

/// Re-emits CSV rows from the database under `header`, each cell written as its kind says.
fn write_report(
    out: &mut dyn Write,
    header: &[&str],
    kinds: &[Cell],
    rows: impl BufRead,
) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(header)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(rows);
    let mut record = csv::StringRecord::new();
    let mut cells_out: Vec<String> = Vec::with_capacity(kinds.len());
    while reader.read_record(&mut record).map_err(io::Error::other)? {
        if record.len() != kinds.len() {
            return Err(io::Error::other(format!(
                "report row has {} fields, expected {}",
                record.len(),
                kinds.len()
            )));
        }
        cells_out.clear();
        for (value, kind) in record.iter().zip(kinds) {
            cells_out.push(match kind {
                Text => cells::text(value),
                Plain => value.to_string(),
                Quantity if value.is_empty() => String::new(),
                Quantity => cells::quantity(Some(value.parse::<Decimal>().map_err(|e| {
                    io::Error::other(format!("quantity '{value}' in a report: {e}"))
                })?)),
            });
        }
        csv.write_record(&cells_out)?;
    }
    csv.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_defused_and_numbers_are_not() {
        let mut out = Vec::new();
        write_report(
            &mut out,
            &["a", "b", "c"],
            &[Text, Plain, Quantity],
            &b"=1+1,-5,2.50\n"[..],
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,b,c\n'=1+1,-5,2.5\n");
    }
}
