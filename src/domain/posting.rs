//! Posting as a difference (the idea behind Kill Bill's invoice generator): the lines a
//! subscription family *should* have, from its history, against the lines already posted. What
//! was never posted is posted as it is; a posted line whose amount is no longer right, or that
//! should not exist, gets an `Offset a line item` for the difference. Posting the difference
//! again yields nothing, so re-running a day never double-charges.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::charges::{ChargeLine, ChargeType, Ledger, LineKey};
use super::money::{Uncomputable, checked_add};

/// A line already in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedLine {
    pub line_id: i64,
    pub line: ChargeLine,
    /// For an offset: the line it corrects.
    pub corrects: Option<i64>,
}

/// One line to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posting {
    /// A line never posted before.
    New(ChargeLine),
    /// A correction of posted line `corrects` (the line has type `Offset a line item`).
    Offset { corrects: i64, line: ChargeLine },
}

impl Posting {
    pub fn line(&self) -> &ChargeLine {
        match self {
            Posting::New(line) | Posting::Offset { line, .. } => line,
        }
    }
}

/// The ledger the rules see from posted lines: offsets folded into the lines they correct.
pub fn ledger_from_posted(posted: &[PostedLine]) -> Ledger {
    let mut ledger = Ledger::default();
    let keys: BTreeMap<i64, LineKey> = posted
        .iter()
        .filter(|p| p.corrects.is_none())
        .map(|p| (p.line_id, p.line.key()))
        .collect();
    for p in posted.iter().filter(|p| p.corrects.is_none()) {
        ledger.record(&p.line);
    }
    for p in posted {
        if let Some(key) = p.corrects.and_then(|id| keys.get(&id)) {
            ledger.correct(key, p.line.amount);
        }
    }
    ledger
}

/// The lines to post on `posted_on` so that what is posted equals `expected`; `Uncomputable`
/// when a net or a difference overflows (the family's new rows are then rejected).
pub fn postings(
    expected: &[ChargeLine],
    posted: &[PostedLine],
    posted_on: NaiveDate,
) -> Result<Vec<Posting>, Uncomputable> {
    // The first posted line of each key is the original; offsets add to it.
    let mut originals: BTreeMap<LineKey, &PostedLine> = BTreeMap::new();
    let mut by_id: BTreeMap<i64, LineKey> = BTreeMap::new();
    for p in posted.iter().filter(|p| p.corrects.is_none()) {
        let key = p.line.key();
        by_id.insert(p.line_id, key.clone());
        originals.entry(key).or_insert(p);
    }
    let mut net: BTreeMap<LineKey, Decimal> = BTreeMap::new();
    // Metered units posted per usage line: each line's quantity, signed as its amount.
    let mut units: BTreeMap<LineKey, Decimal> = BTreeMap::new();
    for p in posted {
        let key = match p.corrects {
            None => Some(p.line.key()),
            Some(id) => by_id.get(&id).cloned(),
        };
        if let Some(key) = key {
            let sum = net.entry(key.clone()).or_default();
            *sum = checked_add(*sum, p.line.amount)?;
            let signed = if p.line.amount.is_sign_negative() {
                -p.line.quantity
            } else {
                p.line.quantity
            };
            let count = units.entry(key).or_default();
            *count = checked_add(*count, signed)?;
        }
    }
    // The quantity an offset of `line` shows: for metered usage (units × unit price) the units
    // added or taken away, so Quantity × UnitPrice reads as the amount; otherwise the corrected
    // line's quantity.
    let offset_quantity = |line: &ChargeLine, key: &LineKey| -> Decimal {
        let posted_units = units.get(key).copied().unwrap_or_default();
        match line.quantity.checked_sub(posted_units) {
            Some(added) if is_metered(line.charge_type) && !added.is_zero() => added.abs(),
            _ => line.quantity,
        }
    };

    let mut wanted: Vec<ChargeLine> = Vec::new();
    for line in expected {
        match wanted.iter_mut().find(|w| w.key() == line.key()) {
            Some(w) => w.amount = checked_add(w.amount, line.amount)?,
            None => wanted.push(line.clone()),
        }
    }

    let mut out = Vec::new();
    for line in &wanted {
        let key = line.key();
        match originals.get(&key) {
            None if !line.amount.is_zero() => out.push(Posting::New(line.clone())),
            None => {}
            Some(original) => {
                let posted = net.get(&key).copied().unwrap_or_default();
                let difference = line.amount.checked_sub(posted).ok_or(Uncomputable)?;
                if !difference.is_zero() {
                    let quantity = offset_quantity(line, &key);
                    out.push(offset(original, line, quantity, difference, posted_on));
                }
            }
        }
    }
    let mut stale: Vec<&&PostedLine> = originals
        .iter()
        .filter(|(key, _)| !wanted.iter().any(|w| &w.key() == *key))
        .map(|(_, p)| p)
        .collect();
    stale.sort_by_key(|p| p.line_id);
    for original in stale {
        let key = original.line.key();
        let remaining = net.get(&key).copied().unwrap_or_default();
        if !remaining.is_zero() {
            // Nothing of it should exist: every unit still posted is taken away.
            let gone = ChargeLine {
                quantity: Decimal::ZERO,
                ..original.line.clone()
            };
            let quantity = offset_quantity(&gone, &key);
            out.push(offset(
                original,
                &original.line,
                quantity,
                -remaining,
                posted_on,
            ));
        }
    }
    Ok(out)
}

