//! The database sessions themselves: naming a session, its backend pid, advisory locks (who
//! holds one, whether a session still does), cancelling a session's statement, and the
//! test-only pause.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

/// Names the session (`application_name`), so another process can say who holds a lock.
pub fn set_application_name(conn: &mut PgConnection, name: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT set_config('application_name', $1, false)")
        .bind::<Text, _>(name)
        .execute(conn)?;
    Ok(())
}

/// The backend pid of the session.
pub fn backend_pid(conn: &mut PgConnection) -> QueryResult<i32> {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let row: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(conn)?;
    Ok(row.pid)
}

/// Takes the session-level advisory lock (`class`, `key`) if it is free: whether it was taken.
pub fn try_advisory_lock(conn: &mut PgConnection, class: i32, key: i32) -> QueryResult<bool> {
    let got: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
        .bind::<Integer, _>(class)
        .bind::<Integer, _>(key)
        .get_result(conn)?;
    Ok(got.locked)
}

/// Releases the advisory lock (`class`, `key`) this session holds.
pub fn advisory_unlock(conn: &mut PgConnection, class: i32, key: i32) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
        .bind::<Integer, _>(class)
        .bind::<Integer, _>(key)
        .execute(conn)?;
    Ok(())
}

/// The session holding an advisory lock of this database.
#[derive(Debug, Clone, QueryableByName)]
pub struct LockHolder {
    #[diesel(sql_type = BigInt)]
    pub pid: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub application_name: Option<String>,
    /// When it connected, `YYYY-MM-DDTHH:MM:SSZ`.
    #[diesel(sql_type = Nullable<Text>)]
    pub since: Option<String>,
}

/// Who holds the advisory lock (`class`, `key`) in this database, if anyone.
pub fn lock_holder(
    conn: &mut PgConnection,
    class: i32,
    key: i32,
) -> QueryResult<Option<LockHolder>> {
    let rows: Vec<LockHolder> = diesel::sql_query(
        "SELECT a.pid::bigint AS pid, a.application_name, \
                to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS since \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid \
           AND l.objid = $2::oid \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind::<BigInt, _>(i64::from(class))
    .bind::<BigInt, _>(i64::from(key))
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Whether session `pid` (any session, without one) holds the advisory lock (`class`, `key`)
/// in this database. Read-only (pg_locks), so it never disturbs the holder.
pub fn lock_is_held(
    conn: &mut PgConnection,
    class: i32,
    key: i32,
    pid: Option<i32>,
) -> QueryResult<bool> {
    let held: Locked = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_locks l \
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid \
             AND l.objid = $2::oid AND ($3::int IS NULL OR l.pid = $3) \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) \
         AS locked",
    )
    .bind::<BigInt, _>(i64::from(class))
    .bind::<BigInt, _>(i64::from(key))
    .bind::<Nullable<Integer>, _>(pid)
    .get_result(conn)?;
    Ok(held.locked)
}

/// Asks the server to cancel the statement session `pid` is running.
pub fn cancel_backend(conn: &mut PgConnection, pid: i32) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_cancel_backend($1)")
        .bind::<Integer, _>(pid)
        .execute(conn)?;
    Ok(())
}

/// Test-only (failpoints): one statement that takes `seconds`, so a cancel can end it.
pub fn sleep(conn: &mut PgConnection, seconds: i32) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_sleep($1)")
        .bind::<Integer, _>(seconds)
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}
