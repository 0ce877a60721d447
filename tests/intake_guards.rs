//! File-level guards of `ingest-orders` (SPEC section 9): one poison file never blocks the
//! night. Every inbox entry ends archived or in failed/ with its reason; a file the database
//! refuses fails like any other failed file; an entry that is not a regular file is never read;
//! a move that cannot complete leaves the file in the inbox, writes no record, and the next file
//! is still ingested.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use common::{PARTNER, TestEnv};
use diesel::prelude::*;
use subsweep::error::Error;
use subsweep::jobs::{JobContext, JobOutcome, ingest_orders};
use subsweep::store::schema::{inbox_files, staged_events};

const HEADER: &str = "order_id,line,event_time,action,customer_id,requested_by,partner_id,\
                      offer_id,quantity,subscription_id,base_subscription_id,auto_renew,reason";

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

fn row(order: &str, line: u32, customer: &str) -> String {
    format!(
        "{order},{line},2026-03-01T10:00:00Z,purchase,{customer},admin_agent,{PARTNER},OFF-1,3,,,,"
    )
}

fn file_of(rows: &[String]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn try_ingest(env: &TestEnv) -> Result<JobOutcome, Error> {
    let mut conn = env.conn();
    let mut ctx = JobContext {
        config: &env.config,
        conn: &mut conn,
        wall_clock: SystemTime::now(),
        database_url: None,
    };
    ingest_orders::run(&mut ctx, date())
}

fn ingest(env: &TestEnv) -> JobOutcome {
    try_ingest(env).expect("ingest runs")
}

/// Drops `name` with a modification time `age_s` seconds ago: files are taken oldest first.
fn drop_aged(env: &TestEnv, name: &str, content: impl AsRef<[u8]>, age_s: u64) -> PathBuf {
    let path = env.drop_file(name, content);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(age_s))
        .unwrap();
    path
}

fn count(outcome: &JobOutcome, name: &str) -> i64 {
    outcome.counts.get(name).copied().unwrap_or_default()
}

/// (file_name, outcome, error) of every file decision, in order.
fn files(env: &TestEnv) -> Vec<(String, String, Option<String>)> {
    inbox_files::table
        .order(inbox_files::file_id)
        .select((
            inbox_files::file_name,
            inbox_files::outcome,
            inbox_files::error,
        ))
        .load(&mut env.conn())
        .unwrap()
}

