//! `subsweep explain SUBSCRIPTION_ID`: why a subscription family's lines exist. Reads the
//! family (base and add-ons) in one read-only snapshot, replays its accepted history through
//! the same core the jobs use (`domain::explain::history`), and says for every posted line the
//! order row or start-of-day step that made it, the rule in words, and the invoice it is on.
//! Only the family's customer's data is read: a row naming the subscription under another
//! customer is that customer's, and is never shown.

use std::collections::HashMap;
use std::io::Write;

use chrono::{NaiveDate, SecondsFormat};
use diesel::PgConnection;
use serde::Serialize;

use crate::config::Config;
use crate::domain::cause::{Cause, OrderPart, SeatSide};
use crate::domain::charges::{ChargeLine, ChargeType};
use crate::domain::clock::{Moment, Step};
use crate::domain::event::Checks;
use crate::domain::explain::{self as core, LineContext};
use crate::domain::replay::ReplayEvent;
use crate::domain::subscription::Subscription;
use crate::error::{Error, Result};
use crate::shown;
use crate::store::explain::{self as store, AcceptedRow, PostedRow};
use crate::store::{catalog, clock};

/// How `explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document (see docs/explain.md for its fields).
    Json,
}

/// Version of the JSON document's structure: fields are only ever added within a version.
pub const JSON_VERSION: u32 = 1;

/// A date as YYYY-MM-DD, in JSON too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub NaiveDate);

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Everything `explain` says about one family.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    /// The subscription asked about.
    pub subscription_id: String,
    /// The base subscription's id.
    pub family_id: String,
    pub customer_id: String,
    pub customer_name: Option<String>,
    /// How far the state has been carried: the replay runs through it.
    pub state_through: Option<MomentView>,
    pub members: Vec<MemberView>,
    pub events: Vec<EventView>,
    pub rejected: Vec<RejectView>,
    pub history: Vec<StepView>,
    pub lines: Vec<LineView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MomentView {
    pub date: Day,
    /// `trial-conversions`, `renewals`, `suspension-expiry` or `apply-orders`.
    pub step: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub subscription_id: String,
    /// `base` or `add-on`.
    pub role: &'static str,
    pub parent_subscription_id: Option<String>,
    pub offer_id: String,
    pub currency: String,
    /// The state as the replay leaves it.
    pub state: StateView,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    pub subscription_id: String,
    pub status: String,
    pub in_trial: bool,
    pub quantity: Option<String>,
    pub auto_renew: bool,
    pub cancel_at_term_end: bool,
    pub current_period_start: Option<Day>,
    pub current_period_end: Option<Day>,
    pub term_end: Option<Day>,
    pub data_expires_on: Option<Day>,
    pub ended_on: Option<Day>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub file: String,
    pub source_line: i32,
    pub order_id: String,
    pub line: u32,
    pub action: String,
    /// The subscription it acted on (the one it created, for a purchase).
    pub subscription_id: String,
    pub event_time: String,
    pub event_date: Day,
    /// The logical date whose apply-orders applied it.
    pub applied_on: Day,
    /// Applied after its own date (billed as if applied on it).
    pub late: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RejectView {
    pub file: String,
    pub source_line: i32,
    pub processed_on: Day,
    pub order_id: String,
    pub line: String,
    pub event_time: String,
    pub action: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub date: Day,
    /// The job of the step: `trial-conversions`, `renewals`, `suspension-expiry`, or
    /// `apply-orders` for an order row.
    pub step: &'static str,
    /// The order row applied (apply-orders steps).
    pub event: Option<RowRef>,
    /// Why the row no longer applies when the history is replayed (normally absent).
    pub refused: Option<String>,
    /// The members the step changed, right after it.
    pub states: Vec<StateView>,
    /// The lines the step makes in the replayed history.
    pub lines: Vec<StepLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowRef {
    pub file: String,
    pub source_line: i32,
    pub order_id: String,
    pub line: u32,
    pub action: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    pub subscription_id: String,
    pub charge_type: String,
    pub start_date: Day,
    pub end_date: Day,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    pub line_id: i64,
    pub subscription_id: String,
    pub posted_on: Day,
    pub charge_type: String,
    pub start_date: Day,
    pub end_date: Day,
    pub billable_days: u32,
    pub period_days: u32,
    pub unit_price: String,
    pub quantity: String,
    pub amount: String,
    pub currency: String,
    /// The cause column as stored.
    pub cause: String,
    /// What made the line.
    pub origin: Origin,
    /// The rule, in words.
    pub explanation: String,
    /// For an `Offset a line item`: the line it corrects.
    pub corrects_line_id: Option<i64>,
    pub invoice_period_start: Day,
    /// `None` until the invoice of its period is emitted.
    pub invoice_number: Option<String>,
}

/// What made a posted line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// An order row.
    Order(RowRef),
    /// A start-of-day step of `date`.
    StartOfDay { date: Day, step: &'static str },
    /// A correction, posted by apply-orders of `posted_on`, of an earlier line.
    Correction {
        posted_on: Day,
        corrects_line_id: i64,
    },
    /// Not found in the history (should not happen).
    Unknown,
}

fn moment_view(m: Moment) -> MomentView {
    MomentView {
        date: Day(m.date),
        step: core::step_name(m.step),
    }
}

fn state_view(sub: &Subscription, as_of: NaiveDate) -> StateView {
    let view = sub.view(as_of);
    let s = &sub.state;
    StateView {
        subscription_id: sub.id.clone(),
        status: s.status.to_string(),
        in_trial: s.in_trial,
        quantity: s.quantity.map(|q| q.normalize().to_string()),
        auto_renew: s.auto_renew,
        cancel_at_term_end: s.cancel_at_term_end,
        current_period_start: view.current_period.map(|p| Day(p.start)),
        current_period_end: view.current_period.map(|p| Day(p.end)),
        term_end: view.term_end.map(Day),
        data_expires_on: s.data_expires_on.map(Day),
        ended_on: s.ended_on.map(Day),
    }
}

fn row_ref(a: &AcceptedRow) -> RowRef {
    RowRef {
        file: a.file_name.clone(),
        source_line: a.source_line,
        order_id: a.event.order.order_id.clone(),
        line: a.event.order.line,
        action: a.event.order.action.to_string(),
    }
}

/// Reads and explains the family of `subscription_id` in one read-only snapshot. An unknown
/// subscription is a usage error (exit 64).
pub fn report(conn: &mut PgConnection, config: &Config, subscription_id: &str) -> Result<Report> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| build(conn, config, subscription_id))
}

