//! The rollover day with its due families read on a second connection (while the job's own
//! connection writes their lines) gives what one connection gives, and a failing reader fails
//! the job as a whole, which the next run then finishes.

mod common;

use chrono::NaiveDate;
use common::TestEnv;
use diesel::prelude::*;
use diesel::sql_types::Text;
use subsweep::jobs::{JobName, JobOutcome};

const ROLLOVER: &str = "2026-02-05";

/// Enough orders that the rollover's due rows fill several fetches (5,000 rows each).
const ORDERS: &str = "16000";

/// A workspace with a generated data set bought on 2026-01-05 and its days run up to the
/// day before the rollover (every monthly period rolls on 2026-02-05).
fn before_rollover() -> TestEnv {
    let env = TestEnv::new();
    env.load_generated("1600", ORDERS, "42", "1");
    env.ok(&["backfill", "--from", "2026-01-05", "--to", "2026-02-04"]);
    env
}

/// The rollover day's jobs through the library, told the database's URL or not: what each
/// did (families due, lines posted, states changed).
fn rollover_in_library(env: &TestEnv, database_url: Option<String>) -> Vec<JobOutcome> {
    let date: NaiveDate = ROLLOVER.parse().unwrap();
    let mut conn = env.conn();
    let mut outcomes = Vec::new();
    for job in [
        JobName::TrialConversions,
        JobName::Renewals,
        JobName::SuspensionExpiry,
        JobName::ApplyOrders,
        JobName::Invoices,
    ] {
        outcomes.push(
            common::execute_job_at(&mut conn, &env.config, database_url.clone(), job, date)
                .unwrap_or_else(|e| panic!("{job}: {e}")),
        );
    }
    outcomes
}

#[derive(QueryableByName)]
struct Dump {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Every charge line and subscription, every column (but the lines' ids when `ids` is
/// false: a rolled-back run used some), as md5s.
fn tables(env: &TestEnv, ids: bool) -> String {
    let line = if ids {
        "to_jsonb(l)"
    } else {
        "to_jsonb(l) - 'line_id'"
    };
    let dump: Dump = diesel::sql_query(format!(
        "SELECT concat_ws(' ', \
           (SELECT md5(string_agg(({line})::text, E'\\n' ORDER BY line_id)) \
              FROM charge_lines l), \
           (SELECT md5(string_agg(s::text, E'\\n' ORDER BY subscription_id, customer_id)) \
              FROM subscriptions s), \
           (SELECT count(*) FROM charge_lines WHERE posted_on = '2026-02-05')) AS text"
    ))
    .get_result(&mut env.conn())
    .unwrap();
    dump.text
}

fn lines_on_rollover(env: &TestEnv) -> i64 {
    env.count("SELECT count(*) AS n FROM charge_lines WHERE posted_on = '2026-02-05'")
}

/// Every output file's path and bytes.
fn files(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    common::tree(&env.config.output_dir)
}

#[test]
fn the_rollover_read_on_a_second_connection_or_without_one_gives_what_one_connection_gives() {
    let two = before_rollover();
    let one = before_rollover();
    assert_eq!(
        tables(&two, true),
        tables(&one, true),
        "the same state before the rollover"
    );

    let readers = subsweep::store::reader::started();
    let by_two = rollover_in_library(&two, Some(two.db.url.clone()));
    assert!(
        subsweep::store::reader::started() > readers,
        "the renewals read their due families on a second connection"
    );
    let by_one = rollover_in_library(&one, None);

    assert_eq!(by_two, by_one, "the same families due, lines, changes");

    assert!(
        lines_on_rollover(&one) > 10_000,
        "{}",
        lines_on_rollover(&one)
    );
    assert_eq!(tables(&two, true), tables(&one, true));
    let files_two = files(&two);
    assert!(!files_two.is_empty());
    assert!(files_two == files(&one), "the same output files");

    // No second connection to be had (a full server, a wrong address): the job reads on its
    // own connection and gives the same again.
    let unreachable = before_rollover();
    let readers = subsweep::store::reader::started();
    let by_own = rollover_in_library(
        &unreachable,
        Some("postgres://postgres@127.0.0.1:1/no_such_server".to_string()),
    );
    assert_eq!(
        subsweep::store::reader::started(),
        readers,
        "no reader started without its connection"
    );
    assert_eq!(by_own, by_one);
    assert_eq!(tables(&unreachable, true), tables(&one, true));
    assert!(files(&unreachable) == files(&one), "the same output files");
}

#[test]
fn a_failing_reader_fails_the_job_and_the_next_run_finishes_it() {
    let env = before_rollover();
    let before = env.count("SELECT count(*) AS n FROM charge_lines");
    let (code, err) =
        common::run_at_failpoint(&env, &["nightly", "--date", ROLLOVER], "due-reader:fail");
    assert!(
        code.is_some_and(|c| c != 0),
        "an error, not a crash nor a success: {code:?} {err}"
    );
    assert!(
        err.contains("due-reader:fail"),
        "the reader's error is said: {err}"
    );
    assert_eq!(
        env.ledger_status("renewals", ROLLOVER).as_deref(),
        Some("failed")
    );
    // Nothing of renewals was kept: only what the day's first job posted.
    let after_failure = env.count("SELECT count(*) AS n FROM charge_lines");
    assert!(after_failure - before < 1000, "{before} → {after_failure}");
    assert_eq!(
        common::other_sessions(&env),
        0,
        "no session of the failed run is left"
    );

    env.ok(&["nightly", "--date", ROLLOVER]);
    assert_eq!(
        env.ledger_status("renewals", ROLLOVER).as_deref(),
        Some("succeeded")
    );

    // The rerun posted what one connection posts on the same day.
    let one = before_rollover();
    let _ = rollover_in_library(&one, None);
    assert_eq!(tables(&env, false), tables(&one, false));
}
