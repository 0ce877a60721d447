//! Streaming a query's rows out of PostgreSQL with `COPY (SELECT …) TO STDOUT` in CSV format,
//! for the files that can hold a million rows: nothing is loaded whole, rows arrive as the
//! server produces them.
//!
//! diesel's `copy_to` takes a static target (a table, or here a query whose SQL is a constant),
//! and COPY takes no bind parameters, so the one parameter an export needs (a date) travels in
//! a setting of the export's transaction, `subsweep.export_param`, which the SQL reads as
//! `current_setting('subsweep.export_param')::date`. PostgreSQL's planner sees that value (it
//! estimates with it, so a day's rows are found by index; a scalar subquery instead hid it, and
//! at a million applied events a quiet day's report read them all: 266 ms instead of 0.2 ms).
//! The setting is made with `SET LOCAL` and `citus.propagate_set_commands = 'local'`, so on
//! Citus the workers' sessions of the transaction have it too (on one server that second
//! setting is an inert placeholder).

use std::io::{self, BufRead};
use std::marker::PhantomData;

use chrono::NaiveDate;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::{CopyFormat, CopyTarget, Pg};
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::sql_types::Text;
use rust_decimal::Decimal;

/// A query exported with COPY: its SQL reads its parameter as
/// `current_setting('subsweep.export_param')::date`.
pub trait Export {
    const SQL: &'static str;
}

/// The COPY target for an export: `(SELECT …)` instead of a table.
struct Target<Q>(PhantomData<Q>);

impl<Q: Export> CopyTarget for Target<Q> {
    // diesel's trait names a table; COPY of a query never uses it.
    type Table = super::schema::charge_lines::table;
    type SqlType = Text;

    fn walk_target(mut pass: AstPass<'_, '_, Pg>) -> QueryResult<()> {
        pass.push_sql("(");
        pass.push_sql(Q::SQL);
        pass.push_sql(")");
        Ok(())
    }
}

/// Exports `Q` with `param` and hands the rows to `read`: CSV without a header, NULL as an
/// empty field, dates in ISO format (`YYYY-MM-DD`) whatever the server's DateStyle. Whatever
/// `read` leaves unread is drained, so the connection is usable afterwards.
///
/// Must run inside a transaction: when the query fails part-way (a statement timeout, a full
/// disk while sorting), libpq ends the stream as if it were complete, and only the aborted
/// transaction tells. The statement run after the stream surfaces that failure as an error.
pub fn read_csv<Q: Export, R>(
    conn: &mut PgConnection,
    param: NaiveDate,
    read: impl FnOnce(&mut dyn BufRead) -> R,
) -> QueryResult<R> {
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_none() {
        return Err(diesel::result::Error::QueryBuilderError(
            "an export runs inside a transaction (it is how a failure part-way is seen)".into(),
        ));
    }
    diesel::sql_query(
        "SELECT set_config('citus.propagate_set_commands', 'local', true), \
                set_config('DateStyle', 'ISO, YMD', false)",
    )
    .execute(conn)?;
    // SET takes no bind parameter; a date rendered by chrono (YYYY-MM-DD) is the whole literal.
    conn.batch_execute(&format!(
        "SET LOCAL subsweep.export_param = '{}'",
        param.format("%Y-%m-%d")
    ))?;
    let result = {
        let mut rows = Fused {
            inner: diesel::copy_to(Target::<Q>(PhantomData))
                .with_format(CopyFormat::Csv)
                .load_raw(conn)?,
            done: false,
        };
        let result = read(&mut rows);
        io::copy(&mut rows, &mut io::sink())
            .map_err(|e| diesel::result::Error::DeserializationError(e.into()))?;
        result
    };
    // A plain statement collects the COPY's final status: after a failure part-way the
    // transaction is aborted and this fails.
    conn.batch_execute("SELECT 1")?;
    Ok(result)
}

/// A row of an export as a typed value, read from its CSV record (the columns of the export's
/// SQL, in its order: the one place that order is known outside the SQL).
pub trait ExportRow: Sized {
    /// The number of columns of the export.
    const FIELDS: usize;
    /// The row of `record` (exactly [`Self::FIELDS`] fields), or what is wrong with it.
    fn from_record(record: &csv::StringRecord) -> Result<Self, String>;
}

/// Why a row of an export could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error(transparent)]
    Read(#[from] csv::Error),
    #[error("row {row}: {problem}")]
    BadValue { row: u64, problem: String },
}

/// The typed rows of an export's CSV stream, in the order the server sends them.
pub struct Rows<B, T> {
    reader: csv::Reader<B>,
    record: csv::StringRecord,
    count: u64,
    row: PhantomData<fn() -> T>,
}

