//! SPEC section 4: one test per reject code, and the order the codes are checked in.

mod core;

use core::*;
use subsweep::domain::catalog::{Customer, Offer};
use subsweep::domain::order::OrderEvent;
use subsweep::domain::policy::Policy;
use subsweep::domain::reject::RejectCode::{self, *};
use subsweep::domain::vocabulary::{Action, PartnerType, Role, Segment};

fn catalog() -> Vec<Offer> {
    vec![
        Offer {
            max_quantity: Some(10),
            ..monthly("M365", "10.00")
        },
        Offer {
            csp_available: false,
            ..monthly("NOCSP", "1.00")
        },
        Offer {
            transactable: false,
            ..monthly("NOTX", "1.00")
        },
        Offer {
            exclusive_partners: vec!["P-OTHER".into()],
            ..monthly("EXCL", "1.00")
        },
        Offer {
            exclusive_partners: vec!["P-OTHER".into(), PARTNER.into()],
            ..monthly("EXCL-US", "1.00")
        },
        Offer {
            countries: Some(vec!["NL".into(), "DE".into()]),
            ..monthly("EU", "1.00")
        },
        Offer {
            segments: vec![Segment::Education],
            ..monthly("EDU", "1.00")
        },
        Offer {
            currency: "EUR".into(),
            ..monthly("EURO", "1.00")
        },
        addon("ADD", &["M365"], "2.00"),
        Offer {
            one_per_customer: true,
            ..monthly("ONE", "5.00")
        },
        usage_offer("METER", "0.10"),
    ]
}

fn customers() -> Vec<Customer> {
    vec![customer("C1", "2026-01-01"), customer("C2", "2026-01-01")]
}

fn rejected(policy: Policy, before: Vec<OrderEvent>, row: OrderEvent) -> Option<RejectCode> {
    let mut sim = Sim::with_policy(policy, catalog(), customers());
    for event in before {
        sim.order(event);
    }
    let id = row.order_id.clone();
    let last = row.event_time.date_naive().to_string();
    sim.order(row).run_through(&last);
    sim.reject_of(&id)
}

fn check(row: OrderEvent) -> Option<RejectCode> {
    rejected(policy(), vec![], row)
}

fn buy(offer: &str) -> OrderEvent {
    purchase("X", "2026-03-02T10:00:00Z", "C1", offer, Some("1"))
}

#[test]
fn a_valid_purchase_is_accepted() {
    assert_eq!(check(buy("M365")), None);
    assert_eq!(check(buy("EXCL-US")), None);
}

#[test]
fn unknown_customer_and_unknown_offer() {
    assert_eq!(
        check(OrderEvent {
            customer_id: "C-NOPE".into(),
            ..buy("M365")
        }),
        Some(UnknownCustomer)
    );
    assert_eq!(check(buy("NOPE")), Some(UnknownOffer));
    // Both wrong: the customer is checked first.
    assert_eq!(
        check(OrderEvent {
            customer_id: "C-NOPE".into(),
            ..buy("NOPE")
        }),
        Some(UnknownCustomer)
    );
}

#[test]
fn role_not_permitted_by_permissions_or_unknown_role() {
    let mut narrowed = policy();
    narrowed
        .permissions
        .allowed
        .insert(Action::Purchase, vec![Role::AdminAgent, Role::GlobalAdmin]);
    let helpdesk = OrderEvent {
        requested_by: "helpdesk_agent".into(),
        ..buy("M365")
    };
    assert_eq!(
        rejected(narrowed.clone(), vec![], helpdesk.clone()),
        Some(RoleNotPermitted)
    );
    assert_eq!(rejected(policy(), vec![], helpdesk), None);
    assert_eq!(
        check(OrderEvent {
            requested_by: "janitor".into(),
            ..buy("M365")
        }),
        Some(RoleNotPermitted)
    );
    // The role comes after unknown offer, before the offer's own rules.
    assert_eq!(
        check(OrderEvent {
            requested_by: "janitor".into(),
            ..buy("NOPE")
        }),
        Some(UnknownOffer)
    );
    assert_eq!(
        check(OrderEvent {
            requested_by: "janitor".into(),
            ..buy("NOCSP")
        }),
        Some(RoleNotPermitted)
    );
}

