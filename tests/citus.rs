//! subsweep on a Citus cluster gives the same files as on one server.
//!
//! The cluster tests run when `SUBSWEEP_CITUS_URL` names a Citus coordinator (any database on
//! it, e.g. `postgres://postgres@127.0.0.1:5460/postgres`) whose workers listen on the next
//! ports of the same host (as `cluster.sh start` lays them out), or on the `host:port` list of
//! `SUBSWEEP_CITUS_WORKERS`. Each test makes its own database on every node, with the citus
//! extension and the workers registered, runs a scenario through the binary with
//! `[database] citus = true`, runs the same scenario on one server (`DATABASE_URL` or the
//! embedded test cluster), and compares every file written, byte for byte. Without
//! `SUBSWEEP_CITUS_URL` they say they are skipped and pass.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{TestDb, fixture};

/// The partner of the fixture order files (and of the generated ones).
const PARTNER: &str = "P-CONTOSO-CSP-01";
use diesel::prelude::*;
use diesel::{Connection, PgConnection};

/// The coordinator URL, or None (the test is skipped, saying so).
fn citus_url(test: &str) -> Option<String> {
    match std::env::var("SUBSWEEP_CITUS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("{test}: skipped (SUBSWEEP_CITUS_URL is not set: no Citus cluster)");
            None
        }
    }
}

/// `scheme://user@host:port/db?query` split into (before host, host, port, query).
fn url_parts(url: &str) -> (String, String, u16, String) {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let rest = &base[scheme_end..];
    let authority = rest.split('/').next().unwrap_or(rest);
    let (user, hostport) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("a port number")),
        None => (hostport.to_string(), 5432),
    };
    (
        format!("{}{user}", &base[..scheme_end]),
        host,
        port,
        query.to_string(),
    )
}

/// A database of the same name on the coordinator and every worker, with citus and the
/// workers registered; dropped on every node at the end.
struct CitusDb {
    name: String,
    url: String,
    /// Maintenance URLs: workers first, the coordinator last.
    nodes: Vec<String>,
}

impl CitusDb {
    fn new(coordinator: &str) -> CitusDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        // Registering workers for two new databases at once can fail on the workers' side
        // ("failure on connection marked as essential"): one database at a time.
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!(
            "subsweep_citus_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let (prefix, host, port, query) = url_parts(coordinator);
        let workers: Vec<(String, u16)> = match std::env::var("SUBSWEEP_CITUS_WORKERS") {
            Ok(list) if !list.trim().is_empty() => list
                .split(',')
                .map(|w| {
                    let (h, p) = w.trim().rsplit_once(':').expect("host:port");
                    (h.to_string(), p.parse().expect("a port number"))
                })
                .collect(),
            _ => vec![(host.clone(), port + 1), (host.clone(), port + 2)],
        };
        let url_of =
            |h: &str, p: u16, db: &str| format!("{prefix}{h}:{p}/{db}{query}").replace("//@", "//");
        let mut every: Vec<(String, u16)> = workers.clone();
        every.push((host.clone(), port));
        let nodes: Vec<String> = every
            .iter()
            .map(|(h, p)| url_of(h, *p, "postgres"))
            .collect();
        for (h, p) in &every {
            let mut admin =
                PgConnection::establish(&url_of(h, *p, "postgres")).expect("citus node reachable");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .unwrap();
            let mut db =
                PgConnection::establish(&url_of(h, *p, &name)).expect("new database reachable");
            diesel::sql_query("CREATE EXTENSION citus")
                .execute(&mut db)
                .unwrap();
        }
        let url = url_of(&host, port, &name);
        let mut conn = PgConnection::establish(&url).unwrap();
        diesel::sql_query(format!(
            "SELECT citus_set_coordinator_host('{host}', {port})"
        ))
        .execute(&mut conn)
        .unwrap();
        for (h, p) in &workers {
            diesel::sql_query(format!("SELECT citus_add_node('{h}', {p})"))
                .execute(&mut conn)
                .unwrap();
        }
        CitusDb { name, url, nodes }
    }
}

impl Drop for CitusDb {
    fn drop(&mut self) {
        if std::env::var_os("SUBSWEEP_KEEP_TEST_DB").is_some() {
            eprintln!("keeping citus database {}", self.url);
            return;
        }
        for node in self.nodes.iter().rev() {
            if let Ok(mut admin) = PgConnection::establish(node) {
                let _ = diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .execute(&mut admin);
            }
        }
    }
}

/// A workspace (jobs.toml, the fixture catalog, inbox, archive, failed, out) on a database.
struct Workspace {
    dir: tempfile::TempDir,
    url: String,
}

