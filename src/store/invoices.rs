//! Emitted invoices: the run of a period, its invoices (numbered once, never renumbered), and
//! the period's lines streamed for the invoice files.

use std::io::BufRead;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Numeric, Text};
use rust_decimal::Decimal;

use super::export::{self, Export, InvoiceLineRow, Rows};
use super::schema::{customers, invoice_runs, invoices};

/// What a period's lines add up to for one customer, computed from `charge_lines` alone.
#[derive(Debug, Clone, QueryableByName)]
pub struct CustomerTotal {
    #[diesel(sql_type = Text)]
    pub customer_id: String,
    #[diesel(sql_type = BigInt)]
    pub line_count: i64,
    #[diesel(sql_type = Numeric)]
    pub total: Decimal,
    /// The currency of the customer's subscriptions (lowest and highest: they must agree).
    #[diesel(sql_type = Nullable<Text>)]
    pub min_currency: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub max_currency: Option<String>,
    /// Lines whose subscription is missing (they could not be written out).
    #[diesel(sql_type = BigInt)]
    pub orphan_lines: i64,
}

/// Per customer, in customer_id order (bytewise), the count and sum of the lines of the period
/// starting on `period_start`.
pub fn customer_totals(
    conn: &mut PgConnection,
    period_start: NaiveDate,
) -> QueryResult<Vec<CustomerTotal>> {
    diesel::sql_query(
        "SELECT l.customer_id, count(*) AS line_count, sum(l.amount) AS total, \
                min(s.currency) AS min_currency, max(s.currency) AS max_currency, \
                count(*) FILTER (WHERE s.subscription_id IS NULL) AS orphan_lines \
         FROM charge_lines l \
         LEFT JOIN subscriptions s ON s.subscription_id = l.subscription_id \
           AND s.customer_id = l.customer_id \
         WHERE l.invoice_period_start = $1 \
         GROUP BY l.customer_id \
         ORDER BY l.customer_id COLLATE \"C\"",
    )
    .bind::<Date, _>(period_start)
    .load(conn)
}

/// Whether the invoice of the period starting on `period_start` was emitted.
pub fn run_exists(conn: &mut PgConnection, period_start: NaiveDate) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        invoice_runs::table.filter(invoice_runs::period_start.eq(period_start)),
    ))
    .get_result(conn)
}

/// The record of an emitted period.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = invoice_runs)]
pub struct NewRun {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub emitted_on: NaiveDate,
    pub invoice_count: i32,
    pub line_count: i32,
}

/// An invoice as stored.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable)]
#[diesel(table_name = invoices, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct Invoice {
    pub invoice_number: String,
    pub customer_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub line_count: i32,
    pub total: Decimal,
    pub currency: String,
}

/// Records a period's run and its invoices.
pub fn insert_run(conn: &mut PgConnection, run: &NewRun, list: &[Invoice]) -> QueryResult<()> {
    diesel::insert_into(invoice_runs::table)
        .values(run)
        .execute(conn)?;
    if !list.is_empty() {
        diesel::copy_from(invoices::table)
            .from_insertable(list)
            .execute(conn)?;
    }
    Ok(())
}

/// The stored invoices of a period with their customer's name, in invoice number order.
pub fn stored(
    conn: &mut PgConnection,
    period_start: NaiveDate,
) -> QueryResult<Vec<(Invoice, String)>> {
    invoices::table
        .inner_join(customers::table.on(customers::customer_id.eq(invoices::customer_id)))
        .filter(invoices::period_start.eq(period_start))
        .order(invoices::invoice_number)
        .select((Invoice::as_select(), customers::name))
        .load(conn)
}

struct PeriodLines;

impl Export for PeriodLines {
    const SQL: &'static str = include_str!("invoice_lines.sql");
}

/// The lines of the period starting on `period_start`, in invoice-lines.csv order, as typed
/// rows streamed to `read`. Inside a transaction only.
pub fn read_period_lines<R>(
    conn: &mut PgConnection,
    period_start: NaiveDate,
    read: impl FnOnce(&mut PeriodLineRows<'_>) -> R,
) -> QueryResult<R> {
    export::read_rows::<PeriodLines, InvoiceLineRow, R>(conn, period_start, read)
}

/// The typed rows [`read_period_lines`] streams.
pub type PeriodLineRows<'a> = Rows<&'a mut dyn BufRead, InvoiceLineRow>;
