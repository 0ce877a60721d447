//! What `preview` reads, and only reads: the snapshot it works in (one read-only transaction),
//! the subscriptions customer by customer through a cursor, the lines posted to them that no
//! invoice holds yet, the names the invoice lines carry, and the staged events still pending.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};
use rust_decimal::Decimal;

use super::cursor::Cursor;
use super::schema::{charge_lines, customers, invoice_runs, offers};
use super::subscriptions::SubscriptionRow;

/// Runs `work` in one read-only transaction that sees one snapshot of the whole database
/// (REPEATABLE READ): every query of a preview reads the same state, and none can write.
pub fn in_snapshot<T, E>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        work(conn)
    })
}

/// The subscriptions (all, or one customer's) grouped by customer in bytewise customer order,
/// each customer's by family: fetched a batch at a time, so memory stays flat.
pub type Members = Cursor<SubscriptionRow>;

/// Declares the members cursor (inside the snapshot's transaction).
pub fn members(conn: &mut PgConnection, customer: Option<&str>) -> QueryResult<Members> {
    let filter = if customer.is_some() {
        "WHERE customer_id = $1"
    } else {
        "WHERE $1::text IS NULL"
    };
    Cursor::open(
        conn,
        "preview_members",
        &format!(
            "SELECT * FROM subscriptions {filter} \
             ORDER BY customer_id COLLATE \"C\", family_id, subscription_id"
        ),
        |declare| declare.bind::<diesel::sql_types::Nullable<Text>, _>(customer),
    )
}

/// A line posted to a subscription and not yet on an emitted invoice.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = charge_lines, check_for_backend(diesel::pg::Pg))]
pub struct UnbilledLine {
    pub line_id: i64,
    pub subscription_id: String,
    pub customer_id: String,
    pub charge_type: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub billable_days: i32,
    pub period_days: i32,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub posted_on: NaiveDate,
    pub invoice_period_start: NaiveDate,
}

/// The lines of these subscriptions whose invoice period has not been emitted, in line order.
pub fn unbilled_lines(
    conn: &mut PgConnection,
    subscription_ids: &[String],
) -> QueryResult<Vec<UnbilledLine>> {
    let emitted = invoice_runs::table.select(invoice_runs::period_start);
    charge_lines::table
        .filter(charge_lines::subscription_id.eq_any(subscription_ids))
        .filter(diesel::dsl::not(
            charge_lines::invoice_period_start.eq_any(emitted),
        ))
        .order(charge_lines::line_id)
        .select(UnbilledLine::as_select())
        .load(conn)
}

/// Name and country of these customers.
pub fn customer_names(
    conn: &mut PgConnection,
    ids: &[String],
) -> QueryResult<HashMap<String, (String, String)>> {
    Ok(customers::table
        .filter(customers::customer_id.eq_any(ids))
        .select((customers::customer_id, customers::name, customers::country))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, country)| (id, (name, country)))
        .collect())
}

/// Name and publisher name of these offers.
pub fn offer_names(
    conn: &mut PgConnection,
    ids: &[String],
) -> QueryResult<HashMap<String, (String, String)>> {
    Ok(offers::table
        .filter(offers::offer_id.eq_any(ids))
        .select((offers::offer_id, offers::name, offers::publisher_name))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, publisher)| (id, (name, publisher)))
        .collect())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Staged order events dated on or before `through` that are neither applied nor rejected.
pub fn pending_events(conn: &mut PgConnection, through: NaiveDate) -> QueryResult<i64> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS n FROM staged_events s \
         LEFT JOIN applied_events a ON a.event_id = s.event_id \
         LEFT JOIN rejected_rows r ON r.event_id = s.event_id \
         WHERE s.event_date <= $1 AND a.event_id IS NULL AND r.event_id IS NULL",
    )
    .bind::<Date, _>(through)
    .get_result::<Count>(conn)?
    .n)
}

#[derive(QueryableByName)]
struct Earliest {
    #[diesel(sql_type = diesel::sql_types::Nullable<Date>)]
    start: Option<NaiveDate>,
}

/// The earliest invoice period holding lines that no emitted invoice holds, among the periods
/// after `after` (the last emitted, if any): lines are never posted into an emitted period.
pub fn earliest_unbilled_period(
    conn: &mut PgConnection,
    after: Option<NaiveDate>,
) -> QueryResult<Option<NaiveDate>> {
    Ok(diesel::sql_query(
        "SELECT min(invoice_period_start) AS start FROM charge_lines \
         WHERE $1::date IS NULL OR invoice_period_start > $1::date",
    )
    .bind::<diesel::sql_types::Nullable<Date>, _>(after)
    .get_result::<Earliest>(conn)?
    .start)
}
