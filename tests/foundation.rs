//! The walking skeleton: migrations, catalog and customer loading, the subscriptions export.

mod common;

use common::TestEnv;
use diesel::prelude::*;
use subsweep::intake::catalog;
use subsweep::store;

#[test]
fn each_test_gets_a_fresh_migrated_database() {
    let env = TestEnv::new();
    let mut conn = env.conn();
    assert_eq!(
        store::migrate(&mut conn).unwrap(),
        0,
        "the template is already migrated"
    );
    let offers: i64 = store::schema::offers::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(offers, 0);
}

#[test]
fn the_catalog_loads_and_reloading_updates_by_offer_id() {
    let env = TestEnv::new();
    let path = env.dir.path().join("offers.csv");
    let header = "offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url";
    std::fs::write(
        &path,
        format!("{header}\nM365-BP,Business Premium,microsoft,Microsoft,license,monthly,12,22.00,USD,small_business,commercial;nonprofit,false,0,true,true,*,,false,,1,300,\n"),
    )
    .unwrap();
    let mut conn = env.conn();
    store::catalog::upsert_offers(&mut conn, &catalog::read_offers(&path).unwrap()).unwrap();
    std::fs::write(
        &path,
        format!("{header}\nM365-BP,Business Premium,microsoft,Microsoft,license,monthly,12,23.50,USD,small_business,commercial,false,0,true,true,US;NL,,false,,1,300,\n"),
    )
    .unwrap();
    store::catalog::upsert_offers(&mut conn, &catalog::read_offers(&path).unwrap()).unwrap();
    let offers = store::catalog::load_offers(&mut conn).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].unit_price, rust_decimal_macros::dec!(23.50));
    assert_eq!(
        offers[0].countries,
        Some(vec!["US".to_string(), "NL".to_string()])
    );
}

#[test]
fn a_bad_catalog_row_names_its_line_and_column() {
    let env = TestEnv::new();
    let path = env.dir.path().join("offers.csv");
    std::fs::write(
        &path,
        "offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries\n\
         X,Thing,microsoft,Microsoft,license,monthly,12,abc,USD,enterprise,commercial,false,0,true,true,*\n\
         Y,Other,microsoft,Microsoft,license,annual,1,1.00,USD,enterprise,commercial,false,0,true,true,*\n",
    )
    .unwrap();
    let problems: Vec<String> = catalog::read_offers(&path)
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].ends_with("line 2 column unit_price: 'abc' is not a decimal price (Invalid decimal: unknown character)"), "{}", problems[0]);
    assert!(problems[1].contains("line 3"), "{}", problems[1]);
    assert!(
        problems[1].contains("a billing period never exceeds the term"),
        "{}",
        problems[1]
    );
}
