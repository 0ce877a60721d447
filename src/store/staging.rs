//! Staging an inbox file: its record in `inbox_files`, its parsed rows
//! ([`StagedEvent`]) COPYed into `staged_events`, and, for a row whose (order_id, line) is
//! already staged, the staged row it meets, judged by `domain::duplicate` (a no-op, or a
//! `duplicate_line` reject for `rejected_rows`). The caller wraps one file in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DbError};

use super::rejects::NewReject;
use super::schema::{inbox_files, staged_events};
use super::staged::{CopiedEvent, StagedEvent, StagedRow};
use crate::domain::duplicate::{self, StagedFrom};

/// Whether a file with these bytes was ingested before.
pub fn is_ingested(conn: &mut PgConnection, sha256: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        inbox_files::table
            .filter(inbox_files::sha256.eq(sha256))
            .filter(inbox_files::outcome.eq("ingested")),
    ))
    .get_result(conn)
}

/// Records a file being ingested (counts are filled in by [`finish_file`]); returns its id.
pub fn open_file(
    conn: &mut PgConnection,
    file_name: &str,
    sha256: &str,
    logical_date: NaiveDate,
) -> QueryResult<i64> {
    diesel::insert_into(inbox_files::table)
        .values((
            inbox_files::file_name.eq(file_name),
            inbox_files::sha256.eq(sha256),
            inbox_files::logical_date.eq(logical_date),
            inbox_files::outcome.eq("ingested"),
        ))
        .returning(inbox_files::file_id)
        .get_result(conn)
}

/// A file's row counts: received = staged + rejected; `duplicate` (identical to a row already
/// staged, a no-op) is part of `staged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub received: i64,
    pub staged: i64,
    pub duplicate: i64,
    pub rejected: i64,
}

impl RowCounts {
    pub fn add(&mut self, other: RowCounts) {
        self.received += other.received;
        self.staged += other.staged;
        self.duplicate += other.duplicate;
        self.rejected += other.rejected;
    }
}

fn int(n: i64) -> i32 {
    i32::try_from(n).expect("a file's row count fits in INTEGER")
}

