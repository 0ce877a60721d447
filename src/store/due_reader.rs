//! The due families of a transition step read on a second connection, in the job's own
//! snapshot, while the job's connection writes their lines: the server reads the next
//! families while it stores the last ones' lines, instead of the two taking turns on one
//! connection.
//!
//! The job's transaction exports its snapshot (`pg_export_snapshot`); a thread opens its own
//! connection, imports it into a read-only repeatable-read transaction, runs the same query
//! as [`families::due_members`] and sends the families, a batch of whole families at a time
//! in family order, over a channel of [`AHEAD`] batches (so memory stays flat however many
//! are due). The reader sees what the job's transaction saw when it exported the snapshot,
//! not what it wrote after: the job uses it only where nothing it wrote is read (one step,
//! before its first write), and never on Citus (a snapshot is one node's). Reading changes
//! nothing, so the job stays all-or-nothing; an error of the reader is the job's error, and
//! the reader stops (its connection closed) when the job drops it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::families;
use crate::domain::clock::Moment;
use crate::domain::lifecycle::Family;
use crate::error::{Error, Result};

/// Batches read ahead of the job, at most.
pub const AHEAD: usize = 2;

/// Test hook: with `SUBSWEEP_FAILPOINT=due-reader:fail`, the reader fails with a database
/// error after its first batch (a failpoint that errs rather than aborts).
const FAILPOINT: &str = "due-reader:fail";

/// Readers this process started.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// How many readers this process started (tests see which path a job took).
pub fn started() -> usize {
    STARTED.load(Ordering::SeqCst)
}

enum Message {
    Batch(Vec<Family>),
    Done,
    Failed(Error),
}

/// Whether `conn` is in a transaction a reader can start from: its own, not a savepoint (a
/// snapshot is exported from a top-level transaction only).
pub fn can_start(conn: &mut PgConnection) -> QueryResult<bool> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    Ok(depth.is_some_and(|d| d.get() == 1))
}

/// A running reader: the job takes its batches with [`DueReader::next_batch`].
pub struct DueReader {
    batches: Option<Receiver<Message>>,
    thread: Option<JoinHandle<()>>,
}

impl DueReader {
    /// Opens the reader's own connection to `url`, once (no retries: a job that cannot have a
    /// second connection reads on its own, see [`DueReader::start`]).
    pub fn connect(url: &str) -> Result<PgConnection> {
        super::redact::remember(url);
        PgConnection::establish(url).map_err(|e| {
            Error::Other(format!(
                "a second connection to {}: {}",
                super::redact(url),
                super::redact::scrub(&e.to_string())
            ))
        })
    }

    /// Exports the snapshot of `conn`'s transaction and starts reading, on `reader` (a
    /// connection from [`DueReader::connect`]), the families due at `moment` from family
    /// `from` on, `batch` rows a fetch.
    pub fn start(
        conn: &mut PgConnection,
        reader: PgConnection,
        moment: Moment,
        from: String,
        batch: usize,
    ) -> Result<DueReader> {
        #[derive(QueryableByName)]
        struct Exported {
            #[diesel(sql_type = Text)]
            snapshot: String,
        }
        let snapshot = diesel::sql_query("SELECT pg_export_snapshot() AS snapshot")
            .get_result::<Exported>(conn)?
            .snapshot;
        if !snapshot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::Other(format!(
                "unexpected snapshot id from the server: {snapshot:?}"
            )));
        }
        let (send, batches) = sync_channel(AHEAD);
        let thread = std::thread::Builder::new()
            .name("due-reader".into())
            .spawn(move || {
                let message = match read(reader, &snapshot, moment, from, batch, &send) {
                    Ok(()) => Message::Done,
                    Err(e) => Message::Failed(e),
                };
                // The job may have stopped listening (it failed itself): nothing to tell.
                let _ = send.send(message);
            })?;
        STARTED.fetch_add(1, Ordering::SeqCst);
        Ok(DueReader {
            batches: Some(batches),
            thread: Some(thread),
        })
    }

    /// The next batch of families; None once all are read.
    pub fn next_batch(&mut self) -> Result<Option<Vec<Family>>> {
        let Some(batches) = &self.batches else {
            return Ok(None);
        };
        match batches.recv() {
            Ok(Message::Batch(families)) => Ok(Some(families)),
            Ok(Message::Done) => {
                self.stop();
                Ok(None)
            }
            Ok(Message::Failed(e)) => {
                self.stop();
                Err(e)
            }
            // The thread ended without a word: it panicked.
            Err(_) => {
                self.stop();
                Err(Error::Other(
                    "the reader of the due families stopped unexpectedly".to_string(),
                ))
            }
        }
    }

    /// Stops listening and waits for the thread: a reader blocked on a full channel then
    /// finds it closed and ends, closing its connection.
    fn stop(&mut self) {
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for DueReader {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's work: Ok when every family was sent or the job stopped listening.
fn read(
    mut conn: PgConnection,
    snapshot: &str,
    moment: Moment,
    from: String,
    batch: usize,
    send: &SyncSender<Message>,
) -> Result<()> {
    conn.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
    ))?;
    let Some(cursor) = families::due_members_from(&mut conn, moment, Some(from))? else {
        return Ok(());
    };
    let mut due = families::DueBatches::new(cursor);
    let mut sent = 0usize;
    while let Some(rows) = due.next(&mut conn, batch)? {
        if rows.is_empty() {
            continue;
        }
        if send.send(Message::Batch(families::assemble(rows))).is_err() {
            return Ok(());
        }
        sent += 1;
        if sent == 1 && crate::failpoint::armed(FAILPOINT) {
            diesel::sql_query("SELECT 'due-reader:fail'::int").execute(&mut conn)?;
        }
    }
    conn.batch_execute("COMMIT")?;
    Ok(())
}
