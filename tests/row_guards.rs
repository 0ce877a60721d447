//! Row-level guards (SPEC section 9): no value an order row or a catalog file holds can panic,
//! overflow, reach a database limit or bill back to year 1. A row whose arithmetic cannot be
//! carried out is that row's reject; the rows beside it are applied and the night exits 0.

mod common;

use common::{PARTNER, TestEnv};

const HEADER: &str = common::ORDER_HEADER;

const OFFERS: &str = "\
offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url
SEAT4,Seat at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,,
CAPPED,Capped at 300,microsoft,Microsoft Corporation,license,monthly,12,22.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,300,
ANNUAL,Annual at 432,microsoft,Microsoft Corporation,license,annual,12,432.00,USD,enterprise,commercial,false,0,true,true,*,,false,,1,,
TRIAL,With a trial,microsoft,Microsoft Corporation,license,monthly,12,10.00,USD,enterprise,commercial,false,30,true,true,*,,false,,1,,
ADDON,Add-on at 5,microsoft,Microsoft Corporation,license,monthly,12,5.00,USD,enterprise,commercial,false,0,true,true,*,,true,SEAT4;CAPPED;ANNUAL;TRIAL,1,,
METER,Metered,microsoft,Microsoft Corporation,usage,monthly,1,0.0000160000,USD,enterprise,commercial,false,0,true,true,*,,false,,,,
";
const CUSTOMERS: &str = "\
customer_id,name,country,segment,currency,account_opened_on
C-1,First Customer,US,commercial,USD,2025-01-01
C-2,Second Customer,US,commercial,USD,2025-01-01
";

/// A test environment with the catalog above loaded through the CLI.
fn env() -> TestEnv {
    env_with("")
}

/// Same, with `intake` lines added to jobs.toml's `[intake]` section.
fn env_with(intake: &str) -> TestEnv {
    let env = TestEnv::new();
    if !intake.is_empty() {
        let path = env.config_path();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("[intake]\n", &format!("[intake]\n{intake}\n"));
        std::fs::write(&path, text).unwrap();
    }
    for (command, name, content) in [
        ("load-catalog", "offers.csv", OFFERS),
        ("load-customers", "customers.csv", CUSTOMERS),
    ] {
        let path = env.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (code, _, err) = env.run(&[command, path.to_str().unwrap()]);
        assert_eq!(code, 0, "{command}: {err}");
    }
    env
}

/// An order file of `rows` (`{P}` stands for the partner id).
fn order_file(rows: &[String]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    text
}

fn purchase(order: &str, time: &str, offer: &str, quantity: &str) -> String {
    format!("{order},1,{time},purchase,C-1,admin_agent,{{P}},{offer},{quantity},,,,")
}

fn code_of(rejects: &[(String, String, String)], order: &str) -> Option<String> {
    rejects
        .iter()
        .find(|(o, _, _)| o == order)
        .map(|(_, code, _)| code.clone())
}

fn subscription_exists(env: &TestEnv, id: &str) -> bool {
    env.count(&format!(
        "SELECT count(*) AS n FROM subscriptions WHERE subscription_id = '{id}'"
    )) == 1
}

// --------------------------------------------------------------------------- arithmetic

