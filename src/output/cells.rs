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

/// The cells of a number as PostgreSQL's text output writes it (`-12.50`, `3`, `0.0000`): the
/// text itself when [`price`], [`quantity`] or [`amount`] would write exactly it, which is
/// most of the time and needs no parsing, else that formatter's cell of its value. So a number
/// streamed by the database is written exactly as the formatter writes the same value, and
/// these are only shortcuts to it.
///
/// `Err` carries what the formatter's path says of a text that is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberCell {
    /// [`price`]: at least two decimals.
    Price,
    /// [`quantity`]: a plain number.
    Quantity,
    /// [`amount`]: exactly two decimals.
    Amount,
}

impl NumberCell {
    /// The cell of the number written `text`.
    pub fn of<'a>(self, text: &'a str) -> Result<Cow<'a, str>, String> {
        if self.written_as_is(text) {
            return Ok(Cow::Borrowed(text));
        }
        let value = text
            .parse::<Decimal>()
            .map_err(|e| format!("'{text}' is not a number: {e}"))?;
        Ok(Cow::Owned(match self {
            NumberCell::Price => price(value),
            NumberCell::Quantity => quantity(Some(value)),
            NumberCell::Amount => amount(value),
        }))
    }

    /// Whether the formatter writes the number `text` exactly as `text`: an optional `-`, an
    /// integer part without leading zeros, and the decimals this cell keeps as they are
    /// (exactly two for an amount; for a price two, or more ending in a non-zero digit; for a
    /// quantity none, or some ending in a non-zero digit); at most 28 digits (what a `Decimal`
    /// holds exactly) and never a negative zero.
    fn written_as_is(self, text: &str) -> bool {
        let b = text.as_bytes();
        let unsigned = b.strip_prefix(b"-").unwrap_or(b);
        let (integer, decimals) = match unsigned.iter().position(|&c| c == b'.') {
            Some(dot) => (&unsigned[..dot], Some(&unsigned[dot + 1..])),
            None => (unsigned, None),
        };
        let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
        if integer.is_empty()
            || !digits(integer)
            || (integer.len() > 1 && integer[0] == b'0')
            || !decimals.is_none_or(digits)
        {
            return false;
        }
        let places = decimals.map_or(0, <[u8]>::len);
        if integer.len() + places > 28 {
            return false;
        }
        let kept = match (self, decimals) {
            (NumberCell::Amount, _) => places == 2,
            (NumberCell::Price, Some(d)) => places == 2 || (places > 2 && d[places - 1] != b'0'),
            (NumberCell::Quantity, None) => true,
            (NumberCell::Quantity, Some(d)) => places > 0 && d[places - 1] != b'0',
            (NumberCell::Price, None) => false,
        };
        // "-0", "-0.00": the formatter's sign of a zero is its own business.
        let negative_zero =
            b.len() > unsigned.len() && unsigned.iter().all(|&c| c == b'0' || c == b'.');
        kept && !negative_zero
    }
}

/// The date cell of a date as the export writes it (`YYYY-MM-DD`, DateStyle ISO): the text
/// itself when it is such a date (as [`date`] writes it), else [`date`] of what chrono reads in
/// it. `Err` names a text that is not a date.
pub fn date_of_text(text: &str) -> Result<Cow<'_, str>, String> {
    if parse_iso_date(text).is_some() {
        return Ok(Cow::Borrowed(text));
    }
    text.parse::<NaiveDate>()
        .map(|d| Cow::Owned(date(Some(d))))
        .map_err(|e| format!("'{text}' is not a date: {e}"))
}

/// A date written `YYYY-MM-DD` with a four-digit year, read without chrono's general parser;
/// `None` for anything else.
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)
}

