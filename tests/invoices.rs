//! The `invoices` job (SPEC section 7): one invoice per customer, numbered in customer_id
//! order, files with exactly the columns and formats of the spec, totals that reconcile, and
//! re-runs that write the same bytes.

mod common;

use std::path::PathBuf;

use chrono::NaiveDate;
use common::fixtures::{
    self, CustomerFixture, LineFixture, OfferFixture, OrderRow, SubscriptionFixture, order_file,
};
use common::{PARTNER, TestEnv};
use diesel::prelude::*;
use diesel::sql_types::Int8;
use rust_decimal::Decimal;
use subsweep::domain::clock::{Moment, Step};
use subsweep::domain::vocabulary::BillingFrequency;
use subsweep::jobs::{self, JobContext, JobName, JobOutcome};
use subsweep::store::{self, schema};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const LINES_HEADER: &str = "PartnerId,CustomerId,CustomerName,CustomerCountry,InvoiceNumber,\
OrderId,SubscriptionId,ParentSubscriptionId,OfferId,OfferName,PublisherName,ChargeType,\
ChargeStartDate,ChargeEndDate,BillableDays,PeriodDays,UnitPrice,Quantity,Amount,Currency,\
BillingCycleType,PostedOn";

const INVOICES_HEADER: &str =
    "InvoiceNumber,CustomerId,CustomerName,PeriodStart,PeriodEnd,LineCount,Total,Currency";

/// A test database with catalog, subscriptions and lines inserted directly.
struct Books {
    env: TestEnv,
    conn: PgConnection,
}

impl Books {
    fn new() -> Books {
        Books::with_config("")
    }

    fn with_config(extra: &str) -> Books {
        let env = TestEnv::with_config(extra);
        let conn = env.conn();
        Books { env, conn }
    }

    fn customer(&mut self, id: &str, name: &str) -> &mut Self {
        CustomerFixture::new(id, name).insert(&mut self.conn);
        self
    }

    fn offer(&mut self, id: &str, name: &str, publisher_name: &str) -> &mut Self {
        OfferFixture::new(id, name, publisher_name).insert(&mut self.conn);
        self
    }

    /// A subscription of `offer` for `customer`, bought in order `order_id`.
    fn subscription(
        &mut self,
        id: &str,
        customer: &str,
        offer: &str,
        order_id: &str,
        parent: Option<&str>,
        billing_months: u32,
    ) -> &mut Self {
        let mut sub = SubscriptionFixture::new(id, customer, offer, order_id)
            .billed(BillingFrequency::from_months(billing_months).unwrap());
        if let Some(base) = parent {
            sub = sub.addon_of(base);
        }
        sub.insert(&mut self.conn);
        self
    }

