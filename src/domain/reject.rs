//! Reject codes (SPEC sections 3 and 4): stable identifiers finance and other tools rely on.

use std::fmt;

/// Why an order row was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectCode {
    MalformedRow,
    DuplicateLine,
    UnknownCustomer,
    UnknownOffer,
    RoleNotPermitted,
    OfferNotAvailableViaCsp,
    OfferNotTransactable,
    OfferExclusive,
    CountryNotSupported,
    SegmentNotEligible,
    CurrencyMismatch,
    AddonRequiresBase,
    UnknownSubscription,
    AddonPartnerType,
    AddonNotEligible,
    BaseNotActive,
    ReactivateInstead,
    OnePerCustomer,
    InvalidQuantity,
    InvalidTransition,
    DataExpired,
    /// Dated more than `[intake] max_late_days` before the day that takes it (SPEC section 9).
    EventOutOfRange,
}

impl RejectCode {
    /// The code as written in rejects.csv.
    pub fn as_str(self) -> &'static str {
        use RejectCode::*;
        match self {
            MalformedRow => "malformed_row",
            DuplicateLine => "duplicate_line",
            UnknownCustomer => "unknown_customer",
            UnknownOffer => "unknown_offer",
            RoleNotPermitted => "role_not_permitted",
            OfferNotAvailableViaCsp => "offer_not_available_via_csp",
            OfferNotTransactable => "offer_not_transactable",
            OfferExclusive => "offer_exclusive",
            CountryNotSupported => "country_not_supported",
            SegmentNotEligible => "segment_not_eligible",
            CurrencyMismatch => "currency_mismatch",
            AddonRequiresBase => "addon_requires_base",
            UnknownSubscription => "unknown_subscription",
            AddonPartnerType => "addon_partner_type",
            AddonNotEligible => "addon_not_eligible",
            BaseNotActive => "base_not_active",
            ReactivateInstead => "reactivate_instead",
            OnePerCustomer => "one_per_customer",
            InvalidQuantity => "invalid_quantity",
            InvalidTransition => "invalid_transition",
            DataExpired => "data_expired",
            EventOutOfRange => "event_out_of_range",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RejectCode {
    /// Every code, in declaration order: what the documentation is checked against
    /// (`tests/docs.rs` also checks that this lists every variant).
    pub const ALL: &'static [RejectCode] = &[
        RejectCode::MalformedRow,
        RejectCode::DuplicateLine,
        RejectCode::UnknownCustomer,
        RejectCode::UnknownOffer,
        RejectCode::RoleNotPermitted,
        RejectCode::OfferNotAvailableViaCsp,
        RejectCode::OfferNotTransactable,
        RejectCode::OfferExclusive,
        RejectCode::CountryNotSupported,
        RejectCode::SegmentNotEligible,
        RejectCode::CurrencyMismatch,
        RejectCode::AddonRequiresBase,
        RejectCode::UnknownSubscription,
        RejectCode::AddonPartnerType,
        RejectCode::AddonNotEligible,
        RejectCode::BaseNotActive,
        RejectCode::ReactivateInstead,
        RejectCode::OnePerCustomer,
        RejectCode::InvalidQuantity,
        RejectCode::InvalidTransition,
        RejectCode::DataExpired,
        RejectCode::EventOutOfRange,
    ];
}

// `ALL` is in declaration order, without gaps or repeats.
const _: () = {
    let mut i = 0;
    while i < RejectCode::ALL.len() {
        assert!(RejectCode::ALL[i] as usize == i);
        i += 1;
    }
};

/// The day whose rejects.csv reports a row rejected while a file is taken on `taken_on`, when
/// the subscription state is carried through `processed_through`: that day's own report if its
/// orders are still to run, else the next day that will run (whose apply-orders also applies
/// the file's good rows, late). A day's report is written when its orders run, so a reject
/// recorded on a day already run would be in no report.
pub fn report_day(
    taken_on: chrono::NaiveDate,
    processed_through: Option<chrono::NaiveDate>,
) -> chrono::NaiveDate {
    match processed_through {
        Some(done) if done >= taken_on => done.succ_opt().unwrap_or(done),
        _ => taken_on,
    }
}

/// A rejected row's code and a message saying what was wrong and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: RejectCode,
    pub message: String,
}

impl Reject {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod report_day_tests {
    use super::report_day;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_day_still_to_run_reports_its_own_rejects_and_a_day_already_run_the_next_one() {
        assert_eq!(report_day(d("2026-07-30"), None), d("2026-07-30"));
        assert_eq!(
            report_day(d("2026-07-30"), Some(d("2026-07-29"))),
            d("2026-07-30")
        );
        assert_eq!(
            report_day(d("2026-07-30"), Some(d("2026-07-30"))),
            d("2026-07-31")
        );
        // A far-past re-run (a typo in a year) reports with the next day that will run.
        assert_eq!(
            report_day(d("2016-11-30"), Some(d("2026-11-30"))),
            d("2026-12-01")
        );
    }
}