fn build(conn: &mut PgConnection, config: &Config, subscription_id: &str) -> Result<Report> {
    let unknown = || {
        Error::Usage(format!(
            "no subscription {subscription_id} is known (`subsweep subscriptions` lists them; \
             ids are <order_id>-<line> of the purchase row)"
        ))
    };
    let (family_id, customer_id) = store::family_of(conn, subscription_id)?.ok_or_else(unknown)?;
    let stored = store::family(conn, &family_id, &customer_id)?.ok_or_else(unknown)?;
    let accepted = store::accepted(conn, &family_id, &customer_id)?;
    let member_ids: Vec<String> = stored.members.iter().map(|m| m.id.clone()).collect();
    let rejected = store::rejected_naming(conn, &member_ids, &customer_id)?;
    let posted = store::posted(conn, &member_ids, &customer_id)?;
    let customer_name = catalog::load_customers(conn, std::slice::from_ref(&customer_id))?
        .pop()
        .map(|c| c.name);
    let last_event = accepted.iter().map(|a| a.event.order.event_date()).max();
    let through = clock::read(conn)?
        .into_iter()
        .chain(last_event.map(|d| Moment::new(d, Step::Orders)))
        .max();
    let policy = config.policy();

    let replay_events: Vec<ReplayEvent<'_>> = accepted
        .iter()
        .map(|a| ReplayEvent {
            event: &a.event,
            checks: Checks::Replay {
                seed: stored.members.iter().find(|s| s.id == a.event.target()),
            },
        })
        .collect();
    let history = through.map(|t| core::history(&family_id, &replay_events, t, &policy));
    let family = history.as_ref().map_or(&stored, |h| &h.family);
    let as_of = through.map_or_else(|| chrono::Utc::now().date_naive(), |t| t.date);

    let members = family
        .members
        .iter()
        .map(|m| MemberView {
            subscription_id: m.id.clone(),
            role: if m.is_addon() { "add-on" } else { "base" },
            parent_subscription_id: m.parent.clone(),
            offer_id: m.offer_id.clone(),
            currency: m.terms.currency.clone(),
            state: state_view(m, as_of),
        })
        .collect();
    let events = accepted
        .iter()
        .map(|a| {
            let o = &a.event.order;
            EventView {
                file: a.file_name.clone(),
                source_line: a.source_line,
                order_id: o.order_id.clone(),
                line: o.line,
                action: o.action.to_string(),
                subscription_id: o.target_subscription(),
                event_time: o.event_time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                event_date: Day(o.event_date()),
                applied_on: Day(a.applied_on),
                late: a.applied_on > o.event_date(),
            }
        })
        .collect();
    let rejected = rejected
        .into_iter()
        .map(|r| RejectView {
            file: r.file_name,
            source_line: r.source_line,
            processed_on: Day(r.processed_on),
            order_id: r.order_id,
            line: r.line,
            event_time: r.event_time,
            action: r.action,
            code: r.error_code,
            message: r.error_message,
        })
        .collect();
    let steps = history.as_ref().map_or_else(Vec::new, |h| {
        h.steps
            .iter()
            .map(|s| StepView {
                date: Day(s.moment.date),
                step: core::step_name(s.moment.step),
                event: s.event.map(|i| row_ref(&accepted[i])),
                refused: s.refused.as_ref().map(|r| r.to_string()),
                states: s
                    .changed
                    .iter()
                    .map(|m| state_view(m, s.moment.date))
                    .collect(),
                lines: s
                    .lines
                    .iter()
                    .map(|l| StepLine {
                        subscription_id: l.subscription_id.clone(),
                        charge_type: l.charge_type.to_string(),
                        start_date: Day(l.range.start),
                        end_date: Day(l.range.end),
                        amount: format!("{:.2}", l.amount),
                    })
                    .collect(),
            })
            .collect()
    });
    let lines = explain_lines(&posted, &accepted, history.as_ref(), family, &policy);
    Ok(Report {
        format_version: JSON_VERSION,
        subscription_id: subscription_id.to_string(),
        family_id,
        customer_id,
        customer_name,
        state_through: through.map(moment_view),
        members,
        events,
        rejected,
        history: steps,
        lines,
    })
}

