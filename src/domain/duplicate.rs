//! The `duplicate_line` rule (SPEC section 3): an (order_id, line) is staged once for good. A
//! row whose key is already staged is a harmless repeat when it says the same thing, and a
//! reject naming the first column that differs when it does not.

use super::order::{COLUMNS, OrderEvent, col};
use super::reject::{Reject, RejectCode};

/// Where the row already staged under the same (order_id, line) was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagedFrom<'a> {
    /// Earlier in the file being staged, on this line.
    ThisFile { line: i64 },
    /// Line `line` of an earlier file.
    OtherFile { name: &'a str, line: i64 },
}

/// The verdict on `row`, whose (order_id, line) is already staged as `staged`: `None` when
/// both say the same thing (the repeat is a no-op and counts as staged), else the
/// `duplicate_line` reject, whose message names the first column (in file order) whose parsed
/// value differs and where the staged row came from.
pub fn judge(row: &OrderEvent, staged: &OrderEvent, from: StagedFrom<'_>) -> Option<Reject> {
    let column = first_difference(row, staged)?;
    let place = match from {
        StagedFrom::ThisFile { line } => format!("line {line} of this file"),
        StagedFrom::OtherFile { name, line } => format!("{name} line {line}"),
    };
    Some(Reject::new(
        RejectCode::DuplicateLine,
        format!(
            "column {column}: order {} line {} was already staged from {place} with different \
             content",
            row.order_id, row.line
        ),
    ))
}

/// The first column in which two rows' parsed values differ, or `None` when they say the same
/// thing. Values are compared as parsed, not as written: `3` and `3.00` are the same quantity,
/// `10:15:00+01:00` and `09:15:00Z` the same time.
pub fn first_difference(a: &OrderEvent, b: &OrderEvent) -> Option<&'static str> {
    let same = [
        (col::EVENT_TIME, a.event_time == b.event_time),
        (col::ACTION, a.action == b.action),
        (col::CUSTOMER_ID, a.customer_id == b.customer_id),
        (col::REQUESTED_BY, a.requested_by == b.requested_by),
        (col::PARTNER_ID, a.partner_id == b.partner_id),
        (col::OFFER_ID, a.offer_id == b.offer_id),
        (col::QUANTITY, a.quantity == b.quantity),
        (col::SUBSCRIPTION_ID, a.subscription_id == b.subscription_id),
        (
            col::BASE_SUBSCRIPTION_ID,
            a.base_subscription_id == b.base_subscription_id,
        ),
        (col::AUTO_RENEW, a.auto_renew == b.auto_renew),
        (col::REASON, a.reason == b.reason),
    ];
    same.iter()
        .find(|(_, same)| !same)
        .map(|(c, _)| COLUMNS[*c])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{RawRow, parse_row};

    fn purchase(pairs: &[(&str, &str)]) -> OrderEvent {
        let mut raw: RawRow = Default::default();
        for (name, value) in [
            ("order_id", "O-1"),
            ("line", "2"),
            ("event_time", "2026-03-01T10:15:00Z"),
            ("action", "purchase"),
            ("customer_id", "C-1"),
            ("requested_by", "admin_agent"),
            ("partner_id", "P-1"),
            ("offer_id", "OFF-1"),
            ("quantity", "3"),
        ]
        .iter()
        .chain(pairs)
        {
            raw[COLUMNS.iter().position(|c| c == name).unwrap()] = value.to_string();
        }
        parse_row(&raw).unwrap()
    }

    const HERE: StagedFrom<'static> = StagedFrom::ThisFile { line: 4 };

    #[test]
    fn the_same_row_again_is_a_no_op() {
        assert_eq!(judge(&purchase(&[]), &purchase(&[]), HERE), None);
    }

    #[test]
    fn the_same_values_written_differently_are_the_same_row() {
        let written_otherwise = purchase(&[
            ("event_time", "2026-03-01T11:15:00+01:00"),
            ("quantity", "3.00"),
            ("customer_id", " C-1 "),
        ]);
        assert_eq!(judge(&written_otherwise, &purchase(&[]), HERE), None);
    }

    #[test]
    fn a_conflicting_row_is_rejected_naming_the_first_differing_column() {
        let other = purchase(&[("quantity", "5"), ("offer_id", "OFF-2")]);
        let reject = judge(&other, &purchase(&[]), HERE).unwrap();
        assert_eq!(reject.code, RejectCode::DuplicateLine);
        assert_eq!(
            reject.message,
            "column offer_id: order O-1 line 2 was already staged from line 4 of this file \
             with different content"
        );
    }

    #[test]
    fn a_row_staged_from_an_earlier_file_is_named_by_its_file_and_line() {
        let other = purchase(&[("reason", "fraud")]);
        let from = StagedFrom::OtherFile {
            name: "orders-1.csv",
            line: 9,
        };
        assert_eq!(
            judge(&other, &purchase(&[]), from).unwrap().message,
            "column reason: order O-1 line 2 was already staged from orders-1.csv line 9 with \
             different content"
        );
    }

    #[test]
    fn every_column_but_the_key_is_compared() {
        use crate::domain::vocabulary::{Action, Reason};
        let base = purchase(&[]);
        type Change = fn(&mut OrderEvent);
        let changes: [(&str, Change); 11] = [
            ("event_time", |e| {
                e.event_time += chrono::Duration::seconds(1)
            }),
            ("action", |e| e.action = Action::Usage),
            ("customer_id", |e| e.customer_id = "C-2".into()),
            ("requested_by", |e| e.requested_by = "sales_agent".into()),
            ("partner_id", |e| e.partner_id = "P-2".into()),
            ("offer_id", |e| e.offer_id = None),
            ("quantity", |e| e.quantity = None),
            ("subscription_id", |e| {
                e.subscription_id = Some("S-1".into())
            }),
            ("base_subscription_id", |e| {
                e.base_subscription_id = Some("B-1".into())
            }),
            ("auto_renew", |e| e.auto_renew = Some(false)),
            ("reason", |e| e.reason = Some(Reason::Fraud)),
        ];
        for (column, change) in changes {
            let mut other = base.clone();
            change(&mut other);
            assert_eq!(first_difference(&other, &base), Some(column), "{column}");
        }
        // The key itself is what made them meet: it is not compared.
        let mut other = base.clone();
        other.order_id = "O-2".into();
        other.line = 3;
        assert_eq!(first_difference(&other, &base), None);
    }
}