impl<B: BufRead, T: ExportRow> Rows<B, T> {
    /// Rows of `csv` (no header, as [`read_csv`] hands them).
    pub fn new(csv: B) -> Rows<B, T> {
        Rows {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(csv),
            record: csv::StringRecord::new(),
            count: 0,
            row: PhantomData,
        }
    }
}

impl<B: BufRead, T: ExportRow> Iterator for Rows<B, T> {
    type Item = Result<T, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_record(&mut self.record) {
            Err(e) => return Some(Err(e.into())),
            Ok(false) => return None,
            Ok(true) => {}
        }
        self.count += 1;
        let bad = |problem: String| RowError::BadValue {
            row: self.count,
            problem,
        };
        if self.record.len() != T::FIELDS {
            return Some(Err(bad(format!(
                "{} fields, expected {}",
                self.record.len(),
                T::FIELDS
            ))));
        }
        Some(T::from_record(&self.record).map_err(bad))
    }
}

/// Exports `Q` with `param` and hands its typed rows to `read` (see [`read_csv`]).
pub fn read_rows<Q: Export, T: ExportRow, R>(
    conn: &mut PgConnection,
    param: NaiveDate,
    read: impl FnOnce(&mut Rows<&mut dyn BufRead, T>) -> R,
) -> QueryResult<R> {
    read_csv::<Q, R>(conn, param, |csv| read(&mut Rows::new(csv)))
}

/// One line of a period's invoice-lines export (`invoice_lines.sql`), as the database holds
/// it: text as stored, `""` for an absent parent. Its invoice is its customer's invoice of the
/// period (the writer looks it up in the period's stored invoices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLineRow {
    pub customer_id: String,
    pub customer_name: String,
    pub customer_country: String,
    pub order_id: String,
    pub subscription_id: String,
    pub parent_subscription_id: String,
    pub offer_id: String,
    pub offer_name: String,
    pub publisher_name: String,
    pub charge_type: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub billable_days: i64,
    pub period_days: i64,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub currency: String,
    pub billing_months: i64,
    pub posted_on: NaiveDate,
}

impl ExportRow for InvoiceLineRow {
    const FIELDS: usize = 20;

    fn from_record(record: &csv::StringRecord) -> Result<Self, String> {
        let f = |i: usize| &record[i];
        let text = |i: usize| f(i).to_string();
        let decimal = |i: usize| {
            f(i).parse::<Decimal>()
                .map_err(|e| format!("'{}' is not a number: {e}", f(i)))
        };
        let date = |i: usize| match iso_date(f(i)) {
            Some(date) => Ok(date),
            None => f(i)
                .parse::<NaiveDate>()
                .map_err(|e| format!("'{}' is not a date: {e}", f(i))),
        };
        let integer = |i: usize| {
            f(i).parse::<i64>()
                .map_err(|e| format!("'{}' is not a whole number: {e}", f(i)))
        };
        Ok(InvoiceLineRow {
            customer_id: text(0),
            customer_name: text(1),
            customer_country: text(2),
            order_id: text(3),
            subscription_id: text(4),
            parent_subscription_id: text(5),
            offer_id: text(6),
            offer_name: text(7),
            publisher_name: text(8),
            charge_type: text(9),
            start_date: date(10)?,
            end_date: date(11)?,
            billable_days: integer(12)?,
            period_days: integer(13)?,
            unit_price: decimal(14)?,
            quantity: decimal(15)?,
            amount: decimal(16)?,
            currency: text(17),
            billing_months: integer(18)?,
            posted_on: date(19)?,
        })
    }
}

/// A date written `YYYY-MM-DD` (as the export's DateStyle writes them), read without chrono's
/// general parser; `None` for anything else, which that parser then reads (or refuses).
fn iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)
}

/// A COPY stream that stays at its end once there: asking libpq for more after the end is an
/// error ("no COPY in progress").
struct Fused<R> {
    inner: R,
    done: bool,
}

impl<R: BufRead> io::Read for Fused<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Fused<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.done {
            return Ok(&[]);
        }
        if self.inner.fill_buf()?.is_empty() {
            self.done = true;
            return Ok(&[]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if !self.done {
            self.inner.consume(amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_chrono_reads_them() {
        for text in [
            "2026-01-31",
            "0001-02-03",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-31",
            "+2026-01-31",
            "20260131xx",
            "2026-01-3a",
        ] {
            // Where the quick reading gives up, chrono's reads the text.
            if let Some(date) = iso_date(text) {
                assert_eq!(Some(date), text.parse::<NaiveDate>().ok(), "{text}");
            }
        }
    }
}
