//! Test support: every test gets its own fresh database, cloned from a migrated template, on
//! the server `DATABASE_URL` names or, without it, on a private embedded cluster under
//! target/. Tests can therefore run in parallel, and pass on a machine with no server running.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use subsweep::config::Config;
use subsweep::store::{self, embedded};

pub mod fixtures;

/// The server tests run on: (URL of its maintenance database, how to build a URL for a db).
struct Server {
    maintenance_url: String,
}

impl Server {
    fn url_for(&self, dbname: &str) -> String {
        replace_dbname(&self.maintenance_url, dbname)
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.trim().is_empty()
        {
            return Server {
                maintenance_url: url,
            };
        }
        let data_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-pgdata");
        let cluster =
            embedded::EmbeddedCluster::ensure_running(&data_dir, embedded::Durability::Throwaway)
                .expect("embedded test cluster starts");
        Server {
            maintenance_url: cluster.url("postgres"),
        }
    })
}

/// Replaces the database name in a postgres URL, keeping its query string.
fn replace_dbname(url: &str, dbname: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let authority = path_start.map_or(base, |p| &base[..p]);
    format!("{authority}/{dbname}{query}")
}

/// Name of the template: changes whenever a migration changes.
fn template_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut files: Vec<PathBuf> = walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"));
    files.sort();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file)
            .expect("migration readable")
            .hash(&mut hasher);
    }
    format!("subsweep_tpl_{:016x}", hasher.finish())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations folder") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

diesel::table! {
    pg_database (datname) {
        datname -> Text,
    }
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::select(diesel::dsl::exists(
        pg_database::table.filter(pg_database::datname.eq(name)),
    ))
    .get_result(conn)
    .expect("pg_database readable")
}

/// Creates the migrated template once per server (guarded across processes).
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let server = server();
        let name = template_name();
        let mut admin =
            PgConnection::establish(&server.maintenance_url).expect("test server reachable");
        diesel::sql_query("SELECT pg_advisory_lock(7365432199)")
            .execute(&mut admin)
            .unwrap();
        if !database_exists(&mut admin, &name) {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut admin)
                .unwrap();
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut admin)
                .unwrap();
            {
                let mut conn = PgConnection::establish(&server.url_for(&building)).unwrap();
                store::migrate(&mut conn).expect("migrations apply to the template");
            }
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut admin)
                .unwrap();
        }
        diesel::sql_query("SELECT pg_advisory_unlock(7365432199)")
            .execute(&mut admin)
            .unwrap();
        name
    })
}

