//! What caused a charge line, as the `cause` column of `charge_lines` spells it. Every cause the
//! core writes is built here ([`Cause`]'s `Display` and the helpers below) and read back here
//! ([`Cause::parse`]), so `explain` can say in words why each posted line exists.
//!
//! The spellings are part of each line's identity (with the subscription, charge type and
//! range), so they never change:
//!
//! | cause | made by |
//! |---|---|
//! | `purchase` | the purchase's first period |
//! | `conversion` | a trial's conversion (first paid period) |
//! | `period` | a new billing period within a term (`Cycle fee`) |
//! | `renewal` | the first period of a renewed term (`Renew fee`) |
//! | `usage` | metered usage billed when a period ends or the subscription ends |
//! | `deletion` | data expiry (ends the subscription; makes no line of its own today) |
//! | `order:<order_id>:<line>` | an order row (suspension credit, reactivation charge) |
//! | `order:<order_id>:<line>:old` / `:new` | the two lines of a seat change |
//! | `order:<order_id>:<line>/<charge type>/<cause>` | a cancel within the window: the full credit of one line charged so far (its type and cause) |
//! | `offset:<posted_on>:<line_id>` | a correction, posted on that date, of line `line_id` |

use std::fmt;

use chrono::NaiveDate;

use super::charges::ChargeType;

/// A line's cause, read from its spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cause {
    Purchase,
    Conversion,
    Period,
    Renewal,
    Usage,
    Deletion,
    /// An order row, and which of its lines.
    Order {
        order_id: String,
        line: u32,
        part: OrderPart,
    },
    /// A correction of line `line_id`, posted on `posted_on`.
    Offset {
        posted_on: NaiveDate,
        line_id: i64,
    },
}

/// Which line of an order row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderPart {
    /// The row's one line (a suspension's credit, a reactivation's charge).
    Whole,
    /// One side of a seat change.
    Seats(SeatSide),
    /// A cancel within the window: the full credit of a line of this type and cause.
    Refund {
        charge_type: ChargeType,
        refunded: Box<Cause>,
    },
}

/// The two lines of a seat change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatSide {
    /// The credit of the old seats.
    Old,
    /// The charge of the new seats.
    New,
}

impl SeatSide {
    fn suffix(self) -> &'static str {
        match self {
            SeatSide::Old => "old",
            SeatSide::New => "new",
        }
    }
}

/// The cause of the lines an order row makes.
pub fn order_cause(order_id: &str, line: u32) -> String {
    Cause::Order {
        order_id: order_id.to_string(),
        line,
        part: OrderPart::Whole,
    }
    .to_string()
}

/// The cause of one side of a seat change made by the row whose cause is `order_cause`.
pub fn seats_cause(order_cause: &str, side: SeatSide) -> String {
    format!("{order_cause}:{}", side.suffix())
}

/// The cause of the full credit, by the cancelling row whose cause is `order_cause`, of a line
/// of `charge_type` caused by `refunded`.
pub fn refund_cause(order_cause: &str, charge_type: ChargeType, refunded: &str) -> String {
    format!("{order_cause}/{charge_type}/{refunded}")
}

/// The cause of a correction of line `line_id` posted on `posted_on`.
pub fn offset_cause(posted_on: NaiveDate, line_id: i64) -> String {
    Cause::Offset { posted_on, line_id }.to_string()
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Purchase => f.write_str("purchase"),
            Cause::Conversion => f.write_str("conversion"),
            Cause::Period => f.write_str("period"),
            Cause::Renewal => f.write_str("renewal"),
            Cause::Usage => f.write_str("usage"),
            Cause::Deletion => f.write_str("deletion"),
            Cause::Order {
                order_id,
                line,
                part,
            } => {
                write!(f, "order:{order_id}:{line}")?;
                match part {
                    OrderPart::Whole => Ok(()),
                    OrderPart::Seats(side) => write!(f, ":{}", side.suffix()),
                    OrderPart::Refund {
                        charge_type,
                        refunded,
                    } => write!(f, "/{charge_type}/{refunded}"),
                }
            }
            Cause::Offset { posted_on, line_id } => write!(f, "offset:{posted_on}:{line_id}"),
        }
    }
}

impl Cause {
    /// Reads a cause; `None` for a spelling the core never writes.
    ///
    /// An order id may itself hold `:` or `/`, so an order cause can split in more than one
    /// way; the first split (shortest order id) that reads whole wins. Use [`Cause::parse_with`]
    /// to prefer the order rows actually known.
    pub fn parse(text: &str) -> Option<Cause> {
        Cause::parse_with(text, &|_, _| true)
    }

