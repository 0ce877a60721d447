//! The subsweep command line: parse, set up logging, call the library, map errors to exit
//! codes. The only place that reads the clock (to turn "yesterday" into a date, and to refuse
//! a logical date after today).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Datelike, NaiveDate, Utc};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use subsweep::app::App;
use subsweep::error::{Error, Exit, Result};
use subsweep::intake::catalog;
use subsweep::jobs::JobName;
use subsweep::logging::{self, LogFormat};
use subsweep::output;
use subsweep::preview::{self, Format as PreviewFormat};
use subsweep::runner::{Runner, Summary, Trigger};
use subsweep::store;
use subsweep::store::redact;
use subsweep::{demo, serve, status};

/// mimalloc instead of the system allocator: subsweep allocates and frees many small strings
/// per row (parsed cells, ids, decoded rows), and with glibc's malloc those calls were about
/// 40% of a big day's CPU (the 1M purchase day: 12.4 s of CPU with glibc, 8.1 s with mimalloc;
/// peak memory 59 → 100 MiB, see README's "what was tried").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

    /// PostgreSQL URL (the flag wins over DATABASE_URL, which wins over [database].url).
    /// With none of them, subsweep runs its own private cluster under [database].data_dir.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Warnings and errors only (for cron: no mail unless something needs a look). Caps
    /// RUST_LOG as well.
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update the database schema.
    Migrate,
    /// Load offers.csv (upserted by offer_id).
    LoadCatalog {
        /// The offers file (offers.csv).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Load customers.csv (upserted by customer_id).
    LoadCustomers {
        /// The customers file (customers.csv).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Run one job for one logical date.
    Run {
        /// ingest-orders, trial-conversions, renewals, suspension-expiry, apply-orders or invoices.
        job: JobName,
        /// Logical date, YYYY-MM-DD (default: yesterday, UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date_arg)]
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
        /// Logical date, YYYY-MM-DD (default: yesterday, UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date_arg)]
        date: Option<NaiveDate>,
        /// Re-run jobs that already succeeded for this date.
        #[arg(long)]
        force: bool,
        /// Accept a logical date after today (simulations and tests only).
        #[arg(long)]
        allow_future: bool,
    },
    /// Ingest once, then run every date from --from to --to in order (resumable).
    Backfill {
        /// First logical date, YYYY-MM-DD (ingest runs once, as of this date).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date_arg)]
        from: NaiveDate,
        /// Last logical date, YYYY-MM-DD (inclusive).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date_arg)]
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
        /// Date the current period and term are shown for, YYYY-MM-DD (default: the last
        /// processed date).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date_arg)]
        as_of: Option<NaiveDate>,
    },
    /// The lines and totals the next invoices will hold if no further orders arrive (reads
    /// only: nothing is written, no invoice number is assigned).
    Preview {
        /// Only this customer's invoices.
        #[arg(long, value_name = "ID")]
        customer: Option<String>,
        /// Last day covered, YYYY-MM-DD: the invoices of the periods ending on or before it
        /// (default: the end of the current invoice period).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date_arg)]
        through: Option<NaiveDate>,
        /// csv: the columns of invoice-lines.csv, InvoiceNumber PREVIEW; table: for people.
        #[arg(long, value_enum, default_value_t = PreviewFormat::Table)]
        format: PreviewFormat,
    },
    /// Why a subscription's lines exist: its family's orders, rejects, history and lines.
    Explain {
        /// The subscription (base or add-on): <order_id>-<line> of its purchase row.
        #[arg(value_name = "SUBSCRIPTION_ID")]
        subscription_id: String,
        /// text for people, json for tools (a stable structure, see docs/explain.md).
        #[arg(long, value_enum, default_value_t = subsweep::explain::Format::Text)]
        format: subsweep::explain::Format,
    },
    /// Embedded database + fixtures, end to end.
    Demo,
    /// Write a deterministic data set (catalog, customers, order files) for benchmarks.
    Generate {
        /// Number of customers (at most 100,000,000).
        #[arg(long, default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
        customers: u64,
        /// Number of order rows, spread over the days (at most 1,000,000,000).
        #[arg(long, default_value_t = 10_000,
              value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
        orders: u64,
        /// Seed of the generator: the same seed writes the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder to write offers.csv, customers.csv and inbox/ into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// First event date, YYYY-MM-DD (day one is all purchases).
        #[arg(long, default_value = "2026-01-05", value_name = "YYYY-MM-DD", value_parser = date_arg)]
        start: NaiveDate,
        /// Days the orders are spread over (one order file per day), 1 to 3660.
        #[arg(long, default_value_t = 1,
              value_parser = clap::value_parser!(u64).range(1..=MAX_BACKFILL_DAYS as u64))]
        days: u64,
        /// Partner id the order rows carry.
        #[arg(long, default_value = "P-CONTOSO-CSP-01", value_name = "ID")]
        partner: String,
    },
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                // --help, --version: standard output, exit 0.
                let _ = e.print();
                return Exit::Done.into();
            }
            let json = logging::json_requested(std::env::args_os());
            logging::report_usage_error(&e.render().to_string(), Exit::Usage as u8, json);
            return Exit::Usage.into();
        }
    };
    // The demo prints its own summary; its hundreds of job-run lines are there on request.
    let default_level = if matches!(cli.command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    logging::init(logging::Options {
        format: cli.log_format,
        quiet: cli.quiet,
        default_level,
    });
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            let e = e.into_connection_lost(
                "the command",
                "nothing of the step in progress was committed",
            );
            // Said once, in the log format. Scrubbed: a database error can echo part of a
            // connection string.
            let exit = e.exit();
            logging::report_error(&redact::scrub(&e.to_string()), exit as u8);
            exit.into()
        }
    }
}

