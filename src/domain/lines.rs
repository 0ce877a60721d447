//! Line builders: the charge line of a period that starts on a date (prorated by the full
//! period's length) and the line of the metered usage recorded in a period. The state machine
//! decides when a line is due; these decide what it holds.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::calendar::DateRange;
use super::charges::{ChargeLine, ChargeType, Sign};
use super::money::{Uncomputable, usage_amount};
use super::subscription::Subscription;

pub(super) fn push_nonzero(lines: &mut Vec<ChargeLine>, line: ChargeLine) {
    if !line.amount.is_zero() {
        lines.push(line);
    }
}

/// The charge of the period that starts (or, for an add-on's first, continues) on `date`:
/// its billed part, prorated by the full period's length. `None` for metered subscriptions.
pub(super) fn first_period_charge(
    sub: &Subscription,
    date: NaiveDate,
    cause: &str,
) -> Result<Option<ChargeLine>, Uncomputable> {
    if !sub.is_license() {
        return Ok(None);
    }
    let (Some(period), Some(billed)) = (sub.period_at(date), sub.billed_period_at(date)) else {
        return Ok(None);
    };
    let billed = billed.from(date);
    let line = ChargeLine::prorated(
        &sub.id,
        ChargeType::PurchaseProrate,
        billed,
        period.days(),
        sub.terms.unit_price,
        sub.state.quantity.unwrap_or(Decimal::ZERO),
        Sign::Charge,
        cause,
    )?;
    Ok((!line.amount.is_zero()).then_some(line))
}

/// The metered usage recorded in the period containing `last_day`, billed from the period's
/// start (or the paid start) to `last_day`. `None` when nothing was used.
pub(super) fn usage_line_until(
    sub: &Subscription,
    last_day: NaiveDate,
    charge_type: ChargeType,
    cause: &str,
) -> Result<Option<ChargeLine>, Uncomputable> {
    let units = sub.state.usage_units;
    if sub.is_license() || units.is_zero() {
        return Ok(None);
    }
    let (Some(period), Some(billed)) = (sub.period_at(last_day), sub.billed_period_at(last_day))
    else {
        return Ok(None);
    };
    let range = DateRange::new(billed.start, last_day.max(billed.start));
    let amount = usage_amount(units, sub.terms.unit_price)?;
    Ok((!amount.is_zero()).then(|| ChargeLine {
        subscription_id: sub.id.clone(),
        charge_type,
        range,
        billable_days: range.days(),
        period_days: period.days(),
        unit_price: sub.terms.unit_price,
        quantity: units,
        amount,
        cause: cause.to_string(),
    }))
}
