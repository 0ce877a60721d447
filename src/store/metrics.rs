//! What `serve`'s `/metrics` and `/healthz` read from the database: the latest ledger row of
//! each job, the last date each job succeeded for, and the totals of the tables. Read-only,
//! on a connection of its own that gives up on a statement after 10 seconds.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamptz};
use diesel::{Connection, PgConnection};

use super::{one_line, redact};

/// One attempt at connecting (no retries: a probe answers now or says why not), named so that
/// `pg_stat_activity` tells it from the jobs, with a statement timeout.
pub fn connect_once(url: &str) -> Result<PgConnection, String> {
    redact::remember(url);
    let describe = |e: &dyn std::fmt::Display| one_line(&redact::scrub(&e.to_string()));
    let mut conn = PgConnection::establish(url).map_err(|e| describe(&e))?;
    diesel::sql_query(
        "SELECT set_config('application_name', 'subsweep serve (metrics)', false), \
                set_config('statement_timeout', '10s', false)",
    )
    .execute(&mut conn)
    .map_err(|e| describe(&e))?;
    Ok(conn)
}

/// Whether the database answers.
pub use super::ping;

/// The latest attempt of a job (by start time): what the ledger says of it.
#[derive(Debug, Clone, QueryableByName)]
pub struct LatestRun {
    #[diesel(sql_type = Text)]
    pub job: String,
    #[diesel(sql_type = Date)]
    pub logical_date: NaiveDate,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The run's counts as a JSON object (`{}` unless it succeeded).
    #[diesel(sql_type = Text)]
    pub counts: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub lock_pid: Option<i32>,
}

/// Each job's latest attempt.
pub fn latest_runs(conn: &mut PgConnection) -> QueryResult<Vec<LatestRun>> {
    diesel::sql_query(
        "SELECT DISTINCT ON (job) job, logical_date, status, started_at, finished_at, counts, \
                lock_pid \
         FROM job_runs ORDER BY job, started_at DESC, logical_date DESC",
    )
    .load(conn)
}

#[derive(QueryableByName)]
struct LastSuccess {
    #[diesel(sql_type = Text)]
    job: String,
    #[diesel(sql_type = Date)]
    date: NaiveDate,
}

/// Each job's last logical date succeeded.
pub fn last_successes(conn: &mut PgConnection) -> QueryResult<Vec<(String, NaiveDate)>> {
    let rows: Vec<LastSuccess> = diesel::sql_query(
        "SELECT job, max(logical_date) AS date FROM job_runs WHERE status = 'succeeded' \
         GROUP BY job ORDER BY job",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.job, r.date)).collect())
}

/// The totals of the tables, since the database was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
pub struct Totals {
    /// Rows of the ingested files (staged + rejected at intake).
    #[diesel(sql_type = BigInt)]
    pub rows_received: i64,
    #[diesel(sql_type = BigInt)]
    pub rows_staged: i64,
    /// Order rows accepted (`applied_events`).
    #[diesel(sql_type = BigInt)]
    pub rows_applied: i64,
    /// Rows rejected, at intake or by a rule (`rejected_rows`).
    #[diesel(sql_type = BigInt)]
    pub rows_rejected: i64,
    #[diesel(sql_type = BigInt)]
    pub files_ingested: i64,
    #[diesel(sql_type = BigInt)]
    pub files_failed: i64,
    #[diesel(sql_type = BigInt)]
    pub lines_posted: i64,
    #[diesel(sql_type = BigInt)]
    pub invoices_emitted: i64,
}

pub fn totals(conn: &mut PgConnection) -> QueryResult<Totals> {
    diesel::sql_query(include_str!("metrics_totals.sql")).get_result(conn)
}