/// The cell of a whole number as the database writes it: the text itself when it is written
/// as Rust writes an `i64` (optional `-`, no leading zero, at most 18 digits), else the `i64`
/// read from it, written. `Err` names a text that is not a whole number.
pub fn integer_of_text(text: &str) -> Result<Cow<'_, str>, String> {
    let b = text.as_bytes();
    let unsigned = b.strip_prefix(b"-").unwrap_or(b);
    let plain = !unsigned.is_empty()
        && unsigned.len() <= 18
        && unsigned.iter().all(u8::is_ascii_digit)
        && (unsigned[0] != b'0' || b == b"0");
    if plain {
        return Ok(Cow::Borrowed(text));
    }
    text.parse::<i64>()
        .map(|n| Cow::Owned(n.to_string()))
        .map_err(|e| format!("'{text}' is not a whole number: {e}"))
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

    /// Numbers as a database or a person may write them: what `NumberCell` lets through as
    /// they are must be exactly what the formatter writes for their value, and the rest goes
    /// through the formatter.
    #[test]
    fn number_texts_are_written_as_the_formatter_writes_their_value() {
        let mut texts: Vec<String> = Vec::new();
        for mantissa in [
            0i128,
            1,
            5,
            10,
            15,
            100,
            105,
            120,
            995,
            1005,
            12345,
            99999,
            1_000_000,
            123_456_789_012_345,
            9_999_999_999_999_999_999_999_999_999,
        ] {
            for scale in [0, 1, 2, 3, 4, 5, 8, 27, 28] {
                for sign in [1, -1] {
                    if let Ok(d) = Decimal::try_from_i128_with_scale(sign * mantissa, scale) {
                        texts.push(d.to_string());
                    }
                }
            }
        }
        texts.extend(
            [
                "-0",
                "-0.00",
                "-0.0",
                "0.",
                ".5",
                "5.",
                "007",
                "00.50",
                "+5",
                "1e3",
                "",
                "-",
                "1.2.3",
                " 1",
                "1 ",
                "0.0000000000000000000000000001",
                "12345678901234567890123456789",
                "1234567890123456789012345678.5",
                "99999999999999999999999999999999",
                "NaN",
                "Infinity",
                "١٢",
            ]
            .map(String::from),
        );
        for text in &texts {
            let value = text.parse::<Decimal>();
            for (kind, format) in [
                (NumberCell::Price, price as fn(Decimal) -> String),
                (NumberCell::Quantity, |q| quantity(Some(q))),
                (NumberCell::Amount, amount),
            ] {
                match (&value, kind.of(text)) {
                    (Ok(v), Ok(cell)) => assert_eq!(cell, format(*v), "{kind:?} of {text}"),
                    (Err(_), Err(why)) => assert!(why.contains("is not a number"), "{why}"),
                    (v, cell) => panic!("{kind:?} of {text}: {v:?} but {cell:?}"),
                }
            }
        }
        assert_eq!(NumberCell::Price.of("4.5").unwrap(), "4.50");
        assert!(matches!(
            NumberCell::Amount.of("-26.13"),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(NumberCell::Amount.of("1.005").unwrap(), "1.01");
        assert_eq!(
            NumberCell::Amount.of("-0.005").unwrap(),
            amount(dec!(-0.005))
        );
        assert_eq!(NumberCell::Quantity.of("2.500").unwrap(), "2.5");
    }

    #[test]
    fn dates_and_whole_numbers_from_text_are_written_as_their_values_are() {
        for text in [
            "2026-01-31",
            "0001-02-03",
            "0000-12-01",
            "9999-12-31",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "2026-1-31",
            "+2026-01-31",
            "+10000-01-01",
            "20260131xx",
            "",
        ] {
            match (text.parse::<NaiveDate>(), date_of_text(text)) {
                (Ok(d), Ok(cell)) => assert_eq!(cell, date(Some(d)), "{text}"),
                (Err(_), Err(why)) => assert!(why.contains("is not a date"), "{why}"),
                (d, cell) => panic!("{text}: {d:?} but {cell:?}"),
            }
        }
        for text in [
            "0",
            "-0",
            "31",
            "-31",
            "007",
            "+5",
            "",
            "-",
            "1.0",
            "999999999999999999",
            "-999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "x",
        ] {
            match (text.parse::<i64>(), integer_of_text(text)) {
                (Ok(n), Ok(cell)) => assert_eq!(cell, n.to_string(), "{text}"),
                (Err(_), Err(why)) => assert!(why.contains("is not a whole number"), "{why}"),
                (n, cell) => panic!("{text}: {n:?} but {cell:?}"),
            }
        }
    }
}
