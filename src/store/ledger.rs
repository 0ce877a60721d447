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

/// The rows of `job` and of `before` (the job that must have succeeded first) for `date`, in
/// one round trip: the runner asks both before every job, and on a quiet day of a backfill the
/// round trips between the jobs are most of the day.
pub fn get_with(
    conn: &mut PgConnection,
    job: &str,
    before: Option<&str>,
    date: NaiveDate,
) -> QueryResult<(Option<JobRun>, Option<JobRun>)> {
    let names: Vec<&str> = std::iter::once(job).chain(before).collect();
    let rows: Vec<JobRun> = job_runs::table
        .filter(job_runs::logical_date.eq(date))
        .filter(job_runs::job.eq_any(names))
        .select(JobRun::as_select())
        .load(conn)?;
    let mut this = None;
    let mut first = None;
    for row in rows {
        if row.job == job {
            this = Some(row);
        } else {
            first = Some(row);
        }
    }
    Ok((this, first))
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
///
/// Outside one, the row is a single statement in its own implicit transaction, which sets
/// `synchronous_commit` off for itself (`set_config(…, true)`: local to that transaction, and
/// still in force when it commits): one round trip instead of four (BEGIN, SET LOCAL, INSERT,
/// COMMIT).
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
        return insert_running(conn, "", job, date, trigger, lock_pid);
    }
    // The setting's value is checked, so the subquery cannot be planned away: no row (and an
    // error) rather than a row committed the slow way unnoticed.
    insert_running(
        conn,
        "FROM (SELECT set_config('synchronous_commit', 'off', true) AS sync) AS this_commit \
         WHERE this_commit.sync = 'off'",
        job,
        date,
        trigger,
        lock_pid,
    )
}

/// The upsert of the `running` row; `from` is what follows its SELECT list (a FROM and WHERE,
/// or nothing).
fn insert_running(
    conn: &mut PgConnection,
    from: &str,
    job: &str,
    date: NaiveDate,
    trigger: &str,
    lock_pid: i32,
) -> QueryResult<i32> {
    diesel::sql_query(format!(
        "INSERT INTO job_runs (job, logical_date, status, attempt, trigger, started_at, lock_pid) \
         SELECT $1, $2, 'running', 1, $3, clock_timestamp(), $4 {from} \
         ON CONFLICT (job, logical_date) DO UPDATE SET status = 'running', \
           attempt = job_runs.attempt + 1, trigger = EXCLUDED.trigger, started_at = clock_timestamp(), \
           finished_at = NULL, error = NULL, lock_pid = EXCLUDED.lock_pid \
         RETURNING attempt"
    ))
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

/// [`finish`] for a job's own `succeeded` row, inside the job's transaction. With `durable`
/// false the transaction's commit does not wait for the write-ahead log to reach the disk
/// (`synchronous_commit` off for that transaction, set by the same statement): the jobs of a
/// backfill. PostgreSQL flushes its log in order, so the next commit that does wait
/// (the backfill's last job, or any failure's record) makes every earlier one durable with
/// it; a crash of the machine before that loses only the latest jobs, whole, with their
/// ledger rows, and the backfill run again does them again. Files a job writes are synced
/// before its commit either way, so no ledger row ever says done for a file not on disk.
pub fn finish_succeeded(
    conn: &mut PgConnection,
    job: &str,
    date: NaiveDate,
    counts: &str,
    durable: bool,
) -> QueryResult<()> {
    if durable {
        return finish(conn, job, date, "succeeded", counts, None);
    }
    let updated = diesel::sql_query(
        "UPDATE job_runs SET status = 'succeeded', finished_at = clock_timestamp(), \
           counts = $3, error = NULL \
         FROM (SELECT set_config('synchronous_commit', 'off', true) AS sync) AS this_commit \
         WHERE job = $1 AND logical_date = $2 AND this_commit.sync = 'off'",
    )
    .bind::<diesel::sql_types::Text, _>(job)
    .bind::<diesel::sql_types::Date, _>(date)
    .bind::<diesel::sql_types::Text, _>(counts)
    .execute(conn)?;
    if updated != 1 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(())
}

/// Waits until every transaction committed so far is on disk: the server's log writer
/// flushes commits that did not wait within a fraction of a second (`wal_writer_delay`). For a
/// run that ends after a commit that did not wait, without a later one that did.
pub fn flush_commits(conn: &mut PgConnection) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Lsn {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lsn: String,
    }
    #[derive(QueryableByName)]
    struct Flushed {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        flushed: bool,
    }
    let written = diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS lsn")
        .get_result::<Lsn>(conn)?
        .lsn;
    for _ in 0..3000 {
        let now = diesel::sql_query("SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS flushed")
            .bind::<diesel::sql_types::Text, _>(&written)
            .get_result::<Flushed>(conn)?;
        if now.flushed {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(diesel::result::Error::QueryBuilderError(
        format!("the server has not flushed its log to {written} within 30 s").into(),
    ))
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
