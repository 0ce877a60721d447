//! Charge lines: loading what a family has been posted, and posting new lines with COPY.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::schema::{charge_lines, invoice_runs, subscriptions};
use crate::domain::calendar::DateRange;
use crate::domain::charges::{ChargeLine, ChargeType};
use crate::domain::invoicing;
use crate::domain::posting::{PostedLine, Posting};

/// A stored charge line as the core reads it back (also embedded in `explain`'s rows).
#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = charge_lines, check_for_backend(diesel::pg::Pg))]
pub(super) struct LineRow {
    line_id: i64,
    subscription_id: String,
    charge_type: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    billable_days: i32,
    period_days: i32,
    unit_price: Decimal,
    quantity: Decimal,
    amount: Decimal,
    cause: String,
    corrects_line_id: Option<i64>,
}

/// A charge line to insert.
#[derive(Insertable)]
#[diesel(table_name = charge_lines, treat_none_as_default_value = false)]
pub struct NewLine {
    pub subscription_id: String,
    pub customer_id: String,
    pub charge_type: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub billable_days: i32,
    pub period_days: i32,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub posted_on: NaiveDate,
    pub cause: String,
    pub corrects_line_id: Option<i64>,
    pub invoice_period_start: NaiveDate,
}

fn days(n: u32) -> i32 {
    i32::try_from(n).expect("day counts are small")
}

/// Lines posted to the given families' subscriptions, grouped by family, in posting order.
pub fn posted_for_families(
    conn: &mut PgConnection,
    family_ids: &[String],
) -> QueryResult<HashMap<String, Vec<PostedLine>>> {
    let rows: Vec<(String, LineRow)> = charge_lines::table
        .inner_join(
            subscriptions::table.on(subscriptions::subscription_id
                .eq(charge_lines::subscription_id)
                .and(subscriptions::customer_id.eq(charge_lines::customer_id))),
        )
        .filter(subscriptions::family_id.eq_any(family_ids))
        .order(charge_lines::line_id)
        .select((subscriptions::family_id, LineRow::as_select()))
        .load(conn)?;
    let mut out: HashMap<String, Vec<PostedLine>> = HashMap::new();
    for (family, r) in rows {
        out.entry(family).or_default().push(r.into_posted());
    }
    Ok(out)
}

impl LineRow {
    /// The line as the core knows it; a stored value the core never writes is a bug, not input.
    pub(super) fn into_posted(self) -> PostedLine {
        PostedLine {
            line_id: self.line_id,
            line: ChargeLine {
                subscription_id: self.subscription_id,
                charge_type: self
                    .charge_type
                    .parse()
                    .unwrap_or_else(|e| panic!("stored charge type: {e}")),
                range: DateRange::new(self.start_date, self.end_date),
                billable_days: u32::try_from(self.billable_days).expect("stored days are positive"),
                period_days: u32::try_from(self.period_days).expect("stored days are positive"),
                unit_price: self.unit_price,
                quantity: self.quantity,
                amount: self.amount,
                cause: self.cause,
            },
            corrects: self.corrects_line_id,
        }
    }
}

/// Start dates of the invoice periods already emitted.
pub fn emitted_periods(conn: &mut PgConnection) -> QueryResult<BTreeSet<NaiveDate>> {
    Ok(invoice_runs::table
        .select(invoice_runs::period_start)
        .load::<NaiveDate>(conn)?
        .into_iter()
        .collect())
}

/// Where lines posted on one date go: the invoice period containing it, or the next period not
/// emitted yet when that one was.
#[derive(Debug, Clone)]
pub struct PostingTarget {
    pub posted_on: NaiveDate,
    pub invoice_period_start: NaiveDate,
}

impl PostingTarget {
    pub fn resolve(
        conn: &mut PgConnection,
        posted_on: NaiveDate,
        invoice_day: u32,
    ) -> QueryResult<Self> {
        let emitted = emitted_periods(conn)?;
        Ok(PostingTarget {
            posted_on,
            invoice_period_start: invoicing::open_period(posted_on, invoice_day, &emitted).start,
        })
    }
}

/// Turns postings into rows; `customer_of` names each subscription's customer.
pub fn rows_for(
    postings: &[Posting],
    target: &PostingTarget,
    customer_of: impl Fn(&str) -> String,
) -> Vec<NewLine> {
    postings
        .iter()
        .map(|p| {
            let (line, corrects) = match p {
                Posting::New(line) => (line, None),
                Posting::Offset { corrects, line } => (line, Some(*corrects)),
            };
            debug_assert!(corrects.is_some() == (line.charge_type == ChargeType::Offset));
            NewLine {
                customer_id: customer_of(&line.subscription_id),
                subscription_id: line.subscription_id.clone(),
                charge_type: line.charge_type.as_str().to_string(),
                start_date: line.range.start,
                end_date: line.range.end,
                billable_days: days(line.billable_days),
                period_days: days(line.period_days),
                unit_price: line.unit_price,
                quantity: line.quantity,
                amount: line.amount,
                posted_on: target.posted_on,
                cause: line.cause.clone(),
                corrects_line_id: corrects,
                invoice_period_start: target.invoice_period_start,
            }
        })
        .collect()
}

/// Inserts lines with COPY; returns how many.
pub fn insert(conn: &mut PgConnection, rows: &[NewLine]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    diesel::copy_from(charge_lines::table)
        .from_insertable(rows)
        .execute(conn)
}
