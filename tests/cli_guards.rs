//! The guards of the command line, the configuration, the connection and the output (SPEC
//! section 9), through the binary as an operator meets them: future logical dates, passwords
//! in connection strings, a database lost mid-run, a bad `[[jobs]]` schedule, output folders
//! that cannot be written, and the spreadsheet byte order mark.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{PARTNER, TestEnv, tree};

const HEADER: &str = common::ORDER_HEADER;

/// Two purchases at the end of July (one by a customer with a non-ASCII name is not needed:
/// the fixture names are enough) and one rejected row.
fn orders() -> String {
    let rows = [
        "R-1,1,2026-07-30T10:00:00Z,purchase,C-1001,admin_agent,{P},MS-M365-BP,10,,,,",
        "R-2,1,2026-07-31T11:00:00Z,purchase,C-1003,sales_agent,{P},MS-TEAMS-ESS,5,,,,",
        "R-5,1,2026-07-31T12:00:00Z,purchase,C-9999,admin_agent,{P},MS-M365-BP,1,,,,",
    ];
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(&row.replace("{P}", PARTNER));
        text.push('\n');
    }
    text
}

fn env_with_orders(extra_config: &str) -> TestEnv {
    let env = TestEnv::with_config(extra_config);
    env.load_fixture_catalog();
    env.drop_file("orders.csv", orders());
    env
}

const DAYS: [&str; 2] = ["2026-07-30", "2026-07-31"];

fn nightly(env: &TestEnv, date: &str) {
    let (code, _, err) = env.run(&["nightly", "--date", date]);
    assert_eq!(code, 0, "nightly {date}: {err}");
}

/// The last line the binary printed for the operator (`subsweep: …`).
fn final_message(err: &str) -> &str {
    err.lines()
        .rfind(|l| l.starts_with("subsweep:"))
        .unwrap_or_else(|| panic!("no final message in: {err}"))
}

// ------------------------------------------------------------------ logical dates

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

