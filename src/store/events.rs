//! Staged order events as the rules see them: the pending ones of a day (streamed through a
//! cursor in application order), and the record of which were applied or rejected.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Text};
use rust_decimal::Decimal;

use super::schema::{applied_events, staged_events};
use crate::domain::lifecycle::FamilyEvent;
use crate::domain::order::OrderEvent;

/// The parsed columns of a staged event.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = staged_events, check_for_backend(diesel::pg::Pg))]
pub struct StagedRow {
    pub event_id: i64,
    pub file_id: i64,
    pub source_line: i32,
    pub order_id: String,
    pub line: i32,
    pub event_time: DateTime<Utc>,
    pub action: String,
    pub customer_id: String,
    pub requested_by: String,
    pub partner_id: String,
    pub offer_id: Option<String>,
    pub quantity: Option<Decimal>,
    pub subscription_id: Option<String>,
    pub base_subscription_id: Option<String>,
    pub auto_renew: Option<bool>,
    pub reason: Option<String>,
}

/// The event as the rules take it (values were validated when staged).
pub fn family_event(row: &StagedRow) -> FamilyEvent {
    FamilyEvent {
        event_id: row.event_id,
        order: OrderEvent {
            order_id: row.order_id.clone(),
            line: u32::try_from(row.line).expect("line >= 1 by CHECK"),
            event_time: row.event_time,
            action: row
                .action
                .parse()
                .expect("staged actions were validated at intake"),
            customer_id: row.customer_id.clone(),
            requested_by: row.requested_by.clone(),
            partner_id: row.partner_id.clone(),
            offer_id: row.offer_id.clone(),
            quantity: row.quantity,
            subscription_id: row.subscription_id.clone(),
            base_subscription_id: row.base_subscription_id.clone(),
            auto_renew: row.auto_renew,
            reason: row
                .reason
                .as_deref()
                .map(|r| r.parse().expect("staged reasons were validated at intake")),
        },
        retention_days: None,
    }
}

const CURSOR: &str = "pending_events";

/// Streams the events pending on `date` (dated on or before it, neither applied nor rejected)
/// in application order: (event time, order_id, line). Must run inside a transaction.
pub struct PendingEvents {
    open: bool,
}

impl PendingEvents {
    pub fn open(conn: &mut PgConnection, date: NaiveDate) -> QueryResult<PendingEvents> {
        // A date renders as a plain literal: nothing from input reaches this SQL.
        diesel::sql_query(format!(
            "DECLARE {CURSOR} NO SCROLL CURSOR FOR \
             SELECT s.event_id, s.file_id, s.source_line, s.order_id, s.line, s.event_time, s.action, \
                    s.customer_id, s.requested_by, s.partner_id, s.offer_id, s.quantity, \
                    s.subscription_id, s.base_subscription_id, s.auto_renew, s.reason \
             FROM staged_events s \
             WHERE s.event_date <= DATE '{date}' \
               AND NOT EXISTS (SELECT 1 FROM applied_events a WHERE a.event_id = s.event_id) \
               AND NOT EXISTS (SELECT 1 FROM rejected_rows r WHERE r.event_id = s.event_id) \
             ORDER BY s.event_time, s.order_id, s.line"
        ))
        .execute(conn)?;
        Ok(PendingEvents { open: true })
    }

    /// The next `n` events, or fewer at the end (empty when done).
    pub fn next(&mut self, conn: &mut PgConnection, n: usize) -> QueryResult<Vec<StagedRow>> {
        if !self.open {
            return Ok(Vec::new());
        }
        let rows: Vec<StagedRow> =
            diesel::sql_query(format!("FETCH {n} FROM {CURSOR}")).load(conn)?;
        if rows.len() < n {
            diesel::sql_query(format!("CLOSE {CURSOR}")).execute(conn)?;
            self.open = false;
        }
        Ok(rows)
    }
}

/// An event the rules applied.
#[derive(Insertable)]
#[diesel(table_name = applied_events, treat_none_as_default_value = false)]
pub struct NewApplied {
    pub event_id: i64,
    pub subscription_id: String,
    pub family_id: String,
    pub applied_on: NaiveDate,
    pub retention_days: Option<i32>,
}

/// Records applied events with COPY.
pub fn record_applied(conn: &mut PgConnection, rows: &[NewApplied]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    diesel::copy_from(applied_events::table)
        .from_insertable(rows)
        .execute(conn)
}

/// A rule's verdict on a staged event.
pub struct RuleReject {
    pub event_id: i64,
    pub code: String,
    pub message: String,
}

/// Records rejected events for the report of `processed_on`, carrying the raw values from
/// staging (set-based: one statement for the batch).
pub fn record_rejected(
    conn: &mut PgConnection,
    processed_on: NaiveDate,
    rejects: &[RuleReject],
) -> QueryResult<usize> {
    if rejects.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rejects.iter().map(|r| r.event_id).collect();
    let codes: Vec<String> = rejects.iter().map(|r| r.code.clone()).collect();
    let messages: Vec<String> = rejects.iter().map(|r| r.message.clone()).collect();
    diesel::sql_query(
        "INSERT INTO rejected_rows (processed_on, file_id, source_line, event_id, error_code, error_message, raw) \
         SELECT $1, s.file_id, s.source_line, s.event_id, r.code, r.message, s.raw \
         FROM unnest($2::bigint[], $3::text[], $4::text[]) AS r(event_id, code, message) \
         JOIN staged_events s ON s.event_id = r.event_id",
    )
    .bind::<Date, _>(processed_on)
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<Text>, _>(messages)
    .execute(conn)
}
