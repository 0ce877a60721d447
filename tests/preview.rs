//! `subsweep preview`: what the invoices of the periods ending on or before a date will hold if
//! no further orders arrive. The test that matters: a preview through D is, line for line and
//! byte for byte (InvoiceNumber aside), what the nights through D then write into
//! invoice-lines.csv; and the preview writes nothing.

mod common;

use chrono::NaiveDate;
use common::{ORDER_HEADER, PARTNER, TestEnv};
use diesel::RunQueryDsl;
use subsweep::domain::invoicing;

const OFFERS: &str = "\
offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url
SEAT4,Seat at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,,
SEAT4E,=Seat at 4 (EUR),microsoft,Microsoft Corporation,license,monthly,1,4.10,EUR,small_business,commercial,false,0,true,true,*,,false,,1,,
BASE30,Suite at 30,microsoft,Microsoft Corporation,license,monthly,12,30.00,USD,enterprise,commercial,false,0,true,true,*,,false,,1,,
ADDON5,Add-on at 5,microsoft,Microsoft Corporation,license,monthly,12,5.00,USD,enterprise,commercial,false,0,true,true,*,,true,BASE30,1,,
TRIAL4,Trial seat at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,trial,commercial,false,30,true,true,*,,false,,1,,
ANNUAL,Annual suite,isv,Contoso Ltd,license,annual,12,432.00,USD,enterprise,commercial,false,0,true,true,*,,false,,1,,https://contoso.example/setup
METER,Metered plan,microsoft,Microsoft Corporation,usage,monthly,1,0.013,USD,enterprise,commercial,false,0,true,true,*,,false,,,,
";

const CUSTOMERS: &str = "\
customer_id,name,country,segment,currency,account_opened_on
C-1,Trial Customer,US,commercial,USD,2018-01-01
C-2,\"Suite, Inc.\",US,commercial,USD,2018-01-01
C-3,Annual Customer,US,commercial,USD,2018-01-01
C-4,Cancelling Customer,US,commercial,USD,2018-01-01
C-5,Expiring Customer,US,commercial,USD,2018-01-01
C-6,Suspended Customer,US,commercial,USD,2018-01-01
C-7,Metered Customer,US,commercial,USD,2018-01-01
C-8,Euro Kunde,DE,commercial,EUR,2018-01-01
";

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An environment with this invoice day, the catalog above loaded, and `rows` (with `{P}` for
/// the partner) in an order file in the inbox.
fn env_with(invoice_day: u32, rows: &[&str]) -> TestEnv {
    let env = TestEnv::with_config(&format!("[billing]\ninvoice_day = {invoice_day}\n"));
    let offers = env.dir.path().join("offers.csv");
    let customers = env.dir.path().join("customers.csv");
    std::fs::write(&offers, OFFERS).unwrap();
    std::fs::write(&customers, CUSTOMERS).unwrap();
    for (command, file) in [("load-catalog", &offers), ("load-customers", &customers)] {
        let (code, _, err) = env.run(&[command, file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    let mut text = format!("{ORDER_HEADER}\n");
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    env.drop_file("orders.csv", text);
    env
}

fn backfill(env: &TestEnv, from: NaiveDate, to: NaiveDate) {
    let (code, _, err) = env.run(&[
        "backfill",
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--allow-future",
    ]);
    assert_eq!(code, 0, "backfill {from}..{to}: {err}");
}

#[derive(diesel::QueryableByName, PartialEq, Debug)]
struct Fingerprint {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// Everything preview could have changed, as one text: every row of the tables the jobs write.
fn fingerprint(env: &TestEnv) -> String {
    let mut all = String::new();
    for table in [
        "subscriptions",
        "charge_lines",
        "invoices",
        "invoice_runs",
        "job_runs",
        "state_clock",
        "applied_events",
        "rejected_rows",
        "staged_events",
        "inbox_files",
    ] {
        let row: Fingerprint = diesel::sql_query(format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
             AS text FROM {table} t"
        ))
        .get_result(&mut env.conn())
        .unwrap();
        all.push_str(&format!("{table}={}\n", row.text));
    }
    all
}

/// The files in the output folder, with their sizes.
fn output_files(env: &TestEnv) -> Vec<(String, u64)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let size = path.metadata().unwrap().len();
                out.push((path.display().to_string(), size));
            }
        }
    }
    let mut out = Vec::new();
    walk(&env.config.output_dir, &mut out);
    out.sort();
    out
}

