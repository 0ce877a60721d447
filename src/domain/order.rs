//! Order rows (SPEC section 3): the columns of an inbox file and the parsing of one row into
//! an [`OrderEvent`], or a `malformed_row` naming the column.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

use super::vocabulary::{Action, Reason};

/// The columns of an order file, in the order SPEC.md lists them (and rejects.csv repeats).
pub const COLUMNS: [&str; 13] = [
    "order_id",
    "line",
    "event_time",
    "action",
    "customer_id",
    "requested_by",
    "partner_id",
    "offer_id",
    "quantity",
    "subscription_id",
    "base_subscription_id",
    "auto_renew",
    "reason",
];

/// Columns every file must have in its header.
pub const REQUIRED_COLUMNS: [&str; 7] = [
    "order_id",
    "line",
    "event_time",
    "action",
    "customer_id",
    "requested_by",
    "partner_id",
];

/// Position of each column in [`COLUMNS`].
pub mod col {
    pub const ORDER_ID: usize = 0;
    pub const LINE: usize = 1;
    pub const EVENT_TIME: usize = 2;
    pub const ACTION: usize = 3;
    pub const CUSTOMER_ID: usize = 4;
    pub const REQUESTED_BY: usize = 5;
    pub const PARTNER_ID: usize = 6;
    pub const OFFER_ID: usize = 7;
    pub const QUANTITY: usize = 8;
    pub const SUBSCRIPTION_ID: usize = 9;
    pub const BASE_SUBSCRIPTION_ID: usize = 10;
    pub const AUTO_RENEW: usize = 11;
    pub const REASON: usize = 12;
}

/// One order row's values exactly as written, in [`COLUMNS`] order (empty when absent).
pub type RawRow = [String; 13];

/// A row that parsed: what happened, to what, when and at whose request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub order_id: String,
    pub line: u32,
    pub event_time: DateTime<Utc>,
    pub action: Action,
    pub customer_id: String,
    /// The role as written; an unknown role is a business reject (`role_not_permitted`).
    pub requested_by: String,
    pub partner_id: String,
    pub offer_id: Option<String>,
    pub quantity: Option<Decimal>,
    pub subscription_id: Option<String>,
    pub base_subscription_id: Option<String>,
    pub auto_renew: Option<bool>,
    pub reason: Option<Reason>,
}

impl OrderEvent {
    /// The UTC business date of the event.
    pub fn event_date(&self) -> NaiveDate {
        self.event_time.date_naive()
    }

    /// The subscription this row acts on: `<order_id>-<line>` for a purchase.
    pub fn target_subscription(&self) -> String {
        match self.action {
            Action::Purchase => purchase_subscription_id(&self.order_id, self.line),
            _ => self.subscription_id.clone().unwrap_or_default(),
        }
    }
}

/// The id of the subscription a purchase creates.
pub fn purchase_subscription_id(order_id: &str, line: u32) -> String {
    format!("{order_id}-{line}")
}

/// A row that parsed, with the values it was parsed from when they are not its
/// [`plain_values`] (most rows are written plainly: their values need not be kept twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRow {
    pub source_line: u64,
    /// The 13 values as written; `None` when they are exactly `plain_values(&event)`.
    pub raw: Option<RawRow>,
    pub event: OrderEvent,
}

/// A row that cannot be parsed: rejected as `malformed_row`, with a message naming the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRow {
    pub source_line: u64,
    pub raw: RawRow,
    pub column: String,
    /// `column <name>: <what is wrong>`.
    pub message: String,
}

/// Why a row could not be parsed: the column and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct Malformed {
    pub column: &'static str,
    pub message: String,
}

/// The most characters of an order_id: `<order_id>-<line>` must stay a valid subscription id.
pub const MAX_ORDER_ID_CHARS: usize = 80;

/// The most characters of customer_id, offer_id, subscription_id and base_subscription_id.
pub const MAX_ID_CHARS: usize = 100;

