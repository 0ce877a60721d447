//! Money arithmetic: proration by days and the one rounding SPEC section 6 allows.
//!
//! Every multiplication and sum of money or quantities is checked: whatever an order row or the
//! catalog holds, a charge is either computed exactly (the one division of a proration aside)
//! within [`MAX_AMOUNT`], or it is an [`Uncomputable`] error the rules turn into that row's
//! `invalid_quantity` reject. Nothing here panics.

use rust_decimal::{Decimal, RoundingStrategy};

/// The largest amount of one charge line, in either sign: a quadrillion. A line beyond it is
/// not a plausible bill, and under it the sum of a billion lines still fits a `Decimal` (and
/// everything read back from the database does too).
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// A charge that cannot be computed exactly: a product or sum beyond what a `Decimal` holds
/// without rounding, or a line beyond [`MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the charge cannot be computed exactly (an amount above 1,000,000,000,000,000 or too many digits)"
)]
pub struct Uncomputable;

/// `a × b` exactly, or `Uncomputable` when the exact product does not fit a `Decimal` (28
/// decimal places, 96-bit mantissa). `Decimal`'s own multiplication rounds such a product
/// silently or panics; this one never does either.
pub fn exact_mul(a: Decimal, b: Decimal) -> Result<Decimal, Uncomputable> {
    let (a, b) = (a.normalize(), b.normalize());
    let mut mantissa = a.mantissa().checked_mul(b.mantissa()).ok_or(Uncomputable)?;
    let mut scale = a.scale() + b.scale();
    // The product may end in zeros (5 × 2): they can go before the scale is judged.
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| Uncomputable)
}

/// `a + b`, or `Uncomputable` when it overflows.
pub fn checked_add(a: Decimal, b: Decimal) -> Result<Decimal, Uncomputable> {
    a.checked_add(b).ok_or(Uncomputable)
}

/// The sum of `values`, or `Uncomputable` when it overflows.
pub fn checked_sum(values: impl IntoIterator<Item = Decimal>) -> Result<Decimal, Uncomputable> {
    values.into_iter().try_fold(Decimal::ZERO, checked_add)
}

/// `amount` when it is a plausible line amount (at most [`MAX_AMOUNT`] either way).
pub fn within_limit(amount: Decimal) -> Result<Decimal, Uncomputable> {
    if amount.abs() <= MAX_AMOUNT {
        Ok(amount)
    } else {
        Err(Uncomputable)
    }
}

/// units × unit_price, exactly, rounded once: the amount of a metered usage line.
pub fn usage_amount(units: Decimal, unit_price: Decimal) -> Result<Decimal, Uncomputable> {
    within_limit(exact_mul(units, unit_price)?).map(round_amount)
}

