//! SPEC.md's worked examples through the whole product as a user runs it: catalog and
//! customer files, order files in the inbox, a backfill, and the invoice files finance opens.

mod common;

use common::{PARTNER, TestEnv};

const OFFERS: &str = "\
offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url
SEAT4,Seat at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,,
BASE30,Suite at 30,microsoft,Microsoft Corporation,license,monthly,12,30.00,USD,enterprise,commercial,false,0,true,true,*,,false,,1,,
ADDON5,Add-on at 5,microsoft,Microsoft Corporation,license,monthly,12,5.00,USD,enterprise,commercial,false,0,true,true,*,,true,BASE30,1,,
";
const CUSTOMERS: &str = "\
customer_id,name,country,segment,currency,account_opened_on
C-1,First Customer,US,commercial,USD,2018-01-01
C-2,Second Customer,US,commercial,USD,2018-01-01
";

/// A test environment with this catalog and these customers loaded through the CLI.
fn with_catalog(offers: &str, customers: &str) -> TestEnv {
    let env = TestEnv::new();
    let offers_path = env.dir.path().join("offers.csv");
    let customers_path = env.dir.path().join("customers.csv");
    std::fs::write(&offers_path, offers).unwrap();
    std::fs::write(&customers_path, customers).unwrap();
    for (command, file) in [
        ("load-catalog", &offers_path),
        ("load-customers", &customers_path),
    ] {
        let (code, _, err) = env.run(&[command, file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    env
}

fn orders() -> String {
    let rows = [
        // Example 1: purchase 2018-01-13, seats 1 -> 2 on 2018-02-01.
        "E1,1,2018-01-13T10:00:00Z,purchase,C-1,admin_agent,{P},SEAT4,1,,,,",
        "E1,2,2018-02-01T10:00:00Z,change_quantity,C-1,admin_agent,{P},,2,E1-1,,,",
        // Examples 2 and 3: paid start 2018-06-01; add-on 2018-06-10; suspend 07-05, reactivate 07-15.
        "E3,1,2018-06-01T09:00:00Z,purchase,C-2,admin_agent,{P},BASE30,1,,,,",
        "E2,1,2018-06-10T09:00:00Z,purchase,C-2,admin_agent,{P},ADDON5,1,,E3-1,,",
        "E3,2,2018-07-05T09:00:00Z,suspend,C-2,admin_agent,{P},,,E3-1,,,nonpayment",
        "E3,3,2018-07-15T09:00:00Z,reactivate,C-2,admin_agent,{P},,,E3-1,,,",
    ];
    let mut text = "order_id,line,event_time,action,customer_id,requested_by,partner_id,offer_id,quantity,subscription_id,base_subscription_id,auto_renew,reason\n".to_string();
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    text
}

/// (SubscriptionId, ChargeType, ChargeStartDate, ChargeEndDate, Quantity, Amount) of a month.
fn lines(env: &TestEnv, month: &str) -> Vec<[String; 6]> {
    let path = env
        .config
        .output_dir
        .join(format!("invoices/{month}/invoice-lines.csv"));
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            [
                "SubscriptionId",
                "ChargeType",
                "ChargeStartDate",
                "ChargeEndDate",
                "Quantity",
                "Amount",
            ]
            .map(|c| r[at(c)].to_string())
        })
        .collect()
}

fn line(parts: [&str; 6]) -> [String; 6] {
    parts.map(str::to_string)
}

/// Asserts that a month's lines include this one.
fn has(lines: &[[String; 6]], parts: [&str; 6]) {
    assert!(lines.contains(&line(parts)), "{parts:?} not in {lines:?}");
}

#[test]
fn the_worked_examples_come_out_of_the_invoice_files_to_the_cent() {
    let env = with_catalog(OFFERS, CUSTOMERS);
    env.drop_file("orders.csv", orders());
    let (code, _, err) = env.run(&["backfill", "--from", "2018-01-13", "--to", "2018-07-31"]);
    assert_eq!(code, 0, "{err}");

    let january = lines(&env, "2018-01");
    assert_eq!(
        january,
        vec![line([
            "E1-1",
            "Prorate fees when purchase",
            "2018-01-13",
            "2018-02-12",
            "1",
            "4.00"
        ])]
    );
    let february = lines(&env, "2018-02");
    has(
        &february,
        [
            "E1-1",
            "Cycle instance prorate",
            "2018-02-01",
            "2018-02-12",
            "1",
            "-1.55",
        ],
    );
    has(
        &february,
        [
            "E1-1",
            "Cycle instance prorate",
            "2018-02-01",
            "2018-02-12",
            "2",
            "3.10",
        ],
    );

    let june = lines(&env, "2018-06");
    has(
        &june,
        [
            "E2-1",
            "Prorate fees when purchase",
            "2018-06-10",
            "2018-06-30",
            "1",
            "3.50",
        ],
    );
    has(
        &june,
        [
            "E3-1",
            "Prorate fees when purchase",
            "2018-06-01",
            "2018-06-30",
            "1",
            "30.00",
        ],
    );
    let july = lines(&env, "2018-07");
    has(
        &july,
        [
            "E3-1",
            "Cycle fee",
            "2018-07-01",
            "2018-07-31",
            "1",
            "30.00",
        ],
    );
    has(
        &july,
        [
            "E3-1",
            "Cancel fee",
            "2018-07-05",
            "2018-07-31",
            "1",
            "-26.13",
        ],
    );
    has(
        &july,
        [
            "E3-1",
            "Activation fee",
            "2018-07-15",
            "2018-07-31",
            "1",
            "16.45",
        ],
    );

    // Every month: each invoice's Total is the sum of its lines' amounts, to the cent.
    for month in ["2018-01", "2018-02", "2018-03", "2018-06", "2018-07"] {
        let dir = env.config.output_dir.join(format!("invoices/{month}"));
        let mut sums: std::collections::BTreeMap<String, rust_decimal::Decimal> =
            Default::default();
        let mut reader = csv::Reader::from_path(dir.join("invoice-lines.csv")).unwrap();
        for r in reader.records() {
            let r = r.unwrap();
            *sums.entry(r[4].to_string()).or_default() +=
                r[18].parse::<rust_decimal::Decimal>().unwrap();
        }
        let mut reader = csv::Reader::from_path(dir.join("invoices.csv")).unwrap();
        let mut invoices = 0;
        for r in reader.records() {
            let r = r.unwrap();
            let total: rust_decimal::Decimal = r[6].parse().unwrap();
            assert_eq!(Some(&total), sums.get(&r[0]), "{month} {}", &r[0]);
            invoices += 1;
        }
        assert_eq!(invoices, sums.len(), "{month}");
        assert!(invoices > 0, "{month}");
    }
}

#[test]
fn example_five_data_expiry_shows_in_the_subscriptions_export_and_the_suspended_report() {
    let env = with_catalog(
        &format!(
            "{OFFERS}TRIAL30,Trial suite,microsoft,Microsoft Corporation,license,monthly,12,10.00,USD,trial,commercial,false,30,true,true,*,,false,,1,,\n"
        ),
        "customer_id,name,country,segment,currency,account_opened_on\nC-5,Fifth,US,commercial,USD,2026-01-01\n",
    );
    env.drop_file(
        "orders.csv",
        format!(
            "order_id,line,event_time,action,customer_id,requested_by,partner_id,offer_id,quantity,subscription_id,base_subscription_id,auto_renew,reason\n\
             T5,1,2026-01-01T08:00:00Z,purchase,C-5,admin_agent,{PARTNER},TRIAL30,3,,,,\n\
             T5,2,2026-03-10T08:00:00Z,suspend,C-5,admin_agent,{PARTNER},,,T5-1,,,customer_request\n"
        ),
    );
    let (code, _, err) = env.run(&["backfill", "--from", "2026-01-01", "--to", "2026-03-10"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = env.run(&["subscriptions", "--customer", "C-5"]);
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let get = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(get("Status"), "suspended");
    assert_eq!(get("InTrial"), "false");
    assert_eq!(get("PaidStart"), "2026-01-31");
    assert_eq!(get("SuspendedOn"), "2026-03-10");
    assert_eq!(get("DataExpiresOn"), "2026-07-08");
    let report = std::fs::read_to_string(
        env.config
            .output_dir
            .join("reports/2026-03-10/suspended.csv"),
    )
    .unwrap();
    assert!(
        report.contains("T5-1,C-5,Fifth,TRIAL30,,2026-03-10,2026-07-08"),
        "{report}"
    );
}
