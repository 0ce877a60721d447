//! The one staged-event type: an order row as `staged_events` holds it, with typed columns
//! (`Action`, `Reason`, the time and its date, a `Decimal` quantity). Staging writes it with
//! COPY (`store::staging`); apply-orders, explain and the families' histories read it back
//! (`store::events`, `store::families`, `store::explain`), and the duplicate check reads it to
//! compare. The columns stay text in the database; `store::vocabulary` maps them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::schema::staged_events;
use crate::domain::order::{OrderEvent, ParsedRow, plain_values};
use crate::domain::vocabulary::{Action, Reason};

/// A parsed order row as `staged_events` holds it: where it came from, its columns, and its
/// values as written when they are not the plain rendering of the columns.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName, Insertable)]
#[diesel(table_name = staged_events, check_for_backend(diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct StagedEvent {
    pub file_id: i64,
    pub source_line: i32,
    pub order_id: String,
    pub line: i32,
    pub event_time: DateTime<Utc>,
    /// The UTC date of `event_time` (what the day's pending search narrows on).
    pub event_date: NaiveDate,
    pub action: Action,
    pub customer_id: String,
    pub requested_by: String,
    pub partner_id: String,
    pub offer_id: Option<String>,
    pub quantity: Option<Decimal>,
    pub subscription_id: Option<String>,
    pub base_subscription_id: Option<String>,
    pub auto_renew: Option<bool>,
    pub reason: Option<Reason>,
    /// The 13 values as written, when they are not the plain rendering of the event
    /// (`domain::order::plain_values`; see the migration's comment on `staged_events.raw`):
    /// machine-written rows are plain, so their values are not stored twice.
    pub raw: Option<Vec<String>>,
}

/// A staged event read back, with the id the database gave it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = staged_events, check_for_backend(diesel::pg::Pg))]
pub struct StagedRow {
    pub event_id: i64,
    #[diesel(embed)]
    pub event: StagedEvent,
}

/// A [`StagedEvent`] as staging COPYs it: with the id reserved for it, its text borrowed.
#[derive(Insertable)]
#[diesel(table_name = staged_events, check_for_backend(diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct CopiedEvent<'a> {
    event_id: i64,
    file_id: i64,
    source_line: i32,
    order_id: &'a str,
    line: i32,
    event_time: DateTime<Utc>,
    event_date: NaiveDate,
    action: Action,
    customer_id: &'a str,
    requested_by: &'a str,
    partner_id: &'a str,
    offer_id: Option<&'a str>,
    quantity: Option<Decimal>,
    subscription_id: Option<&'a str>,
    base_subscription_id: Option<&'a str>,
    auto_renew: Option<bool>,
    reason: Option<Reason>,
    raw: Option<&'a Vec<String>>,
}

impl<'a> CopiedEvent<'a> {
    pub fn of(event_id: i64, row: &'a StagedEvent) -> Self {
        CopiedEvent {
            event_id,
            file_id: row.file_id,
            source_line: row.source_line,
            order_id: &row.order_id,
            line: row.line,
            event_time: row.event_time,
            event_date: row.event_date,
            action: row.action,
            customer_id: &row.customer_id,
            requested_by: &row.requested_by,
            partner_id: &row.partner_id,
            offer_id: row.offer_id.as_deref(),
            quantity: row.quantity,
            subscription_id: row.subscription_id.as_deref(),
            base_subscription_id: row.base_subscription_id.as_deref(),
            auto_renew: row.auto_renew,
            reason: row.reason,
            raw: row.raw.as_ref(),
        }
    }
}

impl StagedEvent {
    /// The row of file `file_id` as staging writes it.
    pub fn new(file_id: i64, row: ParsedRow) -> StagedEvent {
        // Intake kept the values as written only when they are not the plain rendering.
        let raw = row.raw.map(Vec::from);
        let e = row.event;
        StagedEvent {
            file_id,
            source_line: super::source_line(row.source_line),
            line: i32::try_from(e.line).expect("line numbers were checked to fit at intake"),
            event_date: e.event_time.date_naive(),
            event_time: e.event_time,
            action: e.action,
            reason: e.reason,
            order_id: e.order_id,
            customer_id: e.customer_id,
            requested_by: e.requested_by,
            partner_id: e.partner_id,
            offer_id: e.offer_id,
            quantity: e.quantity,
            subscription_id: e.subscription_id,
            base_subscription_id: e.base_subscription_id,
            auto_renew: e.auto_renew,
            raw,
        }
    }

    /// The order event this row says.
    pub fn order(&self) -> OrderEvent {
        self.clone().into_order()
    }

    /// The order event this row says, taking the row.
    pub fn into_order(self) -> OrderEvent {
        OrderEvent {
            order_id: self.order_id,
            line: u32::try_from(self.line).expect("line >= 1 by the table's CHECK"),
            event_time: self.event_time,
            action: self.action,
            customer_id: self.customer_id,
            requested_by: self.requested_by,
            partner_id: self.partner_id,
            offer_id: self.offer_id,
            quantity: self.quantity,
            subscription_id: self.subscription_id,
            base_subscription_id: self.base_subscription_id,
            auto_renew: self.auto_renew,
            reason: self.reason,
        }
    }

    /// The 13 values as written: those kept, else the plain rendering (which is what was
    /// written).
    pub fn written(&self) -> Vec<String> {
        match &self.raw {
            Some(raw) => raw.clone(),
            None => plain_values(&self.order()).to_vec(),
        }
    }
}
