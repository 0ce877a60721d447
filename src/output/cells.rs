//! How values are written in every output file (SPEC section 7): dates `YYYY-MM-DD`,
//! booleans `true`/`false`, plain numbers, amounts with two decimals, empty cells where a value
//! does not apply, and text cells defused so spreadsheets never run them as formulas.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::money;

/// A text cell: prefixed with `'` when it begins with `=`, `+`, `-`, `@`, a tab or a carriage
/// return, so a spreadsheet shows it instead of evaluating it. Only for text columns: numeric
/// columns are never altered.
pub fn text(value: &str) -> String {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

/// An optional text cell.
pub fn opt_text(value: Option<&str>) -> String {
    value.map(text).unwrap_or_default()
}

/// A date cell, empty when absent.
pub fn date(value: Option<NaiveDate>) -> String {
    value.map(|d| d.to_string()).unwrap_or_default()
}

/// A boolean cell.
pub fn boolean(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// A quantity cell: a plain number (`3`, `12.5`), empty when absent.
pub fn quantity(value: Option<Decimal>) -> String {
    value
        .map(|q| money::format_number(q, 0))
        .unwrap_or_default()
}

/// A unit-price cell: at least two decimals, more when the price has them.
pub fn price(value: Decimal) -> String {
    money::format_number(value, 2)
}

/// An amount cell: exactly two decimals.
pub fn amount(value: Decimal) -> String {
    money::format_amount(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn formula_starters_are_defused_and_other_text_is_kept() {
        for hostile in ["=1+1", "+33 6", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(text(hostile), format!("'{hostile}"));
        }
        assert_eq!(text("Contoso =Ltd"), "Contoso =Ltd");
        assert_eq!(text(""), "");
    }

    #[test]
    fn numbers_are_never_prefixed() {
        assert_eq!(amount(dec!(-26.13)), "-26.13");
        assert_eq!(quantity(Some(dec!(12.50))), "12.5");
        assert_eq!(price(dec!(4)), "4.00");
    }
}