#[test]
fn offers_the_partner_channel_cannot_sell() {
    assert_eq!(check(buy("NOCSP")), Some(OfferNotAvailableViaCsp));
    assert_eq!(check(buy("NOTX")), Some(OfferNotTransactable));
    assert_eq!(check(buy("EXCL")), Some(OfferExclusive));
}

#[test]
fn country_segment_and_currency() {
    assert_eq!(check(buy("EU")), Some(CountryNotSupported));
    assert_eq!(check(buy("EDU")), Some(SegmentNotEligible));
    assert_eq!(check(buy("EURO")), Some(CurrencyMismatch));
}

fn base_bought() -> Vec<OrderEvent> {
    vec![purchase(
        "B",
        "2026-03-01T10:00:00Z",
        "C1",
        "M365",
        Some("2"),
    )]
}

#[test]
fn an_addon_needs_a_named_existing_active_eligible_base() {
    assert_eq!(
        rejected(policy(), base_bought(), buy("ADD")),
        Some(AddonRequiresBase)
    );
    let on = |base: &str| addon_purchase("X", "2026-03-02T10:00:00Z", "C1", "ADD", "1", base);
    assert_eq!(rejected(policy(), base_bought(), on("B-1")), None);
    assert_eq!(
        rejected(policy(), base_bought(), on("NOPE-1")),
        Some(UnknownSubscription)
    );
    // Another customer's base is unknown to this customer.
    let other = OrderEvent {
        customer_id: "C2".into(),
        ..on("B-1")
    };
    assert_eq!(
        rejected(policy(), base_bought(), other),
        Some(UnknownSubscription)
    );
    let reseller = Policy {
        partner: subsweep::domain::catalog::Partner {
            id: PARTNER.into(),
            partner_type: PartnerType::IndirectReseller,
        },
        ..policy()
    };
    assert_eq!(
        rejected(reseller, base_bought(), on("B-1")),
        Some(AddonPartnerType)
    );
    let wrong_base = vec![purchase(
        "B",
        "2026-03-01T10:00:00Z",
        "C1",
        "EXCL-US",
        Some("1"),
    )];
    assert_eq!(
        rejected(policy(), wrong_base, on("B-1")),
        Some(AddonNotEligible)
    );
    let mut suspended = base_bought();
    suspended.push(act(
        "S",
        "2026-03-01T12:00:00Z",
        Action::Suspend,
        "C1",
        "B-1",
    ));
    assert_eq!(
        rejected(policy(), suspended, on("B-1")),
        Some(BaseNotActive)
    );
}

#[test]
fn a_base_in_trial_counts_as_active_for_an_addon() {
    let mut offers = catalog();
    offers[0].trial_days = 30;
    let mut sim = Sim::new(offers, customers());
    sim.order(purchase(
        "B",
        "2026-03-01T10:00:00Z",
        "C1",
        "M365",
        Some("1"),
    ))
    .order(addon_purchase(
        "X",
        "2026-03-05T10:00:00Z",
        "C1",
        "ADD",
        "1",
        "B-1",
    ))
    .run_through("2026-03-05");
    assert_eq!(sim.reject_of("X"), None);
    assert!(sim.sub("X-1").state.in_trial);
}

#[test]
fn one_per_customer_and_reactivate_instead() {
    let first = || {
        vec![purchase(
            "A",
            "2026-03-01T10:00:00Z",
            "C1",
            "ONE",
            Some("1"),
        )]
    };
    assert_eq!(
        rejected(policy(), first(), buy("ONE")),
        Some(OnePerCustomer)
    );
    let mut suspended = first();
    suspended.push(act(
        "S",
        "2026-03-01T12:00:00Z",
        Action::Suspend,
        "C1",
        "A-1",
    ));
    assert_eq!(
        rejected(policy(), suspended, buy("ONE")),
        Some(ReactivateInstead)
    );
    let mut cancelled = first();
    cancelled.push(act(
        "K",
        "2026-03-01T12:00:00Z",
        Action::Cancel,
        "C1",
        "A-1",
    ));
    assert_eq!(rejected(policy(), cancelled, buy("ONE")), None);
    // Another customer is not limited by C1's subscription.
    assert_eq!(
        rejected(
            policy(),
            first(),
            OrderEvent {
                customer_id: "C2".into(),
                ..buy("ONE")
            }
        ),
        None
    );
}

