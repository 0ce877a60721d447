//! An order event as the state machine sees it: the `FamilyEvent` routed to the family it acts
//! on, the `Checks` it goes through (every rule for a new row, only state sense for a replayed
//! one) with the `EventFacts` those rules read, and what applying it made (`Applied`).

use chrono::NaiveDate;

use super::catalog::{Customer, Offer};
use super::cause;
use super::charges::ChargeLine;
use super::eligibility::Holdings;
use super::order::OrderEvent;
use super::subscription::Subscription;

/// An order event routed to the family it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyEvent {
    /// The staged event's id (identity across runs).
    pub event_id: i64,
    pub order: OrderEvent,
    /// For a suspension: the customer's retention days, resolved when the row was accepted.
    pub retention_days: Option<u32>,
}

impl FamilyEvent {
    /// The cause recorded on the lines this event makes.
    pub fn cause(&self) -> String {
        cause::order_cause(&self.order.order_id, self.order.line)
    }

    /// The subscription the event acts on (the one a purchase creates).
    pub fn target(&self) -> String {
        self.order.target_subscription()
    }

    /// Events of a day apply in (event time, order_id, line) order.
    pub fn sort_key(&self) -> (chrono::DateTime<chrono::Utc>, &str, u32) {
        (self.order.event_time, &self.order.order_id, self.order.line)
    }
}

/// What applying an event made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub lines: Vec<ChargeLine>,
    /// For a suspension: the retention days it resolved (kept with the accepted event).
    pub retention_days: Option<u32>,
}

/// What a new row is checked against besides the family's own state.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFacts<'a> {
    pub customer: Option<&'a Customer>,
    /// The offer bought (purchase) or the subscription's offer (other actions).
    pub offer: Option<&'a Offer>,
    /// The customer's live subscriptions of the offer bought.
    pub holdings: Holdings,
    /// For a suspension: the customer's first paid start among its other families'
    /// subscriptions bought by the event's time (this family's own come from its state).
    pub first_paid_start_elsewhere: Option<NaiveDate>,
}

/// How much of the rules an event goes through.
#[derive(Debug, Clone, Copy)]
pub enum Checks<'a> {
    /// A new row: every rule.
    Full(EventFacts<'a>),
    /// A row accepted earlier and replayed: only whether it still makes sense in the state it
    /// meets (catalog and role rules were checked when it was accepted). A purchase brings the
    /// subscription it created.
    Replay { seed: Option<&'a Subscription> },
}
