//! `subsweep preview`: the lines and totals the invoices of the periods ending on or before a
//! date will hold if no further orders arrive — the lines posted and not yet invoiced, plus
//! what the nights up to that date post by themselves (trial conversions, period rollovers,
//! renewals, scheduled cancellations, expirations, data expiry, usage in arrears).
//!
//! The nights are not imitated: each family read from the database is carried day by day
//! through the same `Family::start_of_day` the transition jobs call, in memory; the lines are
//! placed in the invoice period the jobs would place them in and written through the same
//! `output::invoices::line_cells` the invoices job uses. Everything is read in one read-only
//! snapshot, customer by customer through a cursor; nothing is written and no invoice number is
//! assigned (the invoice number reads `PREVIEW`). Staged order events not applied yet are not
//! applied in the preview ("if no further orders arrive"): their count is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use chrono::NaiveDate;
use diesel::PgConnection;
use rust_decimal::Decimal;

use crate::config::Config;
use crate::domain::calendar::DateRange;
use crate::domain::charges::ChargeLine;
use crate::domain::clock::{Moment, Step};
use crate::domain::invoicing;
use crate::domain::lifecycle::Family;
use crate::error::{Error, Result};
use crate::jobs::transitions::split_last_group;
use crate::output::cells;
use crate::output::invoices::{LINE_HEADER, LineValues, line_cells};
use crate::store::export::InvoiceLineRow;
use crate::store::subscriptions::SubscriptionRow;
use crate::store::{charges, clock, families, preview as store};

/// The invoice number preview lines carry: no number is assigned.
pub const PREVIEW_NUMBER: &str = "PREVIEW";

/// Subscriptions are read this many at a time (a customer's last rows wait for the rest).
const BATCH: usize = 5_000;

/// How `preview` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Exactly the columns of invoice-lines.csv, InvoiceNumber `PREVIEW`.
    Csv,
    /// For people: per invoice its lines and total, per period the totals per currency.
    Table,
}

/// What the preview covers, decided from the database before any family is read.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The last day covered: invoices of periods ending on or before it.
    pub through: NaiveDate,
    /// Where the subscription state stands (`None`: nothing processed yet).
    pub state: Option<Moment>,
    /// The invoice periods covered, in order: not emitted, ending on or before `through`.
    pub periods: Vec<DateRange>,
    /// Staged order events dated on or before `through` that are not applied (not previewed).
    pub pending_events: i64,
    invoice_day: u32,
    emitted: BTreeSet<NaiveDate>,
}

/// One customer's invoice of one period, as it would be emitted.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub period: DateRange,
    pub customer_id: String,
    pub customer_name: String,
    pub customer_country: String,
    /// In invoice-lines.csv order: each line with the values invoice-lines.csv shows (its
    /// customer's are the invoice's), the row type of the emitted file's export.
    pub lines: Vec<InvoiceLineRow>,
}

impl Invoice {
    /// The total per currency, summed from the amounts as the file writes them.
    pub fn totals(&self) -> BTreeMap<String, Decimal> {
        let mut totals = BTreeMap::new();
        for line in &self.lines {
            *totals.entry(line.currency.clone()).or_insert(Decimal::ZERO) += written_amount(line);
        }
        totals
    }
}

/// The amount as the invoice file writes it (two decimals), as a number.
fn written_amount(line: &InvoiceLineRow) -> Decimal {
    cells::amount(line.amount).parse().unwrap_or(line.amount)
}

fn values(line: &InvoiceLineRow) -> LineValues<'_> {
    LineValues {
        customer_id: &line.customer_id,
        customer_name: &line.customer_name,
        customer_country: &line.customer_country,
        invoice_number: PREVIEW_NUMBER,
        order_id: &line.order_id,
        subscription_id: &line.subscription_id,
        parent_subscription_id: &line.parent_subscription_id,
        offer_id: &line.offer_id,
        offer_name: &line.offer_name,
        publisher_name: &line.publisher_name,
        charge_type: &line.charge_type,
        start_date: line.start_date,
        end_date: line.end_date,
        billable_days: line.billable_days,
        period_days: line.period_days,
        unit_price: line.unit_price,
        quantity: line.quantity,
        amount: line.amount,
        currency: &line.currency,
        billing_months: line.billing_months,
        posted_on: line.posted_on,
    }
}

/// What the invoices of one period would add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodTotals {
    pub invoices: u64,
    pub lines: u64,
    pub per_currency: BTreeMap<String, Decimal>,
}

impl PeriodTotals {
    fn add(&mut self, invoice: &Invoice) {
        self.invoices += 1;
        self.lines += invoice.lines.len() as u64;
        for (currency, total) in invoice.totals() {
            *self.per_currency.entry(currency).or_insert(Decimal::ZERO) += total;
        }
    }