/// The order ids staged, sorted.
fn staged_orders(env: &TestEnv) -> Vec<String> {
    staged_events::table
        .select(staged_events::order_id)
        .order(staged_events::order_id)
        .load(&mut env.conn())
        .unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn archived(env: &TestEnv, name: &str) -> PathBuf {
    env.config
        .intake
        .archive
        .join(date().to_string())
        .join(name)
}

fn error_text(env: &TestEnv, name: &str) -> String {
    fs::read_to_string(env.config.intake.failed.join(format!("{name}.error.txt"))).unwrap()
}

fn sql(env: &TestEnv, statement: &str) {
    diesel::sql_query(statement)
        .execute(&mut env.conn())
        .unwrap();
}

// ------------------------------------------------------------------- the database refuses

#[test]
fn a_file_the_database_refuses_fails_naming_the_file_and_the_next_file_is_ingested() {
    let env = TestEnv::new();
    // A refusal the parser cannot foresee: a constraint only the database knows.
    sql(
        &env,
        "ALTER TABLE staged_events ADD CONSTRAINT no_poison CHECK (customer_id <> 'C-POISON')",
    );
    drop_aged(
        &env,
        "bad.csv",
        file_of(&[row("O-1", 1, "C-1"), row("O-2", 1, "C-POISON")]),
        20,
    );
    drop_aged(&env, "good.csv", file_of(&[row("O-3", 1, "C-1")]), 10);
    let outcome = ingest(&env);
    assert_eq!(outcome.failed_files, vec!["bad.csv".to_string()]);
    assert_eq!(count(&outcome, "files_failed"), 1);
    assert_eq!(count(&outcome, "files_ingested"), 1);
    assert!(names_in(&env.config.intake.inbox).is_empty());
    assert!(env.config.intake.failed.join("bad.csv").exists());
    let reason = error_text(&env, "bad.csv");
    assert!(reason.starts_with("bad.csv: "), "{reason}");
    assert!(
        reason.contains("the database refused") && reason.contains("no_poison"),
        "{reason}"
    );
    assert!(archived(&env, "good.csv").exists());
    assert_eq!(staged_orders(&env), ["O-3"], "nothing of the refused file");
    let recorded = files(&env);
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(
        (recorded[0].0.as_str(), recorded[0].1.as_str()),
        ("bad.csv", "failed")
    );
    assert_eq!(recorded[0].2.as_deref(), Some(reason.trim_end()));
    assert_eq!(
        (recorded[1].0.as_str(), recorded[1].1.as_str()),
        ("good.csv", "ingested")
    );
}

#[test]
fn an_order_id_of_3000_characters_never_blocks_the_night() {
    let env = TestEnv::new();
    let long = "O".repeat(3000);
    drop_aged(
        &env,
        "long.csv",
        file_of(&[row(&long, 1, "C-1"), row("O-1", 1, "C-1")]),
        20,
    );
    drop_aged(&env, "good.csv", file_of(&[row("O-2", 1, "C-1")]), 10);
    let outcome = ingest(&env);
    assert!(names_in(&env.config.intake.inbox).is_empty());
    assert!(archived(&env, "good.csv").exists());
    assert!(staged_orders(&env).contains(&"O-2".to_string()));
    // Either the row is malformed (the file is archived) or the file failed, naming itself.
    if outcome.failed_files.is_empty() {
        assert!(archived(&env, "long.csv").exists());
    } else {
        assert_eq!(outcome.failed_files, vec!["long.csv".to_string()]);
        assert!(error_text(&env, "long.csv").starts_with("long.csv"));
    }
}

#[test]
fn a_field_over_64_kib_fails_the_file_naming_line_and_column() {
    let env = TestEnv::new();
    let big = "C".repeat(70 * 1024);
    drop_aged(
        &env,
        "big.csv",
        file_of(&[row("O-1", 1, "C-1"), row("O-2", 1, &big)]),
        20,
    );
    drop_aged(&env, "good.csv", file_of(&[row("O-3", 1, "C-1")]), 10);
    let outcome = ingest(&env);
    assert_eq!(outcome.failed_files, vec!["big.csv".to_string()]);
    let reason = error_text(&env, "big.csv");
    assert!(
        reason.starts_with("big.csv:3: column customer_id: ") && reason.contains("64 KiB"),
        "{reason}"
    );
    assert!(reason.len() < 1000, "the value itself is not repeated");
    assert_eq!(staged_orders(&env), ["O-3"]);
}

#[test]
fn a_50_mb_field_fails_the_file_naming_its_line_and_never_reaches_the_database() {
    let env = TestEnv::new();
    let mut bytes = file_of(&[row("O-1", 1, "C-1")]).into_bytes();
    bytes.extend_from_slice(b"O-2,1,2026-03-01T10:00:00Z,purchase,");
    bytes.extend(std::iter::repeat_n(b'x', 50 << 20));
    bytes.extend_from_slice(format!(",admin_agent,{PARTNER},OFF-1,3,,,,\n").as_bytes());
    drop_aged(&env, "huge.csv", &bytes, 20);
    drop(bytes);
    drop_aged(&env, "good.csv", file_of(&[row("O-3", 1, "C-1")]), 10);
    let outcome = ingest(&env);
    assert_eq!(outcome.failed_files, vec!["huge.csv".to_string()]);
    let reason = error_text(&env, "huge.csv");
    assert!(reason.starts_with("huge.csv:3: "), "{reason}");
    assert!(reason.len() < 1000, "{} bytes of reasons", reason.len());
    assert_eq!(staged_orders(&env), ["O-3"]);
    let stored: i64 =
        diesel::sql_query("SELECT coalesce(sum(length(error)), 0)::bigint AS n FROM inbox_files")
            .get_result::<Count>(&mut env.conn())
            .unwrap()
            .n;
    assert!(stored < 1000);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn a_connection_lost_while_staging_is_an_error_and_the_file_stays_in_the_inbox() {
    let env = TestEnv::new();
    // The server ends the session in the middle of the file's COPY, as a restart would.
    sql(
        &env,
        "CREATE FUNCTION die_on(t text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN \
         IF t = 'C-DIE' THEN PERFORM pg_terminate_backend(pg_backend_pid()); \
         PERFORM pg_sleep(5); END IF; RETURN true; END $$",
    );
    sql(
        &env,
        "ALTER TABLE staged_events ADD CONSTRAINT die CHECK (die_on(customer_id))",
    );
    drop_aged(&env, "cut.csv", file_of(&[row("O-1", 1, "C-DIE")]), 20);
    drop_aged(&env, "good.csv", file_of(&[row("O-2", 1, "C-1")]), 10);
    let error = try_ingest(&env).expect_err("a lost connection is not the file's fault");
    // Not the file's fault: a database error for the run (exit 69 is the error's own mapping).
    assert!(matches!(error, Error::Database(_)), "{error}");
    assert_eq!(names_in(&env.config.intake.inbox), ["cut.csv", "good.csv"]);
    assert!(names_in(&env.config.intake.failed).is_empty());
    assert!(files(&env).is_empty());
}

// ------------------------------------------------------------------- all-or-nothing moves

/// A tiny tmpfs mounted over a folder, as a full disk: unmounted when dropped.
struct FullDisk {
    at: PathBuf,
}

impl FullDisk {
    /// `None` when this process may not mount (not root, no mount in the sandbox).
    fn mount(at: &Path) -> Option<FullDisk> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| FullDisk {
            at: at.to_path_buf(),
        })
    }

    fn unmount(self) {}
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.at).status();
    }
}

