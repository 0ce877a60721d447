//! jobs.toml (SPEC section 8): the partner, the database, folders, billing settings, role
//! permissions and the scheduled jobs. Paths are relative to the file's own folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::catalog::Partner;
pub use crate::domain::policy::Permissions;
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{Action, PartnerType, Role};

/// A configuration problem: the file, and what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source} (pass --config FILE or create jobs.toml)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Everything jobs.toml says, with paths made absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    pub partner: Partner,
    pub database: DatabaseConfig,
    pub intake: IntakeConfig,
    pub output_dir: PathBuf,
    /// `[output] bom`: every CSV file written under the output folder starts with a UTF-8
    /// byte order mark (for spreadsheets).
    pub output_bom: bool,
    pub billing: BillingConfig,
    pub permissions: Permissions,
    pub jobs: Vec<ScheduledJob>,
    pub serve: ServeConfig,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `[database].url`; `DATABASE_URL` and `--database-url` win over it.
    pub url: Option<String>,
    /// Where the embedded cluster lives when no URL is given.
    pub data_dir: PathBuf,
    /// `citus = true`: the database is a Citus coordinator; migrating distributes the schema
    /// (`store::citus`).
    pub citus: bool,
}

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub inbox: PathBuf,
    pub archive: PathBuf,
    pub failed: PathBuf,
    /// A file is taken once its size and modification time are this old and unchanged.
    pub settle_seconds: u64,
    /// `max_late_days` (default 400): apply-orders for date D rejects a row dated more than
    /// this many days before D (`event_out_of_range`).
    pub max_late_days: u32,
}

/// `[billing]`: invoice periods and the cancellation windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingConfig {
    pub invoice_day: u32,
    pub cancel_window_monthly_hours: u32,
    pub cancel_window_annual_days: u32,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            invoice_day: 1,
            cancel_window_monthly_hours: 24,
            cancel_window_annual_days: 14,
        }
    }
}

/// One `[[jobs]]` entry: a job (or `nightly`) and its cron schedule (with seconds, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledJob {
    pub name: String,
    pub schedule: String,
}

/// `[serve]`: how far back the scheduler catches up missed dates on start, and where it
/// answers `/healthz` and `/metrics` (off unless `listen` is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeConfig {
    pub catch_up_days: u32,
    /// `listen`: the address of the health and metrics endpoints. Never a default: an
    /// address, loopback or not, is only ever the one the operator wrote.
    pub listen: Option<std::net::SocketAddr>,
}

// ------------------------------------------------------------------ the file as written

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    partner: PartnerSection,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    intake: IntakeSection,
    #[serde(default)]
    output: OutputSection,
    #[serde(default)]
    billing: BillingSection,
    #[serde(default)]
    permissions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    jobs: Vec<JobSection>,
    #[serde(default)]
    serve: ServeSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerSection {
    id: String,
    #[serde(rename = "type")]
    partner_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
    #[serde(default = "default_data_dir")]
    data_dir: String,
    #[serde(default)]
    citus: bool,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            url: None,
            data_dir: default_data_dir(),
            citus: false,
        }
    }
}

