//! A pure simulation of subsweep's days for core tests: a `Book` holding every family, run day
//! by day (transitions, then the day's orders), with no database. Builders keep scenarios short.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use subsweep::domain::book::{Book, DayOutcome};
use subsweep::domain::catalog::{Customer, Offer, Partner};
use subsweep::domain::charges::{ChargeLine, ChargeType};
use subsweep::domain::clock::Step;
use subsweep::domain::event::FamilyEvent;
use subsweep::domain::order::OrderEvent;
use subsweep::domain::policy::{Permissions, Policy};
use subsweep::domain::posting::Posting;
use subsweep::domain::reject::{Reject, RejectCode};
use subsweep::domain::subscription::Subscription;
use subsweep::domain::vocabulary::*;

pub const PARTNER: &str = "P-TEST-01";

pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn policy() -> Policy {
    Policy {
        partner: Partner {
            id: PARTNER.into(),
            partner_type: PartnerType::DirectBill,
        },
        permissions: Permissions::default(),
        cancel_window_monthly: chrono::Duration::hours(24),
        cancel_window_annual: chrono::Duration::days(14),
    }
}

/// A license offer billed `frequency` with a `term_months` term, sold everywhere to everyone.
pub fn offer(id: &str, frequency: BillingFrequency, term_months: u32, price: &str) -> Offer {
    Offer {
        name: format!("{id} name"),
        billing_frequency: frequency,
        term_months,
        unit_price: dec(price),
        ..Offer::plain(id)
    }
}

pub fn monthly(id: &str, price: &str) -> Offer {
    offer(id, BillingFrequency::Monthly, 12, price)
}

pub fn usage_offer(id: &str, price: &str) -> Offer {
    Offer {
        billing_type: BillingType::Usage,
        publisher: Publisher::Isv,
        ..offer(id, BillingFrequency::Monthly, 1, price)
    }
}

pub fn addon(id: &str, bases: &[&str], price: &str) -> Offer {
    Offer {
        is_addon: true,
        base_offers: bases.iter().map(|b| b.to_string()).collect(),
        ..monthly(id, price)
    }
}

pub fn customer(id: &str, opened: &str) -> Customer {
    Customer {
        customer_id: id.into(),
        name: format!("{id} Ltd"),
        country: "US".into(),
        segment: Segment::Commercial,
        currency: "USD".into(),
        account_opened_on: d(opened),
    }
}

/// An order row as the parser would produce it.
pub fn row(order_id: &str, time: &str, action: Action, customer: &str) -> OrderEvent {
    OrderEvent {
        order_id: order_id.into(),
        line: 1,
        event_time: t(time),
        action,
        customer_id: customer.into(),
        requested_by: "admin_agent".into(),
        partner_id: PARTNER.into(),
        offer_id: None,
        quantity: None,
        subscription_id: None,
        base_subscription_id: None,
        auto_renew: None,
        reason: None,
    }
}

pub fn purchase(
    order_id: &str,
    time: &str,
    customer: &str,
    offer: &str,
    seats: Option<&str>,
) -> OrderEvent {
    OrderEvent {
        offer_id: Some(offer.into()),
        quantity: seats.map(dec),
        ..row(order_id, time, Action::Purchase, customer)
    }
}

pub fn addon_purchase(
    order_id: &str,
    time: &str,
    customer: &str,
    offer: &str,
    seats: &str,
    base: &str,
) -> OrderEvent {
    OrderEvent {
        base_subscription_id: Some(base.into()),
        ..purchase(order_id, time, customer, offer, Some(seats))
    }
}

pub fn act(order_id: &str, time: &str, action: Action, customer: &str, sub: &str) -> OrderEvent {
    let reason = (action == Action::Suspend).then_some(Reason::CustomerRequest);
    OrderEvent {
        subscription_id: Some(sub.into()),
        reason,
        ..row(order_id, time, action, customer)
    }
}

pub fn change(order_id: &str, time: &str, customer: &str, sub: &str, seats: &str) -> OrderEvent {
    OrderEvent {
        quantity: Some(dec(seats)),
        ..act(order_id, time, Action::ChangeQuantity, customer, sub)
    }
}

pub fn usage(order_id: &str, time: &str, customer: &str, sub: &str, units: &str) -> OrderEvent {
    OrderEvent {
        quantity: Some(dec(units)),
        ..act(order_id, time, Action::Usage, customer, sub)
    }
}

pub fn auto_renew(order_id: &str, time: &str, customer: &str, sub: &str, on: bool) -> OrderEvent {
    OrderEvent {
        auto_renew: Some(on),
        ..act(order_id, time, Action::SetAutoRenew, customer, sub)
    }
}

