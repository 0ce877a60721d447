//! `load-customers`' store side (`store::catalog::upsert_customers`): customers are written in
//! multi-row upserts, and the result is what writing them one by one gave: new ones inserted,
//! known ones updated in every column, and the last row of a customer named twice winning.

mod common;

use common::TestDb;
use common::fixtures::CustomerFixture;
use diesel::prelude::*;
use subsweep::domain::catalog::Customer;
use subsweep::domain::vocabulary::Segment;
use subsweep::store::catalog;

/// Every customer row, in id order, as PostgreSQL prints it.
fn rows(conn: &mut PgConnection) -> Vec<String> {
    common::table_rows(conn, "customers", "customer_id")
}

fn customer(i: usize, name: &str) -> Customer {
    CustomerFixture::new(&format!("C{i:05}"), name).0
}

#[test]
fn customers_load_in_batches_as_they_did_one_by_one() {
    let db = TestDb::new();
    let mut conn = db.conn();
    // Three statements' worth, the last one short.
    let first: Vec<Customer> = (0..2_500).map(|i| customer(i, "First")).collect();
    assert_eq!(catalog::upsert_customers(&mut conn, &first).unwrap(), 2_500);
    assert_eq!(rows(&mut conn).len(), 2_500);

    // A second load changes every column of the known ones, adds new ones, and names one
    // customer twice: its last row is the one kept.
    let mut second: Vec<Customer> = (1_000..3_000)
        .map(|i| Customer {
            name: "Second".into(),
            country: "DE".into(),
            segment: Segment::Education,
            currency: "EUR".into(),
            account_opened_on: "2026-02-01".parse().unwrap(),
            ..customer(i, "")
        })
        .collect();
    second.push(Customer {
        name: "Second, corrected".into(),
        ..second[0].clone()
    });
    assert_eq!(
        catalog::upsert_customers(&mut conn, &second).unwrap(),
        2_000
    );

    let all = rows(&mut conn);
    assert_eq!(all.len(), 3_000);
    assert_eq!(all[999], "(C00999,First,US,commercial,USD,2025-01-01)");
    assert_eq!(
        all[1_000],
        "(C01000,\"Second, corrected\",DE,education,EUR,2026-02-01)"
    );
    assert_eq!(all[2_999], "(C02999,Second,DE,education,EUR,2026-02-01)");
}
