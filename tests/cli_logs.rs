//! What the binary writes to standard error, as an operator (or cron, or a log collector)
//! meets it: colour only on a terminal, JSON lines only in JSON mode, an error said once,
//! `-q`, and the finish of the command line (`--version`, `--help`, dates, input files, serve).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{PARTNER, TestEnv, fixture};

const HEADER: &str = common::ORDER_HEADER;
const DAY: &str = "2026-07-30";

fn env_with_orders() -> TestEnv {
    let env = TestEnv::new();
    env.load_fixture_catalog();
    env.drop_file(
        "orders.csv",
        format!(
            "{HEADER}\nR-1,1,2026-07-30T10:00:00Z,purchase,C-1001,admin_agent,{PARTNER},MS-M365-BP,10,,,,\n"
        ),
    );
    env
}

/// Every line of `err`, parsed as JSON (fails naming the first line that is not).
fn json_lines(err: &str) -> Vec<serde_json::Value> {
    err.lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\nin:\n{err}"))
        })
        .collect()
}

fn has_ansi(text: &str) -> bool {
    text.contains('\u{1b}')
}

// ------------------------------------------------------------------ colour

#[test]
fn no_colour_codes_when_stderr_is_a_file_or_a_pipe() {
    let env = env_with_orders();
    // A pipe, with a terminal type that would take colour.
    let output = env
        .cli()
        .args(["nightly", "--date", DAY])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("INFO"), "{err}");
    assert!(!has_ansi(&err), "{err:?}");

    // A file (`2>err.txt`), and a failing command's lines too.
    let file = env.dir.path().join("err.txt");
    let status = env
        .cli()
        .args(["run", "renewals", "--date", "2026-07-31"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stderr(std::fs::File::create(&file).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(64));
    let err = std::fs::read_to_string(&file).unwrap();
    assert!(err.contains("subsweep:"), "{err}");
    assert!(!has_ansi(&err), "{err:?}");
}

/// Runs the binary under a pseudo-terminal (`script`), returning what the terminal showed.
fn on_a_terminal(env: &TestEnv, args: &str, vars: &[(&str, &str)]) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` is not installed: the terminal case is not checked");
        return None;
    }
    let line = format!(
        "'{}' --config '{}' --database-url '{}' {args}",
        env!("CARGO_BIN_EXE_subsweep"),
        env.config_path().display(),
        env.db.url
    );
    let mut command = Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .env("RUST_LOG", "info")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (k, v) in vars {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn colour_on_a_terminal_unless_no_color_or_a_dumb_terminal() {
    let env = env_with_orders();
    let Some(shown) = on_a_terminal(&env, &format!("nightly --date {DAY}"), &[]) else {
        return;
    };
    assert!(shown.contains("INFO"), "{shown}");
    assert!(has_ansi(&shown), "a terminal gets colour: {shown:?}");
    for vars in [[("NO_COLOR", "1")], [("TERM", "dumb")]] {
        let shown = on_a_terminal(&env, &format!("nightly --date {DAY}"), &vars).unwrap();
        assert!(shown.contains("INFO"), "{vars:?}: {shown}");
        assert!(!has_ansi(&shown), "{vars:?}: {shown:?}");
    }
}

// ------------------------------------------------------------------ JSON

#[test]
fn json_mode_writes_only_json_lines_and_counts_is_an_object() {
    let env = env_with_orders();
    let (code, _, err) = env.run(&["--log-format", "json", "nightly", "--date", DAY]);
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&err);
    let ingest = lines
        .iter()
        .find(|l| l["message"] == "job run" && l["job"] == "ingest-orders")
        .unwrap_or_else(|| panic!("no ingest job-run line: {err}"));
    assert_eq!(ingest["status"], "succeeded");
    assert_eq!(ingest["date"], DAY);
    assert!(ingest["elapsed_ms"].is_u64(), "{ingest}");
    let counts = &ingest["counts"];
    assert!(counts.is_object(), "counts is an object: {ingest}");
    assert_eq!(counts["rows_received"], 1, "{ingest}");
    assert_eq!(counts["rows_staged"], 1, "{ingest}");
    // Every job's summary carries its counts as an object.
    let runs: Vec<_> = lines.iter().filter(|l| l["message"] == "job run").collect();
    assert_eq!(runs.len(), 6, "{err}");
    assert!(runs.iter().all(|l| l["counts"].is_object()), "{err}");
}

#[test]
fn json_mode_reports_errors_and_usage_errors_as_json() {
    let env = env_with_orders();
    let reports = env.config.output_dir.join("reports");
    std::fs::write(&reports, "not a folder").unwrap();
    // A failing job.
    let (code, _, err) = env.run(&["--log-format", "json", "nightly", "--date", DAY]);
    assert_eq!(code, 1, "{err}");
    let lines = json_lines(&err);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{err}");
    assert_eq!(last["exit_code"], 1, "{err}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains(&reports.display().to_string()),
        "{err}"
    );
    // The failed run's record says which run failed.
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "job run" && l["status"] == "failed"),
        "{err}"
    );

    // A command refused before it runs, a connection refused, and usage errors of every kind.
    for args in [
        vec![
            "--log-format",
            "json",
            "run",
            "renewals",
            "--date",
            "2026-07-31",
        ],
        vec!["--log-format=json", "--bogus", "status"],
        vec!["--log-format", "json"],
        vec!["nightly", "--date", "2026-13-01", "--log-format", "json"],
        vec![
            "--log-format",
            "json",
            "load-catalog",
            "/nonexistent/offers.csv",
        ],
    ] {
        let (code, _, err) = env.run(&args);
        assert_ne!(code, 0, "{args:?}");
        let lines = json_lines(&err);
        assert!(!lines.is_empty(), "{args:?}");
        let last = lines.last().unwrap();
        assert_eq!(last["level"], "ERROR", "{args:?}: {err}");
        assert_eq!(last["exit_code"], code, "{args:?}: {err}");
        assert!(!last["message"].as_str().unwrap().is_empty(), "{err}");
    }
    let (_, _, err) = env.run(&["nightly", "--log-format", "json", "--date", "2026-13-01"]);
    assert!(err.contains("expected YYYY-MM-DD"), "{err}");
}

#[test]
fn human_mode_says_an_error_once() {
    let env = env_with_orders();
    let reports = env.config.output_dir.join("reports");
    std::fs::write(&reports, "not a folder").unwrap();
    let (code, _, err) = env.run(&["nightly", "--date", DAY]);
    assert_eq!(code, 1, "{err}");
    let path = reports.join(DAY).display().to_string();
    assert_eq!(err.matches(&path).count(), 1, "said once: {err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("subsweep: ") && last.contains(&path),
        "{err}"
    );
    // The failed run is still named (job and date) by its record.
    assert!(
        err.lines()
            .any(|l| l.contains("ERROR") && l.contains("apply-orders") && l.contains("failed")),
        "{err}"
    );

    // A refused command: one line.
    let (code, _, err) = env.run(&["run", "renewals", "--date", "2026-07-31"]);
    assert_eq!(code, 64, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

// ------------------------------------------------------------------ -q

#[test]
fn quiet_prints_nothing_on_success_and_still_warns() {
    let env = env_with_orders();
    // RUST_LOG=info is set by the harness: -q caps it.
    let (code, out, err) = env.run(&["-q", "nightly", "--date", DAY]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "a good night under cron mails nothing");
    assert_eq!(out, "");
    let (code, _, err) = env.run(&["nightly", "--quiet", "--date", "2026-07-31"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");

    // A file that fails as a whole: the operator hears of it.
    env.drop_file("broken.csv", "nothing,like,an,order,file\n1,2,3,4,5\n");
    let (code, _, err) = env.run(&["-q", "nightly", "--date", "2026-08-01"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("broken.csv"), "{err}");
    assert!(!err.contains("INFO"), "{err}");
    // Without -q the same kind of night says more.
    let (code, _, err) = env.run(&["nightly", "--date", "2026-08-02"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("INFO"), "{err}");
}

// ------------------------------------------------------------------ the command line

fn bare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_subsweep"));
    command.env_remove("RUST_LOG");
    command
}

#[test]
fn version_and_help() {
    let output = bare().arg("--version").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        out.trim(),
        format!("subsweep {}", env!("CARGO_PKG_VERSION"))
    );

    // --help names the variable, never its value (it may hold a password).
    let output = bare()
        .args(["nightly", "--help"])
        .env("DATABASE_URL", "postgres://finance:s3cret@db.example/x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("[env: DATABASE_URL]"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    assert!(out.contains("-q, --quiet"), "{out}");
    let output = bare().args(["backfill", "--help"]).output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("--from <YYYY-MM-DD>\n          First"),
        "{out}"
    );
}

#[test]
fn a_bad_date_says_the_format_expected() {
    for args in [
        vec!["nightly", "--date", "31/07/2026"],
        vec!["nightly", "--date", "2026-02-30"],
        vec!["run", "invoices", "--date", "yesterday"],
        vec!["backfill", "--from", "2026-07-01", "--to", "2026-7-32"],
        vec!["subscriptions", "--as-of", "2026"],
        vec!["generate", "--out", "x", "--start", "5 Jan 2026"],
    ] {
        let output = bare().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains("expected YYYY-MM-DD"), "{args:?}: {err}");
        assert!(err.contains(args.last().unwrap()), "names the value: {err}");
    }
}

#[test]
fn a_missing_input_file_is_named_and_exits_66() {
    let env = TestEnv::new();
    let missing = env.dir.path().join("no-such-offers.csv");
    for command in ["load-catalog", "load-customers"] {
        let (code, _, err) = env.run(&[command, missing.to_str().unwrap()]);
        assert_eq!(code, 66, "{command}: {err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.contains("no such file"), "{err}");
        // A folder is no input file either.
        let (code, _, err) = env.run(&[command, env.dir.path().to_str().unwrap()]);
        assert_eq!(code, 66, "{command}: {err}");
        assert!(err.contains("folder"), "{err}");
    }
    // The files that exist load as before.
    let (code, _, err) = env.run(&["load-catalog", fixture("offers.csv").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn database_url_from_the_environment_still_wins_over_the_configuration() {
    let env =
        TestEnv::with_config("[database]\nurl = \"postgres://postgres@127.0.0.1:9/nowhere\"\n");
    let run = |vars: &[(&str, &str)], flag: Option<&str>| {
        let mut command = bare();
        command
            .arg("--config")
            .arg(env.config_path())
            .env("SUBSWEEP_CONNECT_ATTEMPTS", "1")
            .env_remove("DATABASE_URL");
        if let Some(url) = flag {
            command.args(["--database-url", url]);
        }
        for (k, v) in vars {
            command.env(k, v);
        }
        let output = command.arg("status").output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[("DATABASE_URL", &env.db.url)], None);
    assert_eq!(
        code,
        Some(0),
        "DATABASE_URL wins over [database].url: {err}"
    );
    // The flag wins over the variable.
    let (code, err) = run(
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:9/nowhere")],
        Some(&env.db.url),
    );
    assert_eq!(code, Some(0), "{err}");
    // An empty variable counts as unset: [database].url is used.
    let (code, err) = run(&[("DATABASE_URL", "")], None);
    assert_eq!(code, Some(69), "{err}");
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

// ------------------------------------------------------------------ serve

fn wait_for(log: &Path, what: &str, deadline: Instant) -> String {
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn serve_logs_each_fire_without_the_scheduler_chatter() {
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
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    wait_for(&log, &format!("nightly done for {yesterday}"), deadline);
    // A file dropped after the day's ingest waits for the next date; each fire says so.
    env.drop_file(
        "late.csv",
        format!("{HEADER}\nL-1,1,2026-07-30T10:00:00Z,purchase,C-1001,admin_agent,{PARTNER},MS-M365-BP,1,,,,\n"),
    );
    let text = wait_for(&log, "late.csv", deadline);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{text}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("nightly done for {yesterday}: 6 job run(s)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("nightly for {yesterday}: nothing to do")),
        "{text}"
    );
    assert!(
        text.contains("1 file(s) waiting in the inbox") && text.contains("late.csv"),
        "{text}"
    );
    // tokio-cron-scheduler's own INFO lines are held back (RUST_LOG=info is set).
    for chatter in ["Job creator created", "Uninited", "tokio_cron_scheduler"] {
        assert!(!text.contains(chatter), "{chatter}: {text}");
    }
}
