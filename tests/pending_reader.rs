//! apply-orders on a big day (more events staged since its last run than the bulk threshold,
//! 20,000) reads its pending events on a second connection while its own connection writes:
//! it gives what one connection gives, on the first day and on a day after the mark; without
//! a second connection to be had it reads on its own; a failing reader fails the job as a
//! whole, and the next run finishes it.

mod common;

use std::path::PathBuf;

use chrono::NaiveDate;
use common::TestEnv;
use subsweep::jobs::{JobName, JobOutcome};

const FIRST: &str = "2026-01-05";
const SECOND: &str = "2026-01-06";

/// Two days of 22,000 order rows each: purchases, then changes to what was bought.
fn two_big_days() -> TestEnv {
    let env = TestEnv::new();
    env.load_generated("2200", "44000", "42", "2");
    env
}

/// The inbox's file of the second day, moved out until that day (each day stages its own).
fn hold_second_day(env: &TestEnv) -> (PathBuf, PathBuf) {
    let inbox = env.config.intake.inbox.join(format!("orders-{SECOND}.csv"));
    let held = env.dir.path().join(format!("held-orders-{SECOND}.csv"));
    std::fs::rename(&inbox, &held).unwrap();
    (held, inbox)
}

/// Each day's files ingested by the binary, then that day's other jobs through the library,
/// told the database's URL (`database_url`) or not: what each did.
fn both_days_in_library(env: &TestEnv, database_url: Option<String>) -> Vec<JobOutcome> {
    let (held, inbox) = hold_second_day(env);
    let mut conn = env.conn();
    let mut outcomes = Vec::new();
    for day in [FIRST, SECOND] {
        if day == SECOND {
            std::fs::rename(&held, &inbox).unwrap();
        }
        env.ok(&["run", "ingest-orders", "--date", day]);
        let date: NaiveDate = day.parse().unwrap();
        for job in &JobName::NIGHTLY[1..] {
            outcomes.push(
                common::execute_job_at(&mut conn, &env.config, database_url.clone(), *job, date)
                    .unwrap_or_else(|e| panic!("{job} {day}: {e}")),
            );
        }
    }
    outcomes
}

/// What the two days left: every applied event, subscription, charge line and reject.
fn tables(env: &TestEnv) -> Vec<Vec<String>> {
    let mut conn = env.conn();
    vec![
        common::table_rows(&mut conn, "applied_events", "event_id"),
        common::table_rows(&mut conn, "subscriptions", "subscription_id"),
        common::table_rows(&mut conn, "charge_lines", "line_id"),
        common::table_rows(&mut conn, "rejected_rows", "reject_id"),
    ]
}

#[test]
fn big_days_read_on_a_second_connection_or_without_one_give_what_one_connection_gives() {
    let one = two_big_days();
    let by_one = both_days_in_library(&one, None);
    let applied = one.count("SELECT count(*) AS n FROM applied_events");
    assert!(applied > 40_000, "both days' events applied: {applied}");
    assert!(
        one.count("SELECT count(*) AS n FROM applied_events WHERE applied_on = '2026-01-06'")
            > 20_000,
        "the second day is big too"
    );

    let two = two_big_days();
    let readers = subsweep::store::reader::started();
    let by_two = both_days_in_library(&two, Some(two.db.url.clone()));
    assert_eq!(
        subsweep::store::reader::started() - readers,
        2,
        "each day's pending events read on a second connection"
    );
    assert_eq!(
        by_two, by_one,
        "the same events applied and rejected, lines, subscriptions"
    );
    assert_eq!(tables(&two), tables(&one));
    let files = common::tree(&two.config.output_dir);
    assert!(!files.is_empty());
    assert!(
        files == common::tree(&one.config.output_dir),
        "the same output files"
    );

    // No second connection to be had (a full server, a wrong address): the job reads on its
    // own connection and gives the same again.
    let unreachable = two_big_days();
    let readers = subsweep::store::reader::started();
    let by_own = both_days_in_library(
        &unreachable,
        Some("postgres://postgres@127.0.0.1:1/no_such_server".to_string()),
    );
    assert_eq!(
        subsweep::store::reader::started(),
        readers,
        "no reader started without its connection"
    );
    assert_eq!(by_own, by_one);
    assert_eq!(tables(&unreachable), tables(&one));
}

