//! Offers and customers: upserted from their files, loaded for the rules.

use std::collections::HashMap;

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::schema::{customers, offers};
use crate::domain::catalog::{Customer, Offer};

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = offers, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
struct OfferRow {
    offer_id: String,
    name: String,
    publisher: String,
    publisher_name: String,
    billing_type: String,
    billing_frequency: String,
    term_months: i32,
    unit_price: Decimal,
    currency: String,
    category: String,
    segments: Vec<String>,
    one_per_customer: bool,
    trial_days: i32,
    csp_available: bool,
    transactable: bool,
    countries: Vec<String>,
    exclusive_partners: Vec<String>,
    is_addon: bool,
    base_offers: Vec<String>,
    min_quantity: Option<i32>,
    max_quantity: Option<i32>,
    publisher_setup_url: Option<String>,
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).expect("catalog numbers are small")
}

impl From<&Offer> for OfferRow {
    fn from(o: &Offer) -> Self {
        OfferRow {
            offer_id: o.offer_id.clone(),
            name: o.name.clone(),
            publisher: o.publisher.to_string(),
            publisher_name: o.publisher_name.clone(),
            billing_type: o.billing_type.to_string(),
            billing_frequency: o.billing_frequency.to_string(),
            term_months: to_i32(o.term_months),
            unit_price: o.unit_price,
            currency: o.currency.clone(),
            category: o.category.to_string(),
            segments: o.segments.iter().map(|s| s.to_string()).collect(),
            one_per_customer: o.one_per_customer,
            trial_days: to_i32(o.trial_days),
            csp_available: o.csp_available,
            transactable: o.transactable,
            countries: o.countries.clone().unwrap_or_else(|| vec!["*".to_string()]),
            exclusive_partners: o.exclusive_partners.clone(),
            is_addon: o.is_addon,
            base_offers: o.base_offers.clone(),
            min_quantity: Some(to_i32(o.min_quantity)),
            max_quantity: o.max_quantity.map(to_i32),
            publisher_setup_url: o.publisher_setup_url.clone(),
        }
    }
}

/// A stored value outside its vocabulary: the schema's CHECK constraints make this a bug.
fn stored<T: std::str::FromStr>(value: &str, what: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("stored {what} '{value}' passed the schema's CHECK"))
}

impl From<OfferRow> for Offer {
    fn from(r: OfferRow) -> Self {
        Offer {
            publisher: stored(&r.publisher, "publisher"),
            billing_type: stored(&r.billing_type, "billing_type"),
            billing_frequency: stored(&r.billing_frequency, "billing_frequency"),
            term_months: r.term_months as u32,
            category: stored(&r.category, "category"),
            segments: r.segments.iter().map(|s| stored(s, "segment")).collect(),
            trial_days: r.trial_days as u32,
            countries: if r.countries.iter().any(|c| c == "*") {
                None
            } else {
                Some(r.countries)
            },
            min_quantity: r.min_quantity.unwrap_or(1) as u32,
            max_quantity: r.max_quantity.map(|m| m as u32),
            offer_id: r.offer_id,
            name: r.name,
            publisher_name: r.publisher_name,
            unit_price: r.unit_price,
            currency: r.currency,
            one_per_customer: r.one_per_customer,
            csp_available: r.csp_available,
            transactable: r.transactable,
            exclusive_partners: r.exclusive_partners,
            is_addon: r.is_addon,
            base_offers: r.base_offers,
            publisher_setup_url: r.publisher_setup_url,
        }
    }
}

/// A customer's row as stored (its segment as text).
#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct CustomerRow {
    customer_id: String,
    name: String,
    country: String,
    segment: String,
    currency: String,
    account_opened_on: chrono::NaiveDate,
}

/// Inserts or updates offers by offer_id; returns how many rows were written.
pub fn upsert_offers(conn: &mut PgConnection, list: &[Offer]) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let mut written = 0;
        for offer in list {
            let row = OfferRow::from(offer);
            written += diesel::insert_into(offers::table)
                .values(&row)
                .on_conflict(offers::offer_id)
                .do_update()
                .set(&row)
                .execute(conn)?;
        }
        Ok(written)
    })
}

/// Customers upserted by one statement: 1,000 rows of six parameters.
const CUSTOMERS_PER_STATEMENT: usize = 1_000;

/// Inserts or updates customers by customer_id, in one transaction; returns how many rows
/// were written. When the list names a customer twice, its last row wins (as if the rows were
/// written one by one; one statement cannot update a row twice). Multi-row upserts: one
/// statement a row took `load-customers` of 100,000 customers 9.8 s.
pub fn upsert_customers(conn: &mut PgConnection, list: &[Customer]) -> QueryResult<usize> {
    use diesel::upsert::excluded;
    let last: HashMap<&str, usize> = list
        .iter()
        .enumerate()
        .map(|(i, c)| (c.customer_id.as_str(), i))
        .collect();
    let rows: Vec<CustomerRow> = list
        .iter()
        .enumerate()
        .filter(|(i, c)| last[c.customer_id.as_str()] == *i)
        .map(|(_, c)| CustomerRow {
            customer_id: c.customer_id.clone(),
            name: c.name.clone(),
            country: c.country.clone(),
            segment: c.segment.to_string(),
            currency: c.currency.clone(),
            account_opened_on: c.account_opened_on,
        })
        .collect();
    conn.transaction(|conn| {
        let mut written = 0;
        for chunk in rows.chunks(CUSTOMERS_PER_STATEMENT) {
            written += diesel::insert_into(customers::table)
                .values(chunk)
                .on_conflict(customers::customer_id)
                .do_update()
                .set((
                    customers::name.eq(excluded(customers::name)),
                    customers::country.eq(excluded(customers::country)),
                    customers::segment.eq(excluded(customers::segment)),
                    customers::currency.eq(excluded(customers::currency)),
                    customers::account_opened_on.eq(excluded(customers::account_opened_on)),
                ))
                .execute(conn)?;
        }
        Ok(written)
    })
}

/// The whole catalog.
pub fn load_offers(conn: &mut PgConnection) -> QueryResult<Vec<Offer>> {
    Ok(offers::table
        .select(OfferRow::as_select())
        .order(offers::offer_id)
        .load(conn)?
        .into_iter()
        .map(Offer::from)
        .collect())
}

/// The customers with the given ids (unknown ids are simply absent).
pub fn load_customers(conn: &mut PgConnection, ids: &[String]) -> QueryResult<Vec<Customer>> {
    Ok(customers::table
        .filter(customers::customer_id.eq_any(ids))
        .select(CustomerRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Customer::from)
        .collect())
}

/// The SQL type of an optional [`CustomerRow`] read by position (its columns in field order,
/// all null for none: a left join's).
pub type CustomerSql =
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<Option<CustomerRow>, diesel::pg::Pg>>;

impl CustomerRow {
    pub fn id(&self) -> &str {
        &self.customer_id
    }
}

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Customer {
        Customer {
            segment: stored(&r.segment, "segment"),
            customer_id: r.customer_id,
            name: r.name,
            country: r.country,
            currency: r.currency,
            account_opened_on: r.account_opened_on,
        }
    }
}
