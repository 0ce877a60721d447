//! What `subsweep explain` reads about one subscription family: its members, its accepted
//! events with the file and line each came from, the rejected rows that named it, and its
//! posted lines with the invoice each is on. Everything is limited to the family's customer.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::events::{self, StagedRow};
use super::schema::{applied_events, inbox_files, staged_events, subscriptions};
use crate::domain::charges::ChargeLine;
use crate::domain::event::FamilyEvent;
use crate::domain::lifecycle::Family;

/// The family a subscription belongs to and the customer who holds it.
pub fn family_of(
    conn: &mut PgConnection,
    subscription_id: &str,
) -> QueryResult<Option<(String, String)>> {
    subscriptions::table
        .filter(subscriptions::subscription_id.eq(subscription_id))
        .select((subscriptions::family_id, subscriptions::customer_id))
        .first(conn)
        .optional()
}

/// The family with its members (base first), limited to `customer_id`'s subscriptions.
pub fn family(
    conn: &mut PgConnection,
    family_id: &str,
    customer_id: &str,
) -> QueryResult<Option<Family>> {
    let mut families = super::families::load(conn, &[family_id.to_string()])?;
    Ok(families.pop().map(|mut f| {
        f.members.retain(|m| m.customer_id == customer_id);
        f
    }))
}

/// An accepted event with where it came from and when it was applied.
#[derive(Debug, Clone)]
pub struct AcceptedRow {
    pub event: FamilyEvent,
    pub file_name: String,
    pub source_line: i32,
    pub applied_on: NaiveDate,
}

/// The family's accepted events in (event time, order_id, line) order, as the jobs replay
/// them (retention days kept for suspensions), limited to `customer_id`'s rows.
pub fn accepted(
    conn: &mut PgConnection,
    family_id: &str,
    customer_id: &str,
) -> QueryResult<Vec<AcceptedRow>> {
    let rows: Vec<(NaiveDate, Option<i32>, String, StagedRow)> = applied_events::table
        .inner_join(staged_events::table)
        .inner_join(inbox_files::table.on(inbox_files::file_id.eq(staged_events::file_id)))
        .filter(applied_events::family_id.eq(family_id))
        .filter(staged_events::customer_id.eq(customer_id))
        .order((
            staged_events::event_time,
            staged_events::order_id,
            staged_events::line,
        ))
        .select((
            applied_events::applied_on,
            applied_events::retention_days,
            inbox_files::file_name,
            StagedRow::as_select(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(applied_on, retention, file_name, row)| {
            let source_line = row.event.source_line;
            let mut event = events::family_event(row);
            event.retention_days =
                retention.map(|r| u32::try_from(r).expect("retention days are 90..=120"));
            AcceptedRow {
                event,
                file_name,
                source_line,
                applied_on,
            }
        })
        .collect())
}

/// A rejected row that named a subscription of the family.
#[derive(Debug, Clone, QueryableByName)]
pub struct RejectedRow {
    #[diesel(sql_type = Text)]
    pub file_name: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub source_line: i32,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub processed_on: NaiveDate,
    #[diesel(sql_type = Text)]
    pub order_id: String,
    #[diesel(sql_type = Text)]
    pub line: String,
    #[diesel(sql_type = Text)]
    pub event_time: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub error_code: String,
    #[diesel(sql_type = Text)]
    pub error_message: String,
}

/// Rows rejected while naming one of `subscription_ids` (as the subscription acted on, the
/// base of an add-on, or the subscription a purchase would have created) with `customer_id`
/// as their customer. A row naming the id under another customer is another customer's data
/// and is never returned. Parsed values are used where the row was staged, the values as
/// written otherwise (a malformed row).
pub fn rejected_naming(
    conn: &mut PgConnection,
    subscription_ids: &[String],
    customer_id: &str,
) -> QueryResult<Vec<RejectedRow>> {
    diesel::sql_query(include_str!("explain_rejects.sql"))
        .bind::<Array<Text>, _>(subscription_ids)
        .bind::<Text, _>(customer_id)
        .load(conn)
}

/// A posted line with its posting date, the line it corrects, and its invoice if emitted.
#[derive(Debug, Clone)]
pub struct PostedRow {
    pub line_id: i64,
    pub line: ChargeLine,
    pub posted_on: NaiveDate,
    pub corrects: Option<i64>,
    pub invoice_period_start: NaiveDate,
    pub invoice_number: Option<String>,
}

#[derive(QueryableByName)]
struct LineRow {
    #[diesel(embed)]
    line: super::charges::LineRow,
    #[diesel(sql_type = diesel::sql_types::Date)]
    posted_on: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Date)]
    invoice_period_start: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    invoice_number: Option<String>,
}

/// Every line posted to `subscription_ids` for `customer_id`, in posting order, with the
/// number of the invoice it is on (none until its period's invoice is emitted).
pub fn posted(
    conn: &mut PgConnection,
    subscription_ids: &[String],
    customer_id: &str,
) -> QueryResult<Vec<PostedRow>> {
    let rows: Vec<LineRow> = diesel::sql_query(
        "SELECT l.line_id, l.subscription_id, l.charge_type, l.start_date, l.end_date, \
                l.billable_days, l.period_days, l.unit_price, l.quantity, l.amount, l.posted_on, \
                l.cause, l.corrects_line_id, l.invoice_period_start, i.invoice_number \
         FROM charge_lines l \
         LEFT JOIN invoices i \
                ON i.period_start = l.invoice_period_start AND i.customer_id = l.customer_id \
         WHERE l.subscription_id = ANY($1) AND l.customer_id = $2 \
         ORDER BY l.line_id",
    )
    .bind::<Array<Text>, _>(subscription_ids)
    .bind::<Text, _>(customer_id)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let posted = r.line.into_posted();
            PostedRow {
                line_id: posted.line_id,
                line: posted.line,
                posted_on: r.posted_on,
                corrects: posted.corrects,
                invoice_period_start: r.invoice_period_start,
                invoice_number: r.invoice_number,
            }
        })
        .collect())
}