#[test]
fn a_logical_date_after_today_is_refused_with_exit_64_naming_today() {
    let env = env_with_orders("");
    let tomorrow = (today() + chrono::Days::new(1)).to_string();
    let next_year = (today() + chrono::Days::new(365)).to_string();
    let today = today().to_string();
    for args in [
        vec!["nightly", "--date", &next_year],
        vec!["nightly", "--date", &tomorrow],
        vec!["run", "ingest-orders", "--date", &tomorrow],
        vec!["run", "invoices", "--date", &next_year, "--force"],
        vec!["backfill", "--from", DAYS[0], "--to", &next_year],
        vec![
            "backfill",
            "--from",
            DAYS[0],
            "--to",
            &tomorrow,
            "--dry-run",
        ],
    ] {
        let (code, _, err) = env.run(&args);
        assert_eq!(code, 64, "{args:?}: {err}");
        let message = final_message(&err);
        assert!(message.contains(&today), "{args:?} names today: {message}");
        assert!(message.contains("--allow-future"), "{message}");
    }
    // Nothing ran: no ledger row, the file still waits in the inbox.
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
    assert!(env.config.intake.inbox.join("orders.csv").exists());

    // Today itself is a valid logical date.
    let (code, _, err) = env.run(&["run", "ingest-orders", "--date", &today]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn allow_future_lets_a_simulation_run_ahead_of_the_clock() {
    let env = env_with_orders("");
    let tomorrow = (today() + chrono::Days::new(1)).to_string();
    let (code, _, err) = env.run(&["nightly", "--date", &tomorrow, "--allow-future"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        env.ledger_status("invoices", &tomorrow).as_deref(),
        Some("succeeded")
    );
    let after = (today() + chrono::Days::new(2)).to_string();
    let (code, _, err) = env.run(&[
        "backfill",
        "--from",
        &after,
        "--to",
        &after,
        "--allow-future",
    ]);
    assert_eq!(code, 0, "{err}");
}

// ------------------------------------------------------------------ secrets

/// Runs `nightly` against `url` (a closed port: refused at once) in both log formats and
/// returns everything printed.
fn unreachable_output(env: &TestEnv, url: &str, via_env: bool) -> Vec<String> {
    let mut printed = Vec::new();
    for format in ["human", "json"] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"));
        command
            .args(["--config", env.config_path().to_str().unwrap()])
            .args(["--log-format", format])
            .args(["nightly", "--date", DAYS[0]])
            .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
            .env("RUST_LOG", "debug")
            .env_remove("SUBSWEEP_FAILPOINT");
        if via_env {
            command.env("DATABASE_URL", url);
        } else {
            command
                .env_remove("DATABASE_URL")
                .args(["--database-url", url]);
        }
        let output = command.output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        let out = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(69), "{url} ({format}): {err}");
        assert!(
            err.contains("retrying"),
            "a retry warning was logged: {err}"
        );
        printed.push(format!("{out}{err}"));
    }
    printed
}

#[test]
fn no_password_is_printed_whatever_the_connection_string_form() {
    let env = TestEnv::new();
    let cases = [
        ("postgres://finance:Pw-url-9a@127.0.0.1:9/x", "Pw-url-9a"),
        (
            "postgresql://finance:p%40ss-enc-7@127.0.0.1:9/x",
            "p%40ss-enc-7",
        ),
        (
            "postgresql://finance:p%40ss-enc-7@127.0.0.1:9/x",
            "p@ss-enc-7",
        ),
        (
            "postgres://finance@127.0.0.1:9/x?password=Pw-param-3b&sslmode=disable",
            "Pw-param-3b",
        ),
        (
            "postgres://finance@127.0.0.1:9/x?sslmode=disable&sslpassword=Pw-sslkey-4c",
            "Pw-sslkey-4c",
        ),
        (
            "host=127.0.0.1 port=9 user=finance password=Pw-kv-5d dbname=x",
            "Pw-kv-5d",
        ),
        (
            "host=127.0.0.1 port=9 user=finance password='Pw quoted \\' 6e' dbname=x",
            "Pw quoted \\' 6e",
        ),
        (
            "host=127.0.0.1 port=9 user=finance password = Pw-spaced-8f dbname=x",
            "Pw-spaced-8f",
        ),
    ];
    for (url, password) in cases {
        for via_env in [false, true] {
            for printed in unreachable_output(&env, url, via_env) {
                assert!(
                    !printed.contains(password),
                    "{url}: '{password}' was printed:\n{printed}"
                );
                assert!(
                    printed.contains("127.0.0.1"),
                    "the host is still named: {printed}"
                );
            }
        }
    }
}

#[test]
fn a_password_in_the_configuration_file_is_never_printed_either() {
    let env = TestEnv::with_config(
        "[database]\nurl = \"host=127.0.0.1 port=9 user=finance password=Pw-config-1a dbname=x\"\n",
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args(["--config", env.config_path().to_str().unwrap()])
        .args(["nightly", "--date", DAYS[0]])
        .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(69), "{err}");
    assert!(!err.contains("Pw-config-1a"), "{err}");
    assert!(final_message(&err).contains("password=***"), "{err}");
}

// ------------------------------------------------------------------ a database lost mid-run

#[test]
fn a_database_lost_mid_job_exits_69_commits_nothing_and_the_next_run_redoes_it() {
    // What the day gives when nothing goes wrong.
    let clean = env_with_orders("");
    nightly(&clean, DAYS[0]);
    let expected_lines =
        clean.count("SELECT count(*) AS n FROM charge_lines WHERE posted_on = '2026-07-30'");
    assert!(expected_lines > 0);

    let env = env_with_orders("");
    let log = env.dir.path().join("night.log");
    let mut child = env
        .cli()
        .args(["nightly", "--date", DAYS[0]])
        .env("SUBSWEEP_FAILPOINT", "apply-orders:before-commit")
        .env("SUBSWEEP_FAILPOINT_PAUSE_MS", "3000")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Wait until the job has done its work and holds it uncommitted.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("failpoint apply-orders:before-commit reached")
    {
        assert!(Instant::now() < deadline, "the failpoint was not reached");
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The server ends the job's sessions (as a restart or an administrator would).
    let killed = env.count(
        "SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    );
    assert!(killed >= 1);
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(69), "{err}");
    let message = final_message(&err);
    assert!(message.contains("connection was lost"), "{message}");
    assert!(message.contains("apply-orders"), "{message}");
    assert!(
        message.contains("nothing of the job was committed"),
        "{message}"
    );
    assert!(message.contains("run it again"), "{message}");

    // Rolled back: no success, no line of the day.
    assert_ne!(
        env.ledger_status("apply-orders", DAYS[0]).as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM charge_lines WHERE posted_on = '2026-07-30'"),
        0
    );
    // The next run redoes the job and the day ends as it would have.
    nightly(&env, DAYS[0]);
    assert_eq!(
        env.ledger_status("invoices", DAYS[0]).as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM charge_lines WHERE posted_on = '2026-07-30'"),
        expected_lines
    );
}

// ------------------------------------------------------------------ configuration

#[test]
fn a_bad_schedule_is_refused_by_every_command_naming_the_key_and_the_file() {
    let env = env_with_orders("");
    let good = std::fs::read_to_string(env.config_path()).unwrap();
    std::fs::write(
        env.config_path(),
        format!(
            "{good}[[jobs]]\nname = \"nightly\"\nschedule = \"0 30 0 * * *\"\n\n\
             [[jobs]]\nname = \"renewals\"\nschedule = \"0 61 25 * *\"\n"
        ),
    )
    .unwrap();
    let file = env.config_path().display().to_string();
    for args in [
        vec!["nightly", "--date", DAYS[0]],
        vec!["run", "renewals", "--date", DAYS[0]],
        vec!["backfill", "--from", DAYS[0], "--to", DAYS[1]],
        vec!["status"],
        vec!["migrate"],
        vec!["serve"],
    ] {
        let (code, _, err) = env.run(&args);
        assert_eq!(code, 78, "{args:?}: {err}");
        let message = final_message(&err);
        assert!(message.contains("jobs[2].schedule"), "{args:?}: {message}");
        assert!(message.contains(&file), "{args:?}: {message}");
        assert!(message.contains("0 61 25 * *"), "{args:?}: {message}");
    }
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
}

/// A job with two `[[jobs]]` entries (the same name twice, or a job beside the `nightly` that
/// already runs it) would run twice a day on two schedules, the second fire finding the job
/// done, locked, or its previous job not run yet: refused when the file is read, by every
/// command, naming the file, the job and both entries' lines.
#[test]
fn a_job_scheduled_twice_in_jobs_toml_is_refused_naming_the_file_the_job_and_both_entries() {
    let env = env_with_orders("");
    let good = std::fs::read_to_string(env.config_path()).unwrap();
    let first = good.lines().count() + 3;
    let file = env.config_path().display().to_string();
    for (second, needle) in [
        ("nightly", "jobs[2].name = 'nightly'"),
        ("renewals", "jobs[2].name = 'renewals'"),
    ] {
        std::fs::write(
            env.config_path(),
            format!(
                "{good}\n[[jobs]]\nname = \"nightly\"\nschedule = \"0 30 0 * * *\"\n\n\
                 [[jobs]]\nname = \"{second}\"\nschedule = \"0 45 0 * * *\"\n"
            ),
        )
        .unwrap();
        for args in [
            vec!["nightly", "--date", DAYS[0]],
            vec!["status"],
            vec!["serve"],
        ] {
            let (code, _, err) = env.run(&args);
            assert_eq!(code, 78, "{args:?}: {err}");
            let message = final_message(&err);
            assert!(message.contains(&file), "{args:?}: {message}");
            assert!(message.contains(needle), "{args:?}: {message}");
            assert!(
                message.contains(&format!("line {}", first + 4))
                    && message.contains(&format!("jobs[1] (line {first})")),
                "{args:?}: {message}"
            );
        }
    }
    // Two different jobs on their own schedules are fine.
    std::fs::write(
        env.config_path(),
        format!(
            "{good}\n[[jobs]]\nname = \"ingest-orders\"\nschedule = \"0 0 * * * *\"\n\n\
             [[jobs]]\nname = \"renewals\"\nschedule = \"0 45 0 * * *\"\n"
        ),
    )
    .unwrap();
    let (code, _, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
}

#[test]
fn a_config_mistake_names_its_key_for_every_kind_of_value() {
    for (extra, key) in [
        (
            "[[jobs]]\nname = \"cleanup\"\nschedule = \"0 0 1 * * *\"\n",
            "jobs[1].name",
        ),
        ("[serve]\ncatch_up_days = 0\n", "catch_up_days"),
        ("[output]\nbom = \"yes\"\n", "bom"),
        ("[serve]\nlisten = \"localhost:9187\"\n", "[serve] listen"),
    ] {
        let env = TestEnv::new();
        std::fs::write(
            env.config_path(),
            format!("[partner]\nid = \"{PARTNER}\"\ntype = \"direct_bill\"\n{extra}"),
        )
        .unwrap();
        let (code, _, err) = env.run(&["nightly", "--date", DAYS[0]]);
        assert_eq!(code, 78, "{extra}: {err}");
        assert!(final_message(&err).contains(key), "{extra}: {err}");
    }
}

// ------------------------------------------------------------------ output folders

#[test]
fn an_output_folder_that_cannot_be_made_is_named_in_the_error() {
    let env = env_with_orders("");
    // A file where the reports folder should be: not even root can make a folder in it.
    let reports = env.config.output_dir.join("reports");
    std::fs::write(&reports, "not a folder").unwrap();
    let (code, _, err) = env.run(&["nightly", "--date", DAYS[0]]);
    assert_eq!(code, 1, "{err}");
    let message = final_message(&err);
    assert!(
        message.contains(&reports.join(DAYS[0]).display().to_string()),
        "{message}"
    );
    assert_ne!(
        env.ledger_status("apply-orders", DAYS[0]).as_deref(),
        Some("succeeded")
    );

    std::fs::remove_file(&reports).unwrap();
    nightly(&env, DAYS[0]);
    // A folder where invoice-lines.csv should be: the rename over it fails.
    let lines = env
        .config
        .output_dir
        .join("invoices/2026-07/invoice-lines.csv");
    std::fs::create_dir_all(lines.join("blocked")).unwrap();
    let (code, _, err) = env.run(&["nightly", "--date", DAYS[1]]);
    assert_eq!(code, 1, "{err}");
    let message = final_message(&err);
    assert!(message.contains(&lines.display().to_string()), "{message}");
    // No temporary file is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(lines.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ------------------------------------------------------------------ byte order mark

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn night_files(extra_config: &str) -> Vec<(String, Vec<u8>)> {
    let env = env_with_orders(extra_config);
    for day in DAYS {
        nightly(&env, day);
    }
    let first = tree(&env.config.output_dir);
    for day in DAYS {
        let (code, _, err) = env.run(&["nightly", "--date", day, "--force"]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(
        tree(&env.config.output_dir),
        first,
        "a re-run gives the same bytes"
    );
    first
}

#[test]
fn bom_true_starts_every_csv_file_with_a_byte_order_mark_and_false_with_none() {
    let plain = night_files("");
    let marked = night_files("[output]\nbom = true\n");
    let names: Vec<&str> = plain.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"invoices/2026-07/invoice-lines.csv"),
        "{names:?}"
    );
    assert!(
        names.contains(&"invoices/2026-07/invoices.csv"),
        "{names:?}"
    );
    assert!(
        names.contains(&"reports/2026-07-31/rejects.csv"),
        "{names:?}"
    );
    assert_eq!(
        marked.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        names
    );
    for ((name, without), (_, with)) in plain.iter().zip(&marked) {
        assert!(name.ends_with(".csv"), "{name}");
        assert!(!without.starts_with(BOM), "{name} has no mark by default");
        assert!(with.starts_with(BOM), "{name} starts with the mark");
        assert_eq!(
            &with[BOM.len()..],
            &without[..],
            "{name}: only the mark differs"
        );
    }
}