#[test]
fn invalid_quantity_for_seats_and_for_metered_purchases() {
    let seats = |q: Option<&str>| purchase("X", "2026-03-02T10:00:00Z", "C1", "M365", q);
    for bad in [None, Some("0"), Some("2.5"), Some("11")] {
        assert_eq!(check(seats(bad)), Some(InvalidQuantity), "{bad:?}");
    }
    assert_eq!(check(seats(Some("10"))), None);
    assert_eq!(
        check(purchase(
            "X",
            "2026-03-02T10:00:00Z",
            "C1",
            "METER",
            Some("5")
        )),
        Some(InvalidQuantity)
    );
    assert_eq!(
        check(purchase("X", "2026-03-02T10:00:00Z", "C1", "METER", None)),
        None
    );
}

#[test]
fn other_actions_on_unknown_or_foreign_subscriptions() {
    let suspend = |customer: &str, sub: &str| {
        act("S", "2026-03-02T10:00:00Z", Action::Suspend, customer, sub)
    };
    assert_eq!(
        rejected(policy(), base_bought(), suspend("C1", "NOPE-1")),
        Some(UnknownSubscription)
    );
    assert_eq!(
        rejected(policy(), base_bought(), suspend("C2", "B-1")),
        Some(UnknownSubscription)
    );
    assert_eq!(
        rejected(policy(), base_bought(), suspend("C1", "B-1")),
        None
    );
}

#[test]
fn role_not_permitted_on_other_actions() {
    let mut narrowed = policy();
    narrowed
        .permissions
        .allowed
        .insert(Action::Suspend, vec![Role::AdminAgent, Role::GlobalAdmin]);
    let by = |role: &str| OrderEvent {
        requested_by: role.into(),
        ..act("S", "2026-03-02T10:00:00Z", Action::Suspend, "C1", "B-1")
    };
    assert_eq!(
        rejected(narrowed.clone(), base_bought(), by("sales_agent")),
        Some(RoleNotPermitted)
    );
    assert_eq!(rejected(narrowed, base_bought(), by("global_admin")), None);
}

#[test]
fn invalid_transitions() {
    let at = "2026-03-03T10:00:00Z";
    let mut cancelled = base_bought();
    cancelled.push(act(
        "K",
        "2026-03-01T11:00:00Z",
        Action::Cancel,
        "C1",
        "B-1",
    ));
    assert_eq!(
        rejected(
            policy(),
            cancelled,
            act("X", at, Action::Suspend, "C1", "B-1")
        ),
        Some(InvalidTransition)
    );
    assert_eq!(
        rejected(
            policy(),
            base_bought(),
            act("X", at, Action::Reactivate, "C1", "B-1")
        ),
        Some(InvalidTransition)
    );
    let mut suspended = base_bought();
    suspended.push(act(
        "S",
        "2026-03-02T10:00:00Z",
        Action::Suspend,
        "C1",
        "B-1",
    ));
    assert_eq!(
        rejected(
            policy(),
            suspended.clone(),
            change("X", at, "C1", "B-1", "3")
        ),
        Some(InvalidTransition)
    );
    assert_eq!(
        rejected(
            policy(),
            suspended,
            act("X", at, Action::Suspend, "C1", "B-1")
        ),
        Some(InvalidTransition)
    );
    assert_eq!(
        rejected(policy(), base_bought(), usage("X", at, "C1", "B-1", "4")),
        Some(InvalidTransition)
    );
    let mut meter = vec![purchase("U", "2026-03-01T10:00:00Z", "C1", "METER", None)];
    meter.push(act(
        "S",
        "2026-03-02T10:00:00Z",
        Action::Suspend,
        "C1",
        "U-1",
    ));
    assert_eq!(
        rejected(policy(), meter, usage("X", at, "C1", "U-1", "4")),
        Some(InvalidTransition)
    );
}

#[test]
fn invalid_quantity_on_a_seat_change() {
    assert_eq!(
        rejected(
            policy(),
            base_bought(),
            change("X", "2026-03-03T10:00:00Z", "C1", "B-1", "11")
        ),
        Some(InvalidQuantity)
    );
    assert_eq!(
        rejected(
            policy(),
            base_bought(),
            change("X", "2026-03-03T10:00:00Z", "C1", "B-1", "1.5")
        ),
        Some(InvalidQuantity)
    );
    assert_eq!(
        rejected(
            policy(),
            base_bought(),
            change("X", "2026-03-03T10:00:00Z", "C1", "B-1", "0")
        ),
        Some(InvalidQuantity)
    );
}
