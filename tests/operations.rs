//! The operator's edges through the binary: interrupted runs (killed, Ctrl-C, SIGTERM) and
//! what `status` says of them, closed pipes, the output folder a database owns, and the
//! messages of `status`, `subscriptions` and `demo`.

mod common;

use std::process::Stdio;

use common::{PARTNER, TestEnv};
use diesel::prelude::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const HEADER: &str = common::ORDER_HEADER;

fn env_with_orders() -> TestEnv {
    let env = TestEnv::new();
    env.load_fixture_catalog();
    let rows = [
        "R-1,1,2026-07-30T10:00:00Z,purchase,C-1001,admin_agent,{P},MS-M365-BP,10,,,,",
        "R-2,1,2026-07-31T11:00:00Z,purchase,C-1003,sales_agent,{P},MS-TEAMS-ESS,5,,,,",
    ];
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    env.drop_file("orders.csv", text);
    env
}

/// The line of `status` for (job, date).
fn status_line(env: &TestEnv, job: &str, date: &str) -> String {
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() > 2 && words[0] == job && words[1] == date
        })
        .unwrap_or_else(|| panic!("no status line for {job} {date}:\n{out}"))
        .to_string()
}

#[test]
fn a_run_killed_mid_job_shows_as_interrupted_with_the_command_to_finish_it() {
    let env = env_with_orders();
    let output = env
        .cli()
        .args(["nightly", "--date", "2026-07-30"])
        .env("SUBSWEEP_FAILPOINT", "apply-orders:before-commit")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), None, "aborted like a kill -9");
    assert_eq!(
        env.ledger_status("apply-orders", "2026-07-30").as_deref(),
        Some("running")
    );

    let line = status_line(&env, "apply-orders", "2026-07-30");
    assert!(line.contains("interrupted"), "{line}");
    assert!(!line.contains("running"), "{line}");
    assert!(
        line.contains("run `subsweep nightly --date 2026-07-30` again"),
        "{line}"
    );

    // Another process holding the same job's lock (for another date) does not make the dead
    // run look alive.
    let mut other = env.conn();
    diesel::sql_query("SELECT pg_advisory_lock(1398096467, 5)")
        .execute(&mut other)
        .unwrap();
    let line = status_line(&env, "apply-orders", "2026-07-30");
    assert!(line.contains("interrupted"), "{line}");
    diesel::sql_query("SELECT pg_advisory_unlock_all()")
        .execute(&mut other)
        .unwrap();

    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");
    let line = status_line(&env, "apply-orders", "2026-07-30");
    assert!(line.contains("succeeded"), "{line}");
}

#[test]
fn ctrl_c_rolls_the_job_back_records_it_interrupted_and_exits_130() {
    let env = env_with_orders();
    let mut child = common::spawn_paused(
        &env,
        &["nightly", "--date", "2026-07-30"],
        "apply-orders:pause",
    );

    // While the job is inside its transaction, status shows a live run.
    let line = status_line(&env, "apply-orders", "2026-07-30");
    assert!(line.contains("running"), "{line}");
    assert!(!line.contains("interrupted"), "{line}");

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));

    assert_eq!(
        env.ledger_status("apply-orders", "2026-07-30").as_deref(),
        Some("interrupted")
    );
    // The job's work was rolled back: the purchase of that day is not there.
    assert_eq!(env.count("SELECT count(*) AS n FROM subscriptions"), 0);
    assert_eq!(env.count("SELECT count(*) AS n FROM charge_lines"), 0);
    let line = status_line(&env, "apply-orders", "2026-07-30");
    assert!(
        line.contains("interrupted") && line.contains("`subsweep nightly --date 2026-07-30`"),
        "{line}"
    );
    // The jobs before it stay done; invoices never started.
    assert_eq!(
        env.ledger_status("suspension-expiry", "2026-07-30")
            .as_deref(),
        Some("succeeded")
    );
    assert_eq!(env.ledger_status("invoices", "2026-07-30"), None);

    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        env.ledger_status("apply-orders", "2026-07-30").as_deref(),
        Some("succeeded")
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM subscriptions"), 1);
}

#[test]
fn sigterm_stops_a_backfill_which_the_same_backfill_then_finishes() {
    let env = env_with_orders();
    let args = ["backfill", "--from", "2026-07-30", "--to", "2026-07-31"];
    let mut child = common::spawn_paused(&env, &args, "renewals:pause");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(
        env.ledger_status("renewals", "2026-07-30").as_deref(),
        Some("interrupted")
    );
    let line = status_line(&env, "renewals", "2026-07-30");
    assert!(line.contains("`subsweep backfill` again"), "{line}");

    let (code, _, err) = env.run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        env.ledger_status("invoices", "2026-07-31").as_deref(),
        Some("succeeded")
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM subscriptions"), 2);
}

