//! The job-run ledger: one row per (job, logical date) with its status, attempt, trigger,
//! times, counts and error. A run's effects and its `succeeded` row commit together.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

use super::schema::job_runs;

/// One ledger row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = job_runs)]
pub struct JobRun {
    pub job: String,
    pub logical_date: NaiveDate,
    pub status: String,
    pub attempt: i32,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: String,
    pub error: Option<String>,
    /// The database session holding the job's lock during the attempt.
    pub lock_pid: Option<i32>,
}

impl JobRun {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }
}

/// The row of (job, date), if the job ever started for that date.
pub fn get(conn: &mut PgConnection, job: &str, date: NaiveDate) -> QueryResult<Option<JobRun>> {
    job_runs::table
        .find((job, date))
        .select(JobRun::as_select())
        .first(conn)
        .optional()
}

/// Records that an attempt starts (committed on its own, so `status` shows it while it runs
/// and a crash leaves it `running` until the next attempt). `lock_pid` is the database session
/// holding the job's lock: while it holds it the run is alive. Returns the attempt number.
///
/// The commit does not wait for the write-ahead log to reach the disk (`synchronous_commit`
/// off for this one transaction): it saves a disk flush per job, a third of a quiet day. The
/// row is still written before the job's own commit, which does wait, and the log is flushed
/// in order, so a job that committed always has its row. Only a crash of the server or the
/// machine (not of subsweep) before the job commits can lose the `running` mark, and then
/// the job's work was rolled back too; the next attempt runs as if this one never started.
/// Inside a caller's transaction the row simply commits with it (and as it does).
pub fn start(
    conn: &mut PgConnection,
    job: &str,
    date: NaiveDate,
    trigger: &str,
    lock_pid: i32,
) -> QueryResult<i32> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() {
        return insert_running(conn, job, date, trigger, lock_pid);
    }
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL synchronous_commit TO OFF").execute(conn)?;
        insert_running(conn, job, date, trigger, lock_pid)
    })
}

fn insert_running(
    conn: &mut PgConnection,
    job: &str,
    date: NaiveDate,
    trigger: &str,
    lock_pid: i32,
) -> QueryResult<i32> {
    diesel::sql_query(
        "INSERT INTO job_runs (job, logical_date, status, attempt, trigger, started_at, lock_pid) \
         VALUES ($1, $2, 'running', 1, $3, clock_timestamp(), $4) \
         ON CONFLICT (job, logical_date) DO UPDATE SET status = 'running', \
           attempt = job_runs.attempt + 1, trigger = EXCLUDED.trigger, started_at = clock_timestamp(), \
           finished_at = NULL, error = NULL, lock_pid = EXCLUDED.lock_pid \
         RETURNING attempt",
    )
    .bind::<diesel::sql_types::Text, _>(job)
    .bind::<diesel::sql_types::Date, _>(date)
    .bind::<diesel::sql_types::Text, _>(trigger)
    .bind::<diesel::sql_types::Integer, _>(lock_pid)
    .get_result::<Attempt>(conn)
    .map(|a| a.attempt)
}

#[derive(QueryableByName)]
struct Attempt {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempt: i32,
}

/// Marks the attempt finished with `status` (`succeeded`, `failed` or `interrupted`).
pub fn finish(
    conn: &mut PgConnection,
    job: &str,
    date: NaiveDate,
    status: &str,
    counts: &str,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(job_runs::table.find((job, date)))
        .set((
            job_runs::status.eq(status),
            job_runs::finished_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("clock_timestamp()")),
            job_runs::counts.eq(counts),
            job_runs::error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// The most recent runs, newest logical date first.
pub fn recent(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<JobRun>> {
    job_runs::table
        .order((job_runs::logical_date.desc(), job_runs::started_at.desc()))
        .limit(limit)
        .select(JobRun::as_select())
        .load(conn)
}

/// The last logical date `job` succeeded for.
pub fn last_succeeded(conn: &mut PgConnection, job: &str) -> QueryResult<Option<NaiveDate>> {
    job_runs::table
        .filter(job_runs::job.eq(job))
        .filter(job_runs::status.eq("succeeded"))
        .select(diesel::dsl::max(job_runs::logical_date))
        .first(conn)
}

/// The (job, date) pairs that succeeded within `from..=to`.
pub fn succeeded_between(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<(String, NaiveDate)>> {
    job_runs::table
        .filter(job_runs::status.eq("succeeded"))
        .filter(job_runs::logical_date.between(from, to))
        .select((job_runs::job, job_runs::logical_date))
        .load(conn)
}