/// Every posted line with its origin, its words and its invoice.
fn explain_lines(
    posted: &[PostedRow],
    accepted: &[AcceptedRow],
    history: Option<&core::History>,
    family: &crate::domain::lifecycle::Family,
    policy: &crate::domain::policy::Policy,
) -> Vec<LineView> {
    let origins = history.map(|h| h.origins()).unwrap_or_default();
    let by_row: HashMap<(&str, u32), &AcceptedRow> = accepted
        .iter()
        .map(|a| ((a.event.order.order_id.as_str(), a.event.order.line), a))
        .collect();
    let by_id: HashMap<i64, &PostedRow> = posted.iter().map(|p| (p.line_id, p)).collect();
    let known = |order_id: &str, line: u32| by_row.contains_key(&(order_id, line));
    let applied: Vec<(&crate::domain::order::OrderEvent, NaiveDate)> = accepted
        .iter()
        .map(|a| (&a.event.order, a.applied_on))
        .collect();

    posted
        .iter()
        .map(|p| {
            let line = &p.line;
            let cause = Cause::parse_with(&line.cause, &known);
            let sub = family.member(&line.subscription_id);
            let order_row = |order_id: &str, n: u32| by_row.get(&(order_id, n)).copied();
            let origin = match (cause.as_ref(), p.corrects) {
                (_, Some(corrects))
                | (
                    Some(&Cause::Offset {
                        line_id: corrects, ..
                    }),
                    None,
                ) => Origin::Correction {
                    posted_on: Day(p.posted_on),
                    corrects_line_id: corrects,
                },
                _ => match origins.get(&line.key()).zip(history) {
                    Some((&i, h)) => match h.steps[i].event {
                        Some(e) => Origin::Order(row_ref(&accepted[e])),
                        None => Origin::StartOfDay {
                            date: Day(h.steps[i].moment.date),
                            step: core::step_name(h.steps[i].moment.step),
                        },
                    },
                    None => fallback_origin(line, cause.as_ref(), sub, &order_row),
                },
            };
            let event = match &cause {
                Some(Cause::Order { order_id, line, .. }) => {
                    order_row(order_id, *line).map(|a| &a.event.order)
                }
                _ => None,
            };
            let seats = match &cause {
                Some(Cause::Order {
                    order_id,
                    line: n,
                    part: OrderPart::Seats(_),
                }) => seat_change(posted, order_id, *n, &known, line),
                _ => None,
            };
            let corrected = p.corrects.and_then(|id| by_id.get(&id)).map(|c| &c.line);
            let is_offset = p.corrects.is_some() || matches!(cause, Some(Cause::Offset { .. }));
            let late = if is_offset {
                core::late_on(applied.iter().copied(), p.posted_on)
            } else {
                Vec::new()
            };
            let ctx = LineContext {
                policy,
                subscription: sub,
                event,
                seats,
                corrected,
                late: &late,
            };
            let explanation = match &cause {
                Some(c) => core::words(line, c, &ctx),
                None => format!("cause '{}' is not one this version writes", line.cause),
            };
            LineView {
                line_id: p.line_id,
                subscription_id: line.subscription_id.clone(),
                posted_on: Day(p.posted_on),
                charge_type: line.charge_type.to_string(),
                start_date: Day(line.range.start),
                end_date: Day(line.range.end),
                billable_days: line.billable_days,
                period_days: line.period_days,
                unit_price: line.unit_price.normalize().to_string(),
                quantity: line.quantity.normalize().to_string(),
                amount: format!("{:.2}", line.amount),
                currency: sub.map(|s| s.terms.currency.clone()).unwrap_or_default(),
                cause: line.cause.clone(),
                origin,
                explanation,
                corrects_line_id: p.corrects,
                invoice_period_start: Day(p.invoice_period_start),
                invoice_number: p.invoice_number.clone(),
            }
        })
        .collect()
}

