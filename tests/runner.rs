//! The job runner through the binary, as an operator uses it: the ledger, --force, the order
//! of a day's jobs, advisory locks, crashes, backfill against nightly, dry runs, serve, exit
//! codes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{PARTNER, TestEnv};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

const HEADER: &str = common::ORDER_HEADER;

/// A small story across a month end: purchases, a trial, a seat change, a suspension and one
/// rejected row.
fn orders() -> String {
    let rows = [
        "R-1,1,2026-07-30T10:00:00Z,purchase,C-1001,admin_agent,{P},MS-M365-BP,10,,,,",
        "R-2,1,2026-07-31T11:00:00Z,purchase,C-1003,sales_agent,{P},MS-TEAMS-ESS,5,,,,",
        "R-3,1,2026-08-01T09:00:00Z,change_quantity,C-1001,admin_agent,{P},,12,R-1-1,,,",
        "R-4,1,2026-08-02T09:00:00Z,suspend,C-1001,admin_agent,{P},,,R-1-1,,,nonpayment",
        "R-5,1,2026-08-02T10:00:00Z,purchase,C-9999,admin_agent,{P},MS-M365-BP,1,,,,",
    ];
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    text
}

fn env_with_orders() -> TestEnv {
    let env = TestEnv::new();
    env.load_fixture_catalog();
    env.drop_file("orders.csv", orders());
    env
}

const DAYS: [&str; 4] = ["2026-07-30", "2026-07-31", "2026-08-01", "2026-08-02"];

fn nightly(env: &TestEnv, date: &str) {
    let (code, _, err) = env.run(&["nightly", "--date", date]);
    assert_eq!(code, 0, "nightly {date}: {err}");
}

#[derive(QueryableByName)]
struct Dump {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Everything a run leaves: the subscriptions export, the charge lines, the rejects, and
/// every output file's bytes.
fn snapshot(env: &TestEnv) -> String {
    let (code, subscriptions, err) = env.run(&["subscriptions", "--as-of", "2026-08-02"]);
    assert_eq!(code, 0, "{err}");
    let mut conn = env.conn();
    let lines: Dump = diesel::sql_query(
        "SELECT coalesce(string_agg(concat_ws('|', subscription_id, charge_type, start_date, \
           end_date, quantity, amount, posted_on, cause, invoice_period_start), E'\\n' \
           ORDER BY subscription_id, charge_type, start_date, cause, posted_on), '') AS text \
         FROM charge_lines",
    )
    .get_result(&mut conn)
    .unwrap();
    let rejects: Dump = diesel::sql_query(
        "SELECT coalesce(string_agg(concat_ws('|', processed_on, source_line, error_code), \
           E'\\n' ORDER BY source_line), '') AS text FROM rejected_rows",
    )
    .get_result(&mut conn)
    .unwrap();
    let mut files = String::new();
    collect_files(&env.config.output_dir, &env.config.output_dir, &mut files);
    format!(
        "{subscriptions}\n--lines\n{}\n--rejects\n{}\n--files\n{files}",
        lines.text, rejects.text
    )
}

fn collect_files(root: &Path, dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            out.push_str(&format!(
                "== {}\n{}\n",
                path.strip_prefix(root).unwrap().display(),
                std::fs::read_to_string(&path).unwrap()
            ));
        }
    }
}

#[derive(QueryableByName)]
struct Run {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempt: i32,
}

fn ledger(env: &TestEnv, job: &str, date: &str) -> Option<(String, i32)> {
    let rows: Vec<Run> = diesel::sql_query(
        "SELECT status, attempt FROM job_runs WHERE job = $1 AND logical_date = $2::date",
    )
    .bind::<Text, _>(job)
    .bind::<Text, _>(date)
    .load(&mut env.conn())
    .unwrap();
    rows.into_iter().next().map(|r| (r.status, r.attempt))
}