    /// A posted line of `amount` (quantity 1 at `price`) for `sub`, on the invoice of the period
    /// starting on `period`. Returns its line_id.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        sub: &str,
        customer: &str,
        range: (&str, &str),
        price: &str,
        quantity: &str,
        amount: &str,
        posted_on: &str,
        period: &str,
    ) -> i64 {
        LineFixture::new(
            sub,
            customer,
            range,
            (price, quantity, amount),
            posted_on,
            period,
        )
        .insert(&mut self.conn)
    }

    /// Runs `invoices` for `date` in one transaction, as the runner does, with the state jobs
    /// of `date` marked done.
    fn invoices(&mut self, date: &str) -> Result<JobOutcome, subsweep::error::Error> {
        let date = d(date);
        let config = self.env.config.clone();
        self.conn.transaction(|conn| {
            if store::clock::read(conn)?.is_none_or(|at| at < Moment::new(date, Step::Orders)) {
                store::clock::advance(conn, Moment::new(date, Step::Orders))?;
            }
            let mut ctx = JobContext {
                config: &config,
                conn,
                wall_clock: std::time::SystemTime::now(),
                database_url: None,
            };
            jobs::execute(JobName::Invoices, &mut ctx, date)
        })
    }

    fn dir(&self, month: &str) -> PathBuf {
        self.env.config.output_dir.join("invoices").join(month)
    }

    fn read(&self, month: &str, file: &str) -> String {
        std::fs::read_to_string(self.dir(month).join(file))
            .unwrap_or_else(|e| panic!("{month}/{file}: {e}"))
    }

    /// invoice-lines.csv's rows (header excluded), parsed.
    fn lines(&self, month: &str) -> Vec<csv::StringRecord> {
        csv::Reader::from_path(self.dir(month).join("invoice-lines.csv"))
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect()
    }

    fn invoice_rows(&self, month: &str) -> Vec<Vec<String>> {
        csv::Reader::from_path(self.dir(month).join("invoices.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    fn count(&mut self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = Int8)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<N>(&mut self.conn)
            .unwrap()
            .n
    }
}

/// Three customers whose ids sort differently as text and as people would.
fn three_customers() -> Books {
    let mut b = Books::new();
    b.customer("C-B", "Beta")
        .customer("C-10", "Ten")
        .customer("C-9", "Nine")
        .offer("OF", "Office", "Microsoft")
        .subscription("S-B", "C-B", "OF", "O-B", None, 1)
        .subscription("S-10", "C-10", "OF", "O-10", None, 12)
        .subscription("S-9", "C-9", "OF", "O-9", None, 1);
    b.line(
        "S-B",
        "C-B",
        ("2026-03-01", "2026-03-31"),
        "4",
        "1",
        "4.00",
        "2026-03-01",
        "2026-03-01",
    );
    b.line(
        "S-10",
        "C-10",
        ("2026-03-01", "2027-02-28"),
        "120",
        "1",
        "120",
        "2026-03-01",
        "2026-03-01",
    );
    b.line(
        "S-9",
        "C-9",
        ("2026-03-13", "2026-03-31"),
        "30",
        "1",
        "-26.13",
        "2026-03-13",
        "2026-03-01",
    );
    b
}

#[test]
fn invoices_are_numbered_in_customer_id_order() {
    let mut b = three_customers();
    let outcome = b.invoices("2026-03-31").unwrap();
    assert_eq!(outcome.counts["invoices"], 3);
    // Bytewise: "C-10" < "C-9" < "C-B".
    assert_eq!(
        b.invoice_rows("2026-03"),
        vec![
            vec![
                "INV-202603-000001",
                "C-10",
                "Ten",
                "2026-03-01",
                "2026-03-31",
                "1",
                "120.00",
                "USD"
            ],
            vec![
                "INV-202603-000002",
                "C-9",
                "Nine",
                "2026-03-01",
                "2026-03-31",
                "1",
                "-26.13",
                "USD"
            ],
            vec![
                "INV-202603-000003",
                "C-B",
                "Beta",
                "2026-03-01",
                "2026-03-31",
                "1",
                "4.00",
                "USD"
            ],
        ]
    );
    assert_eq!(b.count("invoices"), 3);
    assert_eq!(b.count("invoice_runs"), 1);
}

#[test]
fn the_files_have_exactly_the_spec_columns_and_formats() {
    let mut b = three_customers();
    b.invoices("2026-03-31").unwrap();
    let lines = b.read("2026-03", "invoice-lines.csv");
    let invoices = b.read("2026-03", "invoices.csv");
    assert_eq!(lines.lines().next().unwrap(), LINES_HEADER);
    assert_eq!(invoices.lines().next().unwrap(), INVOICES_HEADER);
    assert_eq!(
        lines.lines().skip(1).collect::<Vec<_>>(),
        vec![
            format!(
                "{PARTNER},C-10,Ten,US,INV-202603-000001,O-10,S-10,,OF,Office,Microsoft,Cycle fee,2026-03-01,2027-02-28,365,31,120.00,1,120.00,USD,annual,2026-03-01"
            ),
            format!(
                "{PARTNER},C-9,Nine,US,INV-202603-000002,O-9,S-9,,OF,Office,Microsoft,Cycle fee,2026-03-13,2026-03-31,19,31,30.00,1,-26.13,USD,monthly,2026-03-13"
            ),
            format!(
                "{PARTNER},C-B,Beta,US,INV-202603-000003,O-B,S-B,,OF,Office,Microsoft,Cycle fee,2026-03-01,2026-03-31,31,31,4.00,1,4.00,USD,monthly,2026-03-01"
            ),
        ]
    );
}

#[test]
fn lines_are_ordered_by_invoice_subscription_posting_date_charge_start_then_creation() {
    let mut b = Books::new();
    b.customer("C1", "One")
        .customer("C2", "Two")
        .offer("OF", "Office", "Microsoft")
        .subscription("S-b", "C1", "OF", "O1", None, 1)
        .subscription("S-a", "C1", "OF", "O1", None, 1)
        .subscription("S-c", "C2", "OF", "O2", None, 1)
        .subscription("S-a-1", "C1", "OF", "O3", Some("S-a"), 1);
    let p = "2026-03-01";
    // Inserted deliberately out of order.
    let c2 = b.line(
        "S-c",
        "C2",
        ("2026-03-01", "2026-03-31"),
        "1",
        "1",
        "1",
        "2026-03-01",
        p,
    );
    let b2 = b.line(
        "S-b",
        "C1",
        ("2026-03-05", "2026-03-31"),
        "1",
        "1",
        "2",
        "2026-03-05",
        p,
    );
    let b1 = b.line(
        "S-b",
        "C1",
        ("2026-03-01", "2026-03-31"),
        "1",
        "1",
        "3",
        "2026-03-05",
        p,
    );
    let a3 = b.line(
        "S-a",
        "C1",
        ("2026-03-20", "2026-03-31"),
        "1",
        "1",
        "4",
        "2026-03-20",
        p,
    );
    let a1 = b.line(
        "S-a",
        "C1",
        ("2026-03-02", "2026-03-31"),
        "1",
        "2.5",
        "-5",
        "2026-03-02",
        p,
    );
    let a2 = b.line(
        "S-a",
        "C1",
        ("2026-03-02", "2026-03-31"),
        "1",
        "2.5",
        "5",
        "2026-03-02",
        p,
    );
    let addon = b.line(
        "S-a-1",
        "C1",
        ("2026-03-10", "2026-03-31"),
        "1",
        "1",
        "6",
        "2026-03-10",
        p,
    );
    b.invoices("2026-03-31").unwrap();
    let amounts: Vec<(String, String, String)> = b
        .lines("2026-03")
        .iter()
        .map(|r| (r[4].to_string(), r[6].to_string(), r[18].to_string()))
        .collect();
    let _ = (c2, b2, b1, a3, a1, a2, addon);
    assert_eq!(
        amounts,
        [
            ("INV-202603-000001", "S-a", "-5.00"),
            ("INV-202603-000001", "S-a", "5.00"),
            ("INV-202603-000001", "S-a", "4.00"),
            ("INV-202603-000001", "S-a-1", "6.00"),
            ("INV-202603-000001", "S-b", "3.00"),
            ("INV-202603-000001", "S-b", "2.00"),
            ("INV-202603-000002", "S-c", "1.00"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let rows = b.lines("2026-03");
    // The add-on carries its parent; the quantity prints plainly.
    assert_eq!(&rows[3][7], "S-a");
    assert_eq!(&rows[0][17], "2.5");
    assert_eq!(&rows[0][16], "1.00");
}

#[test]
fn amounts_have_two_decimals_and_totals_reconcile_with_their_lines() {
    let mut b = Books::new();
    b.customer("C1", "One")
        .offer("OF", "Office", "Microsoft")
        .subscription("S1", "C1", "OF", "O1", None, 1);
    let p = "2026-03-01";
    for amount in ["4", "-1.55", "3.1", "0", "-30.00", "16.45", "1234567.89"] {
        b.line(
            "S1",
            "C1",
            ("2026-03-01", "2026-03-31"),
            "4.125",
            "1",
            amount,
            "2026-03-01",
            p,
        );
    }
    b.invoices("2026-03-31").unwrap();
    let rows = b.lines("2026-03");
    let amounts: Vec<&str> = rows.iter().map(|r| &r[18]).collect();
    assert_eq!(
        amounts,
        [
            "4.00",
            "-1.55",
            "3.10",
            "0.00",
            "-30.00",
            "16.45",
            "1234567.89"
        ]
    );
    assert!(rows.iter().all(|r| &r[16] == "4.125"));
    let sum: Decimal = amounts.iter().map(|a| a.parse::<Decimal>().unwrap()).sum();
    let invoices = b.invoice_rows("2026-03");
    assert_eq!(invoices[0][5], "7");
    assert_eq!(invoices[0][6], "1234559.89");
    assert_eq!(invoices[0][6].parse::<Decimal>().unwrap(), sum);
}

#[test]
fn a_period_without_lines_gets_both_files_with_headers_only() {
    let mut b = Books::new();
    let outcome = b.invoices("2026-04-30").unwrap();
    assert_eq!(outcome.counts["invoices"], 0);
    assert_eq!(
        b.read("2026-04", "invoice-lines.csv"),
        format!("{LINES_HEADER}\n")
    );
    assert_eq!(
        b.read("2026-04", "invoices.csv"),
        format!("{INVOICES_HEADER}\n")
    );
    assert_eq!(b.count("invoice_runs"), 1);
}

#[test]
fn lines_of_other_periods_stay_off_the_invoice() {
    let mut b = three_customers();
    b.line(
        "S-B",
        "C-B",
        ("2026-04-01", "2026-04-30"),
        "4",
        "1",
        "4",
        "2026-03-31",
        "2026-04-01",
    );
    b.line(
        "S-B",
        "C-B",
        ("2026-02-01", "2026-02-28"),
        "4",
        "1",
        "4",
        "2026-02-01",
        "2026-02-01",
    );
    b.invoices("2026-03-31").unwrap();
    assert_eq!(b.lines("2026-03").len(), 3);
}

#[test]
fn re_running_rewrites_byte_identical_files_without_renumbering() {
    let mut b = three_customers();
    b.invoices("2026-03-31").unwrap();
    let first = (
        b.read("2026-03", "invoice-lines.csv"),
        b.read("2026-03", "invoices.csv"),
    );
    let stored = |b: &mut Books| -> Vec<(String, String)> {
        schema::invoices::table
            .order(schema::invoices::invoice_number)
            .select((
                schema::invoices::invoice_number,
                schema::invoices::customer_id,
            ))
            .load(&mut b.conn)
            .unwrap()
    };
    let numbers = stored(&mut b);
    // A file deleted or damaged in between is restored.
    std::fs::write(b.dir("2026-03").join("invoices.csv"), "damaged").unwrap();
    std::fs::remove_file(b.dir("2026-03").join("invoice-lines.csv")).unwrap();
    let outcome = b.invoices("2026-03-31").unwrap();
    assert_eq!(outcome.counts["periods_reemitted"], 1);
    assert_eq!(
        (
            b.read("2026-03", "invoice-lines.csv"),
            b.read("2026-03", "invoices.csv"),
        ),
        first
    );
    assert_eq!(stored(&mut b), numbers);
    assert_eq!(b.count("invoice_runs"), 1);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(b.dir("2026-03")).unwrap().count(), 2);
}

#[test]
fn no_invoice_on_a_day_that_does_not_close_a_period() {
    let mut b = three_customers();
    let outcome = b.invoices("2026-03-30").unwrap();
    assert_eq!(outcome.counts["invoices"], 0);
    assert!(!b.dir("2026-03").exists());
    assert_eq!(b.count("invoice_runs"), 0);
    assert_eq!(b.count("invoices"), 0);
}

#[test]
fn an_invoice_day_of_15_closes_periods_on_the_14th() {
    let mut b = Books::with_config("[billing]\ninvoice_day = 15\n");
    b.customer("C1", "One")
        .offer("OF", "Office", "Microsoft")
        .subscription("S1", "C1", "OF", "O1", None, 1);
    b.line(
        "S1",
        "C1",
        ("2026-03-10", "2026-03-31"),
        "4",
        "1",
        "2.84",
        "2026-03-10",
        "2026-02-15",
    );
    assert_eq!(b.invoices("2026-02-28").unwrap().counts["invoices"], 0);
    assert_eq!(b.invoices("2026-03-15").unwrap().counts["invoices"], 0);
    assert_eq!(b.invoices("2026-03-14").unwrap().counts["invoices"], 1);
    assert_eq!(
        b.invoice_rows("2026-02"),
        vec![vec![
            "INV-202602-000001",
            "C1",
            "One",
            "2026-02-15",
            "2026-03-14",
            "1",
            "2.84",
            "USD"
        ]]
    );
    assert!(!b.dir("2026-03").exists());
}

#[test]
fn hostile_text_is_defused_and_numbers_are_not() {
    let mut b = Books::new();
    b.customer("@x", "=SUM(A1)")
        .customer("C2", "\tTabbed")
        .customer("C3", "\rReturned, \"quoted\"")
        .offer("+1", "-2", "@Pub")
        .subscription("-S1", "@x", "+1", "=O1", None, 1)
        .subscription("S2", "C2", "+1", "O2", None, 1)
        .subscription("S3", "C3", "+1", "O3", None, 1);
    b.line(
        "-S1",
        "@x",
        ("2026-03-01", "2026-03-31"),
        "4",
        "1",
        "-4.00",
        "2026-03-01",
        "2026-03-01",
    );
    b.line(
        "S2",
        "C2",
        ("2026-03-01", "2026-03-31"),
        "4",
        "1",
        "4",
        "2026-03-01",
        "2026-03-01",
    );
    b.line(
        "S3",
        "C3",
        ("2026-03-01", "2026-03-31"),
        "4",
        "1",
        "4",
        "2026-03-01",
        "2026-03-01",
    );
    b.invoices("2026-03-31").unwrap();
    let rows = b.lines("2026-03");
    let first = &rows[0];
    assert_eq!(&first[1], "'@x");
    assert_eq!(&first[2], "'=SUM(A1)");
    assert_eq!(&first[5], "'=O1");
    assert_eq!(&first[6], "'-S1");
    assert_eq!(&first[8], "'+1");
    assert_eq!(&first[9], "'-2");
    assert_eq!(&first[10], "'@Pub");
    assert_eq!(&first[18], "-4.00", "numbers are never prefixed");
    assert_eq!(&rows[1][2], "'\tTabbed");
    assert_eq!(&rows[2][2], "'\rReturned, \"quoted\"");
    let invoices = b.invoice_rows("2026-03");
    assert_eq!(invoices[0][1], "'@x");
    assert_eq!(invoices[0][2], "'=SUM(A1)");
    assert_eq!(invoices[0][6], "-4.00");
}

/// What finance's tools see: Python's csv module reads every row with 22 columns, every Amount
/// parses as a number, and each invoice's lines add up to its Total.
#[test]
fn a_finance_script_reads_the_files_and_the_totals_add_up() {
    let mut b = Books::new();
    b.customer("C1", "=cmd|' /C calc'!A0")
        .customer("C2", "Line\nbreak, comma")
        .offer("OF", "Office \"365\"", "Microsoft")
        .subscription("S1", "C1", "OF", "O1", None, 1)
        .subscription("S2", "C2", "OF", "O2", None, 12);
    for (i, amount) in ["4.00", "-1.55", "3.10", "-26.13", "16.45"]
        .iter()
        .enumerate()
    {
        let sub = if i % 2 == 0 {
            ("S1", "C1")
        } else {
            ("S2", "C2")
        };
        b.line(
            sub.0,
            sub.1,
            ("2026-03-01", "2026-03-31"),
            "4",
            "1",
            amount,
            "2026-03-01",
            "2026-03-01",
        );
    }
    b.invoices("2026-03-31").unwrap();
    let script = r#"
import csv, sys
from decimal import Decimal
d = sys.argv[1]
with open(d + "/invoice-lines.csv", newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
assert len(header) == 22, header
sums = {}
for r in body:
    assert len(r) == 22, r
    float(r[header.index("Amount")])
    sums[r[4]] = sums.get(r[4], Decimal(0)) + Decimal(r[header.index("Amount")])
with open(d + "/invoices.csv", newline="") as f:
    inv = list(csv.DictReader(f))
for i in inv:
    assert sums[i["InvoiceNumber"]] == Decimal(i["Total"]), (i, sums)
    assert int(i["LineCount"]) == sum(1 for r in body if r[4] == i["InvoiceNumber"])
print("ok", len(body), len(inv))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(b.dir("2026-03"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 5 2");
}

#[test]
fn lines_that_do_not_reach_the_file_make_the_invoice_refused_and_nothing_published() {
    let mut b = three_customers();
    // A subscription whose offer is missing: its line cannot be written out in full.
    b.subscription("S-X", "C-B", "GONE", "O-X", None, 1);
    b.line(
        "S-X",
        "C-B",
        ("2026-03-01", "2026-03-31"),
        "4",
        "1",
        "4",
        "2026-03-01",
        "2026-03-01",
    );
    let err = b.invoices("2026-03-31").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("control totals"), "{message}");
    assert!(message.contains("INV-202603-000003"), "{message}");
    assert_ne!(err.exit() as i32, 0);
    assert!(!b.dir("2026-03").join("invoice-lines.csv").exists());
    assert!(!b.dir("2026-03").join("invoices.csv").exists());
    // The transaction rolled back: the period is still open.
    assert_eq!(b.count("invoice_runs"), 0);
    // No temporary file is left either.
    let left = std::fs::read_dir(b.dir("2026-03"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

#[test]
fn a_line_of_an_unknown_subscription_refuses_the_invoice() {
    let mut b = three_customers();
    b.line(
        "S-NONE",
        "C-B",
        ("2026-03-01", "2026-03-31"),
        "4",
        "1",
        "4",
        "2026-03-01",
        "2026-03-01",
    );
    let message = b.invoices("2026-03-31").unwrap_err().to_string();
    assert!(message.contains("no known subscription"), "{message}");
    assert!(!b.dir("2026-03").join("invoices.csv").exists());
}

#[test]
fn the_invoice_waits_for_the_days_orders() {
    let mut b = three_customers();
    let err = common::execute_job(
        &mut b.conn,
        &b.env.config,
        JobName::Invoices,
        d("2026-03-31"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("nightly --date 2026-03-31"),
        "{err}"
    );
    assert!(!b.dir("2026-03").exists());
}

/// A COPY that fails part-way ends its stream like a complete one; the export must still fail.
#[test]
fn an_export_failing_part_way_is_an_error_not_a_short_file() {
    use subsweep::store::export::{Export, read_csv};
    struct FailsAtRowThree;
    impl Export for FailsAtRowThree {
        const SQL: &'static str = "SELECT g, 1 / (g - 3) FROM generate_series(1, 5) g WHERE current_setting('subsweep.export_param') <> ''";
    }
    let mut b = Books::new();
    let mut seen = String::new();
    let result = b.conn.transaction::<_, diesel::result::Error, _>(|conn| {
        read_csv::<FailsAtRowThree, _>(conn, d("2026-01-01"), |rows| {
            rows.read_to_string(&mut seen)
        })?
        .map_err(|e| diesel::result::Error::DeserializationError(e.into()))?;
        Ok(())
    });
    assert!(result.is_err(), "read {seen:?} without an error");
    // Outside a transaction the failure could not be seen: refused up front.
    let outside = read_csv::<FailsAtRowThree, _>(&mut b.conn, d("2026-01-01"), |_| ());
    assert!(outside.is_err());
    // And a good export in a transaction reads everything and leaves the connection usable.
    struct Three;
    impl Export for Three {
        const SQL: &'static str =
            "SELECT g, current_setting('subsweep.export_param') FROM generate_series(1, 3) g";
    }
    let text = b
        .conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            let mut text = String::new();
            read_csv::<Three, _>(conn, d("2026-02-28"), |rows| rows.read_to_string(&mut text))?
                .unwrap();
            // Left unread on purpose: drained without harm.
            read_csv::<Three, _>(conn, d("2026-03-01"), |_| ())?;
            Ok(text)
        })
        .unwrap();
    assert_eq!(text, "1,2026-02-28\n2,2026-02-28\n3,2026-02-28\n");
    assert_eq!(b.count("invoices"), 0);
}

/// The scale target: a period of 1,000,000 lines emitted within about 1.5× the time of
/// `psql \copy (SELECT …) TO file` of the same rows. Slow; run in release:
/// `cargo test --release --test invoices -- --ignored --nocapture a_million`.
#[test]
#[ignore]
fn a_million_lines_are_emitted_close_to_the_speed_of_psql_copy() {
    use std::time::Instant;
    let mut b = Books::new();
    b.offer("OF", "Office", "Microsoft");
    fixtures::bulk_march_lines(&mut b.conn);
    let started = Instant::now();
    let outcome = b.invoices("2026-03-31").unwrap();
    let first = started.elapsed();
    assert_eq!(outcome.counts["invoice_lines"], 1_000_000);
    let started = Instant::now();
    b.invoices("2026-03-31").unwrap();
    let rerun = started.elapsed();

    let query: String = include_str!("../src/store/invoice_lines.sql")
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ")
        .replace(
            "current_setting('subsweep.export_param')::date",
            "DATE '2026-03-01'",
        );
    let target = b.env.dir.path().join("psql.csv");
    let mut psql = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let status = std::process::Command::new("psql")
            .arg(&b.env.db.url)
            .arg("-qc")
            .arg(format!(
                "\\copy ({query}) TO '{}' WITH (FORMAT csv)",
                target.display()
            ))
            .status()
            .expect("psql runs");
        assert!(status.success());
        psql.push(started.elapsed());
    }
    let best_psql = psql.iter().min().unwrap().as_secs_f64();
    let size = std::fs::metadata(b.dir("2026-03").join("invoice-lines.csv"))
        .unwrap()
        .len();
    eprintln!(
        "1,000,000 lines ({size} bytes): invoices first run {:.2}s, re-run {:.2}s; \
         psql \\copy {:.2}s / {:.2}s; ratio first {:.2}, re-run {:.2}",
        first.as_secs_f64(),
        rerun.as_secs_f64(),
        psql[0].as_secs_f64(),
        psql[1].as_secs_f64(),
        first.as_secs_f64() / best_psql,
        rerun.as_secs_f64() / best_psql,
    );
    assert!(
        rerun.as_secs_f64() / best_psql < 2.0,
        "far off the 1.5× target"
    );
}

/// InvoiceNumber and CustomerId of each row of invoices.csv.
fn numbers_of(b: &Books, month: &str) -> Vec<(String, String)> {
    b.invoice_rows(month)
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .collect()
}

#[test]
fn customer_ids_are_numbered_bytewise_whatever_a_locale_would_say() {
    let mut b = Books::new();
    b.offer("OF", "Office", "Microsoft");
    // Inserted in an order that is neither bytewise nor a locale's.
    for id in ["ä", "b", "a_1", "Z", "a-1", "B"] {
        let sub = format!("S-{id}");
        b.customer(id, &format!("{id} Ltd")).subscription(
            &sub,
            id,
            "OF",
            &format!("O-{id}"),
            None,
            1,
        );
        b.line(
            &sub,
            id,
            ("2026-03-01", "2026-03-31"),
            "10",
            "1",
            "10.00",
            "2026-03-01",
            "2026-03-01",
        );
    }
    b.invoices("2026-03-31").unwrap();
    assert_eq!(
        numbers_of(&b, "2026-03"),
        pairs(&[
            ("INV-202603-000001", "B"),
            ("INV-202603-000002", "Z"),
            ("INV-202603-000003", "a-1"),
            ("INV-202603-000004", "a_1"),
            ("INV-202603-000005", "b"),
            ("INV-202603-000006", "ä"),
        ])
    );
    // invoice-lines.csv follows the invoice numbers.
    let customers: Vec<String> = b
        .lines("2026-03")
        .iter()
        .map(|r| r[1].to_string())
        .collect();
    assert_eq!(customers, vec!["B", "Z", "a-1", "a_1", "b", "ä"]);
}

/// Orders for six customers whose ids sort differently bytewise and by a locale, a seventh
/// (`0`) buying only in the second invoice period.
fn numbering_env(invoice_day: u32) -> TestEnv {
    let env = TestEnv::with_config(&format!("[billing]\ninvoice_day = {invoice_day}\n"));
    let offers = "\
offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url
SEAT4,Seat at 4,microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,small_business,commercial,false,0,true,true,*,,false,,1,,
";
    let ids = ["b", "B", "a-1", "a_1", "Z", "ä", "0"];
    let mut customers = "customer_id,name,country,segment,currency,account_opened_on\n".to_string();
    for id in ids {
        customers.push_str(&format!("{id},{id} Ltd,US,commercial,USD,2026-01-01\n"));
    }
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
    let orders: Vec<OrderRow> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            // The first six buy on 2026-02-20; `0` on 2026-03-20.
            let date = if *id == "0" {
                "2026-03-20"
            } else {
                "2026-02-20"
            };
            OrderRow::purchase(&format!("O{n}"), id, "SEAT4").at(&format!("{date}T10:00:00Z"))
        })
        .collect();
    env.drop_file("orders.csv", order_file(&orders));
    env
}

fn csv_numbers(env: &TestEnv, month: &str) -> Vec<(String, String)> {
    let path = env
        .config
        .output_dir
        .join(format!("invoices/{month}/invoices.csv"));
    csv::Reader::from_path(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect()
}

#[test]
fn numbers_restart_each_invoice_period_through_the_nightly_jobs() {
    // invoice_day 15: periods 2026-02-15..2026-03-14 and 2026-03-15..2026-04-14. Purchases on
    // 2026-02-20 land in the first; their renewals on 2026-03-20 and `0`'s purchase in the
    // second, which numbers from 000001 again, `0` first.
    let env = numbering_env(15);
    let (code, _, err) = env.run(&["backfill", "--from", "2026-02-20", "--to", "2026-04-14"]);
    assert_eq!(code, 0, "{err}");
    let first = [
        ("INV-202602-000001", "B"),
        ("INV-202602-000002", "Z"),
        ("INV-202602-000003", "a-1"),
        ("INV-202602-000004", "a_1"),
        ("INV-202602-000005", "b"),
        ("INV-202602-000006", "ä"),
    ];
    assert_eq!(csv_numbers(&env, "2026-02"), pairs(&first));
    assert_eq!(
        csv_numbers(&env, "2026-03"),
        pairs(&[
            ("INV-202603-000001", "0"),
            ("INV-202603-000002", "B"),
            ("INV-202603-000003", "Z"),
            ("INV-202603-000004", "a-1"),
            ("INV-202603-000005", "a_1"),
            ("INV-202603-000006", "b"),
            ("INV-202603-000007", "ä"),
        ])
    );
    assert!(!env.config.output_dir.join("invoices/2026-04").exists());
}

/// invoice-lines.csv is written from the export's text while `preview` formats typed values
/// with `output::invoices::line_cells`: for every kind of value a line can hold (numbers of
/// every sign and scale, zeros with and without decimals, amounts with more than two decimals,
/// formula starters, quotes, commas, line breaks and non-ASCII text), the file's bytes are the
/// bytes `line_cells` gives for the same line read back typed.
#[test]
fn every_line_is_written_as_the_shared_formatter_writes_its_values() {
    use subsweep::output::cells;
    use subsweep::output::invoices::{LINE_HEADER, LineValues, line_cells};

    let mut b = Books::new();
    b.customer("C1", "Zoë \"Ltd\", Bäckerei\nsecond line")
        .customer("C2", "-minus")
        .customer("C3", "日本語 株式会社")
        .offer("OF1", "=Office, \"E3\"", "\rPub")
        .offer("OF2", "Ünïcode ☃", "")
        .subscription("S1", "C1", "OF1", "@O1", None, 1)
        .subscription("S1-A", "C1", "OF2", "O1", Some("S1"), 1)
        .subscription("S2", "C2", "OF1", "O2", None, 12)
        .subscription("S3", "C3", "OF2", "\tO3", None, 1);
    // (subscription, customer, price, quantity, amount, charge type): each customer's amounts
    // add up, as they are written (two decimals, half away from zero), to what they add up to
    // stored, so the invoices are not refused.
    let lines = [
        ("S1", "C1", "4", "1", "4", "Cycle fee"),
        ("S1", "C1", "4.5", "1.0", "-4.50", "-credit"),
        ("S1", "C1", "4.50", "2.50", "1.005", "+x"),
        ("S1", "C1", "4.5000", "0", "-1.005", "@y"),
        ("S1-A", "C1", "0.12345", "0.000", "0.00", "=z"),
        ("S1-A", "C1", "0", "1234.5678", "0", "日本"),
        ("S1-A", "C1", "1000000", "3", "123456789012.34", "Cycle fee"),
        ("S1-A", "C1", "0.1", "10", "-123456789012.34", "Cycle fee"),
        ("S2", "C2", "12.3450", "7", "-0.005", "Cycle fee"),
        ("S2", "C2", "99.99", "0.5", "0.005", "Cycle fee"),
        ("S2", "C2", "0.01", "100", "-26.13", "Cycle fee"),
        ("S3", "C3", "7.000", "2", "12.345", "Cycle fee"),
        ("S3", "C3", "7", "1", "-12.345", "Cycle fee"),
        ("S3", "C3", "3.10", "1", "3.1", "Cycle fee"),
    ];
    for (sub, customer, price, quantity, amount, charge_type) in lines {
        let mut line = LineFixture::new(
            sub,
            customer,
            ("2026-03-01", "2026-03-31"),
            (price, quantity, amount),
            "2026-03-05",
            "2026-03-01",
        );
        line.0.charge_type = charge_type.into();
        line.insert(&mut b.conn);
    }
    b.invoices("2026-03-31").unwrap();

    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        customer_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        customer_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        country: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        invoice_number: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        order_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        subscription_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        parent: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        offer_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        offer_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        publisher_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        charge_type: String,
        #[diesel(sql_type = diesel::sql_types::Date)]
        start_date: NaiveDate,
        #[diesel(sql_type = diesel::sql_types::Date)]
        end_date: NaiveDate,
        #[diesel(sql_type = diesel::sql_types::Int4)]
        billable_days: i32,
        #[diesel(sql_type = diesel::sql_types::Int4)]
        period_days: i32,
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        unit_price: Decimal,
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        quantity: Decimal,
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        amount: Decimal,
        #[diesel(sql_type = diesel::sql_types::Text)]
        currency: String,
        #[diesel(sql_type = diesel::sql_types::Int2)]
        billing_months: i16,
        #[diesel(sql_type = diesel::sql_types::Date)]
        posted_on: NaiveDate,
    }
    let stored: Vec<Line> = diesel::sql_query(
        "SELECT l.customer_id, cu.name AS customer_name, cu.country, i.invoice_number, \
                s.order_id, l.subscription_id, coalesce(s.parent_subscription_id, '') AS parent, \
                s.offer_id, o.name AS offer_name, o.publisher_name, l.charge_type, l.start_date, \
                l.end_date, l.billable_days, l.period_days, l.unit_price, l.quantity, l.amount, \
                s.currency, s.billing_months, l.posted_on \
         FROM charge_lines l JOIN customers cu USING (customer_id) \
         JOIN subscriptions s ON s.subscription_id = l.subscription_id \
           AND s.customer_id = l.customer_id \
         JOIN offers o ON o.offer_id = s.offer_id \
         JOIN invoices i ON i.customer_id = l.customer_id \
           AND i.period_start = l.invoice_period_start \
         ORDER BY l.customer_id COLLATE \"C\", l.subscription_id COLLATE \"C\", l.posted_on, \
                  l.start_date, l.line_id",
    )
    .load(&mut b.conn)
    .unwrap();
    assert_eq!(stored.len(), lines.len());

    let partner = cells::text(PARTNER);
    let mut expected = csv::Writer::from_writer(Vec::new());
    expected.write_record(LINE_HEADER).unwrap();
    for l in &stored {
        let values = LineValues {
            customer_id: &l.customer_id,
            customer_name: &l.customer_name,
            customer_country: &l.country,
            invoice_number: &l.invoice_number,
            order_id: &l.order_id,
            subscription_id: &l.subscription_id,
            parent_subscription_id: &l.parent,
            offer_id: &l.offer_id,
            offer_name: &l.offer_name,
            publisher_name: &l.publisher_name,
            charge_type: &l.charge_type,
            start_date: l.start_date,
            end_date: l.end_date,
            billable_days: l.billable_days.into(),
            period_days: l.period_days.into(),
            unit_price: l.unit_price,
            quantity: l.quantity,
            amount: l.amount,
            currency: &l.currency,
            billing_months: l.billing_months.into(),
            posted_on: l.posted_on,
        };
        expected
            .write_record(line_cells(&partner, &values).unwrap())
            .unwrap();
    }
    let expected = String::from_utf8(expected.into_inner().unwrap()).unwrap();
    let written = b.read("2026-03", "invoice-lines.csv");
    assert_eq!(written, expected);
    // The cases above are in the file as intended (not all written alike by accident).
    for cell in [
        "4.00",
        "4.50",
        "2.5",
        "0.12345",
        "1234.5678",
        "0",
        "1.01",
        "-1.01",
        "0.00",
        "-0.01",
        "0.01",
        "12.35",
        "-12.35",
        "3.10",
        "'-credit",
        "'=Office, \"E3\"",
    ] {
        assert!(
            b.lines("2026-03")
                .iter()
                .any(|r| r.iter().any(|c| c == cell)),
            "{cell} not in\n{written}"
        );
    }
}

/// The planner's row estimate for the lines of the period starting on `period`, from its own
/// statistics (EXPLAIN, not run).
fn estimated_period_lines(conn: &mut PgConnection, period: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[diesel(column_name = "QUERY PLAN")]
        plan: String,
    }
    let plan: Plan = diesel::sql_query(format!(
        "EXPLAIN (FORMAT JSON) SELECT * FROM charge_lines WHERE invoice_period_start = '{period}'"
    ))
    .get_result(conn)
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&plan.plan).unwrap();
    json[0]["Plan"]["Plan Rows"].as_i64().unwrap()
}

/// A period's lines are posted after the statistics were last taken (a rollover day posts most
/// of a month's lines at once, and autovacuum may not have come by; in a backfill it never
/// has): the invoice run must not plan its reads of them as if the period were empty. With
/// the old statistics the planner estimated one line and joined 75,000 lines to their
/// subscriptions in a nested loop (0.5 s of an invoice run at 100,000 subscriptions, twice
/// the export itself).
#[test]
fn the_invoice_run_reads_its_period_with_statistics_that_know_it() {
    let mut b = Books::new();
    b.offer("OF", "Office", "Microsoft");
    // Autovacuum stays away from the table, so the statistics are those of the ANALYZE below,
    // taken when only March had lines.
    let lines = |month: &str, start: &str, end: &str, days: u32| {
        format!(
            "INSERT INTO charge_lines (subscription_id, customer_id, charge_type, start_date, \
             end_date, billable_days, period_days, unit_price, quantity, amount, posted_on, \
             cause, invoice_period_start) \
             SELECT subscription_id, customer_id, 'Cycle fee', DATE '{start}', DATE '{end}', \
             {days}, {days}, 10, 1, 10, DATE '{start}', '{month}', DATE '{start}' \
             FROM subscriptions"
        )
    };
    for sql in [
        "ALTER TABLE charge_lines SET (autovacuum_enabled = false)".to_string(),
        "INSERT INTO customers (customer_id, name, country, segment, currency, \
         account_opened_on) \
         SELECT 'C' || lpad(c::text, 4, '0'), 'Customer ' || c, 'US', 'commercial', 'USD', \
         '2025-01-01' FROM generate_series(1, 500) c"
            .to_string(),
        "INSERT INTO subscriptions (subscription_id, family_id, customer_id, offer_id, order_id, \
         order_line, purchased_at, billing_type, billing_months, term_months, unit_price, \
         currency, trial_days, status, in_trial, quantity, auto_renew, cancel_at_term_end, \
         cancel_with_base, paid_start, anchor_date, suspended_with_base) \
         SELECT 'S' || s, 'S' || s, 'C' || lpad((s % 500 + 1)::text, 4, '0'), 'OF', 'O' || s, \
         1, '2026-03-01T00:00:00Z', 'license', 1, 12, 10, 'USD', 0, 'active', false, 1, true, \
         false, false, '2026-03-01', '2026-03-01', false FROM generate_series(1, 20000) s"
            .to_string(),
        lines("march", "2026-03-01", "2026-03-31", 31),
        "ANALYZE".to_string(),
    ] {
        diesel::sql_query(sql).execute(&mut b.conn).unwrap();
    }
    let april = diesel::sql_query(lines("april", "2026-04-01", "2026-04-30", 30))
        .execute(&mut b.conn)
        .unwrap();
    assert_eq!(april, 20_000);
    assert!(
        estimated_period_lines(&mut b.conn, "2026-04-01") < 1_000,
        "the setup leaves statistics that have not seen April"
    );

    let outcome = b.invoices("2026-04-30").unwrap();
    assert_eq!(outcome.counts["invoice_lines"], 20_000);
    let estimate = estimated_period_lines(&mut b.conn, "2026-04-01");
    assert!(
        estimate > 10_000,
        "the invoice run planned April's 20,000 lines from statistics estimating {estimate}"
    );
}