impl Workspace {
    fn new(url: &str, citus: bool) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let database = if citus {
            "[database]\ncitus = true\n"
        } else {
            ""
        };
        std::fs::write(
            dir.path().join("jobs.toml"),
            format!(
                "[partner]\nid = \"{PARTNER}\"\ntype = \"direct_bill\"\n\n{database}\n\
                 [intake]\nsettle_seconds = 0\n"
            ),
        )
        .unwrap();
        for folder in ["inbox", "archive", "failed", "out"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        Workspace {
            dir,
            url: url.to_string(),
        }
    }

    fn inbox(&self) -> PathBuf {
        self.dir.path().join("inbox")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_subsweep"));
        command
            .arg("--config")
            .arg(self.dir.path().join("jobs.toml"))
            .arg("--database-url")
            .arg(&self.url)
            .args(args)
            .env_remove("SUBSWEEP_FAILPOINT")
            .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
            .env("RUST_LOG", "warn");
        command
    }

    /// Runs the binary; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "subsweep {args:?} exited {code}: {err}");
        out
    }

    /// Loads a catalog and customers from files.
    fn load(&self, offers: &Path, customers: &Path) {
        self.ok(&["load-catalog", offers.to_str().unwrap()]);
        self.ok(&["load-customers", customers.to_str().unwrap()]);
    }

    /// Every file under out/, by relative path.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        collect(&self.dir.path().join("out"), Path::new(""), &mut out);
        out
    }
}

fn collect(dir: &Path, rel: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = rel.join(path.file_name().unwrap());
        if path.is_dir() {
            collect(&path, &name, out);
        } else if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
            // (A hidden file is what a crash may leave of a copy in progress: not an output.)
            out.insert(name.display().to_string(), std::fs::read(&path).unwrap());
        }
    }
}

/// The two sides' files are the same set of files with the same bytes.
fn assert_same_files(one: &Workspace, citus: &Workspace, what: &str) -> usize {
    let (a, b) = (one.files(), citus.files());
    let only = |x: &BTreeMap<String, Vec<u8>>, y: &BTreeMap<String, Vec<u8>>| {
        x.keys()
            .filter(|k| !y.contains_key(*k))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        only(&a, &b).is_empty() && only(&b, &a).is_empty(),
        "{what}: files only on one server {:?}, only on citus {:?}",
        only(&a, &b),
        only(&b, &a)
    );
    for (path, bytes) in &a {
        assert!(
            bytes == &b[path],
            "{what}: {path} differs:\n--- one server\n{}\n--- citus\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&b[path])
        );
    }
    assert!(!a.is_empty(), "{what}: no files were written at all");
    a.len()
}

#[derive(QueryableByName)]
struct Placed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
}

/// `citus_tables` as (table, type and distribution column).
fn citus_tables(url: &str) -> BTreeMap<String, String> {
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query(
        "SELECT table_name::text AS table_name, \
                citus_table_type || ':' || distribution_column AS kind FROM citus_tables",
    )
    .load::<Placed>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|p| (p.table_name, p.kind))
    .collect()
}

/// The fixture inbox (four months of orders, among them late events and an Excel file)
/// copied into a workspace's inbox.
fn drop_fixture_orders(ws: &Workspace) {
    for entry in std::fs::read_dir(fixture("inbox")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, ws.inbox().join(path.file_name().unwrap())).unwrap();
    }
}

const FIXTURE_FROM: &str = "2026-07-01";
const FIXTURE_TO: &str = "2026-11-02";