/// An identifier as written, if it is one: no control characters and at most `max` characters
/// (Unicode characters, not bytes: "Müller" is 6).
fn identifier(column: usize, text: &str, max: usize) -> Result<&str, Malformed> {
    if let Some(problem) = unprintable(text) {
        return Err(malformed(column, problem));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(malformed(
            column,
            format!("is {chars} characters long: at most {max} are allowed"),
        ));
    }
    Ok(text)
}

/// Why `text` is not printable as an identifier, if it is not: it holds a control character
/// (U+0000–U+001F, U+007F–U+009F) or an invisible one (a byte order mark in the middle of a
/// file, a zero-width space, a direction mark, a soft hyphen, a line separator: Unicode's
/// format characters and U+2028/U+2029), which would make an id that looks like another.
pub fn unprintable(text: &str) -> Option<String> {
    let c = text.chars().find(|c| c.is_control() || is_invisible(*c))?;
    let what = if c.is_control() {
        "control"
    } else {
        "invisible"
    };
    Some(format!(
        "holds the {what} character U+{:04X}: identifiers are printable text",
        u32::from(c)
    ))
}

/// Unicode's format characters (general category Cf) and the line and paragraph separators.
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

fn malformed(column: usize, message: impl Into<String>) -> Malformed {
    Malformed {
        column: COLUMNS[column],
        message: message.into(),
    }
}

/// The plain way of writing `event`: what [`parse_row`] reads back into the same event. A row
/// written exactly so need not be kept as written (staging stores the raw values of the other
/// rows only): its values are this rendering.
pub fn plain_values(event: &OrderEvent) -> RawRow {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        event.order_id.clone(),
        event.line.to_string(),
        event
            .event_time
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        event.action.as_str().to_string(),
        event.customer_id.clone(),
        event.requested_by.clone(),
        event.partner_id.clone(),
        text(&event.offer_id),
        event.quantity.map(|q| q.to_string()).unwrap_or_default(),
        text(&event.subscription_id),
        text(&event.base_subscription_id),
        event.auto_renew.map(|b| b.to_string()).unwrap_or_default(),
        event
            .reason
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
    ]
}