/// Writes the final counts of an ingested file.
pub fn finish_file(conn: &mut PgConnection, file_id: i64, counts: RowCounts) -> QueryResult<()> {
    diesel::update(inbox_files::table.find(file_id))
        .set((
            inbox_files::rows_received.eq(int(counts.received)),
            inbox_files::rows_staged.eq(int(counts.staged)),
            inbox_files::rows_rejected.eq(int(counts.rejected)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a file that failed as a whole, with its problems one per line.
pub fn record_failed(
    conn: &mut PgConnection,
    file_name: &str,
    sha256: &str,
    logical_date: NaiveDate,
    error: &str,
) -> QueryResult<i64> {
    diesel::insert_into(inbox_files::table)
        .values((
            inbox_files::file_name.eq(file_name),
            inbox_files::sha256.eq(sha256),
            inbox_files::logical_date.eq(logical_date),
            inbox_files::outcome.eq("failed"),
            inbox_files::error.eq(error),
        ))
        .returning(inbox_files::file_id)
        .get_result(conn)
}

/// What staging one batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Rows now staged by this batch.
    pub inserted: i64,
    /// Rows identical to a row already staged: no-ops.
    pub duplicate: i64,
    /// Rows with an (order_id, line) already staged with different content.
    pub conflicting: Vec<NewReject>,
}

/// Stages a batch of parsed rows of one file. The fast path is one COPY inside a savepoint;
/// when an (order_id, line) is already staged (by an earlier file, or earlier in this file)
/// the savepoint is rolled back and the batch goes the slow path: INSERT … ON CONFLICT DO
/// NOTHING in file order, then each row that was not inserted is compared with the staged row.
pub fn stage_batch(
    conn: &mut PgConnection,
    processed_on: NaiveDate,
    rows: &[StagedEvent],
) -> QueryResult<BatchOutcome> {
    if rows.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let copied = conn.transaction(|conn| copy_rows(conn, rows));
    match copied {
        Ok(n) => Ok(BatchOutcome {
            inserted: n as i64,
            ..BatchOutcome::default()
        }),
        Err(DbError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            stage_batch_with_duplicates(conn, processed_on, rows)
        }
        Err(e) => Err(e),
    }
}

/// COPYs rows into `staged_events` (diesel's binary COPY of the [`StagedEvent`] columns), with
/// their ids reserved beforehand: the server then evaluates no `nextval` per row (a fifth of
/// the COPY's time at 100,000 rows).
fn copy_rows(conn: &mut PgConnection, rows: &[StagedEvent]) -> QueryResult<usize> {
    let count = i64::try_from(rows.len()).expect("a batch's length fits in i64");
    let first = reserve_event_ids(conn, count)?;
    let copied: Vec<CopiedEvent<'_>> = rows
        .iter()
        .zip(first..)
        .map(|(row, event_id)| CopiedEvent::of(event_id, row))
        .collect();
    diesel::copy_from(staged_events::table)
        .from_insertable(&copied)
        .execute(conn)
}

/// Takes `count` consecutive ids of `staged_events`' sequence and returns the first: the ids
/// `count` rows inserted one by one would get, since nothing else stages rows meanwhile (one
/// ingest at a time, under its job's lock). Were another writer to take an id in between,
/// the COPY would meet it as a unique violation and the batch would go the slow path, whose
/// INSERT draws its ids one by one. Like `nextval`, a reservation is not undone by a
/// rollback.
fn reserve_event_ids(conn: &mut PgConnection, count: i64) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct First {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        first: i64,
    }
    let first: First = diesel::sql_query(
        "SELECT setval(pg_get_serial_sequence('staged_events', 'event_id'), \
                nextval(pg_get_serial_sequence('staged_events', 'event_id')) + $1 - 1) \
                - $1 + 1 AS first",
    )
    .bind::<diesel::sql_types::BigInt, _>(count)
    .get_result(conn)?;
    Ok(first.first)
}

/// Bind parameters per INSERT statement stay under PostgreSQL's 65535.
const ROWS_PER_INSERT: usize = 2_000;

/// The slow path: INSERT … ON CONFLICT DO NOTHING in file order, then each row left out meets
/// the row staged under its key, and `domain::duplicate` judges it.
fn stage_batch_with_duplicates(
    conn: &mut PgConnection,
    processed_on: NaiveDate,
    rows: &[StagedEvent],
) -> QueryResult<BatchOutcome> {
    let mut inserted_lines: HashSet<i32> = HashSet::new();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        // Rows of one INSERT are inserted in the order given: the first of two equal keys wins.
        let lines: Vec<i32> = diesel::insert_into(staged_events::table)
            .values(chunk)
            .on_conflict((staged_events::order_id, staged_events::line))
            .do_nothing()
            .returning(staged_events::source_line)
            .get_results(conn)?;
        inserted_lines.extend(lines);
    }
    let file_id = rows[0].file_id;
    let left: Vec<&StagedEvent> = rows
        .iter()
        .filter(|r| !inserted_lines.contains(&r.source_line))
        .collect();
    let order_ids: Vec<&str> = left.iter().map(|r| r.order_id.as_str()).collect();
    let existing: Vec<(StagedRow, String)> = staged_events::table
        .inner_join(inbox_files::table.on(inbox_files::file_id.eq(staged_events::file_id)))
        .filter(staged_events::order_id.eq_any(&order_ids))
        .select((StagedRow::as_select(), inbox_files::file_name))
        .load(conn)?;
    let by_key: HashMap<(&str, i32), &(StagedRow, String)> = existing
        .iter()
        .map(|e| ((e.0.event.order_id.as_str(), e.0.event.line), e))
        .collect();
    let mut outcome = BatchOutcome {
        inserted: inserted_lines.len() as i64,
        ..BatchOutcome::default()
    };
    for row in left {
        let (staged, staged_file) = by_key
            .get(&(row.order_id.as_str(), row.line))
            .expect("a row not inserted conflicts with a staged row of the same key");
        let staged = &staged.event;
        let line = i64::from(staged.source_line);
        let from = if staged.file_id == file_id {
            StagedFrom::ThisFile { line }
        } else {
            StagedFrom::OtherFile {
                name: staged_file,
                line,
            }
        };
        match duplicate::judge(&row.order(), &staged.order(), from) {
            None => outcome.duplicate += 1,
            Some(reject) => outcome.conflicting.push(NewReject {
                processed_on,
                file_id,
                source_line: row.source_line,
                event_id: None,
                error_code: reject.code.as_str().to_string(),
                error_message: reject.message,
                raw: row.written(),
            }),
        }
    }
    Ok(outcome)
}
