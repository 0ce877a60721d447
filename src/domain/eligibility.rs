//! Purchase eligibility (SPEC section 4): the first failing rule, in the spec's order, decides
//! the reject code.

use rust_decimal::Decimal;

use super::catalog::{Customer, Offer};
use super::order::OrderEvent;
use super::policy::Policy;
use super::reject::{Reject, RejectCode};
use super::subscription::Subscription;
use super::vocabulary::{Action, BillingType, Status};

/// The customer's live subscriptions of the offer being bought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    /// The customer has an active one (a trial counts).
    pub active: bool,
    /// The customer has a suspended one.
    pub suspended: bool,
}

/// What a purchase is checked against, gathered by the shell (catalog, customer, holdings) and
/// by the subscription family (the base's state at the event's time).
#[derive(Debug, Clone, Copy)]
pub struct PurchaseFacts<'a> {
    pub customer: Option<&'a Customer>,
    pub offer: Option<&'a Offer>,
    /// The base named by base_subscription_id, if it exists and belongs to the customer.
    pub base: Option<&'a Subscription>,
    pub holdings: Holdings,
}

fn reject(code: RejectCode, message: String) -> Result<(), Reject> {
    Err(Reject::new(code, message))
}

/// Checks a purchase; `Ok` means every rule passed.
pub fn check_purchase(
    event: &OrderEvent,
    facts: &PurchaseFacts<'_>,
    policy: &Policy,
) -> Result<(), Reject> {
    use RejectCode::*;
    let offer_id = event.offer_id.as_deref().unwrap_or_default();
    let Some(customer) = facts.customer else {
        return reject(
            UnknownCustomer,
            format!("customer {} is not in customers.csv", event.customer_id),
        );
    };
    let Some(offer) = facts.offer else {
        return reject(
            UnknownOffer,
            format!("offer {offer_id} is not in the catalog"),
        );
    };
    if !policy.permits(Action::Purchase, &event.requested_by) {
        return reject(
            RoleNotPermitted,
            role_message(Action::Purchase, &event.requested_by),
        );
    }
    if !offer.csp_available {
        return reject(
            OfferNotAvailableViaCsp,
            format!("{offer_id}: the publisher does not sell it through CSP"),
        );
    }
    if !offer.transactable {
        return reject(
            OfferNotTransactable,
            format!("{offer_id} cannot be bought through the partner channel"),
        );
    }
    if !offer.sold_by(&policy.partner.id) {
        return reject(
            OfferExclusive,
            format!(
                "{offer_id} is exclusive to {}",
                offer.exclusive_partners.join(", ")
            ),
        );
    }
    if !offer.sold_in(&customer.country) {
        return reject(
            CountryNotSupported,
            format!(
                "{offer_id} is not sold to customers billed in {}",
                customer.country
            ),
        );
    }
    if !offer.segments.contains(&customer.segment) {
        return reject(
            SegmentNotEligible,
            format!("{offer_id} is not sold to the {} segment", customer.segment),
        );
    }
    if offer.currency != customer.currency {
        return reject(
            CurrencyMismatch,
            format!(
                "{offer_id} is priced in {}, customer {} pays in {}",
                offer.currency, customer.customer_id, customer.currency
            ),
        );
    }
    if offer.is_addon {
        check_addon(event, offer, facts.base, policy)?;
    }
    if offer.one_per_customer && facts.holdings.suspended {
        return reject(
            ReactivateInstead,
            format!(
                "{offer_id} is one per customer and {} has a suspended one: reactivate it",
                customer.customer_id
            ),
        );
    }
    if offer.one_per_customer && facts.holdings.active {
        return reject(
            OnePerCustomer,
            format!(
                "{offer_id} is one per customer and {} already has an active one",
                customer.customer_id
            ),
        );
    }
    check_purchase_quantity(offer, event.quantity)
}

fn check_addon(
    event: &OrderEvent,
    offer: &Offer,
    base: Option<&Subscription>,
    policy: &Policy,
) -> Result<(), Reject> {
    use RejectCode::*;
    let Some(base_id) = event.base_subscription_id.as_deref() else {
        return reject(
            AddonRequiresBase,
            format!(
                "{} is an add-on: name its base in base_subscription_id",
                offer.offer_id
            ),
        );
    };
    let Some(base) = base else {
        return reject(
            UnknownSubscription,
            format!(
                "base subscription {base_id} does not exist for customer {}",
                event.customer_id
            ),
        );
    };
    if !policy.partner.may_buy_addons() {
        return reject(
            AddonPartnerType,
            format!(
                "{} partners cannot buy add-ons",
                policy.partner.partner_type
            ),
        );
    }
    if base.is_addon() || !offer.base_offers.contains(&base.offer_id) {
        return reject(
            AddonNotEligible,
            format!(
                "{} cannot be added to {base_id} (offer {})",
                offer.offer_id, base.offer_id
            ),
        );
    }
    if base.state.status != Status::Active {
        return reject(
            BaseNotActive,
            format!("base subscription {base_id} is {}", base.state.status),
        );
    }
    Ok(())
}

fn check_purchase_quantity(offer: &Offer, quantity: Option<Decimal>) -> Result<(), Reject> {
    match (offer.billing_type, quantity) {
        (BillingType::Usage, Some(q)) => reject(
            RejectCode::InvalidQuantity,
            format!(
                "{} is metered: a usage purchase has no quantity (got {q})",
                offer.offer_id
            ),
        ),
        (BillingType::Usage, None) => Ok(()),
        (BillingType::License, Some(q)) if offer.accepts_seats(q) => Ok(()),
        (BillingType::License, q) => reject(RejectCode::InvalidQuantity, seats_message(offer, q)),
    }
}

/// The message for a seat count outside the offer's limits.
pub fn seats_message(offer: &Offer, quantity: Option<Decimal>) -> String {
    let limits = format!(
        "a whole number from {} to {}",
        offer.min_quantity,
        offer.seat_limit()
    );
    match quantity {
        Some(q) => format!(
            "quantity {q} for {}: seats must be {limits}",
            offer.offer_id
        ),
        None => format!(
            "quantity is required for {}: seats must be {limits}",
            offer.offer_id
        ),
    }
}

/// The message for a role that may not request an action.
pub fn role_message(action: Action, role: &str) -> String {
    format!("role '{role}' may not {action} (see [permissions] in jobs.toml)")
}
