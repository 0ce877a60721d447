//! The subsweep command line: parse, set up logging, call the library, map errors to exit
//! codes. The only place that reads the clock (to turn "yesterday" into a date, and to refuse
//! a logical date after today).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use subsweep::app::App;
use subsweep::error::{Error, Exit, Result};
use subsweep::intake::catalog;
use subsweep::jobs::JobName;
use subsweep::output;
use subsweep::runner::{Runner, Summary, Trigger};
use subsweep::store;
use subsweep::store::redact;
use subsweep::{demo, serve, status};

/// subsweep: a cloud reseller's nightly subscription back office over PostgreSQL.
///
/// Finance drops order CSV files into the inbox; the nightly jobs ingest them, apply the
/// purchase and cancellation rules, roll billing periods, convert trials, expire suspended
/// data and write prorated invoice files. See README.md and the docs/ folder.
#[derive(Parser)]
#[command(name = "subsweep", version, about, long_about)]
struct Cli {
    /// Configuration file; paths in it are relative to its folder.
    #[arg(long, global = true, default_value = "jobs.toml", value_name = "FILE")]
    config: PathBuf,

    /// PostgreSQL URL (wins over DATABASE_URL and [database].url). With none of them,
    /// subsweep runs its own private cluster under [database].data_dir.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update the database schema.
    Migrate,
    /// Load offers.csv (upserted by offer_id).
    LoadCatalog { file: PathBuf },
    /// Load customers.csv (upserted by customer_id).
    LoadCustomers { file: PathBuf },
    /// Run one job for one logical date.
    Run {
        /// ingest-orders, trial-conversions, renewals, suspension-expiry, apply-orders or invoices.
        job: JobName,
        /// Logical date (default: yesterday, UTC).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Run again even if it already succeeded for this date.
        #[arg(long)]
        force: bool,
        /// Accept a logical date after today (simulations and tests only).
        #[arg(long)]
        allow_future: bool,
    },
    /// Run the whole day: every job for one logical date, in order.
    Nightly {
        /// Logical date (default: yesterday, UTC).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Re-run jobs that already succeeded for this date.
        #[arg(long)]
        force: bool,
        /// Accept a logical date after today (simulations and tests only).
        #[arg(long)]
        allow_future: bool,
    },
    /// Ingest once, then run every date from A to B in order (resumable).
    Backfill {
        #[arg(long, value_name = "A")]
        from: NaiveDate,
        #[arg(long, value_name = "B")]
        to: NaiveDate,
        /// Print what would run and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Accept dates after today (simulations and tests only).
        #[arg(long)]
        allow_future: bool,
    },
    /// Run the [[jobs]] of jobs.toml on their cron schedules until SIGTERM/SIGINT.
    Serve,
    /// Recent job runs, what is pending, and the files ingested.
    Status,
    /// Print the subscriptions as CSV.
    Subscriptions {
        /// Only this customer's subscriptions.
        #[arg(long, value_name = "ID")]
        customer: Option<String>,
        /// Date the current period and term are shown for (default: the last processed date).
        #[arg(long, value_name = "D")]
        as_of: Option<NaiveDate>,
    },
    /// Embedded database + fixtures, end to end.
    Demo,
    /// Write a deterministic data set (catalog, customers, order files) for benchmarks.
    Generate {
        #[arg(long, default_value_t = 1000)]
        customers: u64,
        #[arg(long, default_value_t = 10_000)]
        orders: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder to write offers.csv, customers.csv and inbox/ into.
        #[arg(long)]
        out: PathBuf,
        /// First event date (day one is all purchases).
        #[arg(long, default_value = "2026-01-05")]
        start: NaiveDate,
        /// Days the orders are spread over (one order file per day).
        #[arg(long, default_value_t = 1)]
        days: u64,
        /// Partner id the order rows carry.
        #[arg(long, default_value = "P-CONTOSO-CSP-01")]
        partner: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Done.into()
            };
        }
    };
    // The demo prints its own summary; its hundreds of job-run lines are there on request.
    let default_level = if matches!(cli.command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, default_level);
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            let e = e.into_connection_lost(
                "the command",
                "nothing of the step in progress was committed",
            );
            // Scrubbed: a database error can echo part of a connection string.
            let message = redact::scrub(&e.to_string()).into_owned();
            tracing::error!("{message}");
            eprintln!("subsweep: {message}");
            e.exit().into()
        }
    }
}

/// Standard error with every known password masked: whatever a log line carries (a libpq
/// message, a job's error), no password reaches the terminal or the log file.
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbedStderr);
    match format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// `subscriptions --customer ID` printed the header only: says why on standard error (the
/// customer is unknown, or has no subscriptions); the exit code stays 0.
fn say_no_subscriptions(conn: &mut diesel::PgConnection, id: &str) -> Result<()> {
    let known = !store::catalog::load_customers(conn, &[id.to_string()])?.is_empty();
    if known {
        tracing::warn!("customer {id} has no subscriptions");
    } else {
        tracing::warn!(
            "no customer {id} is known (customers come from `subsweep load-customers FILE`)"
        );
    }
    Ok(())
}

/// The CLI edge's clock read: today in UTC.
fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Yesterday in UTC: the default logical date.
fn yesterday() -> NaiveDate {
    today().pred_opt().expect("today has a yesterday")
}

