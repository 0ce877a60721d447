//! The jobs of SPEC section 8, one file each, and the runner that records, orders and locks
//! them. Every job takes its logical date as an argument: nothing here reads the clock.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use diesel::PgConnection;

pub mod apply_orders;
pub mod daily_reports;
pub mod ingest_orders;
pub mod invoices;
pub mod renewals;
pub mod suspension_expiry;
pub(crate) mod transitions;
pub mod trial_conversions;

use crate::config::Config;
use crate::error::Result;

/// The six jobs, in the order a logical date runs them (SPEC section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobName {
    IngestOrders,
    TrialConversions,
    Renewals,
    SuspensionExpiry,
    ApplyOrders,
    Invoices,
}

impl JobName {
    /// The order `nightly` runs them in.
    pub const NIGHTLY: [JobName; 6] = [
        JobName::IngestOrders,
        JobName::TrialConversions,
        JobName::Renewals,
        JobName::SuspensionExpiry,
        JobName::ApplyOrders,
        JobName::Invoices,
    ];

    /// Whether the runner wraps the job in one transaction with its ledger row. Ingest
    /// commits file by file instead (each file is taken whole or not at all).
    pub fn is_one_transaction(self) -> bool {
        self != JobName::IngestOrders
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobName::IngestOrders => "ingest-orders",
            JobName::TrialConversions => "trial-conversions",
            JobName::Renewals => "renewals",
            JobName::SuspensionExpiry => "suspension-expiry",
            JobName::ApplyOrders => "apply-orders",
            JobName::Invoices => "invoices",
        }
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobName {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        JobName::NIGHTLY
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = JobName::NIGHTLY.iter().map(|j| j.as_str()).collect();
                format!("unknown job '{s}': expected one of {}", names.join(", "))
            })
    }
}

/// What a job run did, as named counts (logged, and kept in the ledger).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutcome {
    pub counts: BTreeMap<&'static str, i64>,
    /// Input files that failed as a whole (the run then exits 65).
    pub failed_files: Vec<String>,
    /// Inbox files that could not be moved to archive/ or failed/ (each with the paths and
    /// the reason): left in the inbox for the next run; the run then exits 1.
    pub unmoved_files: Vec<String>,
}

impl JobOutcome {
    pub fn add(&mut self, name: &'static str, n: i64) {
        *self.counts.entry(name).or_default() += n;
    }
}

/// What a job needs: the configuration, a connection, and the wall clock. The wall clock is
/// only for physical questions (has an inbox file settled?), never for business dates: those
/// come from the logical date.
pub struct JobContext<'a> {
    pub config: &'a Config,
    pub conn: &'a mut PgConnection,
    pub wall_clock: std::time::SystemTime,
    /// Where `conn` connects (the embedded cluster's socket included), for a job that reads
    /// on a second connection meanwhile; None keeps every job on `conn` alone.
    pub database_url: Option<String>,
}

/// Runs one job for one logical date (no ledger, no lock: the runner adds those).
pub fn execute(job: JobName, ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    match job {
        JobName::IngestOrders => ingest_orders::run(ctx, date),
        JobName::TrialConversions => trial_conversions::run(ctx, date),
        JobName::Renewals => renewals::run(ctx, date),
        JobName::SuspensionExpiry => suspension_expiry::run(ctx, date),
        JobName::ApplyOrders => apply_orders::run(ctx, date),
        JobName::Invoices => invoices::run(ctx, date),
    }
}

/// Where a job's time goes, phase by phase (logged at debug level: `RUST_LOG=subsweep=debug`).
#[derive(Debug, Default)]
pub struct Stopwatch {
    phases: BTreeMap<&'static str, std::time::Duration>,
    since: Option<std::time::Instant>,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            phases: BTreeMap::new(),
            since: Some(std::time::Instant::now()),
        }
    }

    /// Charges the time since the last lap to `phase`.
    pub fn lap(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        if let Some(since) = self.since {
            *self.phases.entry(phase).or_default() += now - since;
        }
        self.since = Some(now);
    }

    pub fn log(&self, job: JobName) {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(k, v)| format!("{k}={}ms", v.as_millis()))
            .collect();
        tracing::debug!(job = job.as_str(), "phases: {}", phases.join(" "));
    }
}
