//! Hostile inputs a new user tries that the earlier issues did not list: odd times, invisible
//! characters, headers of a hundred thousand columns, duplicate catalog ids, folders that
//! overlap, command-line typos, a database migrated by a newer version. Each is a night that
//! goes on, a file that fails naming its line, or a refusal that names the key.

mod common;

use common::{PARTNER, TestEnv};

const HEADER: &str = common::ORDER_HEADER;

/// A test environment with the fixture catalog loaded through the CLI.
fn env() -> TestEnv {
    let env = TestEnv::new();
    env.load_fixture_catalog();
    env
}

/// An order file of `rows`.
fn order_file(rows: &[String]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

/// A purchase of 3 seats of MS-M365-BP by C-1001 at `time`.
fn purchase(order: &str, time: &str) -> String {
    format!("{order},1,{time},purchase,C-1001,admin_agent,{PARTNER},MS-M365-BP,3,,,,")
}

fn subscription_exists(env: &TestEnv, id: &str) -> bool {
    env.count(&format!(
        "SELECT count(*) AS n FROM subscriptions WHERE subscription_id = '{id}'"
    )) == 1
}

// ------------------------------------------------------------------------- event times

#[test]
fn a_leap_second_stays_on_its_own_date_and_its_purchase_is_applied_that_day() {
    let env = env();
    env.drop_file(
        "leap.csv",
        order_file(&[
            purchase("LEAP-Z", "2026-11-10T23:59:60Z"),
            purchase("LEAP-OFF", "2026-11-11T09:59:60+10:00"),
        ]),
    );
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.rejects_of("2026-11-10"), vec![]);
    for id in ["LEAP-Z-1", "LEAP-OFF-1"] {
        assert!(subscription_exists(&env, id), "{id} applied on its date");
    }
    // The database holds what the rules saw: the last microsecond of the 10th (UTC) for both.
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM staged_events \
             WHERE event_time = '2026-11-10T23:59:59.999999Z' AND event_date = '2026-11-10'"
        ),
        2
    );
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM subscriptions \
             WHERE subscription_id LIKE 'LEAP-%' AND anchor_date = '2026-11-10'"
        ),
        2
    );
    let (code, err) = env.nightly_at("2026-11-11");
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.rejects_of("2026-11-11"), vec![]);
}

#[test]
fn a_time_finer_than_a_microsecond_is_kept_to_the_microsecond_so_a_redrop_is_identical() {
    let env = env();
    let row = purchase("NANO", "2026-11-10T10:00:00.123456789Z");
    env.drop_file("first.csv", order_file(std::slice::from_ref(&row)));
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 0, "{err}");
    assert!(subscription_exists(&env, "NANO-1"));
    // The same row again in another file (other bytes, so not a known file): identical.
    env.drop_file("second.csv", format!("{}\n", order_file(&[row])));
    let (code, err) = env.nightly_at("2026-11-11");
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.rejects_of("2026-11-11"), vec![]);
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM staged_events \
             WHERE event_time = '2026-11-10T10:00:00.123456Z'"
        ),
        1
    );
}

// ------------------------------------------------------------------------- whole files

#[test]
fn a_header_of_a_hundred_thousand_unknown_columns_lists_fifty_problems_not_all() {
    let env = env();
    let mut header = HEADER.to_string();
    for i in 0..100_000 {
        header.push_str(&format!(",x{i}"));
    }
    env.drop_file("wide.csv", format!("{header}\n"));
    env.drop_file(
        "good.csv",
        order_file(&[purchase("GOOD", "2026-11-10T10:00:00Z")]),
    );
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 65, "{err}");
    assert!(subscription_exists(&env, "GOOD-1"));
    let reasons =
        std::fs::read_to_string(env.config.intake.failed.join("wide.csv.error.txt")).unwrap();
    assert_eq!(
        reasons.lines().count(),
        51,
        "{}",
        reasons.chars().take(500).collect::<String>()
    );
    assert!(reasons.contains("column x0: unknown column"), "{reasons}");
    assert!(
        reasons
            .lines()
            .last()
            .unwrap()
            .contains("and 99950 more problems"),
        "{reasons}"
    );
    // The log and the record say as much, not 20 MB.
    assert!(err.len() < 50_000, "stderr is {} bytes", err.len());
    assert!(
        env.count("SELECT max(length(error))::bigint AS n FROM inbox_files") < 50_000,
        "the failure's record is bounded"
    );
}

