//! Money arithmetic: proration by days and the one rounding SPEC section 6 allows.

use rust_decimal::{Decimal, RoundingStrategy};

/// Rounds an amount once, to 2 decimals, half away from zero.
pub fn round_amount(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// unit_price × quantity × billable_days / period_days, computed exactly and rounded once.
pub fn prorate(
    unit_price: Decimal,
    quantity: Decimal,
    billable_days: u32,
    period_days: u32,
) -> Decimal {
    assert!(period_days > 0, "a billing period has at least one day");
    // Multiply before dividing so the only inexact step is one division at 28 digits.
    let numerator = unit_price * quantity * Decimal::from(billable_days);
    round_amount(numerator / Decimal::from(period_days))
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
        assert_eq!(prorate(dec!(4.00), dec!(1), 12, 31), dec!(1.55));
        assert_eq!(prorate(dec!(4.00), dec!(2), 12, 31), dec!(3.10));
        // Example 2: 21 of 30 days at 5.00.
        assert_eq!(prorate(dec!(5.00), dec!(1), 21, 30), dec!(3.50));
        // Example 3: 27/31 and 17/31 of 30.00.
        assert_eq!(prorate(dec!(30.00), dec!(1), 27, 31), dec!(26.13));
        assert_eq!(prorate(dec!(30.00), dec!(1), 17, 31), dec!(16.45));
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
