//! The catalog, customers and the partner: what the purchase rules are checked against.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::vocabulary::{BillingFrequency, BillingType, Category, PartnerType, Publisher, Segment};

/// The most seats of a license subscription when its offer sets no max_quantity.
pub const MAX_SEATS: u32 = 10_000_000;

/// The most units one usage row may record.
pub const MAX_USAGE_UNITS: u64 = 1_000_000_000_000;

/// The most decimal places of a usage row's units.
pub const MAX_USAGE_DECIMALS: u32 = 10;

/// Why a usage row's units are out of bounds, if they are.
pub fn usage_units_problem(units: Decimal) -> Option<String> {
    if units > Decimal::from(MAX_USAGE_UNITS) {
        Some(format!(
            "usage quantity {units} is above {MAX_USAGE_UNITS} units for one row"
        ))
    } else if units.normalize().scale() > MAX_USAGE_DECIMALS {
        Some(format!(
            "usage quantity {units} has more than {MAX_USAGE_DECIMALS} decimal places"
        ))
    } else {
        None
    }
}

/// One catalog offer (SPEC section 2, offers.csv).
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub offer_id: String,
    pub name: String,
    pub publisher: Publisher,
    pub publisher_name: String,
    pub billing_type: BillingType,
    pub billing_frequency: BillingFrequency,
    pub term_months: u32,
    pub unit_price: Decimal,
    pub currency: String,
    pub category: Category,
    pub segments: Vec<Segment>,
    pub one_per_customer: bool,
    pub trial_days: u32,
    pub csp_available: bool,
    pub transactable: bool,
    /// Billing countries; `None` means every country (`*`).
    pub countries: Option<Vec<String>>,
    /// Partners the offer is exclusive to; empty means every partner.
    pub exclusive_partners: Vec<String>,
    pub is_addon: bool,
    pub base_offers: Vec<String>,
    pub min_quantity: u32,
    pub max_quantity: Option<u32>,
    pub publisher_setup_url: Option<String>,
}

impl Offer {
    /// The plainest offer: a Microsoft enterprise license named `id`, billed monthly on a
    /// 12-month term at 10 USD a seat, sold to every segment in every country by every
    /// partner, from one seat up, with no trial and no other rule. Examples and tests start
    /// from it and change the fields they are about (`Offer { trial_days: 30, ..plain }`).
    pub fn plain(id: &str) -> Offer {
        Offer {
            offer_id: id.into(),
            name: id.into(),
            publisher: Publisher::Microsoft,
            publisher_name: "Microsoft".into(),
            billing_type: BillingType::License,
            billing_frequency: BillingFrequency::Monthly,
            term_months: 12,
            unit_price: Decimal::TEN,
            currency: "USD".into(),
            category: Category::Enterprise,
            segments: Segment::ALL.to_vec(),
            one_per_customer: false,
            trial_days: 0,
            csp_available: true,
            transactable: true,
            countries: None,
            exclusive_partners: vec![],
            is_addon: false,
            base_offers: vec![],
            min_quantity: 1,
            max_quantity: None,
            publisher_setup_url: None,
        }
    }

    /// Whether customers billed in `country` may buy it.
    pub fn sold_in(&self, country: &str) -> bool {
        self.countries
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == country))
    }

    /// Whether `partner_id` may sell it.
    pub fn sold_by(&self, partner_id: &str) -> bool {
        self.exclusive_partners.is_empty()
            || self.exclusive_partners.iter().any(|p| p == partner_id)
    }

    /// Whether `quantity` seats are a valid license quantity: whole and within [min, max],
    /// max being [`MAX_SEATS`] when the offer sets none.
    pub fn accepts_seats(&self, quantity: Decimal) -> bool {
        quantity.fract().is_zero()
            && quantity >= Decimal::from(self.min_quantity)
            && quantity <= Decimal::from(self.seat_limit())
    }

    /// The most seats one subscription may have: max_quantity, or [`MAX_SEATS`].
    pub fn seat_limit(&self) -> u32 {
        self.max_quantity.unwrap_or(MAX_SEATS)
    }

    /// The catalog's consistency rules, checked when it is loaded; each problem as a sentence.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.billing_frequency.months() > self.term_months {
            problems.push(format!(
                "billing_frequency {} is longer than term_months {}: a billing period never exceeds the term",
                self.billing_frequency, self.term_months
            ));
        }
        if self.billing_type == BillingType::Usage
            && self.billing_frequency != BillingFrequency::Monthly
        {
            problems.push("usage offers are always billed monthly".to_string());
        }
        if let Some(max) = self.max_quantity
            && max < self.min_quantity
        {
            problems.push(format!(
                "max_quantity {max} is below min_quantity {}",
                self.min_quantity
            ));
        }
        if self.is_addon && self.base_offers.is_empty() {
            problems.push("an add-on needs base_offers".to_string());
        }
        problems
    }
}

/// One customer (SPEC section 2, customers.csv).
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    pub country: String,
    pub segment: Segment,
    pub currency: String,
    pub account_opened_on: NaiveDate,
}

/// The partner running subsweep (jobs.toml `[partner]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: String,
    pub partner_type: PartnerType,
}

impl Partner {
    /// Add-ons are sold only by direct-bill partners and indirect providers.
    pub fn may_buy_addons(&self) -> bool {
        matches!(
            self.partner_type,
            PartnerType::DirectBill | PartnerType::IndirectProvider
        )
    }
}
