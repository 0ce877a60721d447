//! Typed fixture builders: order rows rendered from `domain::order::COLUMNS`, and catalog,
//! subscription, charge-line, inbox-file, staged-event and reject rows inserted through the
//! library's own store functions and row types (never positional SQL).
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use diesel::prelude::*;
use rust_decimal::Decimal;
use subsweep::domain::catalog::{Customer, Offer};
use subsweep::domain::order::{COLUMNS, OrderEvent, ParsedRow};
use subsweep::domain::reject::RejectCode;
use subsweep::domain::subscription::{State, Subscription, Terms};
use subsweep::domain::vocabulary::{Action, BillingFrequency, BillingType, Segment, Status};
use subsweep::store::charges::NewLine;
use subsweep::store::rejects::{NewReject, insert_rejects};
use subsweep::store::staged::StagedEvent;
use subsweep::store::{self, schema};

use super::PARTNER;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The header of an order file with every column, in the documented order.
pub fn order_header() -> String {
    COLUMNS.join(",")
}

/// One line of an order file, its values set by column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    values: [String; 13],
}

impl OrderRow {
    /// A row of `action` by an admin agent of the test partner, line 1, at
    /// 2026-03-01T10:00:00Z; set the rest by column.
    pub fn new(action: Action, order_id: &str, customer_id: &str) -> OrderRow {
        OrderRow {
            values: Default::default(),
        }
        .set("order_id", order_id)
        .set("line", 1)
        .set("event_time", "2026-03-01T10:00:00Z")
        .set("action", action)
        .set("customer_id", customer_id)
        .set("requested_by", "admin_agent")
        .set("partner_id", PARTNER)
    }

    /// A purchase of one seat of `offer_id`.
    pub fn purchase(order_id: &str, customer_id: &str, offer_id: &str) -> OrderRow {
        OrderRow::new(Action::Purchase, order_id, customer_id)
            .set("offer_id", offer_id)
            .set("quantity", 1)
    }

    /// `column` written as `value` (`""` leaves it empty).
    pub fn set(mut self, column: &str, value: impl ToString) -> OrderRow {
        let at = COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("{column} is not an order column"));
        self.values[at] = value.to_string();
        self
    }

    pub fn line(self, line: u32) -> OrderRow {
        self.set("line", line)
    }

    pub fn at(self, event_time: &str) -> OrderRow {
        self.set("event_time", event_time)
    }

    pub fn quantity(self, quantity: impl ToString) -> OrderRow {
        self.set("quantity", quantity)
    }

    pub fn subscription(self, subscription_id: &str) -> OrderRow {
        self.set("subscription_id", subscription_id)
    }

    /// The row as a CSV line (with its newline), fields quoted where CSV needs it.
    pub fn csv(&self) -> String {
        let fields: Vec<String> = self
            .values
            .iter()
            .map(|v| {
                if v.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v.clone()
                }
            })
            .collect();
        format!("{}\n", fields.join(","))
    }
}

/// An order file: the full header, then the rows.
pub fn order_file(rows: &[OrderRow]) -> String {
    let mut text = format!("{}\n", order_header());
    for row in rows {
        text.push_str(&row.csv());
    }
    text
}

/// A customer billed in USD in the United States, commercial, opened on 2025-01-01.
pub struct CustomerFixture(pub Customer);

impl CustomerFixture {
    pub fn new(id: &str, name: &str) -> CustomerFixture {
        CustomerFixture(Customer {
            customer_id: id.into(),
            name: name.into(),
            country: "US".into(),
            segment: Segment::Commercial,
            currency: "USD".into(),
            account_opened_on: d("2025-01-01"),
        })
    }

    /// Inserted through `store::catalog::upsert_customers`.
    pub fn insert(self, conn: &mut PgConnection) {
        store::catalog::upsert_customers(conn, &[self.0]).unwrap();
    }
}

/// A Microsoft enterprise license offer, monthly on a 12-month term at 10 USD, sold to
/// commercial customers everywhere.
pub struct OfferFixture(pub Offer);

