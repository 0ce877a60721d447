//! `subsweep demo`: the whole product on the fixtures, on the embedded default.
//!
//! It starts (or reuses) the private cluster under `[database].data_dir`, recreates the
//! database `subsweep_demo` in it, lays out a fresh workspace under `.subsweep/demo/` (its own
//! jobs.toml, inbox, archive, failed and out folders), copies the fixture order files into the
//! inbox, loads the fixture catalog and customers, backfills the fixture months, and prints
//! what came out and where. Running it again starts over and writes the same files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use diesel::PgConnection;

use crate::app::App;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::intake::catalog;
use crate::runner::{Runner, Trigger};
use crate::store::embedded::{Durability, EmbeddedCluster};
use crate::store::{self, DatabaseLocation};

/// The database the demo owns (dropped and recreated on every run).
const DEMO_DATABASE: &str = "subsweep_demo";
/// The partner id the fixture order files carry.
const DEMO_PARTNER: &str = "P-CONTOSO-CSP-01";
/// The fixture months: every order file's events fall in them.
const FROM: (i32, u32, u32) = (2026, 7, 1);
const TO: (i32, u32, u32) = (2026, 10, 31);

/// Where the demo put things, for the summary.
pub struct DemoReport {
    pub workspace: PathBuf,
    pub database: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Runs the demo; `config_path` locates the repository (its folder holds `fixtures/` and the
/// data_dir of the embedded cluster).
pub fn run(config_path: &Path, out: &mut dyn Write) -> Result<DemoReport> {
    let base = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = fs::canonicalize(&base)?;
    let fixtures = find_fixtures(&base)?;
    let data_dir = match Config::load(config_path) {
        Ok(config) => config.database.data_dir,
        Err(_) => base.join(".subsweep/pgdata"),
    };

    let workspace = base.join(".subsweep/demo");
    if workspace.exists() {
        fs::remove_dir_all(&workspace)?;
    }
    let inbox = workspace.join("inbox");
    fs::create_dir_all(&inbox)?;
    copy_inbox(&fixtures.join("inbox"), &inbox)?;
    let cluster = EmbeddedCluster::ensure_running(&data_dir, Durability::Durable)
        .map_err(store::ConnectError::from)?;
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
        tracing::warn!(
            "DATABASE_URL is not used by the demo: it runs on its own embedded cluster, \
             database {DEMO_DATABASE}"
        );
    }
    recreate_database(&cluster.url("postgres"))?;
    let url = cluster.url(DEMO_DATABASE);
    // The workspace's jobs.toml names the demo's database, so commands run with it see the
    // demo's data (and its out/ folder is claimed by that database alone).
    let config_file = workspace.join("jobs.toml");
    fs::write(&config_file, demo_config(&cluster.data_dir, &url))?;
    let config = Config::load(&config_file)?;
    let app = App {
        config,
        database: DatabaseLocation::Url(url.clone()),
    };
    writeln!(
        out,
        "demo: embedded PostgreSQL at {} (database {DEMO_DATABASE})",
        cluster.data_dir.display()
    )?;

    let mut conn = app.connect()?;
    let offers = catalog::read_offers(&fixtures.join("offers.csv"))?;
    let customers = catalog::read_customers(&fixtures.join("customers.csv"))?;
    store::catalog::upsert_offers(&mut conn, &offers)?;
    store::catalog::upsert_customers(&mut conn, &customers)?;
    writeln!(
        out,
        "demo: loaded {} offers and {} customers from {}",
        offers.len(),
        customers.len(),
        fixtures.display()
    )?;

    let from = date(FROM);
    let to = date(TO);
    let mut runner = Runner::open(&app, Trigger::Backfill, "demo")?;
    let summary = runner.backfill(from, to)?;
    writeln!(
        out,
        "demo: backfilled {from}..{to} ({} job runs)",
        summary.jobs_run
    )?;
    summary.into_result()?;
    write_summary(out, runner.conn(), &app.config, &url)?;
    Ok(DemoReport {
        workspace,
        database: DEMO_DATABASE.to_string(),
        from,
        to,
    })
}

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("the demo range is a valid date")
}

