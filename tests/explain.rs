//! `subsweep explain`: scenarios run through the real jobs (backfill), then explained. Explain
//! lists exactly the lines posted for the family, each with its rule in words and its invoice;
//! it never shows another customer's rows.

mod common;

use std::collections::BTreeMap;

use common::{ORDER_HEADER, PARTNER, TestEnv};
use serde_json::Value;

const OFFERS: &str = "\
offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url
SEAT4,Seat at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,,
BASE30,Suite at 30,microsoft,Microsoft Corporation,license,monthly,12,30.00,USD,enterprise,commercial,false,0,true,true,*,,false,,1,,
ADDON5,Add-on at 5,microsoft,Microsoft Corporation,license,monthly,12,5.00,USD,enterprise,commercial,false,0,true,true,*,,true,BASE30,1,,
TRIAL4,Trial at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,trial,commercial,false,30,true,true,*,,false,,1,,
";
const CUSTOMERS: &str = "\
customer_id,name,country,segment,currency,account_opened_on
C-1,First Customer,US,commercial,USD,2018-01-01
C-2,Second Customer,US,commercial,USD,2018-01-01
C-3,Third Customer,US,commercial,USD,2018-01-01
";

fn with_catalog() -> TestEnv {
    let env = TestEnv::new();
    let offers = env.dir.path().join("offers.csv");
    let customers = env.dir.path().join("customers.csv");
    std::fs::write(&offers, OFFERS).unwrap();
    std::fs::write(&customers, CUSTOMERS).unwrap();
    for (command, file) in [("load-catalog", &offers), ("load-customers", &customers)] {
        let (code, _, err) = env.run(&[command, file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    env
}

fn file(rows: &[&str]) -> String {
    let mut text = format!("{ORDER_HEADER}\n");
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    text
}

fn backfill(env: &TestEnv, from: &str, to: &str) {
    let (code, _, err) = env.run(&["backfill", "--from", from, "--to", to]);
    assert_eq!(code, 0, "{err}");
}

/// Every scenario in one database: worked example 3 with an add-on (C-2), a cancel within the
/// window (C-1), a trial (C-3), a late suspension (C-1), and rejected rows of two customers
/// naming C-2's subscription.
fn scenarios() -> TestEnv {
    let env = with_catalog();
    env.drop_file(
        "2018-06-orders.csv",
        file(&[
            "E3,1,2018-06-01T09:00:00Z,purchase,C-2,admin_agent,{P},BASE30,1,,,,",
            "E2,1,2018-06-10T09:00:00Z,purchase,C-2,admin_agent,{P},ADDON5,1,,E3-1,,",
            "E3,2,2018-07-05T09:00:00Z,suspend,C-2,admin_agent,{P},,,E3-1,,,nonpayment",
            "E3,3,2018-07-15T09:00:00Z,reactivate,C-2,admin_agent,{P},,,E3-1,,,",
            // C-2's own row that cannot apply: shown.
            "E3,4,2018-06-20T09:00:00Z,reactivate,C-2,admin_agent,{P},,,E3-1,,,",
            // C-2's malformed row naming its subscription: shown (from the values as written).
            "E3,5,not-a-time,cancel,C-2,admin_agent,{P},,,E3-1,,,",
            // Another customer naming C-2's subscription: never shown.
            "X9,1,2018-06-21T09:00:00Z,change_quantity,C-3,admin_agent,{P},,7,E3-1,,,",
            "X9,2,not-a-time,cancel,C-3,admin_agent,{P},,,E3-1,,,",
            // C-1 cancels within 24 hours.
            "W,1,2018-06-02T10:00:00Z,purchase,C-1,admin_agent,{P},SEAT4,1,,,,",
            "W,2,2018-06-02T20:00:00Z,cancel,C-1,admin_agent,{P},,,W-1,,,",
            // C-3's trial converts on 2018-07-01; seats 1 -> 2 on 2018-07-20.
            "T,1,2018-06-01T09:00:00Z,purchase,C-3,admin_agent,{P},TRIAL4,1,,,,",
            "T,2,2018-07-20T09:00:00Z,change_quantity,C-3,admin_agent,{P},,2,T-1,,,",
            // C-1 buys BASE30; its suspension arrives late (below).
            "L,1,2018-06-01T09:00:00Z,purchase,C-1,admin_agent,{P},BASE30,1,,,,",
        ]),
    );
    backfill(&env, "2018-06-01", "2018-08-05");
    env.drop_file(
        "2018-08-late.csv",
        file(&["L,2,2018-07-05T09:00:00Z,suspend,C-1,admin_agent,{P},,,L-1,,,nonpayment"]),
    );
    backfill(&env, "2018-08-06", "2018-08-30");
    env
}

fn explain_json(env: &TestEnv, id: &str) -> Value {
    let (code, out, err) = env.run(&["explain", id, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn explain_text(env: &TestEnv, id: &str) -> String {
    let (code, out, err) = env.run(&["explain", id]);
    assert_eq!(code, 0, "{err}");
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Posted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    line_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    amount: String,
}

/// (line_id, amount) of every line posted to the family, from the table.
fn posted_lines(env: &TestEnv, family: &str) -> Vec<(i64, String)> {
    use diesel::RunQueryDsl;
    let mut rows: Vec<Posted> = diesel::sql_query(
        "SELECT l.line_id, to_char(l.amount, 'FM999999990.00') AS amount FROM charge_lines l \
         JOIN subscriptions s ON s.subscription_id = l.subscription_id \
         WHERE s.family_id = $1 ORDER BY l.line_id",
    )
    .bind::<diesel::sql_types::Text, _>(family)
    .load(&mut env.conn())
    .unwrap();
    rows.sort();
    rows.into_iter().map(|p| (p.line_id, p.amount)).collect()
}

fn explained_lines(report: &Value) -> Vec<(i64, String)> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line_id"].as_i64().unwrap(), s(&l["amount"])))
        .collect()
}

/// The explanation of the first line of `charge_type` on `sub`.
fn words_of(report: &Value, sub: &str, charge_type: &str) -> Vec<String> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["subscription_id"] == sub && l["charge_type"] == charge_type)
        .map(|l| s(&l["explanation"]))
        .collect()
}

/// (SubscriptionId, ChargeType, Start, End, Amount, InvoiceNumber) rows of a month's file for
/// these subscriptions.
fn invoice_rows(env: &TestEnv, month: &str, subs: &[&str]) -> Vec<[String; 6]> {
    let path = env
        .config
        .output_dir
        .join(format!("invoices/{month}/invoice-lines.csv"));
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut rows: Vec<[String; 6]> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            [
                "SubscriptionId",
                "ChargeType",
                "ChargeStartDate",
                "ChargeEndDate",
                "Amount",
                "InvoiceNumber",
            ]
            .map(|c| r[at(c)].to_string())
        })
        .filter(|r| subs.contains(&r[0].as_str()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn explain_lists_exactly_the_lines_posted_for_the_family_with_their_invoices() {
    let env = scenarios();
    for (id, family, subs) in [
        ("E2-1", "E3-1", &["E3-1", "E2-1"][..]),
        ("E3-1", "E3-1", &["E3-1", "E2-1"][..]),
        ("W-1", "W-1", &["W-1"][..]),
        ("T-1", "T-1", &["T-1"][..]),
        ("L-1", "L-1", &["L-1"][..]),
    ] {
        let report = explain_json(&env, id);
        assert_eq!(report["family_id"], family);
        let mut explained = explained_lines(&report);
        let count = explained.len();
        explained.sort();
        explained.dedup();
        assert_eq!(count, explained.len(), "{id}: a line listed twice");
        let posted = posted_lines(&env, family);
        assert!(!posted.is_empty());
        assert_eq!(explained, posted, "{id}");

        // Every invoiced line carries the number it has in invoice-lines.csv, and every line of
        // the family in those files is an invoiced line of explain.
        for (month, period_start) in [("2018-06", "2018-06-01"), ("2018-07", "2018-07-01")] {
            let mut from_explain: Vec<[String; 6]> = report["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["invoice_period_start"] == period_start)
                .map(|l| {
                    assert!(l["invoice_number"].is_string(), "{id}: {l}");
                    [
                        s(&l["subscription_id"]),
                        s(&l["charge_type"]),
                        s(&l["start_date"]),
                        s(&l["end_date"]),
                        s(&l["amount"]),
                        s(&l["invoice_number"]),
                    ]
                })
                .collect();
            from_explain.sort();
            assert_eq!(
                from_explain,
                invoice_rows(&env, month, subs),
                "{id} {month}"
            );
        }
        // The August period is not emitted yet.
        for l in report["lines"].as_array().unwrap() {
            if l["invoice_period_start"] == "2018-08-01" {
                assert!(l["invoice_number"].is_null(), "{l}");
            }
        }
    }
    let text = explain_text(&env, "L-1");
    assert!(text.contains("not yet invoiced"), "{text}");
    assert!(text.contains("on INV-201806-"), "{text}");
}

#[test]
fn a_suspension_34_days_into_the_term_says_27_of_31() {
    let env = scenarios();
    let report = explain_json(&env, "E2-1");
    assert_eq!(
        words_of(&report, "E3-1", "Cancel fee"),
        ["suspended 34 days into the term: credit 27/31 of the period"]
    );
    assert_eq!(
        words_of(&report, "E3-1", "Activation fee"),
        ["reactivated 44 days into the term: charge 17/31 of the period"]
    );
    // The add-on, suspended with its base, says the same rule for its own line.
    let addon = words_of(&report, "E2-1", "Cancel fee");
    assert_eq!(addon.len(), 1);
    assert!(
        addon[0].starts_with("suspended 25 days into the term"),
        "{addon:?}"
    );
    let line = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["subscription_id"] == "E3-1" && l["charge_type"] == "Cancel fee")
        .unwrap();
    assert_eq!(line["amount"], "-26.13");
    assert_eq!(line["origin"]["kind"], "order");
    assert_eq!(line["origin"]["order_id"], "E3");
    assert_eq!(line["origin"]["line"], 2);
    assert_eq!(line["origin"]["file"], "2018-06-orders.csv");
    assert_eq!(line["origin"]["source_line"], 4);
    assert_eq!(line["invoice_number"], "INV-201807-000002");

    // Start-of-day lines name their step.
    let cycle = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["subscription_id"] == "E3-1" && l["charge_type"] == "Cycle fee")
        .unwrap();
    assert_eq!(cycle["origin"]["kind"], "start_of_day");
    assert_eq!(cycle["origin"]["step"], "renewals");
    assert_eq!(cycle["origin"]["date"], "2018-07-01");
    assert_eq!(
        cycle["explanation"],
        "new billing period 2018-07-01..2018-07-31"
    );

    // The state after each step, from the replay: suspended on 2018-07-05 with its data-expiry
    // date, active again on 2018-07-15.
    let history = report["history"].as_array().unwrap();
    let suspended = history
        .iter()
        .find(|s| s["event"]["order_id"] == "E3" && s["event"]["line"] == 2)
        .unwrap();
    assert_eq!(suspended["date"], "2018-07-05");
    let base = suspended["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["subscription_id"] == "E3-1")
        .unwrap();
    assert_eq!(base["status"], "suspended");
    assert_eq!(base["data_expires_on"], "2018-11-02");
    assert_eq!(base["current_period_start"], "2018-07-01");
    assert_eq!(base["term_end"], "2019-05-31");
}

#[test]
fn a_cancel_within_the_window_and_a_trial_conversion_say_so() {
    let env = scenarios();
    let report = explain_json(&env, "W-1");
    assert_eq!(
        words_of(&report, "W-1", "Cancel fee"),
        [
            "cancel within 24 hours: full credit of the Prorate fees when purchase line of the \
             purchase"
        ]
    );
    let report = explain_json(&env, "T-1");
    assert_eq!(
        words_of(&report, "T-1", "Prorate fees when purchase"),
        ["trial converted on 2018-07-01: the first paid period"]
    );
    let conversion = &report["lines"][0];
    assert_eq!(conversion["origin"]["kind"], "start_of_day");
    assert_eq!(conversion["origin"]["step"], "trial-conversions");
    assert_eq!(
        words_of(&report, "T-1", "Cycle instance prorate"),
        [
            "seats 1→2: prorated 12/31 (the old seats credited)",
            "seats 1→2: prorated 12/31 (the new seats charged)"
        ]
    );
    // The 1-month term renews on 2018-08-01.
    assert_eq!(
        words_of(&report, "T-1", "Renew fee"),
        ["renewed for a new 1-month term: its first period 2018-08-01..2018-08-31"]
    );
}

#[test]
fn a_late_suspension_offsets_the_line_it_corrects_and_says_why() {
    let env = scenarios();
    let report = explain_json(&env, "L-1");
    let lines = report["lines"].as_array().unwrap();
    let august = lines
        .iter()
        .find(|l| l["charge_type"] == "Cycle fee" && l["start_date"] == "2018-08-01")
        .unwrap();
    let offset = lines
        .iter()
        .find(|l| l["charge_type"] == "Offset a line item")
        .expect("the August cycle fee is offset");
    assert_eq!(offset["corrects_line_id"], august["line_id"]);
    assert_eq!(offset["amount"], "-30.00");
    assert_eq!(offset["origin"]["kind"], "correction");
    assert_eq!(offset["origin"]["posted_on"], "2018-08-06");
    assert_eq!(
        s(&offset["explanation"]),
        format!(
            "corrects line {} (Cycle fee 2018-08-01..2018-08-31): late suspend dated 2018-07-05 \
             (order L line 2) applied on 2018-08-06",
            august["line_id"]
        )
    );
    // The late row is listed as late, and the credit it made is billed as of its own date.
    let late = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["order_id"] == "L" && e["line"] == 2)
        .unwrap();
    assert_eq!(late["applied_on"], "2018-08-06");
    assert_eq!(late["late"], true);
    assert_eq!(
        words_of(&report, "L-1", "Cancel fee"),
        ["suspended 34 days into the term: credit 27/31 of the period"]
    );
    // The August line, no longer made by the replayed history, still names its step.
    assert_eq!(august["origin"]["kind"], "start_of_day");
    assert_eq!(august["origin"]["date"], "2018-08-01");
}

#[test]
fn rejected_rows_are_the_customers_own_never_another_customers() {
    let env = scenarios();
    let report = explain_json(&env, "E2-1");
    let rejected: BTreeMap<String, (String, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!("{}:{}", s(&r["order_id"]), s(&r["line"])),
                (s(&r["code"]), s(&r["message"])),
            )
        })
        .collect();
    assert_eq!(
        rejected.keys().collect::<Vec<_>>(),
        ["E3:4", "E3:5"],
        "{rejected:?}"
    );
    assert_eq!(rejected["E3:4"].0, "invalid_transition");
    assert_eq!(rejected["E3:5"].0, "malformed_row");
    // C-3's rows exist and named E3-1, but are C-3's.
    assert_eq!(
        env.count("SELECT count(*) AS n FROM rejected_rows r WHERE r.raw[1] = 'X9'"),
        2
    );
    let text = explain_text(&env, "E3-1");
    assert!(!text.contains("X9"), "{text}");
    assert!(!text.contains("C-3"), "{text}");
}

/// A rejected row's customer is found as the order-file reader reads it, white space around it
/// trimmed: a staged row written with a no-break space and a tab around its customer, and a
/// malformed row padded with spaces, are still the customer's own. The lookup reads the index
/// on that customer (`rejected_rows_customer`), not every rejected row and staged event.
#[test]
fn rejected_rows_are_found_by_their_customer_through_an_index_white_space_around_it_too() {
    use diesel::prelude::*;
    use diesel::sql_types::{Array, Text};
    let env = with_catalog();
    env.drop_file(
        "orders.csv",
        file(&[
            "E3,1,2018-06-01T09:00:00Z,purchase,C-2,admin_agent,{P},BASE30,1,,,,",
            "E3,2,2018-06-20T09:00:00Z,reactivate,\u{a0}C-2\t,admin_agent,{P},,,E3-1,,,",
            "E3,3,not-a-time,cancel,  C-2 ,admin_agent,{P},,,E3-1,,,",
            "X9,1,2018-06-21T09:00:00Z,reactivate,\u{a0}C-3,admin_agent,{P},,,E3-1,,,",
        ]),
    );
    backfill(&env, "2018-06-01", "2018-06-30");
    let report = explain_json(&env, "E3-1");
    let rejected: Vec<String> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}:{}", s(&r["order_id"]), s(&r["line"]), s(&r["code"])))
        .collect();
    assert_eq!(
        rejected,
        // Malformed at intake, then refused by apply-orders.
        ["E3:3:malformed_row", "E3:2:invalid_transition"],
        "{report}"
    );

    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text)]
        plan: String,
    }
    let mut conn = env.conn();
    diesel::sql_query(
        "CREATE FUNCTION pg_temp.plan_of(query TEXT, ids TEXT[], customer TEXT) RETURNS TEXT \
         LANGUAGE plpgsql AS $$ DECLARE line RECORD; plan TEXT := ''; BEGIN \
         FOR line IN EXECUTE 'EXPLAIN ' || query USING ids, customer LOOP \
         plan := plan || line.\"QUERY PLAN\" || E'\\n'; END LOOP; RETURN plan; END $$",
    )
    .execute(&mut conn)
    .unwrap();
    // With few rows any plan reads the table; without sequential scans, the index shows.
    diesel::sql_query("SET enable_seqscan = off")
        .execute(&mut conn)
        .unwrap();
    let plan = diesel::sql_query("SELECT pg_temp.plan_of($1, $2, $3) AS plan")
        .bind::<Text, _>(include_str!("../src/store/explain_rejects.sql"))
        .bind::<Array<Text>, _>(vec!["E3-1".to_string()])
        .bind::<Text, _>("C-2")
        .get_result::<Plan>(&mut conn)
        .unwrap()
        .plan;
    assert!(plan.contains("rejected_rows_customer"), "{plan}");
    assert!(!plan.contains("Seq Scan on rejected_rows"), "{plan}");
}

