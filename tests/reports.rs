//! The daily reports (SPEC section 7) written by `apply-orders` in `out/reports/<D>/`, and the
//! invoice of a month run through the real jobs.

mod common;
mod core;

use chrono::NaiveDate;
use common::TestEnv;
use common::fixtures::{self, RejectFixture};
use core::*;
use diesel::prelude::*;
use subsweep::domain::catalog::{Customer, Offer};
use subsweep::domain::order::OrderEvent;
use subsweep::domain::vocabulary::{Action, Publisher, Reason};
use subsweep::jobs::JobName;
use subsweep::store::{self, schema};

/// A database whose days are run job by job, like `nightly` does, with rows staged directly.
struct Days {
    env: TestEnv,
    conn: PgConnection,
}

impl Days {
    fn new(offers: &[Offer], customers: &[Customer]) -> Days {
        let env = TestEnv::new();
        let mut conn = env.conn();
        store::catalog::upsert_offers(&mut conn, offers).unwrap();
        store::catalog::upsert_customers(&mut conn, customers).unwrap();
        Days { env, conn }
    }

    fn file(&mut self, name: &str) -> i64 {
        fixtures::inbox_file(&mut self.conn, name, "2026-03-01")
    }

    /// Stages `order` from line `source_line` of file `file_id`; `raw` is what staging keeps:
    /// the values as written, or `None` when they were written plainly.
    fn stage(&mut self, file_id: i64, source_line: i32, o: &OrderEvent, raw: Option<[&str; 13]>) {
        let raw = raw.map(|raw| raw.map(str::to_string).to_vec());
        fixtures::stage_event(&mut self.conn, file_id, source_line, o, raw);
    }

    /// Stages `order` as intake stages a plainly written row.
    fn stage_plain(&mut self, file_id: i64, source_line: i32, o: &OrderEvent) {
        self.stage(file_id, source_line, o, None);
    }

    fn run(&mut self, job: JobName, date: NaiveDate) {
        common::execute_job(&mut self.conn, &self.env.config, job, date)
            .unwrap_or_else(|e| panic!("{job} {date}: {e}"));
    }

    /// What `nightly` runs after ingest, for each day from `from` to `to`.
    fn run_days(&mut self, from: &str, to: &str) {
        let mut day = d(from);
        while day <= d(to) {
            for job in [
                JobName::TrialConversions,
                JobName::Renewals,
                JobName::SuspensionExpiry,
                JobName::ApplyOrders,
                JobName::Invoices,
            ] {
                self.run(job, day);
            }
            day = day.succ_opt().unwrap();
        }
    }