/// Whether a line is metered usage: units × unit price, not a prorated seat charge.
fn is_metered(charge_type: ChargeType) -> bool {
    matches!(
        charge_type,
        ChargeType::UsageCycle | ChargeType::UsageCancel
    )
}

fn offset(
    original: &PostedLine,
    basis: &ChargeLine,
    quantity: Decimal,
    amount: Decimal,
    posted_on: NaiveDate,
) -> Posting {
    Posting::Offset {
        corrects: original.line_id,
        line: ChargeLine {
            subscription_id: original.line.subscription_id.clone(),
            charge_type: ChargeType::Offset,
            range: original.line.range,
            billable_days: basis.billable_days,
            period_days: basis.period_days,
            unit_price: basis.unit_price,
            quantity,
            amount,
            cause: super::cause::offset_cause(posted_on, original.line_id),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::DateRange;
    use crate::domain::charges::Sign;
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cycle(start: &str, end: &str, quantity: Decimal) -> ChargeLine {
        let range = DateRange::new(d(start), d(end));
        ChargeLine::prorated(
            "S-1",
            ChargeType::CycleFee,
            range,
            range.days(),
            dec!(30),
            quantity,
            Sign::Charge,
            "period",
        )
        .unwrap()
    }

    fn posted(id: i64, line: ChargeLine) -> PostedLine {
        PostedLine {
            line_id: id,
            line,
            corrects: None,
        }
    }

    #[test]
    fn what_is_expected_and_not_posted_is_posted_as_it_is() {
        let line = cycle("2026-03-01", "2026-03-31", dec!(1));
        assert_eq!(
            postings(std::slice::from_ref(&line), &[], d("2026-03-01")).unwrap(),
            vec![Posting::New(line)]
        );
    }

    #[test]
    fn posting_the_difference_twice_posts_nothing_the_second_time() {
        let line = cycle("2026-03-01", "2026-03-31", dec!(1));
        assert!(
            postings(
                std::slice::from_ref(&line),
                &[posted(1, line.clone())],
                d("2026-03-02")
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn a_posted_line_that_should_not_exist_is_offset_in_full() {
        let line = cycle("2026-04-01", "2026-04-30", dec!(1));
        let out = postings(&[], &[posted(7, line)], d("2026-04-03")).unwrap();
        let [Posting::Offset { corrects: 7, line }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(line.amount, dec!(-30.00));
        assert_eq!(line.charge_type, ChargeType::Offset);
        assert_eq!(line.range, DateRange::new(d("2026-04-01"), d("2026-04-30")));
    }

    #[test]
    fn a_changed_amount_is_corrected_by_the_difference_and_then_settles() {
        let was = cycle("2026-04-01", "2026-04-30", dec!(1));
        let now = cycle("2026-04-01", "2026-04-30", dec!(3));
        let out = postings(
            std::slice::from_ref(&now),
            &[posted(7, was.clone())],
            d("2026-04-03"),
        )
        .unwrap();
        let [Posting::Offset { corrects: 7, line }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(line.amount, dec!(60.00));
        let after = [
            posted(7, was),
            PostedLine {
                line_id: 8,
                line: line.clone(),
                corrects: Some(7),
            },
        ];
        assert!(
            postings(&[now], &after, d("2026-04-04"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            ledger_from_posted(&after)
                .net_within("S-1", &DateRange::new(d("2026-04-01"), d("2026-04-30"))),
            Ok(dec!(90.00))
        );
    }
}
