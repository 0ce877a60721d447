//! Staging an inbox file: its record in `inbox_files`, its parsed rows COPYed into
//! `staged_events`, and its intake rejects (`malformed_row`, `duplicate_line`) in
//! `rejected_rows`. The caller wraps one file in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DbError};
use rust_decimal::Decimal;

use super::events::StagedRow;
use super::rejects::NewReject;
use super::schema::{inbox_files, staged_events};
use super::source_line;
use crate::domain::order::{COLUMNS, ParsedRow, RawRow, col, plain_values};
use crate::domain::reject::RejectCode;

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

/// A parsed row as `staged_events` holds it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = staged_events, treat_none_as_default_value = false)]
pub struct NewStaged {
    pub file_id: i64,
    pub source_line: i32,
    pub order_id: String,
    pub line: i32,
    pub event_time: DateTime<Utc>,
    pub event_date: NaiveDate,
    pub action: String,
    pub customer_id: String,
    pub requested_by: String,
    pub partner_id: String,
    pub offer_id: Option<String>,
    pub quantity: Option<Decimal>,
    pub subscription_id: Option<String>,
    pub base_subscription_id: Option<String>,
    pub auto_renew: Option<bool>,
    pub reason: Option<String>,
    /// The values as written when they are not the plain rendering of the event (see the
    /// migration's comment on `staged_events.raw`).
    pub raw: Option<Vec<String>>,
    /// The values as written, always (for a `duplicate_line` reject); not a column.
    #[diesel(skip_insertion)]
    pub written: RawRow,
}

impl NewStaged {
    pub fn new(file_id: i64, row: ParsedRow) -> NewStaged {
        let raw = (plain_values(&row.event) != row.raw).then(|| row.raw.to_vec());
        let e = row.event;
        NewStaged {
            file_id,
            source_line: source_line(row.source_line),
            line: i32::try_from(e.line).expect("line numbers were checked to fit at intake"),
            event_time: e.event_time,
            event_date: e.event_time.date_naive(),
            action: e.action.as_str().to_string(),
            reason: e.reason.map(|r| r.as_str().to_string()),
            order_id: e.order_id,
            customer_id: e.customer_id,
            requested_by: e.requested_by,
            partner_id: e.partner_id,
            offer_id: e.offer_id,
            quantity: e.quantity,
            subscription_id: e.subscription_id,
            base_subscription_id: e.base_subscription_id,
            auto_renew: e.auto_renew,
            raw,
            written: row.raw,
        }
    }

    /// The first column in which this row's parsed content differs from a staged row's, or
    /// `None` when they say the same thing (the duplicate is then a no-op).
    fn first_difference(&self, staged: &StagedRow) -> Option<&'static str> {
        let checks = [
            (col::EVENT_TIME, self.event_time == staged.event_time),
            (col::ACTION, self.action == staged.action),
            (col::CUSTOMER_ID, self.customer_id == staged.customer_id),
            (col::REQUESTED_BY, self.requested_by == staged.requested_by),
            (col::PARTNER_ID, self.partner_id == staged.partner_id),
            (col::OFFER_ID, self.offer_id == staged.offer_id),
            (col::QUANTITY, self.quantity == staged.quantity),
            (
                col::SUBSCRIPTION_ID,
                self.subscription_id == staged.subscription_id,
            ),
            (
                col::BASE_SUBSCRIPTION_ID,
                self.base_subscription_id == staged.base_subscription_id,
            ),
            (col::AUTO_RENEW, self.auto_renew == staged.auto_renew),
            (col::REASON, self.reason == staged.reason),
        ];
        checks
            .iter()
            .find(|(_, same)| !same)
            .map(|(c, _)| COLUMNS[*c])
    }
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
    rows: &[NewStaged],
) -> QueryResult<BatchOutcome> {
    if rows.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let copied = conn.transaction(|conn| {
        diesel::copy_from(staged_events::table)
            .from_insertable(rows)
            .execute(conn)
    });
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

/// Bind parameters per INSERT statement stay under PostgreSQL's 65535.
const ROWS_PER_INSERT: usize = 2_000;

fn stage_batch_with_duplicates(
    conn: &mut PgConnection,
    processed_on: NaiveDate,
    rows: &[NewStaged],
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
    let left: Vec<&NewStaged> = rows
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
        .map(|e| ((e.0.order_id.as_str(), e.0.line), e))
        .collect();
    let mut outcome = BatchOutcome {
        inserted: inserted_lines.len() as i64,
        ..BatchOutcome::default()
    };
    for row in left {
        let (staged, staged_file) = by_key
            .get(&(row.order_id.as_str(), row.line))
            .expect("a row not inserted conflicts with a staged row of the same key");
        match row.first_difference(staged) {
            None => outcome.duplicate += 1,
            Some(column) => {
                let place = if staged.file_id == file_id {
                    format!("line {} of this file", staged.source_line)
                } else {
                    format!("{staged_file} line {}", staged.source_line)
                };
                outcome.conflicting.push(NewReject {
                    processed_on,
                    file_id,
                    source_line: row.source_line,
                    event_id: None,
                    error_code: RejectCode::DuplicateLine.as_str().to_string(),
                    error_message: format!(
                        "column {column}: order {} line {} was already staged from {place} \
                         with different content",
                        row.order_id, row.line
                    ),
                    raw: row.written.to_vec(),
                });
            }
        }
    }
    Ok(outcome)
}
