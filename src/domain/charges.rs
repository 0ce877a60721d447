//! Charge lines (SPEC section 6): what a subscription is billed, with its range, price,
//! quantity, days and amount, and the ledger of what has been charged so far.

use std::fmt;

use rust_decimal::Decimal;

use super::calendar::DateRange;
use super::money::{Uncomputable, checked_sum, prorate};

/// The charge types of SPEC section 6, spelled as invoice files show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChargeType {
    /// First period of a purchase or of a trial's conversion.
    PurchaseProrate,
    /// A new billing period within a term.
    CycleFee,
    /// The first period of a renewed term.
    RenewFee,
    /// One of the two lines of a quantity change.
    CycleInstanceProrate,
    /// A credit: suspension, or cancellation within the window.
    CancelFee,
    /// The charge of a reactivation.
    ActivationFee,
    /// Metered usage of a period that ended.
    UsageCycle,
    /// Metered usage up to a cancellation.
    UsageCancel,
    /// The correction of a line already posted.
    Offset,
}

impl ChargeType {
    pub const ALL: [ChargeType; 9] = [
        ChargeType::PurchaseProrate,
        ChargeType::CycleFee,
        ChargeType::RenewFee,
        ChargeType::CycleInstanceProrate,
        ChargeType::CancelFee,
        ChargeType::ActivationFee,
        ChargeType::UsageCycle,
        ChargeType::UsageCancel,
        ChargeType::Offset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeType::PurchaseProrate => "Prorate fees when purchase",
            ChargeType::CycleFee => "Cycle fee",
            ChargeType::RenewFee => "Renew fee",
            ChargeType::CycleInstanceProrate => "Cycle instance prorate",
            ChargeType::CancelFee => "Cancel fee",
            ChargeType::ActivationFee => "Activation fee",
            ChargeType::UsageCycle => "Assess usage fee for current cycle",
            ChargeType::UsageCancel => "Assess usage fee when cancel",
            ChargeType::Offset => "Offset a line item",
        }
    }
}

impl fmt::Display for ChargeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChargeType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ChargeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown charge type '{s}'"))
    }
}

/// One charge line. Credits have a negative amount; quantities stay positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeLine {
    pub subscription_id: String,
    pub charge_type: ChargeType,
    pub range: DateRange,
    pub billable_days: u32,
    pub period_days: u32,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub amount: Decimal,
    /// What caused it: `purchase`, `conversion`, `period`, `renewal`, `usage`,
    /// `order:<order_id>:<line>` (with a suffix where one order makes several lines), or
    /// `offset:<posted_on>:<line_id>`. With the type and range it identifies the line.
    pub cause: String,
}

/// What identifies a line: two lines with the same key are the same charge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    pub subscription_id: String,
    pub charge_type: ChargeType,
    pub range: DateRange,
    pub cause: String,
}

impl ChargeLine {
    /// A line for `quantity` units of `range`, prorated by the days of the period it lies in.
    #[allow(clippy::too_many_arguments)]
    pub fn prorated(
        subscription_id: &str,
        charge_type: ChargeType,
        range: DateRange,
        period_days: u32,
        unit_price: Decimal,
        quantity: Decimal,
        sign: Sign,
        cause: impl Into<String>,
    ) -> Result<ChargeLine, Uncomputable> {
        let amount = prorate(unit_price, quantity, range.days(), period_days)?;
        Ok(ChargeLine {
            subscription_id: subscription_id.to_string(),
            charge_type,
            range,
            billable_days: range.days(),
            period_days,
            unit_price,
            quantity,
            amount: sign.apply(amount),
            cause: cause.into(),
        })
    }

    pub fn key(&self) -> LineKey {
        LineKey {
            subscription_id: self.subscription_id.clone(),
            charge_type: self.charge_type,
            range: self.range,
            cause: self.cause.clone(),
        }
    }
}

/// Charge or credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Charge,
    Credit,
}

impl Sign {
    fn apply(self, amount: Decimal) -> Decimal {
        match self {
            Sign::Charge => amount,
            Sign::Credit => -amount,
        }
    }
}

/// What has been charged so far, one entry per line key with its net amount (a posted line
/// plus any offsets correcting it). The rules read it for "everything charged so far" and "the
/// net amount charged for the current period".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: Vec<ChargeLine>,
}

impl Ledger {
    /// Adds a line's amount to the entry with its key, or a new entry. Lines are at most
    /// `money::MAX_AMOUNT` each, so a net saturates only past ~10^13 lines of one key: it never
    /// panics.
    pub fn record(&mut self, line: &ChargeLine) {
        match self.entries.iter_mut().find(|e| e.key() == line.key()) {
            Some(entry) => entry.amount = entry.amount.saturating_add(line.amount),
            None => self.entries.push(line.clone()),
        }
    }

    /// Adds `amount` to an existing entry (an offset correcting it).
    pub fn correct(&mut self, key: &LineKey, amount: Decimal) {
        if let Some(entry) = self.entries.iter_mut().find(|e| &e.key() == key) {
            entry.amount = entry.amount.saturating_add(amount);
        }
    }

    /// Net amount charged to `subscription_id` by lines lying wholly inside `range`.
    pub fn net_within(
        &self,
        subscription_id: &str,
        range: &DateRange,
    ) -> Result<Decimal, Uncomputable> {
        checked_sum(
            self.entries
                .iter()
                .filter(|e| e.subscription_id == subscription_id && range.covers(&e.range))
                .map(|e| e.amount),
        )
    }

    /// The entries of one subscription whose net amount is not zero, in the order charged.
    pub fn open_entries(&self, subscription_id: &str) -> Vec<ChargeLine> {
        self.entries
            .iter()
            .filter(|e| e.subscription_id == subscription_id && !e.amount.is_zero())
            .cloned()
            .collect()
    }

    /// Every entry.
    pub fn entries(&self) -> &[ChargeLine] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn charge_types_round_trip_through_their_spelling() {
        for t in ChargeType::ALL {
            assert_eq!(t.as_str().parse::<ChargeType>(), Ok(t));
        }
    }

    #[test]
    fn the_ledger_nets_corrections_into_the_line_they_correct() {
        let range = DateRange::new("2026-03-01".parse().unwrap(), "2026-03-31".parse().unwrap());
        let line = ChargeLine::prorated(
            "S",
            ChargeType::CycleFee,
            range,
            31,
            dec!(30),
            dec!(1),
            Sign::Charge,
            "period",
        )
        .unwrap();
        let mut ledger = Ledger::default();
        ledger.record(&line);
        ledger.correct(&line.key(), dec!(-30));
        assert_eq!(ledger.net_within("S", &range), Ok(dec!(0)));
        assert!(ledger.open_entries("S").is_empty());
    }
}