#[test]
fn a_purchase_of_10_to_the_27_seats_is_rejected_and_the_good_row_beside_it_applied() {
    // Issue 13, case 1: this used to panic in money::prorate (exit 101) on every re-run.
    let env = env();
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase(
                "BAD",
                "2026-03-01T10:00:00Z",
                "SEAT4",
                "1000000000000000000000000000",
            ),
            purchase("GOOD", "2026-03-01T11:00:00Z", "SEAT4", "2"),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-03-01");
    assert_eq!(
        code_of(&rejects, "BAD").as_deref(),
        Some("invalid_quantity")
    );
    assert!(subscription_exists(&env, "GOOD-1"));
    assert!(!subscription_exists(&env, "BAD-1"));
    // The next night runs normally.
    let (code, err) = env.nightly_at("2026-03-02");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn seats_above_the_offer_maximum_or_ten_million_are_invalid_quantity() {
    let env = env();
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase("MAXOK", "2026-03-01T10:00:00Z", "SEAT4", "10000000"),
            purchase("MAXBAD", "2026-03-01T10:00:00Z", "SEAT4", "10000001"),
            purchase("CAPOK", "2026-03-01T10:00:00Z", "CAPPED", "300"),
            purchase("CAPBAD", "2026-03-01T10:00:00Z", "CAPPED", "301"),
            "CHG,1,2026-03-01T12:00:00Z,change_quantity,C-1,admin_agent,{P},,10000001,MAXOK-1,,,"
                .to_string(),
            "CHG,2,2026-03-01T12:00:00Z,change_quantity,C-1,admin_agent,{P},,301,CAPOK-1,,,"
                .to_string(),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-03-01");
    let codes: Vec<(&str, &str)> = rejects
        .iter()
        .map(|(o, c, _)| (o.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("MAXBAD", "invalid_quantity"),
            ("CAPBAD", "invalid_quantity"),
            ("CHG", "invalid_quantity"),
            ("CHG", "invalid_quantity"),
        ]
    );
    assert!(rejects[0].2.contains("from 1 to 10000000"), "{rejects:?}");
    assert!(rejects[1].2.contains("from 1 to 300"), "{rejects:?}");
    assert!(subscription_exists(&env, "MAXOK-1"));
    assert!(subscription_exists(&env, "CAPOK-1"));
}

#[test]
fn usage_above_a_trillion_units_or_with_more_than_ten_decimals_is_invalid_quantity() {
    let env = env();
    let usage = |line: u32, quantity: &str| {
        format!("U,{line},2026-03-02T10:00:00Z,usage,C-1,admin_agent,{{P}},,{quantity},M-1,,,")
    };
    env.drop_file(
        "orders.csv",
        order_file(&[
            "M,1,2026-03-01T10:00:00Z,purchase,C-1,admin_agent,{P},METER,,,,,".to_string(),
            usage(1, "1000000000000"),
            usage(2, "1000000000000.0000000001"),
            usage(3, "0.0000000001"),
            usage(4, "0.00000000001"),
            usage(5, "2.50000000000000"),
        ]),
    );
    for date in ["2026-03-01", "2026-03-02"] {
        let (code, err) = env.nightly_at(date);
        assert_eq!(code, 0, "{err}");
    }
    let rejects = env.rejects_of("2026-03-02");
    let lines: Vec<&str> = rejects.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(
        lines,
        ["invalid_quantity", "invalid_quantity"],
        "{rejects:?}"
    );
    assert!(rejects[0].2.contains("above 1000000000000"), "{rejects:?}");
    assert!(
        rejects[1].2.contains("more than 10 decimal places"),
        "{rejects:?}"
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM applied_events"),
        4,
        "the purchase and three usage rows (trailing zeros are not decimal places)"
    );
}

#[test]
fn usage_whose_total_charge_would_exceed_the_limit_is_rejected_and_the_rest_billed() {
    // A trillion units at 0.000016 is 16,000,000: fine. But a subscription whose units add up
    // past what one line may hold rejects the row that would cross it, not the night.
    let env = env();
    let offers = OFFERS.replace(
        "METER,Metered,microsoft,Microsoft Corporation,usage,monthly,1,0.0000160000",
        "METER,Metered,microsoft,Microsoft Corporation,usage,monthly,1,400",
    );
    let path = env.dir.path().join("offers2.csv");
    std::fs::write(&path, offers).unwrap();
    assert_eq!(env.run(&["load-catalog", path.to_str().unwrap()]).0, 0);
    let mut rows =
        vec!["M,1,2026-03-01T10:00:00Z,purchase,C-1,admin_agent,{P},METER,,,,,".to_string()];
    // 400 × 10^12 = 4 × 10^14 per row: the third row would reach 1.2 × 10^15.
    for line in 1..=3 {
        rows.push(format!(
            "U,{line},2026-03-02T10:00:0{line}Z,usage,C-1,admin_agent,{{P}},,1000000000000,M-1,,,"
        ));
    }
    env.drop_file("orders.csv", order_file(&rows));
    for date in ["2026-03-01", "2026-03-02", "2026-03-31", "2026-04-01"] {
        let (code, err) = env.nightly_at(date);
        assert_eq!(code, 0, "{date}: {err}");
    }
    let rejects = env.rejects_of("2026-03-02");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].1, "invalid_quantity");
    assert!(
        rejects[0].2.contains("cannot be computed exactly"),
        "{rejects:?}"
    );
    // The period's usage is billed on the rollover: 2 × 10^12 units × 400.
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM charge_lines WHERE amount = 800000000000000 \
             AND charge_type = 'Assess usage fee for current cycle'"
        ),
        1
    );
}