/// Whether `raw` (a row's 13 values as written) is exactly [`plain_values`] of `event`,
/// without rendering the values that can be compared as they are.
pub fn is_plain<S: AsRef<str>>(event: &OrderEvent, raw: &[S; 13]) -> bool {
    use std::fmt::Write;
    let raw = |c: usize| raw[c].as_ref();
    let opt = |v: &Option<String>, c: usize| v.as_deref().unwrap_or("") == raw(c);
    // Written digits only, no leading zero: what `u32::to_string` writes.
    let line = raw(col::LINE);
    let line_plain = !line.is_empty()
        && !line.starts_with('0')
        && line.bytes().all(|b| b.is_ascii_digit())
        && line.parse::<u32>() == Ok(event.line);
    let quantity_plain = match event.quantity {
        None => raw(col::QUANTITY).is_empty(),
        Some(q) => {
            let mut rendered = String::with_capacity(16);
            let _ = write!(rendered, "{q}");
            rendered == raw(col::QUANTITY)
        }
    };
    let auto_renew = match event.auto_renew {
        None => "",
        Some(true) => "true",
        Some(false) => "false",
    };
    raw(col::ORDER_ID) == event.order_id
        && line_plain
        && raw(col::ACTION) == event.action.as_str()
        && raw(col::CUSTOMER_ID) == event.customer_id
        && raw(col::REQUESTED_BY) == event.requested_by
        && raw(col::PARTNER_ID) == event.partner_id
        && opt(&event.offer_id, col::OFFER_ID)
        && quantity_plain
        && opt(&event.subscription_id, col::SUBSCRIPTION_ID)
        && opt(&event.base_subscription_id, col::BASE_SUBSCRIPTION_ID)
        && raw(col::AUTO_RENEW) == auto_renew
        && raw(col::REASON) == event.reason.map(|r| r.as_str()).unwrap_or("")
        // Last: the one rendering that allocates. A UTC time is written with `Z`.
        && raw(col::EVENT_TIME).ends_with('Z')
        && raw(col::EVENT_TIME)
            == event
                .event_time
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses one row (its 13 values as written, owned or borrowed); the first problem found, in
/// column order, is reported.
pub fn parse_row<S: AsRef<str>>(raw: &[S; 13]) -> Result<OrderEvent, Malformed> {
    let value = |c: usize| -> Option<&str> {
        let v = raw[c].as_ref().trim();
        (!v.is_empty()).then_some(v)
    };
    let required = |c: usize| value(c).ok_or_else(|| malformed(c, "is required but empty"));

    let id = |c: usize, max: usize| -> Result<Option<&str>, Malformed> {
        value(c).map(|v| identifier(c, v, max)).transpose()
    };

    let order_id =
        identifier(col::ORDER_ID, required(col::ORDER_ID)?, MAX_ORDER_ID_CHARS)?.to_string();
    let line_text = required(col::LINE)?;
    let line = line_text
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            malformed(
                col::LINE,
                format!("'{line_text}' is not a whole number of at least 1"),
            )
        })?;
    let time_text = required(col::EVENT_TIME)?;
    let event_time = DateTime::parse_from_rfc3339(time_text)
        .map_err(|e| {
            malformed(
                col::EVENT_TIME,
                format!("'{time_text}' is not an RFC 3339 time like 2026-03-01T10:15:00Z ({e})"),
            )
        })?
        .with_timezone(&Utc);
    let event_time = to_microseconds(event_time);
    let action_text = required(col::ACTION)?;
    let action = action_text
        .parse::<Action>()
        .map_err(|e| malformed(col::ACTION, e.to_string()))?;
    let customer_id =
        identifier(col::CUSTOMER_ID, required(col::CUSTOMER_ID)?, MAX_ID_CHARS)?.to_string();
    let requested_by = required(col::REQUESTED_BY)?.to_string();
    let partner_id = required(col::PARTNER_ID)?.to_string();

    let needed_by = |c: usize, needed: bool| -> Result<Option<&str>, Malformed> {
        match value(c) {
            None if needed => Err(malformed(c, format!("is required for {action} but empty"))),
            v => Ok(v),
        }
    };
    let offer_id = needed_by(col::OFFER_ID, action == Action::Purchase)?
        .map(|v| identifier(col::OFFER_ID, v, MAX_ID_CHARS))
        .transpose()?
        .map(str::to_string);
    let quantity = needed_by(
        col::QUANTITY,
        matches!(action, Action::ChangeQuantity | Action::Usage),
    )?
    .map(|text| parse_quantity(text).map_err(|message| malformed(col::QUANTITY, message)))
    .transpose()?;
    let subscription_id = needed_by(col::SUBSCRIPTION_ID, action != Action::Purchase)?
        .map(|v| identifier(col::SUBSCRIPTION_ID, v, MAX_ID_CHARS))
        .transpose()?
        .map(str::to_string);
    let base_subscription_id = id(col::BASE_SUBSCRIPTION_ID, MAX_ID_CHARS)?.map(str::to_string);
    let auto_renew = needed_by(col::AUTO_RENEW, action == Action::SetAutoRenew)?
        .map(|text| {
            parse_bool(text)
                .ok_or_else(|| malformed(col::AUTO_RENEW, format!("'{text}' is not true or false")))
        })
        .transpose()?;
    let reason = needed_by(col::REASON, action == Action::Suspend)?
        .map(|text| Reason::from_str(text).map_err(|e| malformed(col::REASON, e.to_string())))
        .transpose()?;

    Ok(OrderEvent {
        order_id,
        line,
        event_time,
        action,
        customer_id,
        requested_by,
        partner_id,
        offer_id,
        quantity,
        subscription_id,
        base_subscription_id,
        auto_renew,
        reason,
    })
}