#[test]
fn a_second_nightly_for_the_same_date_does_nothing_and_force_changes_nothing() {
    let env = env_with_orders();
    for day in DAYS {
        nightly(&env, day);
    }
    let first = snapshot(&env);
    assert!(env.count("SELECT count(*) AS n FROM charge_lines") > 0);
    assert_eq!(
        ledger(&env, "apply-orders", "2026-08-01"),
        Some(("succeeded".into(), 1))
    );

    nightly(&env, "2026-08-01");
    assert_eq!(
        ledger(&env, "apply-orders", "2026-08-01"),
        Some(("succeeded".into(), 1))
    );
    let (code, _, err) = env.run(&["nightly", "--date", "2026-08-01", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ledger(&env, "apply-orders", "2026-08-01"),
        Some(("succeeded".into(), 2))
    );
    let (code, _, err) = env.run(&["run", "invoices", "--date", "2026-07-31", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ledger(&env, "invoices", "2026-07-31"),
        Some(("succeeded".into(), 2))
    );
    assert_eq!(snapshot(&env), first, "re-runs changed the results");
}

#[test]
fn a_job_refuses_to_run_before_the_jobs_that_precede_it() {
    let env = env_with_orders();
    let (code, _, err) = env.run(&["run", "apply-orders", "--date", "2026-07-30"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("apply-orders for 2026-07-30 needs suspension-expiry for 2026-07-30"),
        "{err}"
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM subscriptions"), 0);

    for job in [
        "trial-conversions",
        "renewals",
        "suspension-expiry",
        "apply-orders",
    ] {
        let (code, _, err) = env.run(&["run", job, "--date", "2026-07-30"]);
        assert_eq!(code, 0, "{job}: {err}");
    }
    // Nothing was ingested yet: ingest-orders is not a precondition, but it stages the rows.
    assert_eq!(env.count("SELECT count(*) AS n FROM subscriptions"), 0);
}

#[test]
fn a_second_process_exits_75_naming_the_job_and_its_holder() {
    let env = env_with_orders();
    let mut holder = env.conn();
    diesel::sql_query("SET application_name = 'finance-night-run'")
        .execute(&mut holder)
        .unwrap();
    // The runner's lock for apply-orders: class 'SUBS', key 5 (its place in the day).
    diesel::sql_query("SELECT pg_advisory_lock(1398096467, 5)")
        .execute(&mut holder)
        .unwrap();
    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 75, "{err}");
    let message = err.lines().rfind(|l| l.starts_with("subsweep:")).unwrap();
    assert!(message.contains("apply-orders"), "{message}");
    assert!(message.contains("finance-night-run"), "{message}");
    // All or nothing: the night did not start.
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);

    diesel::sql_query("SELECT pg_advisory_unlock_all()")
        .execute(&mut holder)
        .unwrap();
    nightly(&env, "2026-07-30");
}

#[test]
fn a_crash_at_any_commit_point_is_finished_by_the_next_run_without_doubling() {
    let clean = env_with_orders();
    for day in DAYS {
        nightly(&clean, day);
    }
    let expected = snapshot(&clean);

    for failpoint in [
        "apply-orders:before-commit",
        "apply-orders:after-commit",
        "renewals:before-commit",
        "invoices:before-commit",
        "invoices:after-commit",
    ] {
        let env = env_with_orders();
        for day in DAYS {
            let status = env
                .cli()
                .args(["nightly", "--date", day])
                .env("SUBSWEEP_FAILPOINT", failpoint)
                .output()
                .unwrap()
                .status;
            if !status.success() {
                // Crashed (abort): run the day again, as the next night would.
                assert_eq!(
                    status.code(),
                    None,
                    "{failpoint} {day}: a crash, not an error"
                );
                nightly(&env, day);
            }
        }
        assert_eq!(snapshot(&env), expected, "after a crash at {failpoint}");
    }
}

#[test]
fn backfill_gives_what_nightly_gives_and_resumes_after_a_crash() {
    let by_night = env_with_orders();
    for day in DAYS {
        nightly(&by_night, day);
    }
    let expected = snapshot(&by_night);
    assert!(
        expected.contains("== invoices/2026-07/invoice-lines.csv"),
        "the July invoice was written: {expected}"
    );

    let backfilled = env_with_orders();
    let crashed = backfilled
        .cli()
        .args(["backfill", "--from", DAYS[0], "--to", DAYS[3]])
        .env("SUBSWEEP_FAILPOINT", "apply-orders:before-commit")
        .output()
        .unwrap();
    assert_eq!(
        crashed.status.code(),
        None,
        "the failpoint aborts the backfill"
    );
    let (code, out, err) = backfilled.run(&["backfill", "--from", DAYS[0], "--to", DAYS[3]]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already done"), "{out}");
    assert_eq!(snapshot(&backfilled), expected);
}

#[test]
fn a_dry_run_backfill_prints_the_plan_and_changes_nothing() {
    let env = env_with_orders();
    let (code, out, err) = env.run(&["backfill", "--from", DAYS[0], "--to", DAYS[3], "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run"), "{out}");
    assert!(out.contains("1 file(s)"), "{out}");
    assert!(
        out.contains("2026-07-31: trial-conversions, renewals, suspension-expiry, apply-orders, invoices (closes an invoice period)"),
        "{out}"
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
    assert_eq!(env.count("SELECT count(*) AS n FROM inbox_files"), 0);
    assert!(env.config.intake.inbox.join("orders.csv").exists());

    let (code, _, err) = env.run(&["backfill", "--from", DAYS[3], "--to", DAYS[0]]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn status_shows_runs_pending_events_and_files() {
    let env = env_with_orders();
    nightly(&env, "2026-07-30");
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("apply-orders"), "{out}");
    assert!(out.contains("succeeded"), "{out}");
    assert!(out.contains("orders.csv received 5 = staged"), "{out}");
    assert!(
        out.contains("not applied yet, dated 2026-07-31..2026-08-02"),
        "{out}"
    );
}

#[test]
fn an_unreachable_database_exits_69_without_its_password() {
    let env = TestEnv::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args(["--config", env.config_path().to_str().unwrap()])
        .args(["--database-url", "postgres://finance:s3cret@127.0.0.1:9/x"])
        .args(["nightly", "--date", "2026-07-30"])
        .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(69), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn serve_fires_on_a_seconds_schedule_and_stops_cleanly_on_sigterm() {
    let env = TestEnv::with_config("[[jobs]]\nname = \"nightly\"\nschedule = \"* * * * * *\"\n");
    env.load_fixture_catalog();
    let log = env.dir.path().join("serve.log");
    let mut child = env
        .cli()
        .arg("serve")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let fired = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let done = env.count(
            "SELECT count(*) AS n FROM job_runs WHERE job = 'invoices' AND status = 'succeeded'",
        );
        if done > 0 && text.matches("fired for").count() >= 2 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(fired, "serve did not run the nightly: {text}");
    assert_eq!(status.code(), Some(0), "{text}");
    // The logical date is the day before the fire: yesterday, as for a nightly at 00:30.
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let today_fire = ledger(&env, "invoices", &yesterday);
    assert_eq!(
        today_fire.map(|r| r.0),
        Some("succeeded".to_string()),
        "{text}"
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM job_runs WHERE status <> 'succeeded'"),
        0
    );
}

#[test]
fn a_file_dropped_late_is_applied_by_the_next_night_as_of_its_own_dates() {
    let env = env_with_orders();
    for day in DAYS {
        nightly(&env, day);
    }
    // Found on 2026-08-03: a seat change dated 2026-07-31, before the suspension of 08-02.
    env.drop_file(
        "late.csv",
        format!(
            "{HEADER}\nL-1,1,2026-07-31T08:00:00Z,change_quantity,C-1001,admin_agent,{PARTNER},,11,R-1-1,,,\n"
        ),
    );
    nightly(&env, "2026-08-03");
    let late_lines = env.count(
        "SELECT count(*) AS n FROM charge_lines \
         WHERE posted_on = '2026-08-03' AND cause LIKE '%L-1%'",
    );
    let rejected = env.count(
        "SELECT count(*) AS n FROM rejected_rows r JOIN staged_events s USING (event_id) \
         WHERE s.order_id = 'L-1'",
    );
    let applied = env.count(
        "SELECT count(*) AS n FROM applied_events a JOIN staged_events s USING (event_id) \
         WHERE s.order_id = 'L-1'",
    );
    assert_eq!(
        (applied, rejected),
        (1, 0),
        "the late row was applied exactly once"
    );
    assert!(late_lines > 0, "a late seat change posts its prorated pair");
    // The night after, nothing is pending and nothing new is posted for it.
    nightly(&env, "2026-08-04");
    assert_eq!(
        env.count("SELECT count(*) AS n FROM charge_lines WHERE posted_on = '2026-08-04' AND cause LIKE '%L-1%'"
        ),
        0
    );
}

#[test]
fn a_new_installation_without_folders_runs_its_first_night() {
    let env = TestEnv::new();
    std::fs::remove_dir_all(&env.config.intake.inbox).unwrap();
    std::fs::remove_dir_all(&env.config.intake.archive).unwrap();
    std::fs::remove_dir_all(&env.config.intake.failed).unwrap();
    nightly(&env, "2026-07-30");
    assert!(env.config.intake.inbox.is_dir());
    assert!(env.config.intake.archive.is_dir());
    assert!(env.config.intake.failed.is_dir());
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    synchronous_commit: String,
}

fn synchronous_commit(conn: &mut PgConnection) -> String {
    diesel::sql_query("SHOW synchronous_commit")
        .get_result::<Setting>(conn)
        .unwrap()
        .synchronous_commit
}

#[test]
fn the_ledger_commits_without_waiting_only_the_transactions_it_is_asked_to() {
    use subsweep::store::ledger;
    let env = TestEnv::new();
    let mut conn = env.conn();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 3).unwrap();
    // The session waits for the disk, whatever the server's default (throwaway test clusters
    // run with `synchronous_commit = off`), so every check below can tell the two apart.
    diesel::sql_query("SET synchronous_commit = on")
        .execute(&mut conn)
        .unwrap();
    // The running mark: one statement in its own transaction; the session is left as it was.
    assert_eq!(
        ledger::start(&mut conn, "renewals", date, "backfill", 1).unwrap(),
        1
    );
    assert_eq!(
        ledger::start(&mut conn, "renewals", date, "backfill", 1).unwrap(),
        2
    );
    assert_eq!(synchronous_commit(&mut conn), "on");
    // Inside a caller's transaction it is a plain row of that transaction.
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        ledger::start(conn, "trial-conversions", date, "cli", 1)?;
        assert_eq!(synchronous_commit(conn), "on");
        ledger::finish_succeeded(conn, "trial-conversions", date, "{}", true)?;
        assert_eq!(synchronous_commit(conn), "on");
        Ok(())
    })
    .unwrap();
    // A backfill's day: that transaction's commit does not wait, and only that one.
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        ledger::finish_succeeded(conn, "renewals", date, r#"{"lines_posted":3}"#, false)?;
        assert_eq!(synchronous_commit(conn), "off");
        Ok(())
    })
    .unwrap();
    assert_eq!(synchronous_commit(&mut conn), "on");
    let (renewals, trials) =
        ledger::get_with(&mut conn, "renewals", Some("trial-conversions"), date).unwrap();
    let renewals = renewals.unwrap();
    assert_eq!(
        (
            renewals.status.as_str(),
            renewals.attempt,
            renewals.counts.as_str()
        ),
        ("succeeded", 2, r#"{"lines_posted":3}"#)
    );
    assert!(renewals.finished_at.is_some() && renewals.error.is_none());
    assert!(trials.unwrap().succeeded());
    let (expiry, renewals) =
        ledger::get_with(&mut conn, "suspension-expiry", Some("renewals"), date).unwrap();
    assert!(expiry.is_none() && renewals.unwrap().succeeded());
    let (trials, none) = ledger::get_with(&mut conn, "trial-conversions", None, date).unwrap();
    assert!(trials.is_some() && none.is_none());
    // No row to finish: an error, not a silent success.
    assert!(
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            ledger::finish_succeeded(conn, "invoices", date, "{}", false)
        })
        .is_err()
    );
    ledger::flush_commits(&mut conn).unwrap();
}