fn preview(env: &TestEnv, args: &[&str]) -> (String, String) {
    let mut all = vec!["preview"];
    all.extend_from_slice(args);
    let (code, out, err) = env.run(&all);
    assert_eq!(code, 0, "preview {args:?}: {err}");
    (out, err)
}

/// The data rows of the invoice-lines.csv files of the periods ending after `after` and on or
/// before `through`, in period order, with InvoiceNumber replaced by PREVIEW; and the header.
fn emitted_lines(
    env: &TestEnv,
    invoice_day: u32,
    after: NaiveDate,
    through: NaiveDate,
) -> (String, Vec<String>) {
    let mut period = invoicing::period_containing(after.succ_opt().unwrap(), invoice_day);
    let mut header = String::new();
    let mut rows = Vec::new();
    while period.end <= through {
        let path = env.config.output_dir.join(format!(
            "invoices/{}/invoice-lines.csv",
            period.start.format("%Y-%m")
        ));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        header = lines.next().unwrap().to_string();
        for line in lines {
            // InvoiceNumber: `,INV-YYYYMM-NNNNNN,`, the only cell of that shape.
            let at = line.find(",INV-").unwrap_or_else(|| panic!("{line}"));
            let number = &line[at + 1..at + 18];
            assert_eq!(line.as_bytes()[at + 18], b',', "{line}");
            assert!(number[4..10].bytes().all(|b| b.is_ascii_digit()), "{line}");
            rows.push(format!("{},PREVIEW{}", &line[..at], &line[at + 18..]));
        }
        period = invoicing::next_period(period, invoice_day);
    }
    (header, rows)
}

/// How the nights after the preview are run.
enum Nights {
    /// One `backfill` over the dates.
    Backfill,
    /// One `nightly` per date, as cron runs them.
    Nightly,
}

/// Processes the history through `history_to`, previews through `through`, checks the preview
/// changed nothing, runs the nights through `through` and returns (preview rows, emitted rows).
fn preview_then_nights(
    env: &TestEnv,
    nights: Nights,
    invoice_day: u32,
    history: (&str, &str),
    through: &str,
) -> (Vec<String>, Vec<String>) {
    let (from, to, through) = (d(history.0), d(history.1), d(through));
    backfill(env, from, to);
    let before = fingerprint(env);
    let files_before = output_files(env);
    let (csv, _) = preview(env, &["--through", &through.to_string(), "--format", "csv"]);
    let (table, _) = preview(env, &["--through", &through.to_string()]);
    assert!(table.contains("Invoice period"), "{table}");
    assert_eq!(fingerprint(env), before, "preview changed the database");
    assert_eq!(output_files(env), files_before, "preview wrote a file");

    match nights {
        Nights::Backfill => backfill(env, to.succ_opt().unwrap(), through),
        Nights::Nightly => {
            let mut date = to.succ_opt().unwrap();
            while date <= through {
                let day = date.to_string();
                let (code, _, err) = env.run(&["nightly", "--date", &day, "--allow-future"]);
                assert_eq!(code, 0, "nightly {day}: {err}");
                date = date.succ_opt().unwrap();
            }
        }
    }
    let (header, emitted) = emitted_lines(env, invoice_day, to, through);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(header.as_str()));
    let previewed: Vec<String> = lines.map(str::to_string).collect();
    (previewed, emitted)
}

fn assert_same(previewed: &[String], emitted: &[String]) {
    for (i, (p, e)) in previewed.iter().zip(emitted).enumerate() {
        assert_eq!(p, e, "line {} differs", i + 1);
    }
    assert_eq!(
        previewed.len(),
        emitted.len(),
        "previewed {previewed:#?}\nemitted {emitted:#?}"
    );
}

fn has_type(rows: &[String], charge_type: &str) -> bool {
    rows.iter().any(|r| r.contains(&format!(",{charge_type},")))
}