    /// Reads a cause, taking for each order cause the first split whose (order_id, line) is
    /// `known`; when none is, the first split that reads whole.
    pub fn parse_with(text: &str, known: &dyn Fn(&str, u32) -> bool) -> Option<Cause> {
        match text {
            "purchase" => return Some(Cause::Purchase),
            "conversion" => return Some(Cause::Conversion),
            "period" => return Some(Cause::Period),
            "renewal" => return Some(Cause::Renewal),
            "usage" => return Some(Cause::Usage),
            "deletion" => return Some(Cause::Deletion),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix("offset:") {
            let (date, id) = rest.split_once(':')?;
            let posted_on = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return Some(Cause::Offset {
                posted_on,
                line_id: id.parse().ok()?,
            });
        }
        let rest = text.strip_prefix("order:")?;
        let candidates: Vec<Cause> = rest
            .match_indices(':')
            .filter_map(|(at, _)| order_split(&rest[..at], &rest[at + 1..], known))
            .collect();
        let known_one = candidates.iter().position(|c| match c {
            Cause::Order { order_id, line, .. } => known(order_id, *line),
            _ => false,
        });
        let chosen = known_one.unwrap_or(0);
        candidates.into_iter().nth(chosen)
    }
}

/// `order_id` then `tail` = `<line>[:old|:new|/<type>/<cause>]`, if it reads whole.
fn order_split(order_id: &str, tail: &str, known: &dyn Fn(&str, u32) -> bool) -> Option<Cause> {
    if order_id.is_empty() {
        return None;
    }
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || tail.starts_with('0') {
        return None;
    }
    let line: u32 = tail[..digits].parse().ok()?;
    let after = &tail[digits..];
    let part = match after {
        "" => OrderPart::Whole,
        ":old" => OrderPart::Seats(SeatSide::Old),
        ":new" => OrderPart::Seats(SeatSide::New),
        _ => {
            let refund = after.strip_prefix('/')?;
            let (charge_type, refunded) = ChargeType::ALL.into_iter().find_map(|t| {
                let inner = refund.strip_prefix(t.as_str())?.strip_prefix('/')?;
                Some((t, Cause::parse_with(inner, known)?))
            })?;
            OrderPart::Refund {
                charge_type,
                refunded: Box::new(refunded),
            }
        }
    };
    Some(Cause::Order {
        order_id: order_id.to_string(),
        line,
        part,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn order(order_id: &str, line: u32, part: OrderPart) -> Cause {
        Cause::Order {
            order_id: order_id.into(),
            line,
            part,
        }
    }

    #[test]
    fn every_spelling_reads_back_as_written() {
        let refund = |t, inner: Cause| OrderPart::Refund {
            charge_type: t,
            refunded: Box::new(inner),
        };
        let causes = [
            Cause::Purchase,
            Cause::Conversion,
            Cause::Period,
            Cause::Renewal,
            Cause::Usage,
            Cause::Deletion,
            order("SO-1", 1, OrderPart::Whole),
            order("SO-1", 2, OrderPart::Seats(SeatSide::Old)),
            order("SO-1", 2, OrderPart::Seats(SeatSide::New)),
            order(
                "SO-9",
                3,
                refund(ChargeType::PurchaseProrate, Cause::Purchase),
            ),
            order(
                "SO-9",
                3,
                refund(
                    ChargeType::CycleInstanceProrate,
                    order("SO-1", 2, OrderPart::Seats(SeatSide::New)),
                ),
            ),
            Cause::Offset {
                posted_on: d("2026-08-03"),
                line_id: 42,
            },
        ];
        for cause in causes {
            let text = cause.to_string();
            assert_eq!(Cause::parse(&text), Some(cause.clone()), "{text}");
        }
    }

    #[test]
    fn the_helpers_write_what_parse_reads() {
        let o = order_cause("A-7", 4);
        assert_eq!(o, "order:A-7:4");
        assert_eq!(
            Cause::parse(&seats_cause(&o, SeatSide::Old)),
            Some(order("A-7", 4, OrderPart::Seats(SeatSide::Old)))
        );
        assert_eq!(
            refund_cause(&o, ChargeType::CycleFee, "period"),
            "order:A-7:4/Cycle fee/period"
        );
        assert_eq!(offset_cause(d("2026-01-02"), 7), "offset:2026-01-02:7");
    }

    #[test]
    fn an_order_id_holding_colons_and_slashes_is_read_whole() {
        let cause = order("a:1/b", 2, OrderPart::Seats(SeatSide::New));
        assert_eq!(Cause::parse(&cause.to_string()), Some(cause));
        // "order:X:1:2" reads as order "X:1" line 2 (a line is digits only, so "1:2" is not one)
        // unless the known rows say order "X" line 1 ... which cannot end in ":2": one reading.
        assert_eq!(
            Cause::parse("order:X:1:2"),
            Some(order("X:1", 2, OrderPart::Whole))
        );
        // Ambiguous by spelling: the first split reads by default, the known rows decide.
        let text = "order:A:1/Cycle fee/order:B:2";
        let as_refund = order(
            "A",
            1,
            OrderPart::Refund {
                charge_type: ChargeType::CycleFee,
                refunded: Box::new(order("B", 2, OrderPart::Whole)),
            },
        );
        assert_eq!(Cause::parse(text), Some(as_refund));
        let odd = "A:1/Cycle fee/order:B";
        assert_eq!(
            Cause::parse_with(text, &|o, l| o == odd && l == 2),
            Some(order(odd, 2, OrderPart::Whole))
        );
    }

    #[test]
    fn spellings_the_core_never_writes_are_not_read() {
        for text in [
            "",
            "order:",
            "order:A",
            "order:A:",
            "order:A:x",
            "order:A:01",
            "order:A:1:older",
            "order:A:1/Not a type/period",
            "order:A:1/Cycle fee/nonsense",
            "offset:2026-13-01:4",
            "offset:2026-01-01:",
            "offset:2026-01-01:-4",
            "Purchase",
        ] {
            assert_eq!(Cause::parse(text), None, "{text}");
        }
    }
}