/// The instant as the database holds it, so that the rules and a later replay from the
/// database see the same time: whole microseconds (finer digits are dropped, never rounded
/// up into the next second or day), and a leap second (`23:59:60`) as the last microsecond of
/// its minute (`23:59:59.999999`), which keeps it on its own date.
fn to_microseconds(time: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    let nanos = time.nanosecond();
    let kept = if nanos >= 1_000_000_000 {
        999_999_000
    } else {
        nanos - nanos % 1_000
    };
    time.with_nanosecond(kept).unwrap_or(time)
}

/// A plain decimal ≥ 0 (`3`, `12.5`); no exponents, signs or grouping. A number with more
/// digits than a decimal holds exactly (above 79,228,162,514,264,337,593,543,950,335, or more
/// than 28 decimal places) is not read at all, never rounded: the row is malformed.
fn parse_quantity(text: &str) -> Result<Decimal, String> {
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !plain {
        return Err(format!("'{}' is not a number of at least 0", clip(text)));
    }
    Decimal::from_str_exact(text).map_err(|_| {
        if text.bytes().filter(|b| *b == b'.').count() <= 1
            && text.bytes().any(|b| b.is_ascii_digit())
        {
            format!(
                "'{}' has too many digits to be read exactly (at most 28 digits in all)",
                clip(text)
            )
        } else {
            format!("'{}' is not a number of at least 0", clip(text))
        }
    })
}

/// A value quoted in a message: a very long one is cut (the row's values are in the report).
fn clip(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{head}…")
    }
}

