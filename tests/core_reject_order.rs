//! SPEC section 4, actions other than purchase: `unknown_subscription`, `role_not_permitted`,
//! `invalid_transition`, `invalid_quantity`, `data_expired`, checked in that order, the first
//! failing wins. Each test makes two or three of them fail at once, for every action.

mod core;

use core::*;
use subsweep::domain::catalog::{Customer, Offer};
use subsweep::domain::order::OrderEvent;
use subsweep::domain::policy::Policy;
use subsweep::domain::reject::RejectCode::{self, *};
use subsweep::domain::vocabulary::{Action, Role, Status};

/// The day the rows under test are dated.
const AT: &str = "2026-03-10T12:00:00Z";

fn catalog() -> Vec<Offer> {
    vec![
        Offer {
            max_quantity: Some(10),
            ..monthly("M365", "10.00")
        },
        Offer {
            trial_days: 30,
            ..monthly("TRY", "8.00")
        },
        addon("ADD", &["M365"], "2.00"),
        usage_offer("METER", "0.10"),
    ]
}

fn customers() -> Vec<Customer> {
    vec![customer("C1", "2025-01-01"), customer("C2", "2025-01-01")]
}

/// Every role but `sales_agent` may do every action.
fn narrowed() -> Policy {
    let mut policy = policy();
    let others = vec![
        Role::AdminAgent,
        Role::BillingAdmin,
        Role::GlobalAdmin,
        Role::HelpdeskAgent,
    ];
    for action in [
        Action::ChangeQuantity,
        Action::Suspend,
        Action::Reactivate,
        Action::Cancel,
        Action::SetAutoRenew,
        Action::Usage,
    ] {
        policy.permissions.allowed.insert(action, others.clone());
    }
    policy
}

/// C1's subscriptions on 2026-03-10, one per status the rules tell apart:
/// - `ACT-1` active license (2 seats) with `ADDON-1`, an active add-on;
/// - `SUS-1` suspended license; `SUSB-1` suspended base, `SUSA-1` its add-on suspended with it;
/// - `CAN-1` cancelled license, `LATE-1` license with a cancellation scheduled;
/// - `DEL-1` deleted (its data expired on 2026-01-30);
/// - `TRIAL-1` license in trial; `MET-1` active metered; `METS-1` suspended metered.
fn history() -> Vec<OrderEvent> {
    let suspend = |id: &str, time: &str, sub: &str| act(id, time, Action::Suspend, "C1", sub);
    vec![
        // Paid start 2025-10-01, gap 273 days: retention 120, data expires 2026-01-30.
        purchase("DEL", "2025-10-01T09:00:00Z", "C1", "M365", Some("1")),
        suspend("DELS", "2025-10-02T09:00:00Z", "DEL-1"),
        purchase("ACT", "2026-03-01T09:00:00Z", "C1", "M365", Some("2")),
        addon_purchase("ADDON", "2026-03-01T09:30:00Z", "C1", "ADD", "1", "ACT-1"),
        purchase("SUS", "2026-03-01T09:00:00Z", "C1", "M365", Some("2")),
        suspend("SUSS", "2026-03-05T09:00:00Z", "SUS-1"),
        purchase("SUSB", "2026-03-01T09:00:00Z", "C1", "M365", Some("1")),
        addon_purchase("SUSA", "2026-03-01T09:30:00Z", "C1", "ADD", "1", "SUSB-1"),
        suspend("SUSBS", "2026-03-05T09:00:00Z", "SUSB-1"),
        purchase("CAN", "2026-03-01T09:00:00Z", "C1", "M365", Some("1")),
        act(
            "CANK",
            "2026-03-01T10:00:00Z",
            Action::Cancel,
            "C1",
            "CAN-1",
        ),
        purchase("LATE", "2026-03-01T09:00:00Z", "C1", "M365", Some("1")),
        act(
            "LATEK",
            "2026-03-05T09:00:00Z",
            Action::Cancel,
            "C1",
            "LATE-1",
        ),
        purchase("TRIAL", "2026-03-01T09:00:00Z", "C1", "TRY", Some("1")),
        purchase("MET", "2026-03-01T09:00:00Z", "C1", "METER", None),
        purchase("METS", "2026-03-01T09:00:00Z", "C1", "METER", None),
        suspend("METSS", "2026-03-05T09:00:00Z", "METS-1"),
    ]
}