#[test]
fn a_preview_is_what_the_nights_then_emit_line_for_line() {
    let env = env_with(
        1,
        &[
            // A trial converting on 2026-02-19.
            "T1,1,2026-01-20T10:00:00Z,purchase,C-1,admin_agent,{P},TRIAL4,2,,,,",
            // A monthly suite with an add-on and a seat change: monthly rollovers.
            "B2,1,2026-01-05T10:00:00Z,purchase,C-2,admin_agent,{P},BASE30,3,,,,",
            "A2,1,2026-01-08T10:00:00Z,purchase,C-2,admin_agent,{P},ADDON5,2,,B2-1,,",
            "B2,2,2026-02-03T10:00:00Z,change_quantity,C-2,admin_agent,{P},,5,B2-1,,,",
            // An annual subscription bought a year before (a late row), renewed on 2026-04-10.
            "N3,1,2025-04-10T10:00:00Z,purchase,C-3,admin_agent,{P},ANNUAL,5,,,,",
            // Cancelled after the window: ends at its term end (2026-03-05).
            "S4,1,2026-01-05T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,1,,,,",
            "S4,2,2026-02-08T10:00:00Z,cancel,C-4,admin_agent,{P},,,S4-1,,,",
            // Auto-renew off: expires at its term end (2026-03-10).
            "S5,1,2026-01-10T10:00:00Z,purchase,C-5,admin_agent,{P},SEAT4,2,,,,",
            "S5,2,2026-02-01T10:00:00Z,set_auto_renew,C-5,admin_agent,{P},,,S5-1,,false,",
            // Suspended for non-payment: data expires and the family is deleted in April.
            "B6,1,2026-01-12T10:00:00Z,purchase,C-6,admin_agent,{P},BASE30,1,,,,",
            "A6,1,2026-01-12T11:00:00Z,purchase,C-6,admin_agent,{P},ADDON5,1,,B6-1,,",
            "B6,2,2026-01-25T10:00:00Z,suspend,C-6,admin_agent,{P},,,B6-1,,,nonpayment",
            // Metered usage billed in arrears, and a metered subscription suspended (its
            // usage still billed at the period's end), deleted at its data expiry.
            "M7,1,2026-01-06T10:00:00Z,purchase,C-7,admin_agent,{P},METER,,,,,",
            "M7,2,2026-01-20T10:00:00Z,usage,C-7,admin_agent,{P},,1000,M7-1,,,",
            "M7,3,2026-02-09T10:00:00Z,usage,C-7,admin_agent,{P},,512.5,M7-1,,,",
            "M8,1,2026-01-02T10:00:00Z,purchase,C-7,admin_agent,{P},METER,,,,,",
            "M8,2,2026-01-10T10:00:00Z,usage,C-7,admin_agent,{P},,77,M8-1,,,",
            "M8,3,2026-01-15T10:00:00Z,suspend,C-7,admin_agent,{P},,,M8-1,,,nonpayment",
            // Another currency.
            "E8,1,2026-01-07T10:00:00Z,purchase,C-8,admin_agent,{P},SEAT4E,3,,,,",
        ],
    );
    // History through 2026-02-10 (mid-period: lines posted, not invoiced), preview through
    // 2026-04-30: three invoice periods.
    let (previewed, emitted) = preview_then_nights(
        &env,
        Nights::Backfill,
        1,
        ("2026-01-02", "2026-02-10"),
        "2026-04-30",
    );
    assert_same(&previewed, &emitted);
    for charge_type in [
        "Prorate fees when purchase",
        "Cycle fee",
        "Renew fee",
        "Cycle instance prorate",
        "Assess usage fee for current cycle",
    ] {
        assert!(
            has_type(&previewed, charge_type),
            "no {charge_type} line in {previewed:#?}"
        );
    }
    // Lines posted before the preview (the seat change of 2026-02-03), the trial's conversion,
    // the annual renewal, rollovers in March and April, the other currency.
    for needle in [
        ",Cycle instance prorate,",
        ",T1-1,,TRIAL4,",
        ",Renew fee,2026-04-10,2027-04-09,",
        ",Cycle fee,2026-03-05,2026-04-04,",
        ",Cycle fee,2026-04-05,2026-05-04,",
        ",EUR,",
    ] {
        assert!(
            previewed.iter().any(|r| r.contains(needle)),
            "nothing with {needle} in {previewed:#?}"
        );
    }
    assert!(previewed.iter().any(|r| r.ends_with(",2026-02-03")));
    assert!(previewed.iter().any(|r| r.ends_with(",2026-02-19")));
    // Cancelled at its term end (2026-03-05): nothing after.
    assert!(
        !previewed
            .iter()
            .any(|r| r.contains(",S4-1,") && r.ends_with(",2026-03-05"))
    );
}

