//! Subscriptions: the row mapping and the queries that read and write the state cache.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use super::schema::subscriptions;
use crate::domain::subscription::{State, Subscription, Terms};
use crate::domain::vocabulary::{BillingFrequency, BillingType, Status};

/// A vocabulary column (billing type, status) decoded straight into its enum, without a
/// `String` per row: a rollover day reads a million rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Word<T: Vocabulary>(pub T);

/// The vocabularies a [`Word`] holds.
pub trait Vocabulary: Copy + std::fmt::Debug + std::str::FromStr + 'static {
    /// The column that holds it.
    const COLUMN: &'static str;
    fn text(self) -> &'static str;
}

impl Vocabulary for BillingType {
    const COLUMN: &'static str = "billing_type";
    fn text(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for Status {
    const COLUMN: &'static str = "status";
    fn text(self) -> &'static str {
        self.as_str()
    }
}

impl<T: Vocabulary> FromSql<Text, Pg> for Word<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(value.as_bytes())?;
        Ok(Word(stored(text, T::COLUMN)))
    }
}

impl<T: Vocabulary> ToSql<Text, Pg> for Word<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.0.text(), out)
    }
}

/// A subscriptions row (generated columns left out).
#[derive(Debug, Clone, Insertable, Queryable, QueryableByName, Selectable, AsChangeset)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
#[diesel(treat_none_as_default_value = false)]
pub struct SubscriptionRow {
    pub subscription_id: String,
    pub family_id: String,
    pub parent_subscription_id: Option<String>,
    pub customer_id: String,
    pub offer_id: String,
    pub order_id: String,
    pub order_line: i32,
    pub purchased_at: DateTime<Utc>,
    pub billing_type: Word<BillingType>,
    pub billing_months: i16,
    pub term_months: i16,
    pub unit_price: Decimal,
    pub currency: String,
    pub trial_days: i32,
    pub status: Word<Status>,
    pub in_trial: bool,
    pub quantity: Option<Decimal>,
    pub auto_renew: bool,
    pub cancel_at_term_end: bool,
    pub cancel_with_base: bool,
    pub trial_end_date: Option<NaiveDate>,
    pub paid_start: Option<NaiveDate>,
    pub anchor_date: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub suspended_with_base: bool,
    pub data_expires_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub usage_units: Decimal,
}

fn stored<T: std::str::FromStr>(value: &str, what: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("stored {what} '{value}' passed the schema's CHECK"))
}

impl From<SubscriptionRow> for Subscription {
    fn from(r: SubscriptionRow) -> Self {
        Subscription {
            terms: Terms {
                billing_type: r.billing_type.0,
                frequency: BillingFrequency::from_months(r.billing_months as u32)
                    .expect("billing_months is 1 or 12 by CHECK"),
                term_months: r.term_months as u32,
                unit_price: r.unit_price,
                currency: r.currency,
                trial_days: u32::try_from(r.trial_days).expect("trial days are never negative"),
            },
            state: State {
                status: r.status.0,
                in_trial: r.in_trial,
                quantity: r.quantity,
                auto_renew: r.auto_renew,
                cancel_at_term_end: r.cancel_at_term_end,
                cancel_with_base: r.cancel_with_base,
                trial_end: r.trial_end_date,
                paid_start: r.paid_start,
                anchor: r.anchor_date,
                suspended_on: r.suspended_on,
                suspended_with_base: r.suspended_with_base,
                data_expires_on: r.data_expires_on,
                ended_on: r.ended_on,
                usage_units: r.usage_units,
            },
            id: r.subscription_id,
            family_id: r.family_id,
            parent: r.parent_subscription_id,
            customer_id: r.customer_id,
            offer_id: r.offer_id,
            order_id: r.order_id,
            order_line: u32::try_from(r.order_line).expect("order lines are at least 1 by CHECK"),
            purchased_at: r.purchased_at,
        }
    }
}

/// Every subscription (or one customer's), ordered by id.
pub fn list(conn: &mut PgConnection, customer: Option<&str>) -> QueryResult<Vec<Subscription>> {
    let mut query = subscriptions::table
        .select(SubscriptionRow::as_select())
        .into_boxed();
    if let Some(customer) = customer {
        query = query.filter(subscriptions::customer_id.eq(customer.to_string()));
    }
    Ok(query
        .order(subscriptions::subscription_id)
        .load(conn)?
        .into_iter()
        .map(Subscription::from)
        .collect())
}