#[test]
fn the_json_document_has_every_documented_field() {
    let env = scenarios();
    let report = explain_json(&env, "E3-1");
    assert_eq!(report["format_version"], 1);
    for field in [
        "subscription_id",
        "family_id",
        "customer_id",
        "customer_name",
        "state_through",
        "members",
        "events",
        "rejected",
        "history",
        "lines",
    ] {
        assert!(report.get(field).is_some(), "no {field}");
    }
    let line = &report["lines"][0];
    for field in [
        "line_id",
        "subscription_id",
        "posted_on",
        "charge_type",
        "start_date",
        "end_date",
        "billable_days",
        "period_days",
        "unit_price",
        "quantity",
        "amount",
        "currency",
        "cause",
        "origin",
        "explanation",
        "corrects_line_id",
        "invoice_period_start",
        "invoice_number",
    ] {
        assert!(line.get(field).is_some(), "no lines[].{field}");
    }
    let member = &report["members"][0];
    assert_eq!(member["role"], "base");
    for field in [
        "status",
        "in_trial",
        "quantity",
        "current_period_start",
        "current_period_end",
        "term_end",
        "data_expires_on",
    ] {
        assert!(member["state"].get(field).is_some(), "no state.{field}");
    }
    let event = &report["events"][0];
    for field in [
        "file",
        "source_line",
        "order_id",
        "line",
        "action",
        "event_time",
        "applied_on",
        "late",
    ] {
        assert!(event.get(field).is_some(), "no events[].{field}");
    }
    assert_eq!(report["state_through"]["date"], "2018-08-30");
    assert_eq!(report["state_through"]["step"], "apply-orders");
}

#[test]
fn an_unknown_subscription_is_a_usage_error_on_stderr() {
    let env = with_catalog();
    let (code, out, err) = env.run(&["explain", "NOPE-1"]);
    assert_eq!(code, 64, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no subscription NOPE-1 is known"), "{err}");
}