#[test]
fn a_preview_two_periods_ahead_with_invoice_day_15_stops_at_the_last_period_ending_in_time() {
    let env = env_with(
        15,
        &[
            "S1,1,2026-01-20T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,2,,,,",
            "T1,1,2026-02-01T10:00:00Z,purchase,C-1,admin_agent,{P},TRIAL4,1,,,,",
            "M1,1,2026-01-25T10:00:00Z,purchase,C-7,admin_agent,{P},METER,,,,,",
            "M1,2,2026-02-18T10:00:00Z,usage,C-7,admin_agent,{P},,1234.5678,M1-1,,,",
            "B1,1,2026-01-31T10:00:00Z,purchase,C-2,admin_agent,{P},BASE30,1,,,,",
            "A1,1,2026-02-10T10:00:00Z,purchase,C-2,admin_agent,{P},ADDON5,4,,B1-1,,",
        ],
    );
    // Periods 2026-02-15..03-14 and 03-15..04-14 end by 2026-04-20; 04-15..05-14 does not.
    let (previewed, emitted) = preview_then_nights(
        &env,
        Nights::Nightly,
        15,
        ("2026-01-20", "2026-02-20"),
        "2026-04-20",
    );
    assert_same(&previewed, &emitted);
    assert!(previewed.iter().any(|r| r.contains(",2026-03-31,")));
    assert!(!previewed.iter().any(|r| r.ends_with(",2026-04-20")));
    assert!(has_type(&previewed, "Assess usage fee for current cycle"));
}

/// `--customer` with an id no customer has is a mistake in the command, as `explain` of an
/// unknown subscription is: exit 64 naming it, in either format, and nothing on standard
/// output. A known customer with nothing to invoice gets the empty preview and says so.
#[test]
fn preview_of_an_unknown_customer_exits_64_naming_it_and_a_customer_with_nothing_says_so() {
    let env = env_with(
        1,
        &["S4,1,2026-01-05T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,1,,,,"],
    );
    backfill(&env, d("2026-01-05"), d("2026-02-03"));
    for format in ["csv", "table"] {
        let (code, out, err) = env.run(&["preview", "--customer", "C-404", "--format", format]);
        assert_eq!(code, 64, "{format}: {err}");
        assert!(out.is_empty(), "{format}: {out}");
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with("subsweep: ") && last.contains("no customer C-404 is known"),
            "{format}: {err}"
        );
    }
    // C-5 is a customer with no subscription: header only (csv), and a word on stderr.
    let (out, err) = preview(&env, &["--customer", "C-5", "--format", "csv"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("customer C-5 has no invoice"), "{err}");
    let (out, err) = preview(&env, &["--customer", "C-5"]);
    assert!(
        out.contains("0 invoice(s)") || out.contains("no invoice"),
        "{out}"
    );
    assert!(err.contains("customer C-5 has no invoice"), "{err}");
    let (_, err) = preview(&env, &["--customer", "C-4"]);
    assert!(!err.contains("has no invoice"), "{err}");
}

#[test]
fn the_default_is_the_current_period_and_a_customer_sees_only_their_invoice() {
    let env = env_with(
        1,
        &[
            "S4,1,2026-01-05T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,1,,,,",
            "S5,1,2026-01-10T10:00:00Z,purchase,C-5,admin_agent,{P},SEAT4,2,,,,",
            "E8,1,2026-01-07T10:00:00Z,purchase,C-8,admin_agent,{P},SEAT4E,3,,,,",
        ],
    );
    backfill(&env, d("2026-01-05"), d("2026-02-03"));
    // Default: the period of 2026-02-04, through 2026-02-28.
    let (all, _) = preview(&env, &["--format", "csv"]);
    let (explicit, _) = preview(&env, &["--format", "csv", "--through", "2026-02-28"]);
    assert_eq!(all, explicit);
    assert!(all.contains(",2026-02-05,2026-03-04,"), "{all}");
    let (one, _) = preview(&env, &["--format", "csv", "--customer", "C-5"]);
    let rows: Vec<&str> = one.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.contains(",C-5,")), "{one}");
    let mine: Vec<&str> = all.lines().filter(|r| r.contains(",C-5,")).collect();
    assert_eq!(rows, mine);

    let (table, _) = preview(&env, &[]);
    assert!(
        table.contains("Invoice period 2026-02-01 .. 2026-02-28"),
        "{table}"
    );
    assert!(table.contains("C-8 Euro Kunde (DE)"), "{table}");
    assert!(table.contains("total 12.30 EUR"), "{table}");
    assert!(
        table.contains("3 invoice(s), 12.30 EUR, 12.00 USD"),
        "{table}"
    );
}

