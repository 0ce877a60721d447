//! A job's rows read on a second connection, in the job's own snapshot, while the job's
//! connection writes: the server reads the next rows while it stores the last ones, instead
//! of the two taking turns on one connection. The transition jobs read their due families
//! this way (`store::due_reader`), apply-orders the pending events of a big day
//! (`store::events::pending_ahead`).
//!
//! The job's transaction exports its snapshot (`pg_export_snapshot`); a thread opens its own
//! connection, imports it into a read-only repeatable-read transaction, runs the reader's
//! query and sends what it reads, a batch at a time, over a channel of a batch or two (so
//! memory stays flat however many rows there are). The reader sees what the job's transaction
//! saw when it exported the snapshot, not what it wrote after: a job uses one only where
//! nothing it wrote is read, and never on Citus (a snapshot is one node's). Reading changes
//! nothing, so the job stays all-or-nothing; an error of the reader is the job's error, and
//! the reader stops (its connection closed) when the job drops it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::error::{Error, Result};

/// How often a job waiting for its reader asks whether it is interrupted.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Readers this process started.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// How many readers this process started (tests see which path a job took).
pub fn started() -> usize {
    STARTED.load(Ordering::SeqCst)
}

/// Whether `conn` is in a transaction a reader can start from: its own, not a savepoint (a
/// snapshot is exported from a top-level transaction only).
pub fn can_start(conn: &mut PgConnection) -> QueryResult<bool> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    Ok(depth.is_some_and(|d| d.get() == 1))
}

/// Opens a reader's own connection to `url`, once (no retries: a job that cannot have a
/// second connection reads on its own).
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

enum Message<T> {
    Batch(T),
    Done,
    Failed(Error),
}

/// Where a reader's thread sends its batches.
pub struct Outbox<T> {
    send: SyncSender<Message<T>>,
    sent: usize,
    /// The reader's name, for its test hooks (`SUBSWEEP_FAILPOINT`) after its first batch:
    /// `<name>:fail` fails it as with a database error, `<name>:pause` holds it for a minute
    /// (the job meanwhile waits for its next batch, as on a slow server).
    name: &'static str,
}

impl<T> Outbox<T> {
    /// Sends a batch: false when the job stopped listening (it failed itself), and the
    /// reader should stop.
    pub fn send(&mut self, batch: T) -> Result<bool> {
        if self.send.send(Message::Batch(batch)).is_err() {
            return Ok(false);
        }
        self.sent += 1;
        if self.sent == 1 {
            let failpoint = format!("{}:fail", self.name);
            if crate::failpoint::armed(&failpoint) {
                return Err(Error::Database(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::Unknown,
                    Box::new(format!("failpoint {failpoint} armed")),
                )));
            }
            let failpoint = format!("{}:pause", self.name);
            if crate::failpoint::armed(&failpoint) {
                eprintln!("subsweep: failpoint {failpoint} hit, pausing");
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        Ok(true)
    }
}

/// A running reader: the job takes its batches with [`Reader::next_batch`].
pub struct Reader<T> {
    name: &'static str,
    batches: Option<Receiver<Message<T>>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Reader<T> {
    /// Exports the snapshot of `conn`'s transaction and starts a thread named `name` that
    /// runs `read` on `reader` (a connection from [`connect`]) in that snapshot, at most
    /// `ahead` batches ahead of the job.
    pub fn start(
        conn: &mut PgConnection,
        mut reader: PgConnection,
        name: &'static str,
        ahead: usize,
        read: impl FnOnce(&mut PgConnection, &mut Outbox<T>) -> Result<()> + Send + 'static,
    ) -> Result<Reader<T>> {
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
        let (send, batches) = sync_channel(ahead);
        let mut outbox = Outbox {
            send,
            sent: 0,
            name,
        };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let message =
                    match in_snapshot(&mut reader, &snapshot, |conn| read(conn, &mut outbox)) {
                        Ok(()) => Message::Done,
                        Err(e) => Message::Failed(e),
                    };
                // Closed before the job hears the end: no session of the reader outlives it.
                drop(reader);
                // The job may have stopped listening (it failed itself): nothing to tell.
                let _ = outbox.send.send(message);
            })?;
        STARTED.fetch_add(1, Ordering::SeqCst);
        Ok(Reader {
            name,
            batches: Some(batches),
            thread: Some(thread),
        })
    }

    /// The next batch; None once all are read. While it waits, `interrupted` is asked every
    /// 100 ms (the job's signal check, `crate::interrupt::requested`): once it says yes the job
    /// is interrupted at once, whatever the reader is doing.
    pub fn next_batch(&mut self, interrupted: fn() -> bool) -> Result<Option<T>> {
        let Some(batches) = &self.batches else {
            return Ok(None);
        };
        let message = loop {
            match batches.recv_timeout(SIGNAL_CHECK) {
                Err(RecvTimeoutError::Timeout) if interrupted() => {
                    self.stop();
                    return Err(Error::Interrupted(format!(
                        "interrupted while waiting for the {}",
                        self.name
                    )));
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(message) => break Ok(message),
                Err(RecvTimeoutError::Disconnected) => break Err(()),
            }
        };
        match message {
            Ok(Message::Batch(batch)) => Ok(Some(batch)),
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
                Err(Error::Other(format!(
                    "the {} stopped unexpectedly",
                    self.name
                )))
            }
        }
    }
}

impl<T> Reader<T> {
    /// Stops listening. A reader blocked on a full channel then finds it closed and ends,
    /// closing its connection (after reading what its query has left: diesel ends a
    /// row-by-row result by reading it to its end). The thread is waited for only when it
    /// has already ended: a job that fails or is interrupted does not wait for its reader.
    fn stop(&mut self) {
        self.batches = None;
        if let Some(thread) = self.thread.take()
            && thread.is_finished()
        {
            let _ = thread.join();
        }
    }
}

impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `read` in a read-only repeatable-read transaction of `conn` that imports `snapshot`.
fn in_snapshot(
    conn: &mut PgConnection,
    snapshot: &str,
    read: impl FnOnce(&mut PgConnection) -> Result<()>,
) -> Result<()> {
    conn.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
    ))?;
    read(conn)?;
    conn.batch_execute("COMMIT")?;
    Ok(())
}