/// The command line. `database_url` holds the flag only: a DATABASE_URL from the environment
/// (shown in --help through clap) is read where the database is resolved, as before.
fn parse_args() -> std::result::Result<Cli, clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let from_env = matches
        .subcommand()
        .map(|(_, sub)| sub)
        .into_iter()
        .chain([&matches])
        .any(|m| m.value_source("database_url") == Some(ValueSource::EnvVariable));
    if from_env {
        cli.database_url = None;
    }
    Ok(cli)
}

/// A date argument: YYYY-MM-DD, a real calendar day.
/// The most dates one `backfill` runs: ten years (of 366 days).
const MAX_BACKFILL_DAYS: i64 = 3_660;

fn date_arg(value: &str) -> std::result::Result<NaiveDate, String> {
    let text = value.trim();
    // Exactly four, two and two digits: `2026-1-5` may be a slip for 2026-11-05, and a year
    // 0000 or one of five digits is a date no command means (nor the database can hold).
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| shaped && d.year() >= 1)
        .ok_or_else(|| {
            format!(
                "expected YYYY-MM-DD, a real calendar day from 0001-01-01 (for example \
                 2026-07-31), not '{value}'"
            )
        })
}

/// A file a command reads must exist and be readable: otherwise exit 66 (EX_NOINPUT), naming
/// it.
fn require_input(file: &std::path::Path) -> Result<()> {
    let problem = match std::fs::File::open(file) {
        Ok(_) if file.is_dir() => "it is a folder, not a file".to_string(),
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such file".to_string(),
        Err(e) => e.to_string(),
    };
    Err(Error::NoInput(format!(
        "cannot read the input file {}: {problem}",
        subsweep::shown::path(file)
    )))
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
            let placed = app.distribute(&mut conn)?;
            writeln!(
                out,
                "{ran} migration(s) applied to {}",
                app.database.describe()
            )?;
            if app.config.database.citus {
                writeln!(
                    out,
                    "citus: {placed} table(s) placed ({} tables distributed by customer_id)",
                    store::citus::PLACEMENTS
                        .iter()
                        .filter(|(_, p)| *p == store::citus::Placement::ByCustomer)
                        .count()
                )?;
            }
            Ok(Exit::Done)
        }
        Command::LoadCatalog { file } => {
            require_input(&file)?;
            let offers = catalog::read_offers(&file)?;
            let app = App::open(&cli.config, url)?;
            let written = store::catalog::upsert_offers(&mut app.connect()?, &offers)?;
            writeln!(
                out,
                "{written} offer(s) loaded from {}",
                subsweep::shown::path(&file)
            )?;
            Ok(Exit::Done)
        }
        Command::LoadCustomers { file } => {
            require_input(&file)?;
            let customers = catalog::read_customers(&file)?;
            let app = App::open(&cli.config, url)?;
            let written = store::catalog::upsert_customers(&mut app.connect()?, &customers)?;
            writeln!(
                out,
                "{written} customer(s) loaded from {}",
                subsweep::shown::path(&file)
            )?;
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
        Command::Explain {
            subscription_id,
            format,
        } => {
            let app = App::open(&cli.config, url)?;
            let mut conn = app.connect()?;
            let report = subsweep::explain::report(&mut conn, &app.config, &subscription_id)?;
            subsweep::explain::write(out, &report, format)?;
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
            // A range of centuries is a typo in a year (0206 for 2026): it would run for hours
            // and emit an invoice period, never to be reopened, for every month of it.
            let days = (to - from).num_days() + 1;
            if days > MAX_BACKFILL_DAYS {
                return Err(Error::Usage(format!(
                    "backfill --from {from} --to {to}: {days} dates, more than \
                     {MAX_BACKFILL_DAYS} days (ten years): check the years; a longer history is \
                     backfilled in pieces of at most ten years, oldest first"
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
        Command::Preview {
            customer,
            through,
            format,
        } => {
            let app = App::open(&cli.config, url)?;
            let mut conn = app.connect()?;
            let customer = customer.as_deref();
            // An id no customer has is a mistake in the command (as `explain` of an unknown
            // subscription is), not an empty invoice.
            if let Some(id) = customer
                && store::catalog::load_customers(&mut conn, &[id.to_string()])?.is_empty()
            {
                return Err(Error::Usage(format!(
                    "preview --customer {id}: no customer {id} is known (customers come from \
                     `subsweep load-customers FILE`)"
                )));
            }
            store::preview::in_snapshot(&mut conn, |conn| -> Result<()> {
                let plan = preview::plan(conn, &app.config, through, today())?;
                if plan.pending_events > 0 {
                    tracing::warn!(
                        "{} staged order event(s) dated on or before {} are not applied yet: the \
                         preview leaves them out (it shows what the invoices hold if no further \
                         orders arrive)",
                        plan.pending_events,
                        plan.through
                    );
                }
                let invoices = match format {
                    PreviewFormat::Csv => {
                        preview::write_csv(out, conn, &plan, &app.config.partner.id, customer)?
                    }
                    PreviewFormat::Table => preview::write_table(out, conn, &plan, customer)?,
                };
                if let Some(id) = customer
                    && invoices == 0
                {
                    tracing::warn!(
                        "customer {id} has no invoice in the periods ending on or before {}",
                        plan.through
                    );
                }
                Ok(())
            })?;
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
            // The last day's files and times must stay dates every command can read.
            let last = start.checked_add_days(chrono::Days::new(days - 1));
            if last.is_none_or(|d| d.year() > 9999) {
                return Err(Error::Usage(format!(
                    "generate --start {start} --days {days}: the last day would be after \
                     9999-12-31"
                )));
            }
            let plan = subsweep::generate::Plan {
                customers,
                orders,
                seed,
                partner,
                start,
                days,
            };
            let written = subsweep::generate::generate(&plan, &folder).map_err(|e| {
                Error::Other(format!(
                    "cannot write the data set into {}: {e}",
                    folder.display()
                ))
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command says what it is for in --help.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let command = Cli::command();
        command.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&command, "subsweep", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
        assert!(command.get_subcommands().count() >= 11);
    }

    #[test]
    fn dates_are_yyyy_mm_dd_calendar_days() {
        assert_eq!(
            date_arg("2026-07-31").unwrap(),
            NaiveDate::from_ymd_opt(2026, 7, 31).unwrap()
        );
        for bad in [
            "2026-02-30",
            "31/07/2026",
            "yesterday",
            "",
            "2026-07-31T00:00:00",
        ] {
            let message = date_arg(bad).unwrap_err();
            assert!(message.contains("expected YYYY-MM-DD"), "{bad}: {message}");
        }
    }
}