/// The seats before and after the seat change that made `line`: the quantities of its two
/// lines (same row, same range).
fn seat_change(
    posted: &[PostedRow],
    order_id: &str,
    n: u32,
    known: &dyn Fn(&str, u32) -> bool,
    line: &ChargeLine,
) -> Option<(rust_decimal::Decimal, rust_decimal::Decimal)> {
    let side_of = |p: &PostedRow| match Cause::parse_with(&p.line.cause, known) {
        Some(Cause::Order {
            order_id: o,
            line: l,
            part: OrderPart::Seats(side),
        }) if o == order_id && l == n && p.line.range == line.range => Some(side),
        _ => None,
    };
    let quantity = |side: SeatSide| {
        posted
            .iter()
            .filter(|p| p.line.charge_type == ChargeType::CycleInstanceProrate)
            .find(|p| side_of(p) == Some(side))
            .map(|p| p.line.quantity)
    };
    Some((quantity(SeatSide::Old)?, quantity(SeatSide::New)?))
}

/// The origin of a line the replayed history no longer makes (it was corrected since), read
/// from its cause.
fn fallback_origin<'a>(
    line: &ChargeLine,
    cause: Option<&Cause>,
    sub: Option<&Subscription>,
    order_row: &dyn Fn(&str, u32) -> Option<&'a AcceptedRow>,
) -> Origin {
    let start_of_day = |date: Option<NaiveDate>, step: Step| match date {
        Some(date) => Origin::StartOfDay {
            date: Day(date),
            step: core::step_name(step),
        },
        None => Origin::Unknown,
    };
    match cause {
        Some(Cause::Order { order_id, line, .. }) => order_row(order_id, *line)
            .map(|a| Origin::Order(row_ref(a)))
            .unwrap_or(Origin::Unknown),
        Some(Cause::Purchase) => sub
            .and_then(|s| order_row(&s.order_id, s.order_line))
            .map(|a| Origin::Order(row_ref(a)))
            .unwrap_or(Origin::Unknown),
        Some(Cause::Conversion) => start_of_day(Some(line.range.start), Step::TrialConversions),
        Some(Cause::Period | Cause::Renewal) => {
            start_of_day(Some(line.range.start), Step::Renewals)
        }
        Some(Cause::Usage) if line.charge_type == ChargeType::UsageCycle => {
            start_of_day(line.range.end.succ_opt(), Step::Renewals)
        }
        _ => Origin::Unknown,
    }
}

/// Prints the report in `format`.
pub fn write(out: &mut dyn Write, report: &Report, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)
                .map_err(|e| Error::Other(format!("writing the report: {e}")))?;
            writeln!(out)?;
        }
        Format::Text => write_text(out, report)?,
    }
    Ok(())
}

fn or_dash<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map_or("-".to_string(), T::to_string)
}

