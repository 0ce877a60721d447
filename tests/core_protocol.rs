//! The protocol between the core and apply-orders' shell (`domain::needs`), without a
//! database: a book holding only what the steps asked for, fed what a store would return,
//! decides exactly what a book holding everything decides.

mod core;

use std::collections::HashMap;

use chrono::NaiveDate;
use core::*;
use subsweep::domain::book::{Book, Fetched, HistoryMode};
use subsweep::domain::clock::Step;
use subsweep::domain::event::FamilyEvent;
use subsweep::domain::needs::Needs;
use subsweep::domain::order::OrderEvent;
use subsweep::domain::vocabulary::Action;

fn offers() -> Vec<subsweep::domain::catalog::Offer> {
    let mut once = monthly("ONCE", "5.00");
    once.one_per_customer = true;
    vec![monthly("M", "30.00"), once]
}

fn customers() -> Vec<subsweep::domain::catalog::Customer> {
    vec![
        customer("C1", "2018-01-01"),
        customer("C2", "2018-01-01"),
        customer("C3", "2018-01-01"),
    ]
}

/// Three customers' families run through June 19th, 2018, and the start of June 20th.
fn june_20th() -> Sim {
    let mut sim = Sim::new(offers(), customers());
    sim.order(purchase("O", "2018-06-01T08:00:00Z", "C1", "M", Some("1")))
        .order(purchase("P", "2018-06-01T09:00:00Z", "C2", "M", Some("2")))
        .order(purchase(
            "Q",
            "2018-06-02T09:00:00Z",
            "C3",
            "ONCE",
            Some("1"),
        ))
        .run_through("2018-06-19");
    for step in [
        Step::TrialConversions,
        Step::Renewals,
        Step::SuspensionExpiry,
    ] {
        sim.book.start_of_day(d("2018-06-20"), step);
    }
    sim
}

fn events(orders: Vec<OrderEvent>) -> Vec<FamilyEvent> {
    (100..)
        .zip(orders)
        .map(|(event_id, order)| FamilyEvent {
            event_id,
            order,
            retention_days: None,
        })
        .collect()
}

/// What a store holding `all`'s families would return for `needs`, then the plan's histories,
/// run through the steps into a book that keeps histories as loaded.
fn through_the_protocol(
    all: &Book,
    date: NaiveDate,
    batch: Vec<FamilyEvent>,
) -> (Book, subsweep::domain::book::DayOutcome, Vec<String>) {
    let needs = Needs::of(&batch, &offers());
    let wanted: Vec<String> = all
        .families()
        .filter(|f| {
            f.members.iter().any(|s| {
                needs.subscriptions.contains(&s.id)
                    || needs
                        .holdings
                        .contains(&(s.customer_id.clone(), s.offer_id.clone()))
                    || needs.customers_families.contains(&s.customer_id)
            })
        })
        .map(|f| f.id.clone())
        .collect();
    let known: Vec<_> = customers()
        .into_iter()
        .filter(|c| needs.customers.contains(&c.customer_id))
        .collect();
    let mut book = Book::new(policy(), offers(), known, all.clock());
    assert_eq!(book.history_mode(), HistoryMode::AsLoaded);
    let mut posted = HashMap::new();
    for id in &wanted {
        let history = all.history(id).expect("the full book keeps every history");
        let last = history.events.iter().map(|e| e.order.event_time).max();
        let mut family = all.family(id).unwrap().clone();
        // What the store returns holds no ledger: the posted lines bring it.
        family.ledger = Default::default();
        book.insert_family(family, last);
        posted.insert(id.clone(), history.posted.clone());
    }
    let plan = book.plan(date, batch);
    let histories = plan.histories().to_vec();
    let accepted = histories
        .iter()
        .map(|id| (id.clone(), all.history(id).unwrap().events.clone()))
        .collect();
    let outcome = book.apply(plan, Fetched { posted, accepted });
    (book, outcome, histories)
}

#[test]
fn the_core_asks_for_the_families_named_the_holdings_and_the_suspenders_families() {
    let batch = events(vec![
        change("X", "2018-06-20T10:00:00Z", "C2", "P-1", "3"),
        purchase("Y", "2018-06-20T11:00:00Z", "C3", "ONCE", Some("1")),
        act("Z", "2018-06-20T12:00:00Z", Action::Suspend, "C1", "O-1"),
    ]);
    let needs = Needs::of(&batch, &offers());
    assert_eq!(needs.subscriptions, ["O-1", "P-1"]);
    assert_eq!(needs.holdings, [("C3".to_string(), "ONCE".to_string())]);
    assert_eq!(needs.customers_families, ["C1"]);
    assert_eq!(needs.customers, ["C1", "C2", "C3"]);
}

#[test]
fn only_late_families_the_book_holds_need_their_history() {
    let sim = june_20th();
    let batch = events(vec![
        // Late: O-1's family takes the full path.
        change("L", "2018-06-10T10:00:00Z", "C1", "O-1", "2"),
        // In order: the fast path, on P-1's current state.
        change("F", "2018-06-20T10:00:00Z", "C2", "P-1", "3"),
        // A late purchase starts a family the store does not hold: it replays from nothing.
        purchase("N", "2018-06-15T10:00:00Z", "C2", "M", Some("1")),
    ]);
    let (_, _, histories) = through_the_protocol(&sim.book, d("2018-06-20"), batch.clone());
    assert_eq!(histories, ["O-1"]);
    let plan = sim.book.plan(d("2018-06-20"), batch);
    let mut late: Vec<&str> = plan.late_families().collect();
    late.sort();
    assert_eq!(late, ["N-1", "O-1"]);
    // A book keeping every history needs none fetched.
    assert!(plan.histories().is_empty());
}

#[test]
fn a_book_fed_through_the_protocol_decides_what_a_book_holding_everything_decides() {
    let mut sim = june_20th();
    let batch = events(vec![
        change("L", "2018-06-10T10:00:00Z", "C1", "O-1", "2"),
        change("F", "2018-06-20T10:00:00Z", "C2", "P-1", "3"),
        purchase("N", "2018-06-20T11:00:00Z", "C1", "M", Some("1")),
        // A second purchase of a one-per-customer offer: rejected on the holdings fetched.
        purchase("Y", "2018-06-20T12:00:00Z", "C3", "ONCE", Some("1")),
        act("S", "2018-06-20T13:00:00Z", Action::Suspend, "C2", "P-1"),
    ]);
    let (shell, by_protocol, _) = through_the_protocol(&sim.book, d("2018-06-20"), batch.clone());
    let everything = sim.book.apply_events(d("2018-06-20"), batch);

    assert!(!everything.postings.is_empty());
    assert_eq!(by_protocol.postings, everything.postings);
    assert_eq!(by_protocol.accepted, everything.accepted);
    assert_eq!(by_protocol.rejected, everything.rejected);
    assert_eq!(by_protocol.changed, everything.changed);
    assert_eq!(
        everything
            .rejected
            .iter()
            .map(|(e, _)| e.order.order_id.as_str())
            .collect::<Vec<_>>(),
        ["Y"]
    );
    let written = shell.written(&by_protocol);
    let ids = |subs: &[&subsweep::domain::subscription::Subscription]| {
        subs.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&written.new), ["N-1"]);
    assert_eq!(ids(&written.existing), ["O-1", "P-1"]);
    for sub in written.new.iter().chain(&written.existing) {
        assert_eq!(Some(*sub), sim.book.subscription(&sub.id));
    }
}