// ------------------------------------------------------------------ invisible characters

#[test]
fn an_identifier_holding_an_invisible_character_is_malformed_naming_it() {
    let env = env();
    // A byte order mark in the middle of a file (two exports pasted together), a zero-width
    // space, a right-to-left mark, a soft hyphen: each makes an id that looks like another.
    let rows = [
        format!("\u{feff}{}", purchase("BOM", "2026-11-10T10:00:00Z")),
        purchase("ZW\u{200b}SP", "2026-11-10T10:00:00Z"),
        format!(
            "RLM,1,2026-11-10T10:00:00Z,purchase,C-1001\u{200f},admin_agent,{PARTNER},MS-M365-BP,3,,,,"
        ),
        format!(
            "SHY,1,2026-11-10T10:00:00Z,purchase,C-1001,admin_agent,{PARTNER},MS-M365\u{ad}-BP,3,,,,"
        ),
        purchase("PLAIN", "2026-11-10T10:00:00Z"),
    ];
    env.drop_file("mixed.csv", order_file(&rows));
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 0, "{err}");
    let rejects = env.rejects_of("2026-11-10");
    let messages: Vec<&str> = rejects.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(rejects.len(), 4, "{rejects:?}");
    for (column, char) in [
        ("order_id", "U+FEFF"),
        ("order_id", "U+200B"),
        ("customer_id", "U+200F"),
        ("offer_id", "U+00AD"),
    ] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(&format!("column {column}:")) && m.contains(char)),
            "{column} {char}: {messages:?}"
        );
    }
    assert!(rejects.iter().all(|(_, code, _)| code == "malformed_row"));
    assert!(subscription_exists(&env, "PLAIN-1"));
    assert_eq!(env.count("SELECT count(*) AS n FROM subscriptions"), 1);
}