    fn report(&self, date: &str, file: &str) -> String {
        let path = self.env.config.reports_dir(d(date)).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn rows(&self, date: &str, file: &str) -> Vec<Vec<String>> {
        let text = self.report(date, file);
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }
}

const REJECTS_HEADER: &str = "source_file,source_line,error_code,error_message,order_id,line,\
event_time,action,customer_id,requested_by,partner_id,offer_id,quantity,subscription_id,\
base_subscription_id,auto_renew,reason";
const PROVISIONING_HEADER: &str = "SubscriptionId,CustomerId,CustomerName,OfferId,OfferName,\
PublisherName,Quantity,PurchasedOn,PublisherSetupUrl";
const SUSPENDED_HEADER: &str =
    "SubscriptionId,CustomerId,CustomerName,OfferId,ParentSubscriptionId,SuspendedOn,DataExpiresOn";

fn isv(id: &str) -> Offer {
    Offer {
        publisher: Publisher::Isv,
        name: "=ISV App".into(),
        publisher_name: "Fabrikam".into(),
        publisher_setup_url: Some("https://isv.example/setup?id=1,2".into()),
        ..monthly(id, "10.00")
    }
}

fn catalog() -> (Vec<Offer>, Vec<Customer>) {
    (
        vec![isv("I"), monthly("M", "30.00"), addon("A", &["M"], "6.00")],
        vec![
            Customer {
                name: "+Plus Corp".into(),
                ..customer("C1", "2026-01-01")
            },
            customer("C2", "2026-01-01"),
        ],
    )
}

/// Day 2026-03-10 of a small story: ISV and Microsoft purchases, a suspension, a row the rules
/// reject and a row intake rejected; 2026-03-09 before it with an ISV purchase of its own.
fn story() -> Days {
    let (offers, customers) = catalog();
    let mut days = Days::new(&offers, &customers);
    let orders = days.file("orders.csv");
    let early = days.file("a-early.csv");
    days.stage_plain(
        orders,
        2,
        &purchase("P0", "2026-03-09T08:00:00Z", "C2", "I", Some("1")),
    );
    days.stage_plain(
        orders,
        3,
        &purchase("P2", "2026-03-10T09:00:00Z", "C1", "M", Some("1")),
    );
    days.stage_plain(
        orders,
        4,
        &purchase("P1", "2026-03-10T08:00:00Z", "C1", "I", Some("2")),
    );
    days.stage_plain(
        orders,
        5,
        &addon_purchase("P4", "2026-03-10T09:30:00Z", "C1", "A", "1", "P2-1"),
    );
    let suspend = OrderEvent {
        reason: Some(Reason::Nonpayment),
        ..act("P5", "2026-03-10T10:00:00Z", Action::Suspend, "C1", "P2-1")
    };
    days.stage_plain(orders, 6, &suspend);
    // An unknown customer, written with formula starters everywhere.
    days.stage(
        orders,
        7,
        &purchase(
            "=P3",
            "2026-03-10T11:00:00Z",
            "=HYPERLINK(x)",
            "I",
            Some("1"),
        ),
        Some([
            "=P3",
            "1",
            "2026-03-10T11:00:00Z",
            "purchase",
            "=HYPERLINK(x)",
            "admin_agent",
            "P-TEST-01",
            "I",
            "+1",
            "",
            "",
            "",
            "\tnote, \"quoted\"",
        ]),
    );
    // Another unknown customer, written plainly: staging kept no raw values.
    days.stage_plain(
        orders,
        8,
        &purchase("P7", "2026-03-10T12:00:00.5Z", "C9", "I", Some("2.50")),
    );
    // A row intake rejected on 2026-03-10 (no staged event), from a file named earlier.
    RejectFixture::malformed(
        "2026-03-10",
        early,
        9,
        "quantity: \"-3\" is not a number >= 0",
        [
            "P9",
            "1",
            "2026-03-10T07:00:00Z",
            "purchase",
            "C1",
            "admin_agent",
            "P-TEST-01",
            "M",
            "-3",
            "",
            "",
            "",
            "",
        ],
    )
    .insert(&mut days.conn);
    let mut yesterday = [""; 13];
    yesterday[0] = "P8";
    RejectFixture::malformed("2026-03-09", early, 3, "yesterday", yesterday).insert(&mut days.conn);
    days.run_days("2026-03-09", "2026-03-10");
    days
}

#[test]
fn every_day_gets_all_three_reports_with_exact_headers() {
    let days = story();
    for date in ["2026-03-09", "2026-03-10"] {
        assert_eq!(
            days.report(date, "rejects.csv").lines().next(),
            Some(REJECTS_HEADER)
        );
        assert_eq!(
            days.report(date, "provisioning.csv").lines().next(),
            Some(PROVISIONING_HEADER)
        );
        assert_eq!(
            days.report(date, "suspended.csv").lines().next(),
            Some(SUSPENDED_HEADER)
        );
    }
    // Nothing was suspended at the end of 2026-03-09: a header alone.
    assert_eq!(
        days.report("2026-03-09", "suspended.csv"),
        format!("{SUSPENDED_HEADER}\n")
    );
}

#[test]
fn rejects_carry_the_original_values_ordered_by_file_then_line() {
    let mut days = story();
    let messages: Vec<String> = schema::rejected_rows::table
        .filter(schema::rejected_rows::error_code.eq("unknown_customer"))
        .order(schema::rejected_rows::source_line)
        .select(schema::rejected_rows::error_message)
        .load(&mut days.conn)
        .unwrap();
    let rows = days.rows("2026-03-10", "rejects.csv");
    assert_eq!(
        rows,
        vec![
            vec![
                "a-early.csv",
                "9",
                "malformed_row",
                "quantity: \"-3\" is not a number >= 0",
                "P9",
                "1",
                "2026-03-10T07:00:00Z",
                "purchase",
                "C1",
                "admin_agent",
                "P-TEST-01",
                "M",
                "'-3",
                "",
                "",
                "",
                "",
            ],
            vec![
                "orders.csv",
                "7",
                "unknown_customer",
                messages[0].as_str(),
                "'=P3",
                "1",
                "2026-03-10T11:00:00Z",
                "purchase",
                "'=HYPERLINK(x)",
                "admin_agent",
                "P-TEST-01",
                "I",
                "'+1",
                "",
                "",
                "",
                "'\tnote, \"quoted\"",
            ],
            vec![
                "orders.csv",
                "8",
                "unknown_customer",
                messages[1].as_str(),
                "P7",
                "1",
                "2026-03-10T12:00:00.500Z",
                "purchase",
                "C9",
                "admin_agent",
                "P-TEST-01",
                "I",
                "2.50",
                "",
                "",
                "",
                "",
            ],
        ]
    );
    // Yesterday's reject stays in yesterday's report.
    let yesterday = days.rows("2026-03-09", "rejects.csv");
    assert_eq!(yesterday.len(), 1);
    assert_eq!(yesterday[0][4], "P8");
}

#[test]
fn provisioning_lists_the_isv_subscriptions_purchased_that_day() {
    let days = story();
    assert_eq!(
        days.rows("2026-03-10", "provisioning.csv"),
        vec![vec![
            "P1-1",
            "C1",
            "'+Plus Corp",
            "I",
            "'=ISV App",
            "Fabrikam",
            "2",
            "2026-03-10",
            "https://isv.example/setup?id=1,2",
        ]]
    );
    assert_eq!(
        days.rows("2026-03-09", "provisioning.csv"),
        vec![vec![
            "P0-1",
            "C2",
            "C2 Ltd",
            "I",
            "'=ISV App",
            "Fabrikam",
            "1",
            "2026-03-09",
            "https://isv.example/setup?id=1,2",
        ]]
    );
}

#[test]
fn suspended_lists_the_subscriptions_suspended_at_the_end_of_the_day() {
    let days = story();
    // C1 opened 2026-01-01, first paid start 2026-03-10: gap 68, retention 120 days. The
    // add-on was suspended with its base.
    assert_eq!(
        days.rows("2026-03-10", "suspended.csv"),
        vec![
            vec![
                "P2-1",
                "C1",
                "'+Plus Corp",
                "M",
                "",
                "2026-03-10",
                "2026-07-08"
            ],
            vec![
                "P4-1",
                "C1",
                "'+Plus Corp",
                "A",
                "P2-1",
                "2026-03-10",
                "2026-07-08"
            ],
        ]
    );
}

#[test]
fn re_running_a_day_rewrites_the_same_reports_even_after_later_days() {
    let mut days = story();
    let read_all = |days: &Days| {
        ["rejects.csv", "provisioning.csv", "suspended.csv"].map(|f| days.report("2026-03-10", f))
    };
    let first = read_all(&days);
    days.run(JobName::ApplyOrders, d("2026-03-10"));
    assert_eq!(read_all(&days), first);
    // The next day reactivates the subscription; re-running 2026-03-10 keeps its own picture.
    let orders = days.file("more.csv");
    days.stage_plain(
        orders,
        2,
        &act(
            "P6",
            "2026-03-11T10:00:00Z",
            Action::Reactivate,
            "C1",
            "P2-1",
        ),
    );
    days.run_days("2026-03-11", "2026-03-11");
    assert_eq!(
        days.report("2026-03-11", "suspended.csv"),
        format!("{SUSPENDED_HEADER}\n")
    );
    days.run(JobName::ApplyOrders, d("2026-03-10"));
    assert_eq!(read_all(&days), first);
}

/// A month through the real jobs: the invoice holds exactly what was posted in it.
#[test]
fn a_month_of_real_jobs_invoices_what_was_posted() {
    let (offers, customers) = catalog();
    let mut days = Days::new(&offers, &customers);
    let orders = days.file("orders.csv");
    days.stage_plain(
        orders,
        2,
        &purchase("P1", "2026-01-13T09:00:00Z", "C2", "M", Some("1")),
    );
    days.stage_plain(
        orders,
        3,
        &change("P2", "2026-02-01T09:00:00Z", "C2", "P1-1", "2"),
    );
    days.stage_plain(
        orders,
        4,
        &purchase("P3", "2026-02-05T09:00:00Z", "C1", "I", Some("1")),
    );
    days.run_days("2026-01-13", "2026-02-28");
    let dir = days.env.config.invoices_dir(d("2026-01-01"));
    let january = std::fs::read_to_string(dir.join("invoice-lines.csv")).unwrap();
    assert_eq!(
        january.lines().skip(1).collect::<Vec<_>>(),
        [
            "P-TEST-01,C2,C2 Ltd,US,INV-202601-000001,P1,P1-1,,M,M name,Microsoft,\
          Prorate fees when purchase,2026-01-13,2026-02-12,31,31,30.00,1,30.00,USD,monthly,2026-01-13"
        ]
    );
    let dir = days.env.config.invoices_dir(d("2026-02-01"));
    let february = std::fs::read_to_string(dir.join("invoices.csv")).unwrap();
    // C1's ISV purchase; C2's seat change, 12 of 31 days (−11.61, +23.23), and cycle fee (60.00).
    assert_eq!(
        february.lines().collect::<Vec<_>>(),
        [
            "InvoiceNumber,CustomerId,CustomerName,PeriodStart,PeriodEnd,LineCount,Total,Currency",
            "INV-202602-000001,C1,'+Plus Corp,2026-02-01,2026-02-28,1,10.00,USD",
            "INV-202602-000002,C2,C2 Ltd,2026-02-01,2026-02-28,3,71.62,USD",
        ]
    );
}

#[test]
fn the_probe_says_which_reports_have_rows_and_empty_ones_are_their_header() {
    let mut days = story();
    let have = |days: &mut Days, date: &str| {
        days.conn
            .transaction(|conn| store::reports::have_rows(conn, d(date)))
            .unwrap()
    };
    // 2026-03-09: yesterday's reject and P0's ISV purchase; the suspension of 2026-03-10 is
    // the state now (suspended.csv has no date).
    assert_eq!(
        have(&mut days, "2026-03-09"),
        store::reports::HaveRows {
            rejects: true,
            provisioning: true,
            suspended: true
        }
    );
    days.run_days("2026-03-11", "2026-03-11");
    assert_eq!(
        have(&mut days, "2026-03-11"),
        store::reports::HaveRows {
            rejects: false,
            provisioning: false,
            suspended: true
        }
    );
    // A day with nothing to report: the header alone, exactly what an export with no rows
    // writes.
    assert_eq!(
        days.report("2026-03-11", "rejects.csv"),
        format!("{REJECTS_HEADER}\n")
    );
    assert_eq!(
        days.report("2026-03-11", "provisioning.csv"),
        format!("{PROVISIONING_HEADER}\n")
    );
    assert!(!days.rows("2026-03-11", "suspended.csv").is_empty());
    // Reactivated: nothing is suspended any more.
    let file = days.file("later.csv");
    days.stage_plain(
        file,
        2,
        &act(
            "P6",
            "2026-03-12T10:00:00Z",
            Action::Reactivate,
            "C1",
            "P2-1",
        ),
    );
    days.run_days("2026-03-12", "2026-03-13");
    assert_eq!(
        have(&mut days, "2026-03-13"),
        store::reports::HaveRows {
            rejects: false,
            provisioning: false,
            suspended: false
        }
    );
    assert_eq!(
        days.report("2026-03-13", "suspended.csv"),
        format!("{SUSPENDED_HEADER}\n")
    );
}

/// After a bulk day the reports are exported without the probe: an export with no rows must
/// write exactly what a report written from no rows is, its header.
#[test]
fn an_export_with_no_rows_writes_the_header_alone() {
    use subsweep::output::reports as files;
    let mut days = story();
    days.run_days("2026-03-11", "2026-03-11");
    let date = d("2026-03-11");
    let (rejects, provisioning) = days
        .conn
        .transaction(|conn| {
            let mut rejects = Vec::new();
            store::reports::rejects(conn, date, |rows| files::write_rejects(&mut rejects, rows))?
                .unwrap();
            let mut provisioning = Vec::new();
            store::reports::provisioning(conn, date, |rows| {
                files::write_provisioning(&mut provisioning, rows)
            })?
            .unwrap();
            diesel::QueryResult::Ok((rejects, provisioning))
        })
        .unwrap();
    assert_eq!(
        String::from_utf8(rejects).unwrap(),
        format!("{REJECTS_HEADER}\n")
    );
    assert_eq!(
        String::from_utf8(provisioning).unwrap(),
        format!("{PROVISIONING_HEADER}\n")
    );
    assert_eq!(
        days.report("2026-03-11", "rejects.csv"),
        format!("{REJECTS_HEADER}\n")
    );
}