/// A fresh, migrated database, dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let server = server();
        let template = template();
        let name = format!(
            "subsweep_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut admin =
            PgConnection::establish(&server.maintenance_url).expect("test server reachable");
        // Cloning needs the template to have no other connection: retry briefly if one lingers.
        let mut attempt = 0;
        loop {
            match diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .execute(&mut admin)
            {
                Ok(_) => break,
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        TestDb {
            url: server.url_for(&name),
            name,
        }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("test database reachable")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("SUBSWEEP_KEEP_TEST_DB").is_some() {
            eprintln!("keeping test database {}", self.url);
            return;
        }
        if let Ok(mut admin) = PgConnection::establish(&server().maintenance_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// The partner id the test configuration uses.
pub const PARTNER: &str = "P-TEST-01";

/// The header of an order file with every column, in the documented order (spelled out for
/// format strings; checked at compile time against `domain::order::COLUMNS`).
pub const ORDER_HEADER: &str = "order_id,line,event_time,action,customer_id,requested_by,partner_id,offer_id,quantity,subscription_id,base_subscription_id,auto_renew,reason";

const _: () = assert!(
    joins(ORDER_HEADER.as_bytes(), &subsweep::domain::order::COLUMNS),
    "ORDER_HEADER is not domain::order::COLUMNS joined by commas"
);

/// Whether `text` is `columns` joined by commas.
const fn joins(text: &[u8], columns: &[&str]) -> bool {
    let mut at = 0;
    let mut c = 0;
    while c < columns.len() {
        if c > 0 {
            if at >= text.len() || text[at] != b',' {
                return false;
            }
            at += 1;
        }
        let name = columns[c].as_bytes();
        let mut i = 0;
        while i < name.len() {
            if at >= text.len() || text[at] != name[i] {
                return false;
            }
            at += 1;
            i += 1;
        }
        c += 1;
    }
    at == text.len()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct LedgerStatus {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
}

impl TestEnv {
    /// The one number a `SELECT count(*) …` (or any single bigint) query returns.
    pub fn count(&self, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut self.conn())
            .unwrap()
            .n
    }

    /// `subsweep nightly --date D` through the binary: (exit code, standard error).
    pub fn nightly_at(&self, date: &str) -> (i32, String) {
        let (code, _, err) = self.run(&["nightly", "--date", date]);
        (code, err)
    }

    /// rejects.csv of a day as (order_id, error_code, error_message).
    pub fn rejects_of(&self, date: &str) -> Vec<(String, String, String)> {
        let path = self
            .config
            .reports_dir(date.parse().unwrap())
            .join("rejects.csv");
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header = reader.headers().unwrap().clone();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    r[at("order_id")].to_string(),
                    r[at("error_code")].to_string(),
                    r[at("error_message")].to_string(),
                )
            })
            .collect()
    }

    /// The ledger status of (job, logical date), if the job ever ran for it.
    pub fn ledger_status(&self, job: &str, date: &str) -> Option<String> {
        use diesel::sql_types::Text;
        diesel::sql_query("SELECT status FROM job_runs WHERE job = $1 AND logical_date = $2::date")
            .bind::<Text, _>(job)
            .bind::<Text, _>(date)
            .load::<LedgerStatus>(&mut self.conn())
            .unwrap()
            .into_iter()
            .next()
            .map(|r| r.status)
    }
}

/// A folder with a jobs.toml (inbox, archive, failed, out inside it) and a fresh database.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
    pub config: Config,
}

impl TestEnv {
    /// The default test configuration: a direct-bill partner, settle time 0.
    pub fn new() -> TestEnv {
        TestEnv::with_config("")
    }

    /// The default configuration plus `extra` TOML (e.g. a `[permissions]` table).
    pub fn with_config(extra: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "[partner]\nid = \"{PARTNER}\"\ntype = \"direct_bill\"\n\n[intake]\nsettle_seconds = 0\n\n{extra}\n"
        );
        let path = dir.path().join("jobs.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(&path).expect("test configuration parses");
        for folder in [
            &config.intake.inbox,
            &config.intake.archive,
            &config.intake.failed,
            &config.output_dir,
        ] {
            std::fs::create_dir_all(folder).unwrap();
        }
        TestEnv {
            dir,
            db: TestDb::new(),
            config,
        }
    }

    pub fn conn(&self) -> PgConnection {
        self.db.conn()
    }

    /// Path of the configuration file (for running the binary with --config).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("jobs.toml")
    }

    /// Writes a file into the inbox.
    pub fn drop_file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.config.intake.inbox.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

/// The fixture catalog and customers of the repository.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

impl TestEnv {
    /// The subsweep binary, pointed at this environment's configuration and database.
    pub fn cli(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"));
        command
            .arg("--config")
            .arg(self.config_path())
            .arg("--database-url")
            .arg(&self.db.url)
            .env_remove("SUBSWEEP_FAILPOINT")
            .env("SUBSWEEP_CONNECT_ATTEMPTS", "2")
            .env("RUST_LOG", "info");
        command
    }

    /// Runs the binary with `args`; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.cli().args(args).output().expect("subsweep runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs the binary with `args`, which must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    }