/// The reject code of `row` (dated `AT`) after the history, under the narrowed permissions.
fn code(row: OrderEvent) -> Option<RejectCode> {
    let mut sim = Sim::with_policy(narrowed(), catalog(), customers());
    for event in history() {
        sim.order(event);
    }
    sim.run_through("2026-03-09");
    for (id, status) in [
        ("ACT-1", Status::Active),
        ("ADDON-1", Status::Active),
        ("SUS-1", Status::Suspended),
        ("SUSA-1", Status::Suspended),
        ("CAN-1", Status::Cancelled),
        ("LATE-1", Status::Active),
        ("DEL-1", Status::Deleted),
        ("TRIAL-1", Status::Active),
        ("MET-1", Status::Active),
        ("METS-1", Status::Suspended),
    ] {
        assert_eq!(sim.sub(id).state.status, status, "setup: {id}");
    }
    assert!(sim.rejected.is_empty(), "setup: {:?}", sim.rejected);
    let id = row.order_id.clone();
    sim.order(row).run_through("2026-03-10");
    let found = sim.reject_of(&id);
    if found.is_none() {
        assert!(
            sim.rejected.is_empty(),
            "only the row under test may be rejected"
        );
    }
    found
}

fn by(role: &str, row: OrderEvent) -> OrderEvent {
    OrderEvent {
        requested_by: role.into(),
        ..row
    }
}

fn as_customer(customer: &str, row: OrderEvent) -> OrderEvent {
    OrderEvent {
        customer_id: customer.into(),
        ..row
    }
}

fn on(action: Action, sub: &str) -> OrderEvent {
    match action {
        Action::ChangeQuantity => change("X", AT, "C1", sub, "3"),
        Action::Usage => usage("X", AT, "C1", sub, "4"),
        Action::SetAutoRenew => auto_renew("X", AT, "C1", sub, false),
        other => act("X", AT, other, "C1", sub),
    }
}

const OTHER_ACTIONS: [Action; 6] = [
    Action::ChangeQuantity,
    Action::Suspend,
    Action::Reactivate,
    Action::Cancel,
    Action::SetAutoRenew,
    Action::Usage,
];

/// A subscription on which each action is an invalid transition.
fn invalid_for(action: Action) -> &'static str {
    match action {
        Action::ChangeQuantity | Action::Suspend => "SUS-1",
        Action::Reactivate => "ACT-1",
        Action::Cancel | Action::SetAutoRenew => "CAN-1",
        Action::Usage => "ACT-1",
        Action::Purchase => unreachable!(),
    }
}

#[test]
fn another_customers_subscription_is_unknown_before_the_role_and_the_status() {
    for action in OTHER_ACTIONS {
        let sub = invalid_for(action);
        // Three fail: another customer's, a role not permitted, an invalid transition.
        let row = by("sales_agent", as_customer("C2", on(action, sub)));
        assert_eq!(code(row), Some(UnknownSubscription), "{action} on {sub}");
        // An id that exists nowhere, by a role that does not exist.
        let row = by("janitor", on(action, "NOPE-1"));
        assert_eq!(code(row), Some(UnknownSubscription), "{action} on NOPE-1");
    }
    // Another customer's deleted subscription is unknown, not data_expired.
    let row = as_customer("C2", on(Action::Reactivate, "DEL-1"));
    assert_eq!(code(row), Some(UnknownSubscription));
    // Another customer's subscription with an invalid seat count too.
    let row = as_customer("C2", change("X", AT, "C1", "ACT-1", "11"));
    assert_eq!(code(row), Some(UnknownSubscription));
}

#[test]
fn a_role_not_permitted_comes_before_the_status_and_the_quantity() {
    for action in OTHER_ACTIONS {
        let sub = invalid_for(action);
        assert_eq!(
            code(by("sales_agent", on(action, sub))),
            Some(RoleNotPermitted),
            "{action} on {sub}"
        );
        assert_eq!(
            code(by("janitor", on(action, sub))),
            Some(RoleNotPermitted),
            "{action} on {sub} by an unknown role"
        );
    }
    // Role + status + quantity all failing.
    assert_eq!(
        code(by("sales_agent", change("X", AT, "C1", "SUS-1", "11"))),
        Some(RoleNotPermitted)
    );
    // Role + data expired.
    assert_eq!(
        code(by("sales_agent", on(Action::Reactivate, "DEL-1"))),
        Some(RoleNotPermitted)
    );
    // The same rows by a permitted role are not rejected for their role.
    assert_eq!(code(on(Action::Suspend, "ACT-1")), None);
}

#[test]
fn an_invalid_transition_comes_before_an_invalid_quantity() {
    // Seat counts out of range (11 > max 10, 0, 1.5) on subscriptions whose status refuses
    // seat changes: the status is reported.
    for sub in ["SUS-1", "CAN-1", "DEL-1", "MET-1", "METS-1", "SUSA-1"] {
        for seats in ["11", "0", "1.5"] {
            assert_eq!(
                code(change("X", AT, "C1", sub, seats)),
                Some(InvalidTransition),
                "{seats} seats on {sub}"
            );
        }
    }
    // Usage beyond any limit on a license, a trial, a suspended or cancelled meter.
    for sub in ["ACT-1", "TRIAL-1", "METS-1", "SUS-1", "CAN-1"] {
        assert_eq!(
            code(usage("X", AT, "C1", sub, "2000000000000.00000000001")),
            Some(InvalidTransition),
            "usage on {sub}"
        );
    }
    // And the quantity alone, on subscriptions where the action is valid.
    assert_eq!(
        code(change("X", AT, "C1", "ACT-1", "11")),
        Some(InvalidQuantity)
    );
    assert_eq!(
        code(change("X", AT, "C1", "ACT-1", "0")),
        Some(InvalidQuantity)
    );
    assert_eq!(
        code(change("X", AT, "C1", "TRIAL-1", "1.5")),
        Some(InvalidQuantity)
    );
    assert_eq!(code(change("X", AT, "C1", "ACT-1", "10")), None);
    assert_eq!(code(usage("X", AT, "C1", "MET-1", "4")), None);
}

