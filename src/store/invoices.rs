//! Emitted invoices: the run of a period, its invoices (numbered once, never renumbered), and
//! the period's lines streamed for the invoice files.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Numeric, Text};
use rust_decimal::Decimal;

use super::export::{self, Export};
use super::schema::{invoice_runs, invoices};

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

struct StoredInvoices;

impl Export for StoredInvoices {
    const SQL: &'static str = "\
        SELECT i.invoice_number, i.customer_id, i.period_start, i.period_end, i.line_count, \
               i.total, i.currency, cu.name, cu.country \
        FROM invoices i JOIN customers cu ON cu.customer_id = i.customer_id \
        WHERE i.period_start = current_setting('subsweep.export_param')::date \
        ORDER BY i.invoice_number";
}

/// An invoice as stored, with its customer's name and country.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInvoice {
    pub invoice: Invoice,
    pub customer_name: String,
    pub customer_country: String,
}

/// The stored invoices of a period with their customer's name and country, in invoice number
/// order. Streamed (COPY) rather than loaded as one result: at 100,000 invoices the result set alone
/// held 26 MB beside the list made from it. Inside a transaction only.
pub fn stored(conn: &mut PgConnection, period_start: NaiveDate) -> QueryResult<Vec<StoredInvoice>> {
    export::read_csv::<StoredInvoices, _>(conn, period_start, |csv| {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv);
        let mut record = csv::StringRecord::new();
        let mut list = Vec::new();
        while reader.read_record(&mut record).map_err(|e| e.to_string())? {
            let field = |i: usize| record.get(i).ok_or("a missing column");
            let invoice = Invoice {
                invoice_number: field(0)?.to_string(),
                customer_id: field(1)?.to_string(),
                period_start: parsed(&record, 2)?,
                period_end: parsed(&record, 3)?,
                line_count: parsed(&record, 4)?,
                total: parsed(&record, 5)?,
                currency: field(6)?.to_string(),
            };
            list.push(StoredInvoice {
                invoice,
                customer_name: field(7)?.to_string(),
                customer_country: field(8)?.to_string(),
            });
        }
        Ok(list)
    })?
    .map_err(|why: String| {
        diesel::result::Error::DeserializationError(
            format!("reading the period's stored invoices: {why}").into(),
        )
    })
}

/// Field `i` of `record` read as a `T`, or what is wrong with it (its text and column).
fn parsed<T: std::str::FromStr>(record: &csv::StringRecord, i: usize) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let text = record.get(i).ok_or("a missing column")?;
    text.parse()
        .map_err(|e| format!("'{text}' in column {}: {e}", i + 1))
}

/// Each offer's name and publisher name, by offer id: what invoice-lines.csv shows of a line's
/// offer (the whole catalog: a few thousand offers at most).
pub fn offer_names(conn: &mut PgConnection) -> QueryResult<HashMap<String, OfferNames>> {
    use super::schema::offers;
    Ok(offers::table
        .select((offers::offer_id, offers::name, offers::publisher_name))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, publisher_name)| {
            (
                id,
                OfferNames {
                    name,
                    publisher_name,
                },
            )
        })
        .collect())
}

/// An offer's name and its publisher's, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferNames {
    pub name: String,
    pub publisher_name: String,
}

struct PeriodLines;

impl Export for PeriodLines {
    const SQL: &'static str = include_str!("invoice_lines.sql");
}

/// The lines of the period starting on `period_start`, in invoice-lines.csv order, streamed to
/// `read` as CSV without a header, in `invoice_lines.sql`'s columns (see
/// [`export::read_csv`]). Inside a transaction only.
pub fn read_period_lines<R>(
    conn: &mut PgConnection,
    period_start: NaiveDate,
    read: impl FnOnce(&mut dyn BufRead) -> R,
) -> QueryResult<R> {
    export::read_csv::<PeriodLines, R>(conn, period_start, read)
}