/// A simulated subsweep: every family in one book, run one day at a time.
pub struct Sim {
    pub book: Book,
    /// Events waiting, by the logical date they are delivered on.
    pending: BTreeMap<NaiveDate, Vec<FamilyEvent>>,
    next_event_id: i64,
    /// The next day to run.
    pub day: Option<NaiveDate>,
    /// Every line posted, with its posting date.
    pub posted: Vec<(NaiveDate, ChargeLine)>,
    pub rejected: Vec<(FamilyEvent, Reject)>,
}

impl Sim {
    pub fn new(offers: Vec<Offer>, customers: Vec<Customer>) -> Sim {
        Sim::with_policy(policy(), offers, customers)
    }

    pub fn with_policy(policy: Policy, offers: Vec<Offer>, customers: Vec<Customer>) -> Sim {
        let mut book = Book::new(policy, offers, customers, None);
        book.keep_histories();
        Sim {
            book,
            pending: BTreeMap::new(),
            next_event_id: 1,
            day: None,
            posted: vec![],
            rejected: vec![],
        }
    }

    /// Delivers `order` on its own date (on time).
    pub fn order(&mut self, order: OrderEvent) -> &mut Self {
        let date = order.event_time.date_naive();
        self.deliver_on(order, date)
    }

    /// Delivers `order` on `date` (late when `date` is after the event's own date).
    pub fn deliver_on(&mut self, order: OrderEvent, date: NaiveDate) -> &mut Self {
        let event = FamilyEvent {
            event_id: self.next_event_id,
            order,
            retention_days: None,
        };
        self.next_event_id += 1;
        self.pending.entry(date).or_default().push(event);
        self
    }

    /// Runs every day up to and including `last`.
    pub fn run_through(&mut self, last: &str) -> &mut Self {
        let last = d(last);
        let mut day = self.day.unwrap_or_else(|| {
            *self
                .pending
                .keys()
                .next()
                .expect("some events to start from")
        });
        while day <= last {
            for step in [
                Step::TrialConversions,
                Step::Renewals,
                Step::SuspensionExpiry,
            ] {
                for line in self.book.start_of_day(day, step) {
                    self.posted.push((day, line));
                }
            }
            let events = self.pending.remove(&day).unwrap_or_default();
            let outcome: DayOutcome = self.book.apply_events(day, events);
            for posting in outcome.postings {
                let line = match posting {
                    Posting::New(line) | Posting::Offset { line, .. } => line,
                };
                self.posted.push((day, line));
            }
            self.rejected.extend(outcome.rejected);
            day = day.succ_opt().unwrap();
        }
        self.day = Some(day);
        self
    }

    pub fn sub(&self, id: &str) -> &Subscription {
        self.book
            .subscription(id)
            .unwrap_or_else(|| panic!("no subscription {id}"))
    }

    /// Lines posted for a subscription, as (type, start, end, quantity, amount) strings.
    pub fn lines_of(&self, sub: &str) -> Vec<(String, String, String, String, String)> {
        self.posted
            .iter()
            .filter(|(_, l)| l.subscription_id == sub)
            .map(|(_, l)| {
                (
                    l.charge_type.as_str().to_string(),
                    l.range.start.to_string(),
                    l.range.end.to_string(),
                    l.quantity.normalize().to_string(),
                    format!("{:.2}", l.amount),
                )
            })
            .collect()
    }

    /// Lines posted on `date`, for any subscription.
    pub fn posted_on(&self, date: &str) -> Vec<&ChargeLine> {
        self.posted
            .iter()
            .filter(|(p, _)| *p == d(date))
            .map(|(_, l)| l)
            .collect()
    }

    pub fn total_of(&self, sub: &str) -> Decimal {
        self.posted
            .iter()
            .filter(|(_, l)| l.subscription_id == sub)
            .map(|(_, l)| l.amount)
            .sum()
    }

    /// The reject code of the row of `order_id`, if it was rejected.
    pub fn reject_of(&self, order_id: &str) -> Option<RejectCode> {
        self.rejected
            .iter()
            .find(|(e, _)| e.order.order_id == order_id)
            .map(|(_, r)| r.code)
    }

    pub fn lines_of_type(&self, sub: &str, charge_type: ChargeType) -> Vec<&ChargeLine> {
        self.posted
            .iter()
            .map(|(_, l)| l)
            .filter(|l| l.subscription_id == sub && l.charge_type == charge_type)
            .collect()
    }
}

/// Shorthand for an expected line.
pub fn line(
    kind: &str,
    start: &str,
    end: &str,
    quantity: &str,
    amount: &str,
) -> (String, String, String, String, String) {
    (
        kind.into(),
        start.into(),
        end.into(),
        quantity.into(),
        amount.into(),
    )
}