#[test]
fn every_action_meets_an_invalid_transition_in_each_status_that_refuses_it() {
    let cases: &[(Action, &[&str])] = &[
        (
            Action::ChangeQuantity,
            &["SUS-1", "CAN-1", "DEL-1", "MET-1", "SUSA-1"],
        ),
        (
            Action::Suspend,
            &["SUS-1", "CAN-1", "DEL-1", "SUSA-1", "METS-1"],
        ),
        // An add-on suspended with its base cannot come back while the base is suspended.
        (
            Action::Reactivate,
            &["ACT-1", "CAN-1", "LATE-1", "TRIAL-1", "MET-1", "SUSA-1"],
        ),
        (Action::Cancel, &["CAN-1", "DEL-1", "LATE-1"]),
        (Action::SetAutoRenew, &["CAN-1", "DEL-1"]),
        (
            Action::Usage,
            &["ACT-1", "TRIAL-1", "METS-1", "CAN-1", "DEL-1"],
        ),
    ];
    for (action, subs) in cases {
        for sub in *subs {
            assert_eq!(
                code(on(*action, sub)),
                Some(InvalidTransition),
                "{action} on {sub}"
            );
        }
    }
}

#[test]
fn reactivating_a_deleted_subscription_is_data_expired_unless_an_earlier_code_fails() {
    assert_eq!(code(on(Action::Reactivate, "DEL-1")), Some(DataExpired));
    assert_eq!(
        code(by("sales_agent", on(Action::Reactivate, "DEL-1"))),
        Some(RoleNotPermitted)
    );
    assert_eq!(
        code(as_customer("C2", on(Action::Reactivate, "DEL-1"))),
        Some(UnknownSubscription)
    );
    // Every other action on it is an invalid transition, never data_expired.
    for action in [
        Action::ChangeQuantity,
        Action::Suspend,
        Action::Cancel,
        Action::SetAutoRenew,
        Action::Usage,
    ] {
        assert_eq!(
            code(on(action, "DEL-1")),
            Some(InvalidTransition),
            "{action}"
        );
    }
}

#[test]
fn a_row_dated_before_its_subscription_was_bought_is_unknown_subscription() {
    // Delivered late, the row is checked at its own time, when ACT-1 did not exist yet.
    for action in OTHER_ACTIONS {
        let mut sim = Sim::with_policy(narrowed(), catalog(), customers());
        for event in history() {
            sim.order(event);
        }
        let row = OrderEvent {
            event_time: t("2026-02-27T12:00:00Z"),
            ..by("sales_agent", on(action, "ACT-1"))
        };
        sim.deliver_on(row, d("2026-03-10"))
            .run_through("2026-03-10");
        assert_eq!(sim.reject_of("X"), Some(UnknownSubscription), "{action}");
    }
}

#[test]
fn a_late_reactivation_dated_before_the_data_expiry_date_is_accepted() {
    // DEL-1's data expires on 2026-01-30; a reactivation dated the day before, delivered a
    // week later, is applied at its own time: the deletion never happened.
    let mut sim = Sim::with_policy(narrowed(), catalog(), customers());
    for event in history().into_iter().take(2) {
        sim.order(event);
    }
    sim.deliver_on(
        act(
            "R",
            "2026-01-29T12:00:00Z",
            Action::Reactivate,
            "C1",
            "DEL-1",
        ),
        d("2026-02-05"),
    )
    .run_through("2026-02-05");
    assert_eq!(sim.reject_of("R"), None);
    assert_eq!(sim.sub("DEL-1").state.status, Status::Active);

    // Dated on the data-expiry date itself: data_expired.
    let mut sim = Sim::with_policy(narrowed(), catalog(), customers());
    for event in history().into_iter().take(2) {
        sim.order(event);
    }
    sim.deliver_on(
        act(
            "R",
            "2026-01-30T00:00:00Z",
            Action::Reactivate,
            "C1",
            "DEL-1",
        ),
        d("2026-02-05"),
    )
    .run_through("2026-02-05");
    assert_eq!(sim.reject_of("R"), Some(DataExpired));
    assert_eq!(sim.sub("DEL-1").state.status, Status::Deleted);
}