// --------------------------------------------------------------------------- dates

#[test]
fn a_purchase_dated_year_1_is_event_out_of_range_naming_both_dates() {
    // Issue 13, case 3: it used to bill every month back to year 1.
    let env = env();
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase("ANCIENT", "0001-01-01T00:00:00Z", "SEAT4", "1"),
            purchase("GOOD", "2026-03-01T11:00:00Z", "SEAT4", "1"),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-03-01");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let (order, code, message) = &rejects[0];
    assert_eq!(
        (order.as_str(), code.as_str()),
        ("ANCIENT", "event_out_of_range")
    );
    assert!(message.contains("0001-01-01"), "{message}");
    assert!(message.contains("2026-03-01"), "{message}");
    assert!(message.contains("max_late_days"), "{message}");
    assert_eq!(env.count("SELECT count(*) AS n FROM charge_lines"), 1);
}

#[test]
fn max_late_days_is_the_last_day_still_applied() {
    let env = env_with("max_late_days = 10");
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase("TEN", "2026-02-19T23:59:59Z", "SEAT4", "1"),
            purchase("ELEVEN", "2026-02-18T23:59:59Z", "SEAT4", "1"),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-03-01");
    assert_eq!(
        code_of(&rejects, "ELEVEN").as_deref(),
        Some("event_out_of_range")
    );
    assert!(rejects[0].2.contains("more than 10 days"), "{rejects:?}");
    assert_eq!(code_of(&rejects, "TEN"), None);
    assert!(subscription_exists(&env, "TEN-1"));
}

