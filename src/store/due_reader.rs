//! The due families of a transition step past its first fetch, read on a second connection
//! (`store::reader`) while the job's connection writes their lines: the same query as
//! [`families::due_members`], whole families sent in family order, a batch at a time.

use diesel::prelude::*;

use super::families;
use super::reader::Reader;
use crate::domain::clock::Moment;
use crate::domain::lifecycle::Family;
use crate::error::Result;

/// Batches read ahead of the job, at most (one instead of two saved 6 MiB at 1M and no time).
pub const AHEAD: usize = 2;

/// Starts reading, on `reader` (a connection from `store::reader::connect`) in the snapshot of
/// `conn`'s transaction, the families due at `moment` from family `from` on, `batch` rows a
/// fetch. With `SUBSWEEP_FAILPOINT=due-reader:fail` it fails after its first batch.
pub fn start(
    conn: &mut PgConnection,
    reader: PgConnection,
    moment: Moment,
    from: String,
    batch: usize,
) -> Result<Reader<Vec<Family>>> {
    Reader::start(conn, reader, "due-reader", AHEAD, move |conn, outbox| {
        let Some(cursor) = families::due_members_from(conn, moment, Some(from))? else {
            return Ok(());
        };
        let mut due = families::DueBatches::new(cursor);
        while let Some(rows) = due.next(conn, batch)? {
            if rows.is_empty() {
                continue;
            }
            if !outbox.send(families::assemble(rows))? {
                return Ok(());
            }
        }
        Ok(())
    })
}
