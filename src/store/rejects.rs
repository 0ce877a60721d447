//! `rejected_rows` as intake writes them: a row rejected before any staged event exists
//! (malformed, or conflicting with a row already staged), and their COPY. Rule rejects of
//! staged events are recorded through `store::events`.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::schema::rejected_rows;
use crate::domain::order::MalformedRow;
use crate::domain::reject::RejectCode;

/// An intake reject as `rejected_rows` holds it (no staged event behind it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = rejected_rows, treat_none_as_default_value = false)]
pub struct NewReject {
    pub processed_on: NaiveDate,
    pub file_id: i64,
    pub source_line: i32,
    pub event_id: Option<i64>,
    pub error_code: String,
    pub error_message: String,
    pub raw: Vec<String>,
}

impl NewReject {
    pub fn malformed(processed_on: NaiveDate, file_id: i64, row: MalformedRow) -> NewReject {
        NewReject {
            processed_on,
            file_id,
            source_line: super::source_line(row.source_line),
            event_id: None,
            error_code: RejectCode::MalformedRow.as_str().to_string(),
            error_message: row.message,
            raw: row.raw.into(),
        }
    }
}

/// Records intake rejects with COPY.
pub fn insert_rejects(conn: &mut PgConnection, rows: &[NewReject]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    diesel::copy_from(rejected_rows::table)
        .from_insertable(rows)
        .execute(conn)
}