fn state_text(s: &StateView) -> String {
    let period = match (s.current_period_start, s.current_period_end) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ => "-".into(),
    };
    let mut text = format!(
        "{}: {}{}, quantity {}, period {period}, term end {}",
        s.subscription_id,
        s.status,
        if s.in_trial { " (trial)" } else { "" },
        or_dash(&s.quantity),
        or_dash(&s.term_end),
    );
    if let Some(d) = s.data_expires_on {
        text.push_str(&format!(", data expires {d}"));
    }
    if s.cancel_at_term_end {
        text.push_str(", cancels at term end");
    } else if !s.auto_renew {
        text.push_str(", auto-renew off");
    }
    if let Some(d) = s.ended_on {
        text.push_str(&format!(", ended {d}"));
    }
    text
}

fn write_text(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    let addons = r.members.iter().filter(|m| m.role == "add-on").count();
    writeln!(
        out,
        "Subscription {} — family {} (base{}), customer {}{}",
        r.subscription_id,
        r.family_id,
        match addons {
            0 => String::new(),
            1 => " + 1 add-on".into(),
            n => format!(" + {n} add-ons"),
        },
        r.customer_id,
        r.customer_name
            .as_ref()
            .map_or(String::new(), |n| format!(" ({n})")),
    )?;
    if let Some(t) = &r.state_through {
        writeln!(out, "State carried through {} ({}).", t.date, t.step)?;
    }

    writeln!(out, "\nMembers")?;
    for m in &r.members {
        writeln!(
            out,
            "  {:<7} offer {} — {}",
            m.role,
            m.offer_id,
            state_text(&m.state)
        )?;
    }

    writeln!(out, "\nAccepted order rows")?;
    if r.events.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for e in &r.events {
        writeln!(
            out,
            "  {} line {}: order {} line {}, {} {} at {}, applied on {}{}",
            shown::name(&e.file),
            e.source_line,
            e.order_id,
            e.line,
            e.action,
            e.subscription_id,
            e.event_time,
            e.applied_on,
            if e.late { " (late)" } else { "" }
        )?;
    }

    writeln!(out, "\nRejected rows naming it")?;
    if r.rejected.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for x in &r.rejected {
        writeln!(
            out,
            "  {} line {}: order {} line {}, {} at {}, rejected on {}: {} — {}",
            shown::name(&x.file),
            x.source_line,
            x.order_id,
            x.line,
            x.action,
            x.event_time,
            x.processed_on,
            x.code,
            x.message
        )?;
    }

    writeln!(out, "\nHistory, replayed")?;
    for s in &r.history {
        match &s.event {
            Some(e) => writeln!(
                out,
                "  {} {}: order {} line {} ({} line {}), {}",
                s.date,
                s.step,
                e.order_id,
                e.line,
                shown::name(&e.file),
                e.source_line,
                e.action
            )?,
            None => writeln!(out, "  {} {}", s.date, s.step)?,
        }
        if let Some(why) = &s.refused {
            writeln!(out, "      no longer applies: {why}")?;
        }
        for st in &s.states {
            writeln!(out, "      {}", state_text(st))?;
        }
        for l in &s.lines {
            writeln!(
                out,
                "      {} {} {}..{} {}",
                l.subscription_id, l.charge_type, l.start_date, l.end_date, l.amount
            )?;
        }
    }

    writeln!(out, "\nPosted lines")?;
    if r.lines.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for l in &r.lines {
        writeln!(
            out,
            "  #{} {} {} {}..{} {}/{} days, {} × {}, amount {} {}, posted {}, {}",
            l.line_id,
            l.subscription_id,
            l.charge_type,
            l.start_date,
            l.end_date,
            l.billable_days,
            l.period_days,
            l.quantity,
            l.unit_price,
            l.amount,
            l.currency,
            l.posted_on,
            l.invoice_number
                .as_ref()
                .map_or("not yet invoiced".to_string(), |n| format!("on {n}")),
        )?;
        let origin = match &l.origin {
            Origin::Order(row) => format!(
                "order {} line {} ({} line {}, {})",
                row.order_id,
                row.line,
                shown::name(&row.file),
                row.source_line,
                row.action
            ),
            Origin::StartOfDay { date, step } => format!("{step} of {date}"),
            Origin::Correction {
                posted_on,
                corrects_line_id,
            } => format!("apply-orders of {posted_on}, correcting #{corrects_line_id}"),
            Origin::Unknown => "not found in the history".into(),
        };
        writeln!(out, "      from {origin}: {}", l.explanation)?;
    }
    Ok(())
}