#[test]
fn staged_orders_not_applied_are_left_out_and_counted_on_standard_error() {
    let env = env_with(
        1,
        &["S4,1,2026-01-05T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,1,,,,"],
    );
    backfill(&env, d("2026-01-05"), d("2026-01-20"));
    let without = preview(&env, &["--format", "csv"]).0;
    env.drop_file(
        "more.csv",
        format!(
            "{ORDER_HEADER}\nS4,2,2026-01-21T10:00:00Z,change_quantity,C-4,admin_agent,{PARTNER},,9,S4-1,,,\n"
        ),
    );
    let (code, _, err) = env.run(&[
        "run",
        "ingest-orders",
        "--date",
        "2026-01-21",
        "--allow-future",
    ]);
    assert_eq!(code, 0, "{err}");
    let (with, err) = preview(&env, &["--format", "csv"]);
    assert_eq!(with, without, "a staged row changed the preview");
    assert!(
        err.contains("1 staged order event(s) dated on or before 2026-01-31 are not applied"),
        "{err}"
    );
}

#[test]
fn backfill_dry_run_shows_the_invoices_and_totals_of_each_period_it_would_close() {
    let env = env_with(
        1,
        &[
            "S4,1,2026-01-05T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,1,,,,",
            "E8,1,2026-01-07T10:00:00Z,purchase,C-8,admin_agent,{P},SEAT4E,3,,,,",
        ],
    );
    backfill(&env, d("2026-01-05"), d("2026-01-20"));
    let before = fingerprint(&env);
    let (code, out, err) = env.run(&[
        "backfill",
        "--from",
        "2026-01-21",
        "--to",
        "2026-02-28",
        "--dry-run",
        "--allow-future",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fingerprint(&env), before);
    // January: S4 4.00 + a prorated February... January holds the purchases; February the
    // cycle fees posted on 2026-02-05 and 2026-02-07.
    let january = out
        .lines()
        .find(|l| l.contains("invoice period 2026-01-01 .. 2026-01-31"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        january.contains("2 invoice(s), 12.30 EUR, 4.00 USD"),
        "{out}"
    );
    let february = out
        .lines()
        .find(|l| l.contains("invoice period 2026-02-01 .. 2026-02-28"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        february.contains("2 invoice(s), 12.30 EUR, 4.00 USD"),
        "{out}"
    );

    // And they are what the backfill then emits.
    backfill(&env, d("2026-01-21"), d("2026-02-28"));
    let invoices =
        std::fs::read_to_string(env.config.output_dir.join("invoices/2026-02/invoices.csv"))
            .unwrap();
    assert!(invoices.contains(",4.00,USD"), "{invoices}");
    assert!(invoices.contains(",12.30,EUR"), "{invoices}");
}

#[test]
fn a_preview_from_the_last_day_of_an_emitted_period_starts_with_the_next_one() {
    let env = env_with(
        1,
        &[
            "S1,1,2026-01-31T10:00:00Z,purchase,C-4,admin_agent,{P},SEAT4,2,,,,",
            "T1,1,2026-01-15T10:00:00Z,purchase,C-1,admin_agent,{P},TRIAL4,1,,,,",
            "M1,1,2026-01-01T10:00:00Z,purchase,C-7,admin_agent,{P},METER,,,,,",
            "M1,2,2026-01-30T10:00:00Z,usage,C-7,admin_agent,{P},,10,M1-1,,,",
        ],
    );
    // January is emitted on 2026-01-31; the month-end anchor rolls over on 2026-02-28.
    let (previewed, emitted) = preview_then_nights(
        &env,
        Nights::Backfill,
        1,
        ("2026-01-01", "2026-01-31"),
        "2026-03-31",
    );
    assert_same(&previewed, &emitted);
    assert!(
        previewed
            .iter()
            .any(|r| r.contains(",S1-1,") && r.ends_with(",2026-02-28"))
    );
    assert!(
        previewed
            .iter()
            .any(|r| r.contains(",M1-1,") && r.ends_with(",2026-02-01"))
    );
}