/// A folder that refuses writes: a full disk when we may mount one, else a read-only folder
/// (which root ignores, hence the mount first).
enum Refusing {
    Full(FullDisk),
    ReadOnly(PathBuf),
}

fn refuse_writes(at: &Path) -> Refusing {
    if let Some(full) = FullDisk::mount(at) {
        return Refusing::Full(full);
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(at, fs::Permissions::from_mode(0o555)).unwrap();
    Refusing::ReadOnly(at.to_path_buf())
}

impl Refusing {
    fn lift(self) {
        match self {
            Refusing::Full(full) => full.unmount(),
            Refusing::ReadOnly(at) => {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(at, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }
}

/// A file that fails as a whole (another partner's id on its last row) and does not fit in
/// 64 KiB.
fn big_failing_file() -> String {
    let mut rows: Vec<String> = (1..=3000).map(|i| row("O-B", i, "C-1")).collect();
    rows.push(row("O-B", 3001, "C-1").replace(PARTNER, "P-OTHER"));
    file_of(&rows)
}

#[test]
fn a_file_that_cannot_be_moved_to_failed_stays_in_the_inbox_with_no_record_and_the_night_goes_on() {
    let env = TestEnv::new();
    let failed = env.config.intake.failed.clone();
    let refusing = refuse_writes(&failed);
    let bad = big_failing_file();
    drop_aged(&env, "bad.csv", &bad, 20);
    drop_aged(&env, "good.csv", file_of(&[row("O-1", 1, "C-1")]), 10);

    for _ in 0..2 {
        let outcome = ingest(&env);
        assert_eq!(count(&outcome, "files_unmoved"), 1, "{outcome:?}");
        assert!(
            outcome.failed_files.is_empty(),
            "not in failed/: not failed"
        );
        assert_eq!(outcome.unmoved_files.len(), 1);
        let said = &outcome.unmoved_files[0];
        assert!(
            said.contains(
                &env.config
                    .intake
                    .inbox
                    .join("bad.csv")
                    .display()
                    .to_string()
            ) && said.contains(&failed.display().to_string()),
            "{said}"
        );
        assert_eq!(names_in(&env.config.intake.inbox), ["bad.csv"]);
        assert_eq!(
            fs::read_to_string(env.config.intake.inbox.join("bad.csv")).unwrap(),
            bad
        );
        assert!(names_in(&failed).is_empty(), "no partial copy, no reasons");
        assert!(archived(&env, "good.csv").exists(), "the next file went on");
        let recorded = files(&env);
        assert_eq!(recorded.len(), 1, "no failed record: {recorded:?}");
        assert_eq!(recorded[0].0, "good.csv");
    }

    refusing.lift();
    let outcome = ingest(&env);
    assert_eq!(outcome.failed_files, vec!["bad.csv".to_string()]);
    assert!(outcome.unmoved_files.is_empty());
    assert_eq!(names_in(&failed), ["bad.csv", "bad.csv.error.txt"]);
    assert!(error_text(&env, "bad.csv").contains("P-OTHER"));
    let failed_records = files(&env).iter().filter(|f| f.1 == "failed").count();
    assert_eq!(failed_records, 1);
}

#[test]
fn an_ingested_file_that_cannot_be_archived_stays_in_the_inbox_and_is_archived_next_run() {
    let env = TestEnv::new();
    let archive = env.config.intake.archive.clone();
    let refusing = refuse_writes(&archive);
    let rows: Vec<String> = (1..=3000).map(|i| row("O-A", i, "C-1")).collect();
    let content = file_of(&rows);
    drop_aged(&env, "big.csv", &content, 20);
    drop_aged(&env, "small.csv", file_of(&[row("O-S", 1, "C-1")]), 10);

    let outcome = ingest(&env);
    // Both are staged (the rows committed); neither could be archived on the full disk, or
    // only the small one fits: either way nothing partial is left.
    assert_eq!(count(&outcome, "files_ingested"), 2);
    assert!(count(&outcome, "files_unmoved") >= 1);
    assert!(
        names_in(&env.config.intake.inbox).contains(&"big.csv".to_string()),
        "left in the inbox"
    );
    let dated = archive.join(date().to_string());
    if dated.exists() {
        for name in names_in(&dated) {
            assert_eq!(name, "small.csv", "no partial copy of big.csv");
        }
    }
    assert_eq!(staged_orders(&env).len(), 3001);

    refusing.lift();
    let outcome = ingest(&env);
    assert!(outcome.unmoved_files.is_empty());
    assert!(names_in(&env.config.intake.inbox).is_empty());
    assert_eq!(
        fs::read_to_string(archived(&env, "big.csv")).unwrap(),
        content
    );
    assert_eq!(staged_orders(&env).len(), 3001, "staged once");
    assert_eq!(files(&env).len(), 2, "recorded once each");
}

#[test]
fn a_night_whose_file_could_not_be_moved_exits_1_after_running_every_job() {
    let env = TestEnv::new();
    env.load_fixture_catalog();
    let refusing = refuse_writes(&env.config.intake.failed);
    drop_aged(&env, "bad.csv", big_failing_file(), 20);
    let (code, _, err) = env.run(&["nightly", "--date", "2026-03-02"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.csv") && err.contains("inbox"), "{err}");
    let succeeded: i64 =
        diesel::sql_query("SELECT count(*) AS n FROM job_runs WHERE status = 'succeeded'")
            .get_result::<Count>(&mut env.conn())
            .unwrap()
            .n;
    assert_eq!(succeeded, 6, "every job of the night ran: {err}");
    refusing.lift();
}

// ------------------------------------------------------------------- not regular files

#[test]
fn symlinks_fifos_and_folders_named_csv_are_moved_to_failed_unread() {
    let env = TestEnv::new();
    let inbox = env.config.intake.inbox.clone();
    let outside = env.dir.path().join("elsewhere.csv");
    let valid = file_of(&[row("O-1", 1, "C-1")]);
    fs::write(&outside, &valid).unwrap();
    std::os::unix::fs::symlink(&outside, inbox.join("link.csv")).unwrap();
    nix::unistd::mkfifo(
        &inbox.join("pipe.csv"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    fs::create_dir(inbox.join("folder.csv")).unwrap();
    fs::write(inbox.join("folder.csv").join("inside.csv"), &valid).unwrap();
    drop_aged(&env, "good.csv", file_of(&[row("O-2", 1, "C-1")]), 10);

    // status does not count them as waiting order files
    let mut report = Vec::new();
    subsweep::status::write(&mut report, &mut env.conn(), &env.config).unwrap();
    let report = String::from_utf8(report).unwrap();
    assert!(
        report.contains("  1 file(s) waiting in the inbox"),
        "{report}"
    );

    // Opening a FIFO would block forever: run with a deadline.
    let config = env.config.clone();
    let url = env.db.url.clone();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        let mut ctx = JobContext {
            config: &config,
            conn: &mut conn,
            wall_clock: SystemTime::now(),
            database_url: None,
        };
        let _ = done.send(ingest_orders::run(&mut ctx, date()).map_err(|e| e.to_string()));
    });
    let outcome = result
        .recv_timeout(Duration::from_secs(60))
        .expect("ingest never blocks on a FIFO")
        .expect("ingest runs");

    let mut failed_files = outcome.failed_files.clone();
    failed_files.sort();
    assert_eq!(failed_files, ["folder.csv", "link.csv", "pipe.csv"]);
    assert!(names_in(&inbox).is_empty());
    assert_eq!(
        staged_orders(&env),
        ["O-2"],
        "the link's target is never read"
    );
    let failed = &env.config.intake.failed;
    let link = failed.join("link.csv");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        outside,
        "the link itself moved"
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), valid);
    {
        use std::os::unix::fs::FileTypeExt;
        let pipe = fs::symlink_metadata(failed.join("pipe.csv")).unwrap();
        assert!(pipe.file_type().is_fifo());
    }
    assert!(failed.join("folder.csv").join("inside.csv").exists());
    for (name, says) in [
        ("link.csv", "symbolic link"),
        ("pipe.csv", "FIFO"),
        ("folder.csv", "folder"),
    ] {
        let reason = error_text(&env, name);
        assert!(
            reason.starts_with(&format!("{name}: ")) && reason.contains(says),
            "{reason}"
        );
        assert!(reason.contains("not a regular file"), "{reason}");
    }
    let recorded = files(&env);
    assert_eq!(
        recorded.iter().filter(|f| f.1 == "failed").count(),
        3,
        "{recorded:?}"
    );
}

// ------------------------------------------------------------------- line numbers

#[test]
fn an_unbalanced_quote_is_rejected_on_the_line_where_its_row_starts() {
    let env = TestEnv::new();
    let text = format!(
        "{HEADER}\n{}\n\nO-2,1,\"2026-03-01T10:00:00Z,purchase,C-1,admin_agent,{PARTNER},OFF-1,3,,,,\n{}\n",
        row("O-1", 1, "C-1"),
        row("O-3", 1, "C-1"),
    );
    drop_aged(&env, "quote.csv", text, 10);
    let outcome = ingest(&env);
    assert!(outcome.failed_files.is_empty());
    let lines: Vec<(i32, String)> = subsweep::store::schema::rejected_rows::table
        .select((
            subsweep::store::schema::rejected_rows::source_line,
            subsweep::store::schema::rejected_rows::error_code,
        ))
        .load(&mut env.conn())
        .unwrap();
    assert_eq!(lines, [(4, "malformed_row".to_string())]);
}