/// `fixtures/` beside the configuration, else the one of the source tree this binary was
/// built from.
fn find_fixtures(base: &Path) -> Result<PathBuf> {
    let candidates = [
        base.join("fixtures"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("offers.csv").is_file())
        .ok_or_else(|| {
            Error::Usage(format!(
                "no fixtures/ folder with offers.csv next to {}: run the demo from the \
                 repository root",
                base.display()
            ))
        })
}

/// Copies the fixture order files, giving them modification times in name order (the inbox
/// takes files oldest first) and old enough to have settled.
fn copy_inbox(from: &Path, to: &Path) -> Result<()> {
    let mut names: Vec<PathBuf> = fs::read_dir(from)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    names.sort();
    let start = SystemTime::now() - Duration::from_secs(3600);
    for (i, path) in names.iter().enumerate() {
        let target = to.join(path.file_name().expect("a listed file has a name"));
        fs::copy(path, &target)?;
        let file = fs::File::options().write(true).open(&target)?;
        file.set_modified(start + Duration::from_secs(i as u64))?;
    }
    Ok(())
}

fn demo_config(data_dir: &Path, url: &str) -> String {
    let data_dir = toml::Value::String(data_dir.to_string_lossy().into_owned());
    let url = toml::Value::String(url.to_string());
    format!(
        r#"# Written by `subsweep demo`; rewritten on every run.
[partner]
id = "{DEMO_PARTNER}"
type = "direct_bill"

[database]
# The demo's own database in the embedded cluster (DATABASE_URL and --database-url win
# over it: the commands the demo prints pass it when DATABASE_URL is set).
url = {url}
data_dir = {data_dir}

[intake]
inbox = "inbox"
archive = "archive"
failed = "failed"
settle_seconds = 0

[output]
dir = "out"
"#
    )
}

fn recreate_database(maintenance_url: &str) -> Result<()> {
    let mut conn = store::connect(maintenance_url)?;
    store::demo::recreate_database(&mut conn, DEMO_DATABASE)?;
    Ok(())
}

fn write_summary(
    out: &mut dyn Write,
    conn: &mut PgConnection,
    config: &Config,
    url: &str,
) -> Result<()> {
    let statuses = store::demo::subscriptions_by_status(conn)?;
    let line = |rows: &[store::demo::Count]| {
        rows.iter()
            .map(|c| format!("{} {}", c.n, c.label))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "demo: subscriptions: {}", line(&statuses))?;
    let rows = store::demo::table_counts(conn)?;
    writeln!(out, "demo: {}", line(&rows))?;
    let totals = store::demo::invoiced_by_currency(conn)?;
    for t in &totals {
        writeln!(out, "demo: invoiced {} over {} invoice(s)", t.label, t.n)?;
    }
    writeln!(
        out,
        "demo: invoices in {}",
        config.output_dir.join("invoices").display()
    )?;
    writeln!(
        out,
        "demo: daily reports (rejects, provisioning, suspended) in {}",
        config.output_dir.join("reports").display()
    )?;
    writeln!(
        out,
        "demo: archived order files in {}; configuration {}",
        config.intake.archive.display(),
        config.path.display()
    )?;
    // DATABASE_URL would win over the workspace's [database].url: then the commands name the
    // demo's database themselves (its URL holds no password: the cluster trusts its socket).
    let mut base = format!(
        "subsweep --config {}",
        shell_word(&config.path.to_string_lossy())
    );
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
        base.push_str(&format!(
            " --database-url {}",
            shell_word(&store::redact(url))
        ));
    }
    writeln!(out, "demo: look around the demo's data with")?;
    writeln!(out, "demo:   {base} status")?;
    writeln!(out, "demo:   {base} subscriptions")?;
    Ok(())
}

/// `text` as one word for a POSIX shell: bare when it is plainly safe, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=@%,+".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
