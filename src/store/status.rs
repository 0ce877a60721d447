//! What `status` and `backfill --dry-run` read: the staged events still pending, grouped by
//! whether they are dated after the state clock, the latest inbox files, and whether the
//! schema is there at all.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text};

/// Staged events neither applied nor rejected, of one group.
#[derive(Debug, Clone, QueryableByName)]
pub struct PendingGroup {
    #[diesel(sql_type = BigInt)]
    pub events: i64,
    #[diesel(sql_type = Nullable<Date>)]
    pub first: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Date>)]
    pub last: Option<NaiveDate>,
}

/// The pending staged events in (at most) two groups, earliest first: those dated on or
/// before `carried` (all of them without one) and those dated after it.
pub fn pending_groups(
    conn: &mut PgConnection,
    carried: Option<NaiveDate>,
) -> QueryResult<Vec<PendingGroup>> {
    diesel::sql_query(
        "SELECT count(*) AS events, min(s.event_date) AS first, max(s.event_date) AS last \
         FROM staged_events s \
         LEFT JOIN applied_events a ON a.event_id = s.event_id \
         LEFT JOIN rejected_rows r ON r.event_id = s.event_id \
         WHERE a.event_id IS NULL AND r.event_id IS NULL \
         GROUP BY $1::date IS NOT NULL AND s.event_date > $1::date \
         ORDER BY 2",
    )
    .bind::<Nullable<Date>, _>(carried)
    .load(conn)
}

/// An `inbox_files` record as `status` lists it.
#[derive(Debug, Clone, QueryableByName)]
pub struct FileRow {
    #[diesel(sql_type = Text)]
    pub file_name: String,
    #[diesel(sql_type = Date)]
    pub logical_date: NaiveDate,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Integer)]
    pub rows_received: i32,
    #[diesel(sql_type = Integer)]
    pub rows_staged: i32,
    #[diesel(sql_type = Integer)]
    pub rows_rejected: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

/// The `limit` latest inbox files, newest first.
pub fn recent_files(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<FileRow>> {
    diesel::sql_query(
        "SELECT file_name, logical_date, outcome, rows_received, rows_staged, rows_rejected, error \
         FROM inbox_files ORDER BY file_id DESC LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// Whether the schema exists (a database never migrated has no `job_runs`).
pub fn schema_present(conn: &mut PgConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
    }
    let row: Exists = diesel::sql_query("SELECT to_regclass('job_runs') IS NOT NULL AS present")
        .get_result(conn)?;
    Ok(row.present)
}