impl OfferFixture {
    pub fn new(id: &str, name: &str, publisher_name: &str) -> OfferFixture {
        OfferFixture(Offer {
            name: name.into(),
            publisher_name: publisher_name.into(),
            unit_price: dec("10"),
            segments: vec![Segment::Commercial],
            ..Offer::plain(id)
        })
    }

    /// Inserted through `store::catalog::upsert_offers`.
    pub fn insert(self, conn: &mut PgConnection) {
        store::catalog::upsert_offers(conn, &[self.0]).unwrap();
    }
}

/// An active license subscription of one seat at 10 USD, bought and anchored on 2026-01-01,
/// on a 12-month term (line 1 of its order).
pub struct SubscriptionFixture(pub Subscription);

impl SubscriptionFixture {
    pub fn new(id: &str, customer: &str, offer: &str, order_id: &str) -> SubscriptionFixture {
        SubscriptionFixture(Subscription {
            id: id.into(),
            family_id: id.into(),
            parent: None,
            customer_id: customer.into(),
            offer_id: offer.into(),
            order_id: order_id.into(),
            order_line: 1,
            purchased_at: t("2026-01-01T00:00:00Z"),
            terms: Terms {
                billing_type: BillingType::License,
                frequency: BillingFrequency::Monthly,
                term_months: 12,
                unit_price: dec("10"),
                currency: "USD".into(),
                trial_days: 0,
            },
            state: State {
                status: Status::Active,
                in_trial: false,
                quantity: Some(dec("1")),
                auto_renew: true,
                cancel_at_term_end: false,
                cancel_with_base: false,
                trial_end: None,
                paid_start: Some(d("2026-01-01")),
                anchor: Some(d("2026-01-01")),
                suspended_on: None,
                suspended_with_base: false,
                data_expires_on: None,
                ended_on: None,
                usage_units: Decimal::ZERO,
            },
        })
    }

    /// An add-on of `base` (in its family).
    pub fn addon_of(mut self, base: &str) -> SubscriptionFixture {
        self.0.parent = Some(base.into());
        self.0.family_id = base.into();
        self
    }

    pub fn billed(mut self, frequency: BillingFrequency) -> SubscriptionFixture {
        self.0.terms.frequency = frequency;
        self
    }

    /// Inserted through `store::families::insert_new`.
    pub fn insert(self, conn: &mut PgConnection) {
        store::families::insert_new(conn, &[&self.0]).unwrap();
    }
}

/// A posted `Cycle fee` line of one subscription, on the invoice of the period starting on
/// `period`; every line gets a cause of its own (`test:<n>`), so none is a repost.
pub struct LineFixture(pub NewLine);

impl LineFixture {
    /// A line over `range` (inclusive) of a 31-day period, at `price` × `quantity` =
    /// `amount`, posted on `posted_on`.
    pub fn new(
        sub: &str,
        customer: &str,
        range: (&str, &str),
        (price, quantity, amount): (&str, &str, &str),
        posted_on: &str,
        period: &str,
    ) -> LineFixture {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CAUSE: AtomicUsize = AtomicUsize::new(1);
        let days = (d(range.1) - d(range.0)).num_days() as i32 + 1;
        LineFixture(NewLine {
            subscription_id: sub.into(),
            customer_id: customer.into(),
            charge_type: "Cycle fee".into(),
            start_date: d(range.0),
            end_date: d(range.1),
            billable_days: days,
            period_days: 31,
            unit_price: dec(price),
            quantity: dec(quantity),
            amount: dec(amount),
            posted_on: d(posted_on),
            cause: format!("test:{}", CAUSE.fetch_add(1, Ordering::SeqCst)),
            corrects_line_id: None,
            invoice_period_start: d(period),
        })
    }

    /// Inserted as the library's own row type (`store::charges::NewLine`); returns its
    /// line_id.
    pub fn insert(self, conn: &mut PgConnection) -> i64 {
        diesel::insert_into(schema::charge_lines::table)
            .values(&self.0)
            .returning(schema::charge_lines::line_id)
            .get_result(conn)
            .unwrap()
    }
}