/// Rounds an amount once, to 2 decimals, half away from zero.
/// Always with exactly two decimals (`5.00`, not `5`), whatever scale the exact product had.
pub fn round_amount(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// unit_price × quantity × billable_days / period_days, computed exactly and rounded once;
/// `Uncomputable` when the product cannot be carried out exactly or the amount (before the
/// division, so a whole period at this price and quantity too) exceeds [`MAX_AMOUNT`].
pub fn prorate(
    unit_price: Decimal,
    quantity: Decimal,
    billable_days: u32,
    period_days: u32,
) -> Result<Decimal, Uncomputable> {
    if period_days == 0 {
        return Err(Uncomputable);
    }
    // Multiply before dividing so the only inexact step is one division at 28 digits.
    let per_period = within_limit(exact_mul(unit_price, quantity)?)?;
    let numerator = exact_mul(per_period, Decimal::from(billable_days))?;
    let amount = numerator
        .checked_div(Decimal::from(period_days))
        .ok_or(Uncomputable)?;
    within_limit(amount).map(round_amount)
}

/// Whether `quantity` seats (or units) at `unit_price` can be charged for any part of any
/// billing period (up to 366 days): every proration of them then computes.
pub fn chargeable(unit_price: Decimal, quantity: Decimal) -> Result<(), Uncomputable> {
    prorate(unit_price, quantity, 366, 366).map(|_| ())
}

/// Formats an amount with exactly two decimals, `.` as separator and no grouping.
pub fn format_amount(value: Decimal) -> String {
    format!("{:.2}", round_amount(value))
}

/// Formats a price or quantity as a plain number with no trailing zeros (`3`, `12.5`); a price
/// keeps at least `min_decimals` decimals (`4.00`).
pub fn format_number(value: Decimal, min_decimals: u32) -> String {
    let normalized = value.normalize();
    if normalized.scale() >= min_decimals {
        normalized.to_string()
    } else {
        format!("{:.*}", min_decimals as usize, normalized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_amount(dec!(1.005)), dec!(1.01));
        assert_eq!(round_amount(dec!(-1.005)), dec!(-1.01));
        assert_eq!(round_amount(dec!(1.0049999)), dec!(1.00));
    }

    #[test]
    fn proration_of_the_worked_examples() {
        // Example 1: 12 of 31 days at 4.00 for 1 and 2 seats.
        assert_eq!(prorate(dec!(4.00), dec!(1), 12, 31), Ok(dec!(1.55)));
        assert_eq!(prorate(dec!(4.00), dec!(2), 12, 31), Ok(dec!(3.10)));
        // Example 2: 21 of 30 days at 5.00.
        assert_eq!(prorate(dec!(5.00), dec!(1), 21, 30), Ok(dec!(3.50)));
        // Example 3: 27/31 and 17/31 of 30.00.
        assert_eq!(prorate(dec!(30.00), dec!(1), 27, 31), Ok(dec!(26.13)));
        assert_eq!(prorate(dec!(30.00), dec!(1), 17, 31), Ok(dec!(16.45)));
    }

    #[test]
    fn the_limit_is_a_quadrillion() {
        assert_eq!(MAX_AMOUNT, dec!(1_000_000_000_000_000));
    }

    #[test]
    fn a_quantity_whose_charge_overflows_is_uncomputable_not_a_panic() {
        // Issue 13, case 1: 10^27 seats used to panic with "Multiplication overflowed".
        let huge = dec!(1000000000000000000000000000);
        assert_eq!(prorate(dec!(4.00), huge, 12, 31), Err(Uncomputable));
        assert_eq!(
            prorate(Decimal::MAX, Decimal::MAX, 366, 366),
            Err(Uncomputable)
        );
        assert_eq!(usage_amount(huge, dec!(4)), Err(Uncomputable));
        // Beyond a quadrillion a line is refused even when Decimal could hold it.
        assert_eq!(
            prorate(dec!(1000), dec!(10_000_000_000_000), 31, 31),
            Err(Uncomputable)
        );
        assert!(chargeable(dec!(1000), dec!(1_000_000_000_000)).is_ok());
    }

    #[test]
    fn products_are_exact_or_refused_never_rounded() {
        // 28 decimals times 1 decimal would need 29: Decimal rounds it, we refuse it.
        let fine = dec!(0.0000000000000000000000000001);
        assert_eq!(exact_mul(fine, dec!(0.5)), Err(Uncomputable));
        assert_eq!(
            exact_mul(fine, dec!(10)),
            Ok(dec!(0.000000000000000000000000001))
        );
        assert_eq!(exact_mul(dec!(2.50), dec!(0.4)), Ok(dec!(1)));
        assert_eq!(exact_mul(dec!(-3), dec!(1.5)), Ok(dec!(-4.5)));
        assert_eq!(checked_sum([Decimal::MAX, Decimal::ONE]), Err(Uncomputable));
        assert_eq!(checked_sum([dec!(1.5), dec!(2)]), Ok(dec!(3.5)));
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(format_amount(dec!(-26.1)), "-26.10");
        assert_eq!(format_amount(dec!(3)), "3.00");
        assert_eq!(format_number(dec!(3.000), 0), "3");
        assert_eq!(format_number(dec!(12.50), 0), "12.5");
        assert_eq!(format_number(dec!(4), 2), "4.00");
        assert_eq!(format_number(dec!(0.0125), 2), "0.0125");
    }
}
