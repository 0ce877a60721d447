//! What the rules of a batch of order events read beyond the events themselves: the first
//! step of the protocol between the core and apply-orders' shell.
//!
//! The protocol has three pure steps and two fetches between them:
//!
//! 1. [`Needs::of`] (here): from the events and the catalog alone, which families the rules
//!    read — those of the subscriptions the events name, those holding a one-per-customer
//!    offer a customer buys again, every family of a customer who suspends (retention looks
//!    across them) — and which customers' facts.
//! 2. The shell fetches those families' members and the time of the last event each applied,
//!    and the customers, into a [`Book`](super::book::Book) (apply-orders reads the customers
//!    with the events themselves, joined by the server, so it has at least `customers`). [`Book::plan`](super::book::Book::plan)
//!    routes the events and decides which take the fast path and which families are late; the
//!    plan says whose history the full path needs ([`Plan::histories`](super::book::Plan::histories)).
//!    This step cannot come earlier: which families are late is known only once their
//!    last-applied times are.
//! 3. The shell fetches the lines posted to the book's families and the accepted events of the
//!    late ones ([`Fetched`](super::book::Fetched)), and [`Book::apply`](super::book::Book::apply)
//!    applies the plan: new subscriptions, changed states, lines, accepted events and rejects.
//!
//! The shell decides none of it: it only turns each need into a query and each answer into
//! plain values.

use std::collections::{BTreeSet, HashSet};

use super::catalog::Offer;
use super::event::FamilyEvent;
use super::vocabulary::Action;

/// What the rules of a batch need fetched before they can plan it (step 1 of the protocol).
/// Every list is sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Subscriptions the events name (acted on, or the base an add-on is bought for): their
    /// families are read.
    pub subscriptions: Vec<String>,
    /// (customer, offer) pairs of purchases of a one-per-customer offer: the families holding a
    /// subscription of that offer for that customer are read (the customer's holdings).
    pub holdings: Vec<(String, String)>,
    /// Customers who suspend a subscription: all their families are read (retention counts
    /// from the customer's first paid start in any of them).
    pub customers_families: Vec<String>,
    /// Customers whose facts (country, segment, currency, account age) the rules check.
    pub customers: Vec<String>,
}

impl Needs {
    /// What the rules need for `events`, given the catalog.
    pub fn of(events: &[FamilyEvent], offers: &[Offer]) -> Needs {
        let one_per_customer: HashSet<&str> = offers
            .iter()
            .filter(|o| o.one_per_customer)
            .map(|o| o.offer_id.as_str())
            .collect();
        let mut subscriptions = BTreeSet::new();
        let mut holdings = BTreeSet::new();
        let mut customers_families = BTreeSet::new();
        let mut customers = BTreeSet::new();
        for event in events {
            let order = &event.order;
            subscriptions.extend(order.subscription_id.iter().cloned());
            subscriptions.extend(order.base_subscription_id.iter().cloned());
            customers.insert(order.customer_id.clone());
            match order.action {
                Action::Purchase => {
                    if let Some(offer) = order
                        .offer_id
                        .as_deref()
                        .filter(|o| one_per_customer.contains(o))
                    {
                        holdings.insert((order.customer_id.clone(), offer.to_string()));
                    }
                }
                Action::Suspend => {
                    customers_families.insert(order.customer_id.clone());
                }
                _ => {}
            }
        }
        Needs {
            subscriptions: subscriptions.into_iter().collect(),
            holdings: holdings.into_iter().collect(),
            customers_families: customers_families.into_iter().collect(),
            customers: customers.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::OrderEvent;

    fn offer(id: &str, one_per_customer: bool) -> Offer {
        Offer {
            one_per_customer,
            ..Offer::plain(id)
        }
    }

    fn event(action: Action, customer: &str) -> FamilyEvent {
        FamilyEvent {
            event_id: 1,
            order: OrderEvent {
                order_id: "O".into(),
                line: 1,
                event_time: "2026-03-01T10:00:00Z".parse().unwrap(),
                action,
                customer_id: customer.into(),
                requested_by: "admin_agent".into(),
                partner_id: "P".into(),
                offer_id: None,
                quantity: None,
                subscription_id: None,
                base_subscription_id: None,
                auto_renew: None,
                reason: None,
            },
            retention_days: None,
        }
    }

    #[test]
    fn named_subscriptions_and_bases_are_read_for_every_action() {
        let mut change = event(Action::ChangeQuantity, "C1");
        change.order.subscription_id = Some("S-1".into());
        let mut addon = event(Action::Purchase, "C2");
        addon.order.offer_id = Some("ADD".into());
        addon.order.base_subscription_id = Some("B-1".into());
        let needs = Needs::of(&[change, addon], &[offer("ADD", false)]);
        assert_eq!(needs.subscriptions, ["B-1", "S-1"]);
        assert_eq!(needs.customers, ["C1", "C2"]);
        assert!(needs.holdings.is_empty());
        assert!(needs.customers_families.is_empty());
    }

    #[test]
    fn one_per_customer_purchases_read_the_customers_holdings_of_that_offer() {
        let buy = |customer: &str, offer_id: &str| {
            let mut e = event(Action::Purchase, customer);
            e.order.offer_id = Some(offer_id.into());
            e
        };
        let offers = [offer("ONE", true), offer("MANY", false)];
        let needs = Needs::of(
            &[buy("C1", "ONE"), buy("C1", "ONE"), buy("C2", "MANY")],
            &offers,
        );
        assert_eq!(needs.holdings, [("C1".to_string(), "ONE".to_string())]);
    }

    #[test]
    fn suspensions_read_every_family_of_their_customer() {
        let mut suspend = event(Action::Suspend, "C9");
        suspend.order.subscription_id = Some("S-9".into());
        let mut cancel = event(Action::Cancel, "C8");
        cancel.order.subscription_id = Some("S-8".into());
        let needs = Needs::of(&[suspend, cancel], &[]);
        assert_eq!(needs.customers_families, ["C9"]);
        assert_eq!(needs.subscriptions, ["S-8", "S-9"]);
    }
}