/// An ingested file's record (through `store::staging::open_file`); returns its id.
pub fn inbox_file(conn: &mut PgConnection, name: &str, logical_date: &str) -> i64 {
    store::staging::open_file(conn, name, name, d(logical_date)).unwrap()
}

/// Stages `order` as line `source_line` of file `file_id`, as intake would; `raw` is what
/// staging keeps (`None`: the values were written plainly).
pub fn stage_event(
    conn: &mut PgConnection,
    file_id: i64,
    source_line: i32,
    order: &OrderEvent,
    raw: Option<Vec<String>>,
) {
    let parsed = ParsedRow {
        source_line: source_line as u64,
        raw: None,
        event: order.clone(),
    };
    let row = StagedEvent {
        raw,
        ..StagedEvent::new(file_id, parsed)
    };
    diesel::insert_into(schema::staged_events::table)
        .values(&row)
        .execute(conn)
        .unwrap();
}

/// A row intake rejected as `malformed_row` (no staged event behind it), recorded through
/// `store::rejects::insert_rejects`.
pub struct RejectFixture(pub NewReject);

impl RejectFixture {
    pub fn malformed(
        processed_on: &str,
        file_id: i64,
        source_line: i32,
        message: &str,
        raw: [&str; 13],
    ) -> RejectFixture {
        RejectFixture(NewReject {
            processed_on: d(processed_on),
            file_id,
            source_line,
            event_id: None,
            error_code: RejectCode::MalformedRow.as_str().into(),
            error_message: message.into(),
            raw: raw.map(str::to_string).to_vec(),
        })
    }

    pub fn insert(self, conn: &mut PgConnection) {
        insert_rejects(conn, &[self.0]).unwrap();
    }
}

/// The emission benchmark's books, set-based (a million rows one by one would take minutes):
/// 5,000 customers, 200,000 monthly subscriptions of offer `OF` (which must exist), and
/// 1,000,000 `Cycle fee` lines on the invoice of the period starting 2026-03-01, one in seven
/// a credit; then ANALYZE. Named columns; the only bulk SQL of the tests.
pub fn bulk_march_lines(conn: &mut PgConnection) {
    for sql in [
        "INSERT INTO customers (customer_id, name, country, segment, currency, \
         account_opened_on) \
         SELECT 'C' || lpad(c::text, 5, '0'), 'Customer ' || c, 'US', 'commercial', 'USD', \
         '2025-01-01' FROM generate_series(1, 5000) c",
        "INSERT INTO subscriptions (subscription_id, family_id, customer_id, offer_id, order_id, \
         order_line, purchased_at, billing_type, billing_months, term_months, unit_price, \
         currency, trial_days, status, in_trial, quantity, auto_renew, cancel_at_term_end, \
         cancel_with_base, paid_start, anchor_date, suspended_with_base) \
         SELECT 'S' || s, 'S' || s, 'C' || lpad((s % 5000 + 1)::text, 5, '0'), 'OF', 'O' || s, 1, \
         '2026-01-01T00:00:00Z', 'license', 1, 12, 10, 'USD', 0, 'active', false, 1, true, false, \
         false, '2026-01-01', '2026-01-01', false FROM generate_series(1, 200000) s",
        "INSERT INTO charge_lines (subscription_id, customer_id, charge_type, start_date, end_date, \
         billable_days, period_days, unit_price, quantity, amount, posted_on, cause, \
         invoice_period_start) \
         SELECT 'S' || (g % 200000 + 1), 'C' || lpad(((g % 200000 + 1) % 5000 + 1)::text, 5, '0'), \
         'Cycle fee', DATE '2026-03-01' + (g % 20), DATE '2026-03-31', 31 - (g % 20), 31, 10, \
         1 + g % 3, round((10 * (1 + g % 3) * (31 - (g % 20)) / 31.0)::numeric, 2) * \
         (CASE WHEN g % 7 = 0 THEN -1 ELSE 1 END), DATE '2026-03-01' + (g % 30), 'gen:' || g, \
         DATE '2026-03-01' FROM generate_series(1, 1000000) g",
        "ANALYZE",
    ] {
        diesel::sql_query(sql).execute(conn).unwrap();
    }
}