fn default_data_dir() -> String {
    ".subsweep/pgdata".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct IntakeSection {
    inbox: String,
    archive: String,
    failed: String,
    settle_seconds: u64,
    max_late_days: u32,
}

impl Default for IntakeSection {
    fn default() -> Self {
        IntakeSection {
            inbox: "inbox".into(),
            archive: "archive".into(),
            failed: "failed".into(),
            settle_seconds: 5,
            max_late_days: 400,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct OutputSection {
    dir: String,
    bom: bool,
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            dir: "out".into(),
            bom: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct BillingSection {
    invoice_day: u32,
    cancel_window_monthly_hours: u32,
    cancel_window_annual_days: u32,
}

impl Default for BillingSection {
    fn default() -> Self {
        let d = BillingConfig::default();
        BillingSection {
            invoice_day: d.invoice_day,
            cancel_window_monthly_hours: d.cancel_window_monthly_hours,
            cancel_window_annual_days: d.cancel_window_annual_days,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobSection {
    name: toml::Spanned<String>,
    schedule: toml::Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServeSection {
    catch_up_days: u32,
    listen: Option<toml::Spanned<String>>,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            catch_up_days: 31,
            listen: None,
        }
    }
}

/// Parses `[serve] listen`: an IP address and a port (`127.0.0.1:9187`, `[::1]:9187`), not a
/// host name (which could resolve to an address nobody chose) and not port 0 (a port nobody
/// could know to scrape).
pub fn parse_listen(value: &str) -> Result<std::net::SocketAddr, String> {
    let address: std::net::SocketAddr = value.trim().parse().map_err(|_| {
        "expected an IP address and a port, such as \"127.0.0.1:9187\" or \"[::1]:9187\" (a \
         host name is not accepted)"
            .to_string()
    })?;
    if address.port() == 0 {
        return Err("the port must not be 0: write the port Prometheus scrapes".into());
    }
    Ok(address)
}

/// A TOML error on one line: where, what, and the line as written (so the key is named).
fn toml_problem(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            format!("line {line_no}: {message} (`{line}`)")
        }
        None => message,
    }
}

/// Parses a `[[jobs]]` schedule: cron with a seconds field first, UTC.
pub fn parse_schedule(schedule: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(schedule)
        .map_err(|e| e.to_string())
}

/// `path` with `.` and `..` taken out lexically, so that `in`, `./in/` and `a/../in` compare
/// equal.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The inbox, archive, failed and output folders are four different folders, and the inbox is
/// not the folder of jobs.toml: the inbox takes every `*.csv` in it, so a shared folder would
/// take back its own failed files, or the offers.csv kept beside jobs.toml.
fn check_folders(folders: &[(&str, PathBuf); 5], config_dir: &Path) -> Result<(), String> {
    let [inbox, archive, failed, out, _data] = folders;
    let distinct = [inbox, archive, failed, out];
    for (i, (key, folder)) in distinct.iter().enumerate() {
        if let Some((other, _)) = distinct[..i].iter().find(|(_, f)| f == folder) {
            return Err(format!(
                "{other} and {key} are the same folder {}: give each its own",
                folder.display()
            ));
        }
    }
    if inbox.1 == lexical(config_dir) {
        return Err(format!(
            "[intake] inbox is {}, the folder of jobs.toml itself: every *.csv there (such as \
             offers.csv) would be taken as an order file; give the inbox its own folder",
            inbox.1.display()
        ));
    }
    Ok(())
}

/// Names `[[jobs]]` may use: the six jobs and `nightly`.
pub const SCHEDULABLE: [&str; 7] = [
    "ingest-orders",
    "trial-conversions",
    "renewals",
    "suspension-expiry",
    "apply-orders",
    "invoices",
    "nightly",
];

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses configuration text as if read from `path` (paths resolve against its folder).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(toml_problem(&e, text)))?;
        let base = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base)
            .map_err(|e| invalid(format!("cannot resolve its folder: {e}")))?;
        let resolve = |p: &str| base.join(p);

        let partner_type = file
            .partner
            .partner_type
            .parse::<PartnerType>()
            .map_err(|e| invalid(format!("[partner] type: {e}")))?;
        if file.partner.id.trim().is_empty() {
            return Err(invalid(
                "[partner] id is empty; set it to the partner id your order files carry".into(),
            ));
        }
        let billing = BillingConfig {
            invoice_day: file.billing.invoice_day,
            cancel_window_monthly_hours: file.billing.cancel_window_monthly_hours,
            cancel_window_annual_days: file.billing.cancel_window_annual_days,
        };
        if !(1..=28).contains(&billing.invoice_day) {
            return Err(invalid(format!(
                "[billing] invoice_day = {} must be between 1 and 28 so every month has it",
                billing.invoice_day
            )));
        }

        let mut permissions = Permissions::default();
        for (action, roles) in file.permissions {
            let action = action
                .parse::<Action>()
                .map_err(|e| invalid(format!("[permissions] key {e}")))?;
            let roles = roles
                .iter()
                .map(|r| {
                    r.parse::<Role>()
                        .map_err(|e| invalid(format!("[permissions] {action}: role {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(twice) = roles
                .iter()
                .enumerate()
                .find_map(|(i, r)| roles[..i].contains(r).then_some(r))
            {
                return Err(invalid(format!(
                    "[permissions] {action}: role '{twice}' is listed twice"
                )));
            }
            permissions.allowed.insert(action, roles);
        }

        // Every entry is checked now, by every command: a schedule only `serve` would parse
        // must not wait for the night it is needed.
        let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        for (index, job) in file.jobs.iter().enumerate() {
            let key = format!("jobs[{}]", index + 1);
            let name = job.name.get_ref();
            if !SCHEDULABLE.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "line {}: {key}.name = '{name}' is not one of: {}",
                    line(job.name.span().start),
                    SCHEDULABLE.join(", ")
                )));
            }
            let schedule = job.schedule.get_ref();
            if let Err(e) = parse_schedule(schedule) {
                return Err(invalid(format!(
                    "line {}: {key}.schedule = '{schedule}' is not a cron schedule: {e} (six \
                     fields with seconds first, UTC: \"0 30 0 * * *\" is 00:30 every day)",
                    line(job.schedule.span().start)
                )));
            }
        }
        // One entry per job: a job in two entries (its name twice, or beside a `nightly`,
        // which runs every job) would run twice a day on two schedules, the later fire finding
        // it done, held by the other, or its previous job not run yet for that date.
        let mut scheduled: BTreeMap<&str, (usize, &str, usize)> = BTreeMap::new();
        for (index, job) in file.jobs.iter().enumerate() {
            let name = job.name.get_ref().as_str();
            let at = line(job.name.span().start);
            let runs = if name == "nightly" {
                &SCHEDULABLE[..SCHEDULABLE.len() - 1]
            } else {
                std::slice::from_ref(&name)
            };
            for &each in runs {
                if let Some(&(first, first_name, first_at)) = scheduled.get(each) {
                    let what = if each == name {
                        format!("is scheduled already by jobs[{first}] (line {first_at})")
                    } else {
                        format!("runs {each}, scheduled already by jobs[{first}] (line {first_at})")
                    };
                    let by_nightly = if first_name == "nightly" && name != "nightly" {
                        ", 'nightly', which runs every job of the day"
                    } else {
                        ""
                    };
                    return Err(invalid(format!(
                        "line {at}: jobs[{}].name = '{name}' {what}{by_nightly}: give each job \
                         one entry (`nightly`, or the jobs on their own schedules)",
                        index + 1
                    )));
                }
                scheduled.insert(each, (index + 1, name, at));
            }
        }
        let listen = match &file.serve.listen {
            None => None,
            Some(value) => Some(parse_listen(value.get_ref()).map_err(|e| {
                invalid(format!(
                    "line {}: [serve] listen = '{}': {e}",
                    line(value.span().start),
                    value.get_ref()
                ))
            })?),
        };
        if file.serve.catch_up_days == 0 {
            return Err(invalid(
                "[serve] catch_up_days = 0: it must be at least 1 (the date of the latest fire)"
                    .into(),
            ));
        }

        let folders = [
            ("[intake] inbox", &file.intake.inbox),
            ("[intake] archive", &file.intake.archive),
            ("[intake] failed", &file.intake.failed),
            ("[output] dir", &file.output.dir),
            ("[database] data_dir", &file.database.data_dir),
        ];
        for (key, value) in folders {
            if value.trim().is_empty() {
                return Err(invalid(format!(
                    "{key} is empty: name a folder (relative to the folder of {})",
                    path.display()
                )));
            }
        }
        check_folders(
            &folders.map(|(key, value)| (key, lexical(&resolve(value)))),
            &base,
        )
        .map_err(invalid)?;

        Ok(Config {
            path: path.to_path_buf(),
            partner: Partner {
                id: file.partner.id,
                partner_type,
            },
            database: DatabaseConfig {
                url: file.database.url,
                data_dir: resolve(&file.database.data_dir),
                citus: file.database.citus,
            },
            intake: IntakeConfig {
                inbox: resolve(&file.intake.inbox),
                archive: resolve(&file.intake.archive),
                failed: resolve(&file.intake.failed),
                settle_seconds: file.intake.settle_seconds,
                max_late_days: file.intake.max_late_days,
            },
            output_dir: resolve(&file.output.dir),
            output_bom: file.output.bom,
            billing,
            permissions,
            jobs: file
                .jobs
                .into_iter()
                .map(|j| ScheduledJob {
                    name: j.name.into_inner(),
                    schedule: j.schedule.into_inner(),
                })
                .collect(),
            serve: ServeConfig {
                catch_up_days: file.serve.catch_up_days,
                listen,
            },
        })
    }

    /// The rules' view of the partner settings.
    pub fn policy(&self) -> Policy {
        Policy {
            partner: self.partner.clone(),
            permissions: self.permissions.clone(),
            cancel_window_monthly: chrono::Duration::hours(i64::from(
                self.billing.cancel_window_monthly_hours,
            )),
            cancel_window_annual: chrono::Duration::days(i64::from(
                self.billing.cancel_window_annual_days,
            )),
        }
    }

    /// `out/reports/<date>/`.
    pub fn reports_dir(&self, date: chrono::NaiveDate) -> PathBuf {
        self.output_dir.join("reports").join(date.to_string())
    }

    /// `out/invoices/<YYYY-MM>/` for an invoice period starting on `period_start`.
    pub fn invoices_dir(&self, period_start: chrono::NaiveDate) -> PathBuf {
        self.output_dir
            .join("invoices")
            .join(period_start.format("%Y-%m").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[partner]\nid = \"P-1\"\ntype = \"direct_bill\"\n";

    #[test]
    fn paths_are_relative_to_the_file_and_defaults_apply() {
        let config = Config::parse(MINIMAL, Path::new("/srv/subsweep/jobs.toml")).unwrap();
        assert_eq!(config.intake.inbox, Path::new("/srv/subsweep/inbox"));
        assert_eq!(
            config.database.data_dir,
            Path::new("/srv/subsweep/.subsweep/pgdata")
        );
        assert_eq!(config.billing, BillingConfig::default());
        assert!(!config.output_bom);
        assert!(
            !config.database.citus,
            "one server unless citus = true is written"
        );
        assert_eq!(
            config.serve.listen, None,
            "no endpoint unless one is written"
        );
        assert!(
            config
                .permissions
                .permits(Action::Suspend, Role::SalesAgent)
        );
    }

    #[test]
    fn permissions_narrow_an_action_to_the_listed_roles() {
        let text =
            format!("{MINIMAL}[permissions]\nsuspend = [\"admin_agent\", \"global_admin\"]\n");
        let config = Config::parse(&text, Path::new("/x/jobs.toml")).unwrap();
        assert!(
            config
                .permissions
                .permits(Action::Suspend, Role::GlobalAdmin)
        );
        assert!(
            !config
                .permissions
                .permits(Action::Suspend, Role::HelpdeskAgent)
        );
        assert!(
            config
                .permissions
                .permits(Action::Cancel, Role::HelpdeskAgent)
        );
    }

    #[test]
    fn serve_listens_on_the_address_written_loopback_or_not() {
        for (value, expected) in [
            ("127.0.0.1:9187", "127.0.0.1:9187"),
            ("[::1]:9187", "[::1]:9187"),
            ("0.0.0.0:9187", "0.0.0.0:9187"),
        ] {
            let text = format!("{MINIMAL}[serve]\nlisten = \"{value}\"\n");
            let config = Config::parse(&text, Path::new("/x/jobs.toml")).unwrap();
            assert_eq!(
                config.serve.listen.map(|a| a.to_string()).as_deref(),
                Some(expected)
            );
        }
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                format!("{MINIMAL}[billing]\ninvoice_day = 31\n"),
                "invoice_day",
            ),
            (
                format!("{MINIMAL}[permissions]\nsuspend = [\"janitor\"]\n"),
                "janitor",
            ),
            (
                format!("{MINIMAL}[intake]\ninbox_dir = \"x\"\n"),
                "inbox_dir",
            ),
            (
                "[partner]\nid = \"P\"\ntype = \"retail\"\n".to_string(),
                "retail",
            ),
            (
                format!("{MINIMAL}[[jobs]]\nname = \"cleanup\"\nschedule = \"0 0 1 * * *\"\n"),
                "jobs[1].name = 'cleanup'",
            ),
            (
                format!(
                    "{MINIMAL}[[jobs]]\nname = \"nightly\"\nschedule = \"0 30 0 * * *\"\n\
                     [[jobs]]\nname = \"renewals\"\nschedule = \"0 0 1 * *\"\n"
                ),
                "line 9: jobs[2].schedule = '0 0 1 * *' is not a cron schedule",
            ),
            (
                format!("{MINIMAL}[[jobs]]\nname = \"nightly\"\nschedule = \"0 61 0 * * *\"\n"),
                "jobs[1].schedule = '0 61 0 * * *'",
            ),
            (
                format!("{MINIMAL}[serve]\ncatch_up_days = 0\n"),
                "catch_up_days",
            ),
            (format!("{MINIMAL}[output]\nbom = 1\n"), "bom"),
            (
                format!("{MINIMAL}[serve]\nlisten = \"localhost:9187\"\n"),
                "line 5: [serve] listen = 'localhost:9187': expected an IP address and a port",
            ),
            (
                format!("{MINIMAL}[serve]\nlisten = \"127.0.0.1\"\n"),
                "[serve] listen = '127.0.0.1'",
            ),
            (
                format!("{MINIMAL}[serve]\nlisten = \"127.0.0.1:0\"\n"),
                "[serve] listen = '127.0.0.1:0': the port must not be 0",
            ),
            (format!("{MINIMAL}[serve]\nlisten = 9187\n"), "listen"),
            (
                format!(
                    "{MINIMAL}[[jobs]]\nname = \"invoices\"\nschedule = \"0 0 2 * * *\"\n\
                     [[jobs]]\nname = \"invoices\"\nschedule = \"0 0 3 * * *\"\n"
                ),
                "line 8: jobs[2].name = 'invoices' is scheduled already by jobs[1] (line 5)",
            ),
            (
                format!(
                    "{MINIMAL}[[jobs]]\nname = \"apply-orders\"\nschedule = \"0 0 2 * * *\"\n\
                     [[jobs]]\nname = \"nightly\"\nschedule = \"0 0 3 * * *\"\n"
                ),
                "line 8: jobs[2].name = 'nightly' runs apply-orders, scheduled already by jobs[1] (line 5)",
            ),
            (
                format!("{MINIMAL}[permissions]\nsuspend = [\"admin_agent\", \"admin_agent\"]\n"),
                "[permissions] suspend: role 'admin_agent' is listed twice",
            ),
        ];
        for (text, needle) in cases {
            let err = Config::parse(&text, Path::new("/x/jobs.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }
}