#[test]
fn the_fixture_months_give_the_same_files_on_citus_and_the_growing_tables_are_distributed() {
    let Some(coordinator) = citus_url("fixture months") else {
        return;
    };
    let cluster = CitusDb::new(&coordinator);
    let server = TestDb::new();
    let one = Workspace::new(&server.url, false);
    let citus = Workspace::new(&cluster.url, true);

    let migrated = citus.ok(&["migrate"]);
    assert!(
        migrated.contains("citus: ") && !migrated.contains("citus: 0 table(s)"),
        "{migrated}"
    );
    let again = citus.ok(&["migrate"]);
    assert!(
        again.contains("0 migration(s)") && again.contains("citus: 0 table(s) placed"),
        "migrating a distributed schema again does nothing: {again}"
    );

    for ws in [&one, &citus] {
        ws.load(&fixture("offers.csv"), &fixture("customers.csv"));
        drop_fixture_orders(ws);
        ws.ok(&[
            "backfill",
            "--from",
            FIXTURE_FROM,
            "--to",
            FIXTURE_TO,
            "--allow-future",
        ]);
    }
    let files = assert_same_files(&one, &citus, "fixture backfill");
    assert!(files > 10, "reports and invoices of four months: {files}");

    let tables = citus_tables(&cluster.url);
    for table in [
        "subscriptions",
        "applied_events",
        "charge_lines",
        "invoices",
    ] {
        assert_eq!(
            tables.get(table).map(String::as_str),
            Some("distributed:customer_id"),
            "{table} in {tables:?}"
        );
    }
    for table in ["offers", "customers"] {
        assert!(
            tables
                .get(table)
                .is_some_and(|k| k.starts_with("reference")),
            "{table} in {tables:?}"
        );
    }
    for table in [
        "inbox_files",
        "staged_events",
        "rejected_rows",
        "invoice_runs",
        "job_runs",
    ] {
        assert!(
            !tables.contains_key(table),
            "{table} stays a plain table of the coordinator: {tables:?}"
        );
    }
    // The shards really hold the rows: the workers hold the lines, not the coordinator.
    let mut conn = PgConnection::establish(&cluster.url).unwrap();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let placements: N = diesel::sql_query(
        "SELECT count(DISTINCT nodeport)::bigint AS n FROM citus_shards \
         WHERE table_name = 'charge_lines'::regclass",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(
        placements.n >= 2,
        "charge_lines spread over the workers: {}",
        placements.n
    );
}

/// A generated data set: many customers, purchases on day one and changes after.
fn generated(folder: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args([
            "generate",
            "--customers",
            "300",
            "--orders",
            "4000",
            "--days",
            "45",
            "--start",
            "2026-01-05",
            "--partner",
            PARTNER,
            "--out",
        ])
        .arg(folder)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_inbox(from: &Path, ws: &Workspace) {
    for entry in std::fs::read_dir(from.join("inbox")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, ws.inbox().join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn backfill_on_citus_is_nightly_on_citus_is_backfill_on_one_server() {
    let Some(coordinator) = citus_url("backfill ≡ nightly") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    generated(data.path());
    let server = TestDb::new();
    let one = Workspace::new(&server.url, false);
    let backfilled = CitusDb::new(&coordinator);
    let by_night = CitusDb::new(&coordinator);
    let citus = Workspace::new(&backfilled.url, true);
    let nightly = Workspace::new(&by_night.url, true);
    for ws in [&one, &citus, &nightly] {
        ws.load(
            &data.path().join("offers.csv"),
            &data.path().join("customers.csv"),
        );
        copy_inbox(data.path(), ws);
    }
    let (from, to) = ("2026-01-05", "2026-03-02");
    for ws in [&one, &citus] {
        ws.ok(&["backfill", "--from", from, "--to", to, "--allow-future"]);
    }
    let mut day: chrono::NaiveDate = from.parse().unwrap();
    let last: chrono::NaiveDate = to.parse().unwrap();
    while day <= last {
        nightly.ok(&["nightly", "--date", &day.to_string(), "--allow-future"]);
        day = day.succ_opt().unwrap();
    }
    assert_same_files(&one, &citus, "backfill on citus");
    let files = assert_same_files(&one, &nightly, "nightly on citus");
    assert!(
        one.files().keys().any(|k| k.starts_with("invoices/")),
        "invoices were emitted ({files} files)"
    );
}

#[test]
fn a_crash_before_and_after_commit_on_citus_is_finished_by_the_next_run() {
    let Some(coordinator) = citus_url("crash recovery") else {
        return;
    };
    let server = TestDb::new();
    let cluster = CitusDb::new(&coordinator);
    let one = Workspace::new(&server.url, false);
    let citus = Workspace::new(&cluster.url, true);
    for ws in [&one, &citus] {
        ws.load(&fixture("offers.csv"), &fixture("customers.csv"));
        drop_fixture_orders(ws);
    }
    one.ok(&[
        "backfill",
        "--from",
        FIXTURE_FROM,
        "--to",
        FIXTURE_TO,
        "--allow-future",
    ]);
    // The citus side crashes in apply-orders, then in invoices, each time re-running after.
    for (point, date) in [
        ("apply-orders:before-commit", "2026-07-31"),
        ("invoices:after-commit", "2026-08-01"),
        ("renewals:before-commit", "2026-08-02"),
    ] {
        let out = citus
            .command(&[
                "backfill",
                "--from",
                FIXTURE_FROM,
                "--to",
                date,
                "--allow-future",
            ])
            .env("SUBSWEEP_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{point} aborts the run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    citus.ok(&[
        "backfill",
        "--from",
        FIXTURE_FROM,
        "--to",
        FIXTURE_TO,
        "--allow-future",
    ]);
    assert_same_files(&one, &citus, "after the crashes");
}

#[test]
fn citus_true_on_a_server_without_citus_is_a_configuration_error() {
    // Runs on the test server (DATABASE_URL or the embedded one): no citus extension there.
    let server = TestDb::new();
    let ws = Workspace::new(&server.url, true);
    let (code, _, err) = ws.run(&["migrate"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("has no citus extension"), "{err}");
    let (code, _, err) = ws.run(&["status"]);
    assert_eq!(code, 78, "every command refuses it: {err}");
}
