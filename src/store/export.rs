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

/// One line of an invoice, with what invoice-lines.csv shows of its customer, subscription and
/// offer, as the database holds them: text as stored, `""` for an absent parent (`preview`'s
/// lines, written through `output::invoices::line_cells` as the invoices job writes them).
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