#[test]
fn out_of_range_comes_before_any_rule() {
    // An unknown customer, an unknown offer and a bad role: the date is what is wrong first.
    let env = env();
    env.drop_file(
        "orders.csv",
        order_file(&[
            "OLD,1,2020-01-01T00:00:00Z,purchase,C-404,nobody,{P},NOPE,1,,,,".to_string(),
            "OLD,2,2020-01-01T00:00:00Z,suspend,C-1,nobody,{P},,,X-1,,,fraud".to_string(),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let codes: Vec<String> = env
        .rejects_of("2026-03-01")
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(codes, ["event_out_of_range", "event_out_of_range"]);
}

#[test]
fn backfill_and_nightly_reject_old_rows_on_the_same_day_with_the_same_report() {
    let rows = [
        purchase("OLD", "2024-06-01T00:00:00Z", "SEAT4", "1"),
        purchase("OK", "2026-03-02T10:00:00Z", "SEAT4", "1"),
        purchase("LATER", "2026-03-03T10:00:00Z", "SEAT4", "1"),
    ];
    let by_night = env();
    by_night.drop_file("orders.csv", order_file(&rows));
    for date in ["2026-03-01", "2026-03-02", "2026-03-03"] {
        assert_eq!(by_night.nightly_at(date).0, 0);
    }
    let by_backfill = env();
    by_backfill.drop_file("orders.csv", order_file(&rows));
    let (code, _, err) =
        by_backfill.run(&["backfill", "--from", "2026-03-01", "--to", "2026-03-03"]);
    assert_eq!(code, 0, "{err}");
    for date in ["2026-03-01", "2026-03-02", "2026-03-03"] {
        let report = |env: &TestEnv| {
            std::fs::read(
                env.config
                    .reports_dir(date.parse().unwrap())
                    .join("rejects.csv"),
            )
            .unwrap()
        };
        assert_eq!(report(&by_night), report(&by_backfill), "{date}");
    }
    assert_eq!(
        code_of(&by_night.rejects_of("2026-03-01"), "OLD").as_deref(),
        Some("event_out_of_range")
    );
}

#[test]
fn rows_at_the_ends_of_the_calendar_never_panic() {
    let env = env();
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase("Y0", "0000-01-01T00:00:00+23:59", "SEAT4", "1"),
            purchase("Y1", "0001-01-01T00:00:00Z", "TRIAL", "1"),
            purchase("Y9999", "9999-12-31T23:59:59-23:59", "ANNUAL", "1"),
            purchase("GOOD", "2026-03-01T10:00:00Z", "ANNUAL", "1"),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-03-01");
    assert_eq!(
        code_of(&rejects, "Y0").as_deref(),
        Some("event_out_of_range")
    );
    assert_eq!(
        code_of(&rejects, "Y1").as_deref(),
        Some("event_out_of_range")
    );
    assert_eq!(code_of(&rejects, "Y9999"), None, "it waits for its own day");
    assert!(subscription_exists(&env, "GOOD-1"));

    // The year-10000 row waits; status shows the day it waits for.
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the latest for +10000-01-01"), "{out}");
}

#[test]
fn status_shows_the_latest_day_a_waiting_row_is_for() {
    let env = env();
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase("NOW", "2026-03-01T10:00:00Z", "SEAT4", "1"),
            purchase("TYPO", "2062-03-01T10:00:00Z", "SEAT4", "1"),
            purchase("SOON", "2026-03-05T10:00:00Z", "SEAT4", "1"),
        ]),
    );
    assert_eq!(env.nightly_at("2026-03-01").0, 0);
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "2 staged order event(s) not applied yet, dated 2026-03-05..2062-03-01: after \
             2026-03-01, they wait for their own day, the latest for 2062-03-01"
        ),
        "{out}"
    );
}

// --------------------------------------------------------------------------- identifiers

#[test]
fn an_order_id_of_3000_characters_is_a_malformed_row_and_its_neighbours_apply() {
    // Issue 13, case 2: it used to fail the whole ingest on the btree index's size limit.
    let env = env();
    let long = "X".repeat(3000);
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase(&long, "2026-03-01T10:00:00Z", "SEAT4", "1"),
            purchase("GOOD", "2026-03-01T11:00:00Z", "SEAT4", "1"),
            "CTRL,1,2026-03-01T10:00:00Z,purchase,C-1,admin_agent,{P},SE\u{1b}AT4,1,,,,"
                .to_string(),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-03-01");
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    let long_row = rejects.iter().find(|r| r.0 == long).unwrap();
    assert_eq!(long_row.1, "malformed_row");
    assert!(
        long_row.2.contains("order_id") && long_row.2.contains("at most 80"),
        "{long_row:?}"
    );
    let ctrl = rejects.iter().find(|r| r.0 == "CTRL").unwrap();
    assert_eq!(ctrl.1, "malformed_row");
    assert!(
        ctrl.2.contains("offer_id") && ctrl.2.contains("U+001B"),
        "{ctrl:?}"
    );
    assert!(subscription_exists(&env, "GOOD-1"));
}

// --------------------------------------------------------------------------- catalog