/// Runs the binary with its standard output a pipe whose reader has already gone.
fn run_with_closed_stdout(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let mut child = env
        .cli()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_the_output_quietly_with_exit_0() {
    let env = env_with_orders();
    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");
    for args in [
        vec!["status"],
        vec!["subscriptions"],
        vec![
            "backfill",
            "--from",
            "2026-07-31",
            "--to",
            "2026-07-31",
            "--dry-run",
        ],
        vec!["nightly", "--date", "2026-07-31"],
    ] {
        let (code, err) = run_with_closed_stdout(&env, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            !err.to_lowercase().contains("broken pipe"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("ERROR"), "{args:?}: {err}");
    }
    // The night whose output nobody read still did its work.
    assert_eq!(
        env.ledger_status("invoices", "2026-07-31").as_deref(),
        Some("succeeded")
    );
}

#[test]
fn status_prints_the_state_clock_in_words() {
    let env = env_with_orders();
    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("subscription state carried through 2026-07-30 (after the day's orders)"),
        "{out}"
    );
    assert!(!out.contains("(Orders)"), "{out}");
}

#[test]
fn subscriptions_of_an_unknown_customer_say_so_on_stderr_with_the_header_only() {
    let env = env_with_orders();
    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = env.run(&["subscriptions", "--customer", "C-NOBODY"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "header only: {out}");
    assert!(
        out.starts_with("SubscriptionId") || out.contains(','),
        "{out}"
    );
    assert!(err.contains("no customer C-NOBODY is known"), "{err}");

    // A known customer without subscriptions is told apart.
    let (code, out, err) = env.run(&["subscriptions", "--customer", "C-1003"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        err.contains("customer C-1003 has no subscriptions"),
        "{err}"
    );

    let (code, out, err) = env.run(&["subscriptions", "--customer", "C-1001"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(!err.contains("no subscriptions"), "{err}");
}

#[test]
fn demo_refuses_a_database_url_with_exit_64() {
    let env = TestEnv::new();
    let (code, out, err) = env.run(&["demo"]);
    assert_eq!(code, 64, "{out}\n{err}");
    assert!(err.contains("--database-url"), "{err}");
    assert!(out.is_empty(), "{out}");
}

/// A second configuration beside `env`'s with its own output folder `out_dir`, its own
/// inbox, and the same database.
fn second_config(env: &TestEnv, name: &str, out_dir: &str) -> std::path::PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(dir.join("inbox")).unwrap();
    let path = dir.join("jobs.toml");
    std::fs::write(
        &path,
        format!(
            "[partner]\nid = \"{PARTNER}\"\ntype = \"direct_bill\"\n\n[intake]\nsettle_seconds = 0\n\n\
             [output]\ndir = \"{out_dir}\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn two_databases_never_write_into_the_same_output_folder() {
    let first = env_with_orders();
    let (code, _, err) = first.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");
    let invoices_before = std::fs::read_dir(&first.config.output_dir).unwrap().count();

    // Another database pointed at the first one's configuration (hence its out/ folder).
    let second = TestEnv::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args(["--config", first.config_path().to_str().unwrap()])
        .args(["--database-url", &second.db.url])
        .args(["nightly", "--date", "2026-07-31"])
        .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{err}");
    let out_dir = std::fs::canonicalize(&first.config.output_dir).unwrap();
    assert!(err.contains(&out_dir.display().to_string()), "{err}");
    assert!(err.contains(&first.db.name), "names the owner: {err}");
    assert!(
        err.contains(&second.db.name),
        "names the refused one: {err}"
    );
    assert!(!err.contains("password"), "{err}");
    // Nothing ran in the second database, nothing changed in the folder.
    assert_eq!(second.count("SELECT count(*) AS n FROM job_runs"), 0);
    assert_eq!(
        std::fs::read_dir(&first.config.output_dir).unwrap().count(),
        invoices_before
    );
    // Its own folder is fine.
    let (code, _, err) = second.run(&["nightly", "--date", "2026-07-31"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_database_keeps_to_its_output_folder_unless_the_folder_moved() {
    let env = env_with_orders();
    let (code, _, err) = env.run(&["nightly", "--date", "2026-07-30"]);
    assert_eq!(code, 0, "{err}");

    // The same database with a configuration naming another folder: refused, both named.
    let other = second_config(&env, "other", "elsewhere");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args(["--config", other.to_str().unwrap()])
        .args(["--database-url", &env.db.url])
        .args(["nightly", "--date", "2026-07-31"])
        .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{err}");
    let owned = std::fs::canonicalize(&env.config.output_dir).unwrap();
    assert!(err.contains(&owned.display().to_string()), "{err}");
    assert!(err.contains("elsewhere"), "{err}");
    assert_eq!(env.ledger_status("trial-conversions", "2026-07-31"), None);

    // Moved: the old path is gone, the new folder is taken and the night runs there.
    let moved = env.dir.path().join("moved-out");
    std::fs::rename(&env.config.output_dir, &moved).unwrap();
    let other = second_config(&env, "after-move", moved.to_str().unwrap());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args(["--config", other.to_str().unwrap()])
        .args(["--database-url", &env.db.url])
        .args(["nightly", "--date", "2026-07-31"])
        .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(moved.join("reports/2026-07-31").is_dir());
}
