//! How values are written in every output file (SPEC section 7): dates `YYYY-MM-DD`,
//! booleans `true`/`false`, plain numbers, amounts with two decimals, empty cells where a value
//! does not apply, and text cells defused so spreadsheets never run them as formulas.

use std::borrow::Cow;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::domain::money;

/// A text cell: prefixed with `'` when it begins with `=`, `+`, `-`, `@`, a tab or a carriage
/// return, so a spreadsheet shows it instead of evaluating it. Only for text columns: numeric
/// columns are never altered.
pub fn text(value: &str) -> String {
    text_cell(value).into_owned()
}

/// [`text`], borrowing `value` when it is written as it is (almost always).
pub fn text_cell(value: &str) -> Cow<'_, str> {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// An optional text cell.
pub fn opt_text(value: Option<&str>) -> String {
    value.map(text).unwrap_or_default()
}

/// A date cell, empty when absent.
pub fn date(value: Option<NaiveDate>) -> String {
    value.map(iso_date).unwrap_or_default()
}

/// `YYYY-MM-DD`, as chrono's `to_string` writes it, without going through the formatter for
/// the years of four digits.
fn iso_date(date: NaiveDate) -> String {
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return date.to_string();
    }
    let digit = |n: u32, place: u32| char::from(b'0' + (n / 10u32.pow(place) % 10) as u8);
    let (year, month, day) = (year as u32, date.month(), date.day());
    [
        digit(year, 3),
        digit(year, 2),
        digit(year, 1),
        digit(year, 0),
        '-',
        digit(month, 1),
        digit(month, 0),
        '-',
        digit(day, 1),
        digit(day, 0),
    ]
    .iter()
    .collect()
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
    fn dates_are_written_as_chrono_writes_them() {
        for day in [
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            NaiveDate::from_ymd_opt(1, 2, 3).unwrap(),
            NaiveDate::from_ymd_opt(0, 12, 1).unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(10000, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(-1, 1, 1).unwrap(),
        ] {
            assert_eq!(date(Some(day)), day.to_string());
        }
        assert_eq!(date(None), "");
    }

    #[test]
    fn numbers_are_never_prefixed() {
        assert_eq!(amount(dec!(-26.13)), "-26.13");
        assert_eq!(quantity(Some(dec!(12.50))), "12.5");
        assert_eq!(price(dec!(4)), "4.00");
    }
}