#[test]
fn a_catalog_value_over_500_characters_fails_the_file_naming_line_and_column() {
    let env = TestEnv::new();
    let long = "N".repeat(501);
    let offers = format!(
        "{}\nLONG,{long},microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,,\n",
        OFFERS.trim_end()
    );
    let path = env.dir.path().join("offers.csv");
    std::fs::write(&path, offers).unwrap();
    let (code, _, err) = env.run(&["load-catalog", path.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("line 8"), "{err}");
    assert!(err.contains("name"), "{err}");
    assert!(err.contains("501 characters"), "{err}");

    let customers = format!(
        "{}\nC-3,{long},US,commercial,USD,2025-01-01\n",
        CUSTOMERS.trim_end()
    );
    std::fs::write(&path, customers).unwrap();
    let (code, _, err) = env.run(&["load-customers", path.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("line 4") && err.contains("name"), "{err}");

    // 500 characters (not bytes: ü is two bytes) are fine.
    let fine = "ü".repeat(500);
    std::fs::write(
        &path,
        format!(
            "{}\nC-3,{fine},US,commercial,USD,2025-01-01\n",
            CUSTOMERS.trim_end()
        ),
    )
    .unwrap();
    let (code, _, err) = env.run(&["load-customers", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn catalog_values_that_could_break_date_or_price_arithmetic_fail_the_file() {
    let env = TestEnv::new();
    let path = env.dir.path().join("offers.csv");
    for (row, column) in [
        (
            "T,Long trial,microsoft,M,license,monthly,1,4.00,USD,small_business,commercial,false,3651,true,true,*,,false,,1,,",
            "trial_days",
        ),
        (
            "P,Fine price,microsoft,M,license,monthly,1,0.12345678901234567890123456789,USD,small_business,commercial,false,0,true,true,*,,false,,1,,",
            "unit_price",
        ),
        (
            "P,Huge price,microsoft,M,license,monthly,1,99999999999999999999999999999999,USD,small_business,commercial,false,0,true,true,*,,false,,1,,",
            "unit_price",
        ),
    ] {
        let header = OFFERS.lines().next().unwrap();
        std::fs::write(&path, format!("{header}\n{row}\n")).unwrap();
        let (code, _, err) = env.run(&["load-catalog", path.to_str().unwrap()]);
        assert_eq!(code, 65, "{row}: {err}");
        assert!(err.contains("line 2") && err.contains(column), "{err}");
    }
}

#[test]
fn a_price_so_high_that_no_seat_computes_rejects_the_purchase_not_the_night() {
    let env = env();
    let offers = format!(
        "{}\nDEAR,Dear,microsoft,M,license,annual,12,79228162514264337593543950335,USD,enterprise,commercial,false,0,true,true,*,,false,,1,,\n",
        OFFERS.trim_end()
    );
    let path = env.dir.path().join("offers2.csv");
    std::fs::write(&path, offers).unwrap();
    assert_eq!(env.run(&["load-catalog", path.to_str().unwrap()]).0, 0);
    env.drop_file(
        "orders.csv",
        order_file(&[
            purchase("DEAR", "2026-03-01T10:00:00Z", "DEAR", "1"),
            purchase("GOOD", "2026-03-01T10:00:00Z", "SEAT4", "1"),
        ]),
    );
    let (code, err) = env.nightly_at("2026-03-01");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        code_of(&env.rejects_of("2026-03-01"), "DEAR").as_deref(),
        Some("invalid_quantity")
    );
    assert!(subscription_exists(&env, "GOOD-1"));
}

// --------------------------------------------------------------------------- generative

/// Any values in any column, through intake and apply-orders on a real database: the night
/// never panics and ends 0 or 65, and every row ends applied or rejected.
#[test]
fn rows_of_arbitrary_values_end_applied_or_rejected_and_the_night_goes_on() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let env = env();
    // Text with control characters (NUL aside: the database cannot hold it in any text, which
    // is the file-level guard's business), non-ASCII and lengths up to 3,000.
    let text = prop_oneof![
        "[A-Z0-9-]{1,12}",
        "[\\x01-\\x1f\\x7f\\u{85}a-zé€😀 ,;\"]{0,40}",
        (1usize..3000).prop_map(|n| "Ø".repeat(n)),
    ];
    let pick = |values: &[&str]| {
        prop::sample::select(values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
    };
    let order_id = prop_oneof![4 => pick(&["O-1", "O-2", "O-3", "O-4"]), 1 => text.clone()];
    let line = prop_oneof![4 => pick(&["1", "2", "3"]), 1 => pick(&["0", "-1", "4294967296", "x", "1.5", ""])];
    let time = prop_oneof![
        4 => (0i64..45, 0u32..86_400).prop_map(|(d, s)| {
            let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap().and_hms_opt(0, 0, 0).unwrap()
                + chrono::Duration::days(d) + chrono::Duration::seconds(i64::from(s));
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        }),
        1 => pick(&[
            "0001-01-01T00:00:00Z", "0000-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
            "9999-12-31T23:59:59Z", "2024-02-29T12:00:00+01:00", "2026-02-31T00:00:00Z", "yesterday",
        ]),
    ];
    let action = prop_oneof![
        8 => pick(&["purchase", "change_quantity", "suspend", "reactivate", "cancel", "set_auto_renew", "usage"]),
        1 => text.clone(),
    ];
    let customer = prop_oneof![4 => pick(&["C-1", "C-2"]), 1 => text.clone()];
    let role = prop_oneof![6 => pick(&["admin_agent", "billing_admin", "global_admin", "helpdesk_agent", "sales_agent"]), 1 => text.clone()];
    let partner = prop_oneof![9 => Just(PARTNER.to_string()), 1 => text.clone()];
    let offer = prop_oneof![6 => pick(&["SEAT4", "CAPPED", "ANNUAL", "TRIAL", "ADDON", "METER", ""]), 1 => text.clone()];
    let quantity = prop_oneof![
        4 => pick(&["1", "2", "3", "300", ""]),
        2 => pick(&[
            "1000000000000000000000000000", "79228162514264337593543950335",
            "99999999999999999999999999999999", "0.00000000001", "0.0000000000000000000000000001",
            "1000000000000", "1000000000000.1", "10000000", "10000001", "0", "-1", "1e5", "1,5", ".",
        ]),
        1 => (0u64..u64::MAX, 0u32..20).prop_map(|(n, scale)| {
            rust_decimal::Decimal::from_i128_with_scale(i128::from(n), scale.min(28)).to_string()
        }),
    ];
    let subscription = prop_oneof![
        4 => pick(&["O-1-1", "O-1-2", "O-2-1", "O-3-1", "O-4-2", ""]),
        1 => text.clone(),
    ];
    let flag = pick(&["true", "false", "TRUE", "", "maybe"]);
    let reason = pick(&["customer_request", "nonpayment", "fraud", "", "boredom"]);
    let row = (
        (order_id, line, time, action, customer, role, partner),
        (
            offer,
            quantity,
            subscription.clone(),
            subscription,
            flag,
            reason,
        ),
    );
    let rows = prop::collection::vec(row, 1..40);

    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0i64);
    runner
        .run(&rows, |rows| {
            case.set(case.get() + 1);
            let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
                + chrono::Duration::days(case.get());
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(HEADER.split(',')).unwrap();
            for ((a, b, c, d, e, f, g), (h, i, j, k, l, m)) in &rows {
                out.write_record([a, b, c, d, e, f, g, h, i, j, k, l, m])
                    .unwrap();
            }
            let name = format!("gen-{}.csv", case.get());
            env.drop_file(&name, out.into_inner().unwrap());
            let (code, err) = env.nightly_at(&date.to_string());
            prop_assert!(code == 0 || code == 65, "exit {code}: {err}");
            prop_assert!(!err.contains("panicked"), "{err}");
            if code == 0 {
                // Every row of the file was staged or rejected at intake.
                let received = env.count(&format!(
                    "SELECT COALESCE(sum(rows_staged + rows_rejected), 0)::bigint AS n \
                         FROM inbox_files WHERE file_name = '{name}' AND outcome = 'ingested'"
                ));
                prop_assert_eq!(received, rows.len() as i64);
            }
            // Every staged row dated up to the day is applied or rejected.
            let left = env.count(&format!(
                "SELECT count(*) AS n FROM staged_events s WHERE s.event_date <= '{date}' \
                     AND NOT EXISTS (SELECT 1 FROM applied_events a WHERE a.event_id = s.event_id) \
                     AND NOT EXISTS (SELECT 1 FROM rejected_rows r WHERE r.event_id = s.event_id)"
            ));
            prop_assert_eq!(left, 0);
            Ok(())
        })
        .unwrap();
}