    /// `2 invoice(s), 66.00 USD, 12.00 EUR` (`0 invoice(s)` when none).
    pub fn describe(&self) -> String {
        let mut text = format!("{} invoice(s)", self.invoices);
        for (currency, total) in &self.per_currency {
            text.push_str(&format!(", {} {currency}", cells::amount(*total)));
        }
        text
    }
}

/// Decides what a preview through `through` covers (default: the end of the current invoice
/// period: the open period containing the day after the last processed date, or today's when
/// nothing was processed). Inside the snapshot.
pub fn plan(
    conn: &mut PgConnection,
    config: &Config,
    through: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Plan> {
    let invoice_day = config.billing.invoice_day;
    let emitted = charges::emitted_periods(conn)?;
    let state = clock::read(conn)?;
    let through = match through {
        Some(d) => d,
        None => match clock::processed_through(conn)? {
            Some(done) => {
                let next = done.succ_opt().unwrap_or(done);
                invoicing::open_period(next, invoice_day, &emitted).end
            }
            None => invoicing::period_containing(today, invoice_day).end,
        },
    };
    let first_simulated = state
        .map(|at| at.next().date)
        .filter(|date| *date <= through)
        .map(|date| invoicing::open_period(date, invoice_day, &emitted).start);
    let first_posted = store::earliest_unbilled_period(conn, emitted.last().copied())?;
    let mut periods = Vec::new();
    if let Some(first) = [first_simulated, first_posted].into_iter().flatten().min() {
        let mut period = invoicing::period_containing(first, invoice_day);
        while period.end <= through {
            if !emitted.contains(&period.start) {
                periods.push(period);
            }
            period = invoicing::next_period(period, invoice_day);
        }
    }
    let pending_events = store::pending_events(conn, through)?;
    Ok(Plan {
        through,
        state,
        periods,
        pending_events,
        invoice_day,
        emitted,
    })
}

/// Calls `each` with every previewed invoice of the periods `wanted` accepts (among the plan's),
/// customer by customer (bytewise), each customer's periods in order. Inside the snapshot.
pub fn for_each_invoice(
    conn: &mut PgConnection,
    plan: &Plan,
    customer: Option<&str>,
    wanted: &dyn Fn(NaiveDate) -> bool,
    each: &mut dyn FnMut(Invoice) -> Result<()>,
) -> Result<()> {
    let covered: BTreeSet<NaiveDate> = plan
        .periods
        .iter()
        .map(|p| p.start)
        .filter(|s| wanted(*s))
        .collect();
    if covered.is_empty() {
        return Ok(());
    }
    let mut members = store::members(conn, customer)?;
    let mut carried: Vec<SubscriptionRow> = Vec::new();
    loop {
        let fetched = members.next(conn, BATCH)?;
        let done = fetched.len() < BATCH;
        let mut rows = std::mem::take(&mut carried);
        rows.extend(fetched);
        if !done {
            carried = split_last_group(&mut rows, |r| r.customer_id.as_str());
        }
        if !rows.is_empty() {
            batch(conn, plan, &covered, rows, each)?;
        }
        if done {
            return Ok(());
        }
    }
}

/// What an invoice line needs from its subscription.
struct SubscriptionFacts {
    customer_id: String,
    order_id: String,
    parent: String,
    offer_id: String,
    currency: String,
    billing_months: i64,
}

/// The invoices of the customers whose subscriptions are `rows` (all of each customer's).
fn batch(
    conn: &mut PgConnection,
    plan: &Plan,
    covered: &BTreeSet<NaiveDate>,
    rows: Vec<SubscriptionRow>,
    each: &mut dyn FnMut(Invoice) -> Result<()>,
) -> Result<()> {
    let facts: HashMap<String, SubscriptionFacts> = rows
        .iter()
        .map(|r| {
            (
                r.subscription_id.clone(),
                SubscriptionFacts {
                    customer_id: r.customer_id.clone(),
                    order_id: r.order_id.clone(),
                    parent: r.parent_subscription_id.clone().unwrap_or_default(),
                    offer_id: r.offer_id.clone(),
                    currency: r.currency.clone(),
                    billing_months: i64::from(r.billing_months),
                },
            )
        })
        .collect();
    let ids: Vec<String> = facts.keys().cloned().collect();

    // (customer, period start) -> (subscription, charge type, ...) of each line.
    let mut raw: BTreeMap<(String, NaiveDate), Vec<Raw>> = BTreeMap::new();
    for line in store::unbilled_lines(conn, &ids)? {
        if !covered.contains(&line.invoice_period_start) {
            continue;
        }
        raw.entry((line.customer_id.clone(), line.invoice_period_start))
            .or_default()
            .push(Raw {
                subscription_id: line.subscription_id,
                charge_type: line.charge_type,
                range: DateRange::new(line.start_date, line.end_date),
                billable_days: i64::from(line.billable_days),
                period_days: i64::from(line.period_days),
                unit_price: line.unit_price,
                quantity: line.quantity,
                amount: line.amount,
                posted_on: line.posted_on,
                order: (false, line.line_id),
            });
    }
    let mut sequence = 0i64;
    if let Some(from) = plan.state.map(Moment::next) {
        for mut family in families::assemble(rows) {
            for (posted_on, line) in carry(&mut family, from, plan.through) {
                let period = invoicing::open_period(posted_on, plan.invoice_day, &plan.emitted);
                if !covered.contains(&period.start) {
                    continue;
                }
                let Some(sub) = facts.get(&line.subscription_id) else {
                    continue;
                };
                sequence += 1;
                raw.entry((sub.customer_id.clone(), period.start))
                    .or_default()
                    .push(Raw::new(line, posted_on, sequence));
            }
        }
    }
    if raw.is_empty() {
        return Ok(());
    }

    let customer_ids: Vec<String> = raw.keys().map(|(c, _)| c.clone()).collect();
    let names = store::customer_names(conn, &customer_ids)?;
    let offer_ids: Vec<String> = facts.values().map(|f| f.offer_id.clone()).collect();
    let offers = store::offer_names(conn, &offer_ids)?;
    for ((customer_id, period_start), mut lines) in raw {
        let refused = |why: String| {
            Error::Other(format!(
                "the invoice of customer {customer_id} for the period starting {period_start} \
                 would be refused: {why}"
            ))
        };
        let (name, country) = names
            .get(&customer_id)
            .cloned()
            .ok_or_else(|| refused("the customer is not in the customers loaded".into()))?;
        lines.sort_by(|a, b| {
            (
                a.subscription_id.as_bytes(),
                a.posted_on,
                a.range.start,
                a.order,
            )
                .cmp(&(
                    b.subscription_id.as_bytes(),
                    b.posted_on,
                    b.range.start,
                    b.order,
                ))
        });
        let mut invoice = Invoice {
            period: invoicing::period_containing(period_start, plan.invoice_day),
            customer_id: customer_id.clone(),
            customer_name: name,
            customer_country: country,
            lines: Vec::with_capacity(lines.len()),
        };
        for raw in lines {
            let sub = facts.get(&raw.subscription_id).ok_or_else(|| {
                refused(format!("no subscription {} is known", raw.subscription_id))
            })?;
            let (offer_name, publisher_name) = offers
                .get(&sub.offer_id)
                .cloned()
                .ok_or_else(|| refused(format!("no offer {} is in the catalog", sub.offer_id)))?;
            invoice.lines.push(InvoiceLineRow {
                customer_id: invoice.customer_id.clone(),
                customer_name: invoice.customer_name.clone(),
                customer_country: invoice.customer_country.clone(),
                order_id: sub.order_id.clone(),
                parent_subscription_id: sub.parent.clone(),
                offer_id: sub.offer_id.clone(),
                offer_name,
                publisher_name,
                charge_type: raw.charge_type,
                start_date: raw.range.start,
                end_date: raw.range.end,
                billable_days: raw.billable_days,
                period_days: raw.period_days,
                unit_price: raw.unit_price,
                quantity: raw.quantity,
                amount: raw.amount,
                currency: sub.currency.clone(),
                billing_months: sub.billing_months,
                posted_on: raw.posted_on,
                subscription_id: raw.subscription_id,
            });
        }
        each(invoice)?;
    }
    Ok(())
}

/// A line before its invoice's names are known.
struct Raw {
    subscription_id: String,
    charge_type: String,
    range: DateRange,
    billable_days: i64,
    period_days: i64,
    unit_price: Decimal,
    quantity: Decimal,
    amount: Decimal,
    posted_on: NaiveDate,
    /// Lines already posted first (by line id), then the ones the nights would post, in the
    /// order they would post them: the tie-break invoice-lines.csv uses (the line id).
    order: (bool, i64),
}

impl Raw {
    fn new(line: ChargeLine, posted_on: NaiveDate, sequence: i64) -> Raw {
        Raw {
            subscription_id: line.subscription_id,
            charge_type: line.charge_type.as_str().to_string(),
            range: line.range,
            billable_days: i64::from(line.billable_days),
            period_days: i64::from(line.period_days),
            unit_price: line.unit_price,
            quantity: line.quantity,
            amount: line.amount,
            posted_on,
            order: (true, sequence),
        }
    }
}

/// Carries `family` from moment `from` through the start-of-day steps of `through`, as the
/// transition jobs would night after night, and returns each line with the date it would be
/// posted on. Days on which no transition can fall are skipped (`next_transition_after`).
pub fn carry(
    family: &mut Family,
    from: Moment,
    through: NaiveDate,
) -> Vec<(NaiveDate, ChargeLine)> {
    let mut made = Vec::new();
    let mut date = from.date;
    let mut first_step = from.step;
    while date <= through {
        for step in [
            Step::TrialConversions,
            Step::Renewals,
            Step::SuspensionExpiry,
        ] {
            if step >= first_step {
                made.extend(
                    family
                        .start_of_day(date, step)
                        .into_iter()
                        .map(|line| (date, line)),
                );
            }
        }
        first_step = Step::TrialConversions;
        match family.next_transition_after(date) {
            Some(next) => date = next,
            None => break,
        }
    }
    made
}

/// `preview --format csv`: invoice-lines.csv's header, then every previewed line, period by
/// period (one pass over the subscriptions per period, so each period's lines come out in
/// invoice order without holding them).
pub fn write_csv(
    out: &mut dyn Write,
    conn: &mut PgConnection,
    plan: &Plan,
    partner_id: &str,
    customer: Option<&str>,
) -> Result<usize> {
    let mut invoices = 0;
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(LINE_HEADER)
        .map_err(std::io::Error::from)?;
    let partner = cells::text(partner_id);
    for period in &plan.periods {
        let start = period.start;
        for_each_invoice(conn, plan, customer, &|s| s == start, &mut |invoice| {
            invoices += 1;
            for line in &invoice.lines {
                let row = line_cells(&partner, &values(line)).map_err(|why| {
                    Error::Other(format!(
                        "subscription {}: {why} cannot be written in an invoice file",
                        line.subscription_id
                    ))
                })?;
                csv.write_record(&row).map_err(std::io::Error::from)?;
            }
            Ok(())
        })?;
    }
    csv.flush()?;
    Ok(invoices)
}

/// `preview --format table`: per period, each invoice with its lines and total, then the
/// period's totals per currency. Returns how many invoices it showed.
pub fn write_table(
    out: &mut dyn Write,
    conn: &mut PgConnection,
    plan: &Plan,
    customer: Option<&str>,
) -> Result<usize> {
    let mut invoices = 0;
    writeln!(
        out,
        "Preview of the invoices of the periods ending on or before {}, if no further orders \
         arrive ({}).",
        plan.through,
        match plan.state {
            Some(at) => format!(
                "subscription state carried through {} ({})",
                at.date,
                crate::status::step_words(at.step)
            ),
            None => "nothing processed yet".into(),
        }
    )?;
    if plan.periods.is_empty() {
        writeln!(
            out,
            "\nNo invoice period ends on or before {} that is not emitted yet.",
            plan.through
        )?;
    }
    for period in &plan.periods {
        writeln!(out, "\nInvoice period {} .. {}", period.start, period.end)?;
        let start = period.start;
        let mut totals = PeriodTotals::default();
        for_each_invoice(conn, plan, customer, &|s| s == start, &mut |invoice| {
            writeln!(
                out,
                "\n  {} {} ({}): {} line(s)",
                invoice.customer_id,
                invoice.customer_name,
                invoice.customer_country,
                invoice.lines.len()
            )?;
            writeln!(
                out,
                "    {:<18} {:<34} {:<24} {:>6}   {:>10} {:>12}",
                "subscription", "charge type", "charged days", "qty", "unit price", "amount"
            )?;
            for line in &invoice.lines {
                writeln!(
                    out,
                    "    {:<18} {:<34} {} .. {} {:>6} x {:>10} {:>12} {}",
                    line.subscription_id,
                    line.charge_type,
                    line.start_date,
                    line.end_date,
                    cells::quantity(Some(line.quantity)),
                    cells::price(line.unit_price),
                    cells::amount(line.amount),
                    line.currency
                )?;
            }
            for (currency, total) in invoice.totals() {
                writeln!(out, "    total {} {currency}", cells::amount(total))?;
            }
            totals.add(&invoice);
            invoices += 1;
            Ok(())
        })?;
        writeln!(
            out,
            "\n  period {} .. {}: {}, {} line(s)",
            period.start,
            period.end,
            totals.describe(),
            totals.lines
        )?;
    }
    Ok(invoices)
}

/// What the invoices of each covered period would add up to, in one pass.
pub fn totals(
    conn: &mut PgConnection,
    plan: &Plan,
    customer: Option<&str>,
) -> Result<BTreeMap<NaiveDate, PeriodTotals>> {
    let mut out: BTreeMap<NaiveDate, PeriodTotals> = plan
        .periods
        .iter()
        .map(|p| (p.start, PeriodTotals::default()))
        .collect();
    for_each_invoice(conn, plan, customer, &|_| true, &mut |invoice| {
        out.entry(invoice.period.start).or_default().add(&invoice);
        Ok(())
    })?;
    Ok(out)
}