#[test]
fn a_failing_pending_reader_fails_the_job_and_the_next_run_finishes_it() {
    let env = two_big_days();
    let _ = hold_second_day(&env);
    let (code, err) =
        common::run_at_failpoint(&env, &["nightly", "--date", FIRST], "pending-reader:fail");
    assert!(
        code.is_some_and(|c| c != 0),
        "an error, not a crash nor a success: {code:?} {err}"
    );
    assert!(
        err.contains("pending-reader:fail"),
        "the reader's error is said: {err}"
    );
    assert_eq!(
        env.ledger_status("apply-orders", FIRST).as_deref(),
        Some("failed")
    );
    // Nothing of apply-orders was kept, though the reader sent its first events.
    for table in [
        "applied_events",
        "subscriptions",
        "charge_lines",
        "rejected_rows",
    ] {
        assert_eq!(
            env.count(&format!("SELECT count(*) AS n FROM {table}")),
            0,
            "{table}"
        );
    }
    assert_eq!(
        common::other_sessions(&env),
        0,
        "no session of the failed run is left"
    );

    env.ok(&["nightly", "--date", FIRST]);
    assert_eq!(
        env.ledger_status("apply-orders", FIRST).as_deref(),
        Some("succeeded")
    );
    // Every event staged for the day is now applied or rejected, once.
    assert_each_event_taken_once(&env);
    assert_eq!(env.count("SELECT count(*) AS n FROM staged_events"), 22_000);
}

#[test]
fn a_signal_while_the_job_waits_for_its_pending_reader_stops_it_at_once() {
    let env = two_big_days();
    let _ = hold_second_day(&env);
    // The reader holds still after its first events (a slow server); the job waits for more.
    let mut child =
        common::spawn_paused(&env, &["nightly", "--date", FIRST], "pending-reader:pause");
    let signalled = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(30),
        "stopped at once, not when the reader went on ({:?})",
        signalled.elapsed()
    );
    assert_eq!(
        env.ledger_status("apply-orders", FIRST).as_deref(),
        Some("interrupted")
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM applied_events"), 0);

    env.ok(&["nightly", "--date", FIRST]);
    assert_eq!(
        env.ledger_status("apply-orders", FIRST).as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM applied_events")
            + env.count("SELECT count(*) AS n FROM rejected_rows"),
        22_000
    );
}

#[test]
fn a_big_day_killed_before_its_commit_is_finished_once_by_the_next_run() {
    let env = two_big_days();
    let _ = hold_second_day(&env);
    let (code, _) = common::run_at_failpoint(
        &env,
        &["nightly", "--date", FIRST],
        "apply-orders:before-commit",
    );
    assert_eq!(code, None, "aborted like a kill -9");
    for table in ["applied_events", "subscriptions", "charge_lines"] {
        assert_eq!(
            env.count(&format!("SELECT count(*) AS n FROM {table}")),
            0,
            "{table}: nothing of the killed run is kept"
        );
    }

    env.ok(&["nightly", "--date", FIRST]);
    assert_eq!(
        env.ledger_status("apply-orders", FIRST).as_deref(),
        Some("succeeded")
    );
    // Each staged event applied or rejected once, and each subscription charged once.
    assert_each_event_taken_once(&env);
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM (SELECT subscription_id, charge_type, start_date \
             FROM charge_lines GROUP BY 1, 2, 3 HAVING count(*) > 1) twice"
        ),
        0
    );
    assert!(env.count("SELECT count(*) AS n FROM charge_lines") > 10_000);
}

/// Every staged event is either applied or rejected, once.
fn assert_each_event_taken_once(env: &TestEnv) {
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM staged_events s WHERE \
             (SELECT count(*) FROM applied_events a WHERE a.event_id = s.event_id) + \
             (SELECT count(*) FROM rejected_rows r WHERE r.event_id = s.event_id) <> 1"
        ),
        0,
        "each staged event applied or rejected once"
    );
}