/// `true`/`false` in any letter case (spreadsheets write TRUE and FALSE).
fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn row(pairs: &[(&str, &str)]) -> RawRow {
        let mut raw: RawRow = Default::default();
        for (name, value) in pairs {
            let i = COLUMNS.iter().position(|c| c == name).unwrap();
            raw[i] = value.to_string();
        }
        raw
    }

    fn purchase() -> Vec<(&'static str, &'static str)> {
        vec![
            ("order_id", "O-1"),
            ("line", "1"),
            ("event_time", "2026-03-01T10:15:00+01:00"),
            ("action", "purchase"),
            ("customer_id", "C-1"),
            ("requested_by", "admin_agent"),
            ("partner_id", "P-1"),
            ("offer_id", "OFF-1"),
            ("quantity", "3"),
        ]
    }

    #[test]
    fn a_purchase_parses_and_its_time_is_converted_to_utc() {
        let event = parse_row(&row(&purchase())).unwrap();
        assert_eq!(event.event_time.to_rfc3339(), "2026-03-01T09:15:00+00:00");
        assert_eq!(event.quantity, Some(dec!(3)));
        assert_eq!(event.target_subscription(), "O-1-1");
    }

    #[test]
    fn an_impossible_date_is_malformed_in_event_time() {
        let mut pairs = purchase();
        pairs[2] = ("event_time", "2026-02-31T10:00:00Z");
        assert_eq!(parse_row(&row(&pairs)).unwrap_err().column, "event_time");
    }

    #[test]
    fn a_negative_or_non_numeric_quantity_is_malformed() {
        for bad in ["-1", "three", "1e3", "1,5"] {
            let mut pairs = purchase();
            pairs[8] = ("quantity", bad);
            assert_eq!(
                parse_row(&row(&pairs)).unwrap_err().column,
                "quantity",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_suspend_needs_a_known_reason_and_a_subscription() {
        let base = [
            ("order_id", "O-2"),
            ("line", "1"),
            ("event_time", "2026-03-01T10:15:00Z"),
            ("action", "suspend"),
            ("customer_id", "C-1"),
            ("requested_by", "admin_agent"),
            ("partner_id", "P-1"),
        ];
        assert_eq!(
            parse_row(&row(&base)).unwrap_err().column,
            "subscription_id"
        );
        let mut with_sub = base.to_vec();
        with_sub.push(("subscription_id", "O-1-1"));
        assert_eq!(parse_row(&row(&with_sub)).unwrap_err().column, "reason");
        with_sub.push(("reason", "boredom"));
        assert_eq!(parse_row(&row(&with_sub)).unwrap_err().column, "reason");
    }

    #[test]
    fn identifiers_are_limited_in_characters_not_bytes_and_hold_no_control_characters() {
        let with = |column: &'static str, value: String| {
            let mut pairs: Vec<(&str, String)> = purchase()
                .into_iter()
                .map(|(c, v)| (c, v.to_string()))
                .collect();
            pairs.retain(|(c, _)| *c != column);
            pairs.push((column, value));
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(c, v)| (*c, v.as_str())).collect();
            parse_row(&row(&borrowed))
        };
        assert!(with("order_id", "é".repeat(80)).is_ok());
        let err = with("order_id", "e".repeat(81)).unwrap_err();
        assert_eq!(err.column, "order_id");
        assert!(err.message.contains("81 characters"), "{err}");
        for column in ["customer_id", "offer_id", "base_subscription_id"] {
            assert!(with(column, "€".repeat(100)).is_ok(), "{column}");
            assert_eq!(with(column, "x".repeat(101)).unwrap_err().column, column);
            let err = with(column, "A\u{7}B".to_string()).unwrap_err();
            assert_eq!(err.column, column);
            assert!(err.message.contains("U+0007"), "{err}");
        }
        let mut suspend = purchase();
        suspend.retain(|(c, _)| !["offer_id", "quantity", "action"].contains(c));
        suspend.extend([("action", "cancel"), ("subscription_id", "S\u{85}1")]);
        assert_eq!(
            parse_row(&row(&suspend)).unwrap_err().column,
            "subscription_id"
        );
    }

    #[test]
    fn a_quantity_too_long_to_hold_exactly_is_malformed_never_rounded() {
        for bad in [
            "99999999999999999999999999999999",
            "0.00000000000000000000000000001",
        ] {
            let mut pairs = purchase();
            pairs[8] = ("quantity", bad);
            let err = parse_row(&row(&pairs)).unwrap_err();
            assert_eq!(err.column, "quantity");
            assert!(err.message.contains("too many digits"), "{err}");
        }
        // Issue 13, case 1 fits a decimal: it is read, and refused later as invalid_quantity.
        let mut pairs = purchase();
        pairs[8] = ("quantity", "1000000000000000000000000000");
        assert!(parse_row(&row(&pairs)).is_ok());
    }

    #[test]
    fn times_at_the_ends_of_the_calendar_parse_without_panic() {
        for time in [
            "0000-01-01T00:00:00+23:59",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
        ] {
            let mut pairs = purchase();
            pairs[2] = ("event_time", time);
            let event = parse_row(&row(&pairs)).unwrap();
            let _ = event.event_date();
        }
    }

    #[test]
    fn times_are_kept_to_the_microsecond_and_a_leap_second_stays_in_its_minute() {
        for (written, kept) in [
            ("2026-11-10T23:59:60Z", "2026-11-10T23:59:59.999999Z"),
            ("2026-11-11T09:59:60.5+10:00", "2026-11-10T23:59:59.999999Z"),
            (
                "2026-11-10T10:00:00.123456789Z",
                "2026-11-10T10:00:00.123456Z",
            ),
            (
                "2026-11-10T23:59:59.9999999Z",
                "2026-11-10T23:59:59.999999Z",
            ),
            ("2026-11-10T10:00:00.5Z", "2026-11-10T10:00:00.500Z"),
        ] {
            let mut pairs = purchase();
            pairs[2] = ("event_time", written);
            let event = parse_row(&row(&pairs)).unwrap();
            assert_eq!(
                event
                    .event_time
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                kept,
                "{written}"
            );
            // What is kept renders and reads back to itself.
            let plain = plain_values(&event);
            assert_eq!(parse_row(&plain).unwrap(), event, "{written}");
        }
    }

    #[test]
    fn line_must_be_a_whole_number_from_one() {
        for bad in ["0", "1.5", "-2", "x"] {
            let mut pairs = purchase();
            pairs[1] = ("line", bad);
            assert_eq!(parse_row(&row(&pairs)).unwrap_err().column, "line", "{bad}");
        }
    }

    #[test]
    fn plainly_written_rows_render_back_to_what_was_written() {
        let plain = [
            row(&[
                ("order_id", "O-9"),
                ("line", "12"),
                ("event_time", "2026-03-01T10:15:00Z"),
                ("action", "purchase"),
                ("customer_id", "C-1"),
                ("requested_by", "admin_agent"),
                ("partner_id", "P-1"),
                ("offer_id", "OFF-1"),
                ("quantity", "3.50"),
            ]),
            row(&[
                ("order_id", "O-9"),
                ("line", "2"),
                ("event_time", "2026-03-01T10:15:00.250Z"),
                ("action", "suspend"),
                ("customer_id", "C-1"),
                ("requested_by", "admin_agent"),
                ("partner_id", "P-1"),
                ("subscription_id", "O-1-1"),
                ("auto_renew", "false"),
                ("reason", "fraud"),
            ]),
        ];
        for raw in plain {
            let event = parse_row(&raw).unwrap();
            assert_eq!(plain_values(&event), raw);
            assert!(is_plain(&event, &raw));
        }
    }

    #[test]
    fn rows_written_otherwise_render_differently_so_they_are_kept_as_written() {
        let changes = [
            ("event_time", "2026-03-01T11:15:00+01:00"),
            ("event_time", "2026-03-01t10:15:00z"),
            ("line", "01"),
            ("quantity", "03"),
            ("customer_id", " C-1"),
            ("auto_renew", "TRUE"),
        ];
        let plain = |pairs: &mut Vec<(&str, &str)>, column: &'static str, value| {
            pairs.retain(|(c, _)| *c != column);
            pairs.push((column, value));
        };
        let mut base = purchase();
        plain(&mut base, "event_time", "2026-03-01T10:15:00Z");
        let raw = row(&base);
        assert_eq!(plain_values(&parse_row(&raw).unwrap()), raw);
        assert!(is_plain(&parse_row(&raw).unwrap(), &raw));
        for (column, value) in changes {
            let mut pairs = base.clone();
            pairs.retain(|(c, _)| *c != column);
            pairs.push((column, value));
            let raw = row(&pairs);
            let event = parse_row(&raw).unwrap();
            assert_ne!(plain_values(&event), raw, "{column} = {value:?}");
            assert!(!is_plain(&event, &raw), "{column} = {value:?}");
        }
    }

    #[test]
    fn is_plain_says_what_comparing_with_plain_values_says() {
        let values: [(&str, &[&str]); 8] = [
            ("line", &["1", "12", "01", "+1", " 1", "4294967295"]),
            (
                "event_time",
                &[
                    "2026-03-01T10:15:00Z",
                    "2026-03-01T10:15:00.250Z",
                    "2026-03-01T10:15:00.25Z",
                    "2026-03-01T10:15:00.123456Z",
                    "2026-03-01T10:15:00.123456789Z",
                    "2026-03-01T10:15:00+00:00",
                    "2026-03-01T11:15:00+01:00",
                    "2026-11-10T23:59:60Z",
                ],
            ),
            (
                "quantity",
                &["", "3", "3.0", "3.50", "03", "0", "0.000", " 3"],
            ),
            ("customer_id", &["C-1", " C-1", "C-1 "]),
            ("offer_id", &["OFF-1", "", " OFF-1"]),
            ("subscription_id", &["", "S-1", " S-1"]),
            ("auto_renew", &["", "true", "false", "TRUE", "False"]),
            ("partner_id", &["P-1", "P-1 "]),
        ];
        let mut base = purchase();
        base.retain(|(c, _)| *c != "event_time");
        base.push(("event_time", "2026-03-01T10:15:00Z"));
        for (column, written) in values {
            for value in written {
                let mut pairs = base.clone();
                pairs.retain(|(c, _)| *c != column);
                pairs.push((column, value));
                let raw = row(&pairs);
                let Ok(event) = parse_row(&raw) else { continue };
                let borrowed: [&str; 13] = std::array::from_fn(|c| raw[c].as_str());
                assert_eq!(
                    is_plain(&event, &borrowed),
                    plain_values(&event) == raw,
                    "{column} = {value:?}"
                );
            }
        }
    }
}