#[test]
fn a_catalog_id_holding_an_invisible_character_fails_the_file_naming_line_and_column() {
    let env = TestEnv::new();
    let customers = env.dir.path().join("customers.csv");
    std::fs::write(
        &customers,
        "customer_id,name,country,segment,currency,account_opened_on\n\
         C-1,First,US,commercial,USD,2025-01-01\n\
         \u{feff}C-2,Second,US,commercial,USD,2025-01-01\n",
    )
    .unwrap();
    let (code, _, err) = env.run(&["load-customers", customers.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("line 3 column customer_id") && err.contains("U+FEFF"),
        "{err}"
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM customers"), 0);
}

// ------------------------------------------------------------------------ catalog files

#[test]
fn an_id_twice_in_one_catalog_file_fails_the_file_naming_both_lines() {
    let env = TestEnv::new();
    let offers = std::fs::read_to_string(common::fixture("offers.csv")).unwrap();
    let second = offers.lines().nth(1).unwrap().replace("22.00", "19.00");
    let path = env.dir.path().join("offers.csv");
    std::fs::write(&path, format!("{offers}{second}\n")).unwrap();
    let (code, _, err) = env.run(&["load-catalog", path.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    let last = offers.lines().count() + 1;
    assert!(
        err.contains(&format!("line {last} column offer_id"))
            && err.contains("MS-M365-BP")
            && err.contains("line 2"),
        "{err}"
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM offers"), 0);

    let path = env.dir.path().join("customers.csv");
    std::fs::write(
        &path,
        "customer_id,name,country,segment,currency,account_opened_on\n\
         C-1,First,US,commercial,USD,2025-01-01\n\
         C-2,Second,US,commercial,USD,2025-01-01\n\
         C-1,First again,US,commercial,USD,2025-01-01\n",
    )
    .unwrap();
    let (code, _, err) = env.run(&["load-customers", path.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("line 4 column customer_id") && err.contains("line 2"),
        "{err}"
    );
    assert_eq!(env.count("SELECT count(*) AS n FROM customers"), 0);
}

// ------------------------------------------------------------------------ configuration

/// Rewrites the environment's jobs.toml with `edit` and runs `args`.
fn run_with_config(env: &TestEnv, edit: impl Fn(&str) -> String, args: &[&str]) -> (i32, String) {
    let path = env.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
    let (code, _, err) = env.run(args);
    std::fs::write(&path, text).unwrap();
    (code, err)
}

#[test]
fn an_empty_or_shared_folder_in_jobs_toml_is_refused_naming_the_keys() {
    let env = TestEnv::new();
    // offers.csv beside jobs.toml: an inbox there would take it as an order file.
    let offers = env.dir.path().join("offers.csv");
    std::fs::copy(common::fixture("offers.csv"), &offers).unwrap();
    let cases: [(&str, &[&str]); 7] = [
        ("[intake]\ninbox = \"\"\n", &["[intake] inbox", "empty"]),
        (
            "[intake]\ninbox = \".\"\n",
            &["[intake] inbox", "jobs.toml"],
        ),
        (
            "[intake]\ninbox = \"in\"\nfailed = \"in\"\n",
            &["[intake] inbox", "[intake] failed"],
        ),
        (
            "[intake]\ninbox = \"in\"\narchive = \"./in/\"\n",
            &["[intake] inbox", "[intake] archive"],
        ),
        (
            "[intake]\ninbox = \"a/../in\"\n[output]\ndir = \"in\"\n",
            &["[intake] inbox", "[output] dir"],
        ),
        (
            "[intake]\nfailed = \"out\"\n",
            &["[intake] failed", "[output] dir"],
        ),
        ("[output]\ndir = \" \"\n", &["[output] dir", "empty"]),
    ];
    for (extra, named) in cases {
        let (code, err) = run_with_config(
            &env,
            |text| {
                text.replace("[intake]\n", extra)
                    .replace("settle_seconds = 0", "")
            },
            &["run", "ingest-orders", "--date", "2026-11-10"],
        );
        assert_eq!(code, 78, "{extra}: {err}");
        for word in named {
            assert!(err.contains(word), "{extra}: {word} not in {err}");
        }
    }
    assert!(offers.exists(), "nothing was moved");
    assert_eq!(env.count("SELECT count(*) AS n FROM inbox_files"), 0);
}

// ------------------------------------------------------------------------- command line

#[test]
fn a_date_not_written_exactly_yyyy_mm_dd_or_before_year_1_is_refused_and_nothing_runs() {
    let env = TestEnv::new();
    for date in [
        "2026-1-5",
        "2026-01-5",
        "26-01-05",
        "+2026-01-05",
        "02026-01-05",
        "2026-001-05",
        "0000-01-01",
    ] {
        for args in [
            vec!["nightly", "--date", date],
            vec!["backfill", "--from", date, "--to", "2026-01-06"],
            vec!["subscriptions", "--as-of", date],
        ] {
            let (code, _, err) = env.run(&args);
            assert_eq!(code, 64, "{args:?}: {err}");
            assert!(err.contains("expected YYYY-MM-DD"), "{args:?}: {err}");
        }
    }
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
    // Year 1 itself is a date the database and every command can hold.
    let (code, _, err) = env.run(&["subscriptions", "--as-of", "0001-01-01"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_backfill_over_more_than_ten_years_is_refused_as_a_typo_in_a_year() {
    let env = TestEnv::new();
    for args in [
        vec!["backfill", "--from", "0206-01-01", "--to", "2026-01-01"],
        vec![
            "backfill",
            "--from",
            "2015-12-20",
            "--to",
            "2026-01-01",
            "--dry-run",
        ],
    ] {
        let (code, out, err) = env.run(&args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(
            err.contains("more than 3660 days") && err.contains(args[2]),
            "{args:?}: {err}"
        );
        assert!(out.is_empty(), "{out}");
    }
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
    assert_eq!(env.count("SELECT count(*) AS n FROM invoice_runs"), 0);
    // Ten years to the day is a backfill someone can mean.
    let (code, out, err) = env.run(&[
        "backfill",
        "--from",
        "2016-01-02",
        "--to",
        "2026-01-01",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2016-01-02") && out.contains("2026-01-01"),
        "{out}"
    );
}

// ------------------------------------------------------------------------------ database

#[test]
fn a_database_migrated_by_a_newer_version_is_refused_before_anything_runs() {
    use diesel::RunQueryDsl;
    let env = TestEnv::new();
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')")
        .execute(&mut env.conn())
        .unwrap();
    for args in [vec!["status"], vec!["nightly", "--date", "2026-11-10"]] {
        let (code, _, err) = env.run(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("29990101000000") && err.contains("newer version of subsweep"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(env.count("SELECT count(*) AS n FROM job_runs"), 0);
}

// ---------------------------------------------------------------------------- file names

#[test]
fn a_file_whose_name_leaves_no_room_for_a_suffix_still_leaves_the_inbox() {
    let env = env();
    // 251 bytes + ".csv" = 255, the most a name can have: "<name>.error.txt" and
    // "<stem>-2.csv" do not fit as they are.
    let long = format!("{}.csv", "é".repeat(125) + "x");
    assert_eq!(long.len(), 255);
    env.drop_file(&long, "not,an,order,file\n");
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 65, "{err}");
    // The same name again, a good file now: archive/<date>/ has it already.
    env.drop_file(
        &long,
        order_file(&[purchase("LONG", "2026-11-10T10:00:00Z")]),
    );
    let (code, err) = env.nightly_at("2026-11-11");
    assert_eq!(code, 0, "{err}");
    env.drop_file(&long, "still,not,orders\n");
    let (code, err) = env.nightly_at("2026-11-12");
    assert_eq!(code, 65, "{err}");
    let inbox: Vec<_> = std::fs::read_dir(&env.config.intake.inbox)
        .unwrap()
        .collect();
    assert!(inbox.is_empty(), "{inbox:?}");
    assert!(subscription_exists(&env, "LONG-1"));
    let failed: Vec<String> = std::fs::read_dir(&env.config.intake.failed)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(failed.len(), 4, "two files and their reasons: {failed:?}");
    for name in &failed {
        assert!(name.len() <= 255, "{name}");
        if let Some(file) = name.strip_suffix(".error.txt") {
            assert!(failed.iter().any(|f| f == file), "{name} beside its file");
        }
    }
}

#[test]
fn a_file_whose_name_is_not_utf8_goes_to_failed_saying_so() {
    use std::os::unix::ffi::OsStrExt;
    let env = env();
    let name = std::ffi::OsStr::from_bytes(b"orders-\xff.csv");
    std::fs::write(
        env.config.intake.inbox.join(name),
        order_file(&[purchase("BADNAME", "2026-11-10T10:00:00Z")]),
    )
    .unwrap();
    env.drop_file(
        "good.csv",
        order_file(&[purchase("GOOD", "2026-11-10T10:00:00Z")]),
    );
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 65, "{err}");
    assert!(subscription_exists(&env, "GOOD-1"));
    assert!(
        !env.config.intake.inbox.join(name).exists(),
        "left the inbox"
    );
    let reasons = std::fs::read_to_string(
        env.config
            .intake
            .failed
            .join("orders-\u{fffd}.csv.error.txt"),
    )
    .unwrap();
    assert!(reasons.contains("not UTF-8"), "{reasons}");
    assert!(
        env.config
            .intake
            .failed
            .join("orders-\u{fffd}.csv")
            .exists()
    );
}

#[test]
fn generate_refuses_sizes_that_would_fill_the_disk_and_names_a_folder_it_cannot_write() {
    let env = TestEnv::new();
    let out = env.dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    for (extra, word) in [
        (vec!["--customers", "100000001"], "--customers"),
        (vec!["--orders", "1000000001"], "--orders"),
        (vec!["--days", "0"], "--days"),
        (vec!["--days", "3661"], "--days"),
        (vec!["--days", "4294967295"], "--days"),
        (vec!["--start", "9999-12-31", "--days", "2"], "9999-12-31"),
    ] {
        let mut args = vec!["generate", "--seed", "1", "--out", out_arg];
        args.extend(&extra);
        let (code, _, err) = env.run(&args);
        assert_eq!(code, 64, "{extra:?}: {err}");
        assert!(err.contains(word), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?}: nothing written");
    }
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = env.run(&[
        "generate",
        "--orders",
        "10",
        "--customers",
        "2",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(file.to_str().unwrap()), "{err}");
}

#[test]
fn a_file_taken_by_a_rerun_of_a_processed_day_is_reported_with_the_next_day_that_runs() {
    // Day D ran; a file dropped later is taken by re-running `nightly --date D`. Its rows are
    // applied by the next apply-orders (D + 1, as late rows), so its malformed row and its rule
    // rejects belong to D + 1's rejects.csv: D's report was written already and is not
    // written again, and a row in no report would be lost to finance.
    let env = env();
    env.drop_file(
        "first.csv",
        order_file(&[purchase("F-1", "2026-07-30T10:00:00Z")]),
    );
    assert_eq!(env.nightly_at("2026-07-30").0, 0);
    env.drop_file(
        "later.csv",
        order_file(&[
            purchase("L-1", "2026-07-30T11:00:00Z"),
            format!("L-2,1,not-a-time,purchase,C-1001,admin_agent,{PARTNER},MS-M365-BP,3,,,,"),
            format!(
                "L-3,1,2026-07-30T12:00:00Z,purchase,C-9999,admin_agent,{PARTNER},MS-M365-BP,3,,,,"
            ),
        ]),
    );
    assert_eq!(env.nightly_at("2026-07-30").0, 0);
    assert_eq!(env.nightly_at("2026-07-31").0, 0);
    assert!(env.rejects_of("2026-07-30").is_empty());
    let next: Vec<(String, String)> = env
        .rejects_of("2026-07-31")
        .into_iter()
        .map(|(order, code, _)| (order, code))
        .collect();
    assert_eq!(
        next,
        vec![
            ("L-2".to_string(), "malformed_row".to_string()),
            ("L-3".to_string(), "unknown_customer".to_string()),
        ]
    );
    assert!(subscription_exists(&env, "L-1-1"));
}

// ------------------------------------------------------------------------- file names

/// A file name holding a newline (or another control character) is shown escaped, quoted as
/// Rust writes it, wherever subsweep prints it for a person: log lines, the final error, the
/// failed file's `.error.txt`, `status` and `explain`. One name can never forge a second line.
#[test]
fn a_file_name_holding_a_newline_or_a_control_character_is_shown_escaped_never_as_a_new_line() {
    let env = env();
    let bad = "bad\nERROR forged line.csv";
    let good = "good\u{1b}[31m\rFORGED.csv";
    env.drop_file(bad, "not,an,order,file\n");
    env.drop_file(
        good,
        order_file(&[purchase("CTRL", "2026-11-10T10:00:00Z")]),
    );
    let (code, err) = env.nightly_at("2026-11-10");
    assert_eq!(code, 65, "{err}");
    assert!(subscription_exists(&env, "CTRL-1"));
    let forged = |text: &str| {
        text.split(['\n', '\r'])
            .any(|l| l.starts_with("ERROR forged") || l.starts_with("FORGED"))
            || text.contains('\u{1b}')
    };
    let bad_shown = r#""bad\nERROR forged line.csv""#;
    let good_shown = r#""good\u{1b}[31m\rFORGED.csv""#;
    assert!(!forged(&err), "{err}");
    assert!(err.contains(bad_shown), "{err}");
    assert!(err.contains(good_shown), "{err}");
    // The reasons beside the failed file: one line, naming the file escaped.
    let reasons =
        std::fs::read_to_string(env.config.intake.failed.join(format!("{bad}.error.txt"))).unwrap();
    assert!(!forged(&reasons), "{reasons}");
    assert!(reasons.starts_with(bad_shown), "{reasons}");
    // status lists both files, each on its own line.
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(!forged(&out), "{out}");
    assert!(out.contains(bad_shown) && out.contains(good_shown), "{out}");
    // explain names the file each row came from.
    let (code, out, err) = env.run(&["explain", "CTRL-1"]);
    assert_eq!(code, 0, "{err}");
    assert!(!forged(&out), "{out}");
    assert!(out.contains(good_shown), "{out}");
    // JSON keeps the name as it is (JSON escapes it).
    let (code, out, err) = env.run(&["explain", "CTRL-1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""good\u001b[31m\rFORGED.csv""#), "{out}");
    // An ordinary name is shown as it is, without quotes.
    env.drop_file("plain name.csv", "not,an,order,file\n");
    let (code, err) = env.nightly_at("2026-11-11");
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("file=plain name.csv"), "{err}");
    assert!(!err.contains(r#""plain name.csv""#), "{err}");
}