/// Refuses a logical date after today: invoices emitted for it could never be
/// taken back, so a mistyped year must stop here. `--allow-future` is for simulations.
fn refuse_future(date: NaiveDate, allow_future: bool) -> Result<()> {
    let today = today();
    if date > today && !allow_future {
        return Err(Error::Usage(format!(
            "the logical date {date} is after today ({today}, UTC): nothing was run. Check the \
             date (a mistyped year would emit invoices that cannot be taken back); pass \
             --allow-future only for a simulation"
        )));
    }
    Ok(())
}

fn run(cli: Cli) -> Result<Exit> {
    let url = cli.database_url.as_deref();
    // A reader that goes away (`| head`) ends the output, not the command.
    let mut out = subsweep::stdout::QuietPipe::stdout();
    let out = &mut out;
    match cli.command {
        Command::Migrate => {
            let app = App::open(&cli.config, url)?;
            let mut conn = store::connect(&app.database.url())?;
            let ran = store::migrate(&mut conn).map_err(Error::Other)?;
            writeln!(
                out,
                "{ran} migration(s) applied to {}",
                app.database.describe()
            )?;
            Ok(Exit::Done)
        }
        Command::LoadCatalog { file } => {
            let offers = catalog::read_offers(&file)?;
            let app = App::open(&cli.config, url)?;
            let written = store::catalog::upsert_offers(&mut app.connect()?, &offers)?;
            writeln!(out, "{written} offer(s) loaded from {}", file.display())?;
            Ok(Exit::Done)
        }
        Command::LoadCustomers { file } => {
            let customers = catalog::read_customers(&file)?;
            let app = App::open(&cli.config, url)?;
            let written = store::catalog::upsert_customers(&mut app.connect()?, &customers)?;
            writeln!(out, "{written} customer(s) loaded from {}", file.display())?;
            Ok(Exit::Done)
        }
        Command::Subscriptions { customer, as_of } => {
            let app = App::open(&cli.config, url)?;
            let mut conn = app.connect()?;
            let list = store::subscriptions::list(&mut conn, customer.as_deref())?;
            if let Some(id) = customer.as_deref()
                && list.is_empty()
            {
                say_no_subscriptions(&mut conn, id)?;
            }
            let as_of = match as_of {
                Some(d) => d,
                None => store::clock::processed_through(&mut conn)?.unwrap_or_else(yesterday),
            };
            output::subscriptions::write_csv(out, &list, as_of)?;
            Ok(Exit::Done)
        }
        Command::Run {
            job,
            date,
            force,
            allow_future,
        } => {
            let date = date.unwrap_or_else(yesterday);
            refuse_future(date, allow_future)?;
            let app = App::open(&cli.config, url)?;
            let mut runner = Runner::open(&app, Trigger::Cli, &format!("run {job} {date}"))?;
            runner.stop_on_signals()?;
            let mut summary = Summary::default();
            summary.add(&runner.run(job, date, force)?);
            summary.into_result()?;
            Ok(Exit::Done)
        }
        Command::Nightly {
            date,
            force,
            allow_future,
        } => {
            let date = date.unwrap_or_else(yesterday);
            refuse_future(date, allow_future)?;
            let app = App::open(&cli.config, url)?;
            let mut runner = Runner::open(&app, Trigger::Cli, &format!("nightly {date}"))?;
            runner.stop_on_signals()?;
            runner.nightly(date, force)?.into_result()?;
            Ok(Exit::Done)
        }
        Command::Backfill {
            from,
            to,
            dry_run,
            allow_future,
        } => {
            if to < from {
                return Err(Error::Usage(format!(
                    "backfill --from {from} --to {to}: the range is empty (--to is before --from)"
                )));
            }
            refuse_future(to, allow_future)?;
            let app = App::open(&cli.config, url)?;
            if dry_run {
                let mut conn = store::connect(&app.database.url())?;
                status::write_backfill_plan(out, &mut conn, &app.config, from, to)?;
                return Ok(Exit::Done);
            }
            let mut runner =
                Runner::open(&app, Trigger::Backfill, &format!("backfill {from}..{to}"))?;
            runner.stop_on_signals()?;
            let summary = runner.backfill(from, to)?;
            writeln!(
                out,
                "backfill {from}..{to}: {} job run(s), {} already done",
                summary.jobs_run, summary.jobs_skipped
            )?;
            summary.into_result()?;
            Ok(Exit::Done)
        }
        Command::Serve => {
            let app = App::open(&cli.config, url)?;
            serve::serve(&app)?;
            Ok(Exit::Done)
        }
        Command::Status => {
            let app = App::open(&cli.config, url)?;
            let mut conn = app.connect()?;
            status::write(out, &mut conn, &app.config)?;
            Ok(Exit::Done)
        }
        Command::Generate {
            customers,
            orders,
            seed,
            start,
            days,
            partner,
            out: folder,
        } => {
            let plan = subsweep::generate::Plan {
                customers,
                orders,
                seed,
                partner,
                start,
                days,
            };
            let written = subsweep::generate::generate(&plan, &folder)?;
            writeln!(
                out,
                "{} order row(s) in {} file(s), {customers} customer(s), written to {}",
                written.rows,
                written.files,
                folder.display()
            )?;
            Ok(Exit::Done)
        }
        Command::Demo => {
            if cli.database_url.is_some() {
                return Err(Error::Usage(
                    "demo runs on its own embedded cluster and database and takes no \
                     --database-url: drop the option (to use your server, run migrate, \
                     load-catalog, load-customers and backfill with --database-url)"
                        .to_string(),
                ));
            }
            demo::run(&cli.config, out)?;
            Ok(Exit::Done)
        }
    }
}