    /// A data set made by `subsweep generate` (`customers`, `orders`, `seed`, `days`, from
    /// 2026-01-05, for [`PARTNER`]) loaded as a new installation loads one: its offers and
    /// customers, and its order files copied into the inbox.
    pub fn load_generated(&self, customers: &str, orders: &str, seed: &str, days: &str) {
        let data = self.dir.path().join("generated");
        let out = data.to_str().unwrap();
        self.ok(&[
            "generate",
            "--customers",
            customers,
            "--orders",
            orders,
            "--seed",
            seed,
            "--days",
            days,
            "--start",
            "2026-01-05",
            "--partner",
            PARTNER,
            "--out",
            out,
        ]);
        for (command, file) in [
            ("load-catalog", "offers.csv"),
            ("load-customers", "customers.csv"),
        ] {
            self.ok(&[command, data.join(file).to_str().unwrap()]);
        }
        for entry in std::fs::read_dir(data.join("inbox")).unwrap() {
            let path = entry.unwrap().path();
            let to = self.config.intake.inbox.join(path.file_name().unwrap());
            std::fs::copy(&path, to).unwrap();
        }
    }

    /// Loads the repository's fixture offers and customers.
    pub fn load_fixture_catalog(&self) {
        for (command, file) in [
            ("load-catalog", "offers.csv"),
            ("load-customers", "customers.csv"),
        ] {
            let path = fixture(file);
            let (code, _, err) = self.run(&[command, path.to_str().unwrap()]);
            assert_eq!(code, 0, "{command}: {err}");
        }
    }
}

/// Runs `job` for `date` in one transaction, as the runner does (without ledger or locks),
/// on that one connection.
pub fn execute_job(
    conn: &mut PgConnection,
    config: &Config,
    job: subsweep::jobs::JobName,
    date: chrono::NaiveDate,
) -> Result<subsweep::jobs::JobOutcome, subsweep::error::Error> {
    execute_job_at(conn, config, None, job, date)
}

/// [`execute_job`], the job told where its database is (`database_url`), as the runner tells
/// it: it may then read on a second connection.
#[allow(dead_code)]
pub fn execute_job_at(
    conn: &mut PgConnection,
    config: &Config,
    database_url: Option<String>,
    job: subsweep::jobs::JobName,
    date: chrono::NaiveDate,
) -> Result<subsweep::jobs::JobOutcome, subsweep::error::Error> {
    conn.transaction(|conn| {
        let mut ctx = subsweep::jobs::JobContext {
            config,
            conn,
            wall_clock: std::time::SystemTime::now(),
            database_url,
        };
        subsweep::jobs::execute(job, &mut ctx, date)
    })
}

/// Every file under `dir`: its path relative to `dir` and its bytes, sorted by path.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every row of `table`, ordered by `order`, as PostgreSQL prints a row (`t::text`): a whole
/// table compared in one assertion.
pub fn table_rows(conn: &mut PgConnection, table: &str, order: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    diesel::sql_query(format!(
        "SELECT t::text AS row FROM {table} t ORDER BY {order}"
    ))
    .load::<Row>(conn)
    .unwrap()
    .into_iter()
    .map(|r| r.row)
    .collect()
}

/// Spawns the binary with `failpoint` armed and waits until it reports the failpoint hit.
#[allow(dead_code)]
pub fn spawn_paused(env: &TestEnv, args: &[&str], failpoint: &str) -> std::process::Child {
    let mut child = env
        .cli()
        .args(args)
        .env("SUBSWEEP_FAILPOINT", failpoint)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let wanted = format!("failpoint {failpoint} hit");
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) if line.contains(&wanted) => break,
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                panic!("{failpoint} never reached: {e}");
            }
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in rx {});
    child
}

/// `args` run by the binary with `failpoint` armed: its exit code (None when it aborted, as a
/// kill -9 would) and its standard error.
#[allow(dead_code)]
pub fn run_at_failpoint(env: &TestEnv, args: &[&str], failpoint: &str) -> (Option<i32>, String) {
    let output = env
        .cli()
        .args(args)
        .env("SUBSWEEP_FAILPOINT", failpoint)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// How many sessions besides the caller's are connected to the test database (a run that
/// ended must leave none).
#[allow(dead_code)]
pub fn other_sessions(env: &TestEnv) -> i64 {
    env.count(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid()",
    )
}
