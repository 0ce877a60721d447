//! The `ingest-orders` job (SPEC section 3): every settled inbox file, oldest first, is taken
//! whole or not at all. A file's rows and its `inbox_files` record commit in one transaction,
//! then the file moves to `archive/<date>/`; a file that cannot be read as a whole is
//! recorded as failed and moves to `failed/` beside `<name>.error.txt`.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use diesel::Connection;
use diesel::PgConnection;

use super::{JobContext, JobName, JobOutcome, Stopwatch};
use crate::domain::reject::report_day;
use crate::error::{Error, Result};
use crate::intake::inbox::{self, Candidate, Stamp, Stray};
use crate::intake::order_file::{FileProblems, OrderFile, Piece};
use crate::shown;
use crate::store::rejects::{NewReject, insert_rejects};
use crate::store::staged::StagedEvent;
use crate::store::staging::{self, RowCounts};

/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_BYTES: u64 = 8 << 20;

/// Runs `ingest-orders` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let intake = &ctx.config.intake;
    let settle = Duration::from_secs(intake.settle_seconds);
    // A new installation has no folders yet: make them rather than fail the night.
    for folder in [&intake.inbox, &intake.archive, &intake.failed] {
        if !folder.exists() {
            std::fs::create_dir_all(folder)
                .map_err(|e| Error::Other(format!("cannot create {}: {e}", shown::path(folder))))?;
            tracing::info!(folder = %shown::path(folder), "created");
        }
    }
    let scan = inbox::scan(&intake.inbox, settle, ctx.wall_clock).map_err(|e| {
        Error::Other(format!(
            "cannot read the inbox {}: {e}",
            shown::path(&intake.inbox)
        ))
    })?;
    let mut outcome = JobOutcome::default();
    for count in [
        "files_ingested",
        "files_duplicate",
        "files_failed",
        "files_unmoved",
        "rows_received",
        "rows_staged",
        "rows_duplicate",
        "rows_rejected",
    ] {
        outcome.add(count, 0);
    }
    outcome.add("files_waiting", scan.waiting.len() as i64);
    for name in &scan.waiting {
        tracing::info!(file = %shown::name(name), "not settled yet: left for the next run");
    }
    for stray in &scan.strays {
        let taken = take_stray(ctx, date, stray)?;
        tally(&mut outcome, &stray.name, taken);
    }
    for candidate in &scan.ready {
        let taken = take_file(ctx, date, candidate)?;
        tally(&mut outcome, &candidate.name, taken);
    }
    Ok(outcome)
}

fn tally(outcome: &mut JobOutcome, name: &str, taken: Taken) {
    let unmoved = match taken {
        Taken::Ingested { counts, unmoved } => {
            outcome.add("files_ingested", 1);
            outcome.add("rows_received", counts.received);
            outcome.add("rows_staged", counts.staged);
            outcome.add("rows_duplicate", counts.duplicate);
            outcome.add("rows_rejected", counts.rejected);
            unmoved
        }
        Taken::Duplicate { unmoved } => {
            outcome.add("files_duplicate", 1);
            unmoved
        }
        Taken::Failed => {
            outcome.add("files_failed", 1);
            outcome.failed_files.push(shown::name(name).into_owned());
            None
        }
        Taken::Unmoved(why) => Some(why),
        Taken::Changed => {
            outcome.add("files_waiting", 1);
            None
        }
    };
    if let Some(why) = unmoved {
        outcome.add("files_unmoved", 1);
        outcome.unmoved_files.push(why);
    }
}

/// What became of one inbox file. `unmoved` says why a file could not be archived: it is
/// then still in the inbox (its rows are staged; the next run archives it without effect).
enum Taken {
    Ingested {
        counts: RowCounts,
        unmoved: Option<String>,
    },
    /// Its bytes were ingested before: archived without effect.
    Duplicate { unmoved: Option<String> },
    /// Failed as a whole: in failed/ with its reasons, and recorded.
    Failed,
    /// It failed as a whole but could not be moved to failed/: left in the inbox, unrecorded.
    Unmoved(String),
    /// It changed (or vanished) while being read: left for the next run.
    Changed,
}

/// Why a file's transaction is rolled back.
enum Abort {
    /// The file fails as a whole.
    Failed(FileProblems),
    Changed,
    /// Another process recorded the same bytes meanwhile.
    Duplicate,
    Io(std::io::Error),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

impl From<std::io::Error> for Abort {
    fn from(e: std::io::Error) -> Self {
        Abort::Io(e)
    }
}

fn take_file(ctx: &mut JobContext<'_>, date: NaiveDate, file: &Candidate) -> Result<Taken> {
    let mut watch = Stopwatch::start();
    let taken = take_file_timed(ctx, date, file, &mut watch);
    watch.log(JobName::IngestOrders);
    taken
}

fn take_file_timed(
    ctx: &mut JobContext<'_>,
    date: NaiveDate,
    file: &Candidate,
    watch: &mut Stopwatch,
) -> Result<Taken> {
    let intake = &ctx.config.intake;
    let sha256 = match inbox::sha256_file(&file.path) {
        Ok(Some(hash)) => hash,
        // Swapped for a link, a FIFO or a folder since the scan: the next scan fails it.
        Ok(None) => return Ok(Taken::Changed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Taken::Changed),
        Err(e) => {
            let reason = format!("{}: cannot be read: {e}", shown::name(&file.name));
            return fail_entry(ctx, date, &file.name, &file.path, "", &reason);
        }
    };
    watch.lap("hash");
    let archive = intake.archive.join(date.to_string());
    if staging::is_ingested(ctx.conn, &sha256)? {
        let unmoved = archive_file(file, &archive, "ingested before: archived without effect");
        return Ok(Taken::Duplicate { unmoved });
    }
    let partner = ctx.config.partner.id.clone();
    let reported_on = report_day(date, crate::store::clock::processed_through(ctx.conn)?);
    watch.lap("lookup");
    let staged = ctx
        .conn
        .transaction(|conn| stage_file(conn, file, &sha256, (date, reported_on), &partner, watch));
    watch.lap("commit");
    match staged {
        Ok(counts) => {
            // The rows and the record are committed: should the move fail (or the process die
            // before it), the file left in the inbox has bytes already ingested, which the next
            // run archives without effect.
            let moved = inbox::move_into(&file.path, &archive, None);
            watch.lap("archive");
            let unmoved = match moved {
                Ok(to) => {
                    tracing::info!(
                        file = %shown::name(&file.name),
                        received = counts.received,
                        staged = counts.staged,
                        duplicate = counts.duplicate,
                        rejected = counts.rejected,
                        archived = %shown::path(&to),
                        "ingested"
                    );
                    None
                }
                Err(e) => {
                    let why = format!(
                        "{e}; its rows are staged, and the next run archives it without effect"
                    );
                    tracing::error!(file = %shown::name(&file.name), "ingested, but left in the inbox: {why}");
                    Some(why)
                }
            };
            Ok(Taken::Ingested { counts, unmoved })
        }
        Err(Abort::Failed(problems)) => {
            let lines = problems.lines(&shown::name(&file.name));
            fail_entry(
                ctx,
                date,
                &file.name,
                &file.path,
                &sha256,
                &lines.join("\n"),
            )
        }
        Err(Abort::Changed) => {
            tracing::warn!(file = %shown::name(&file.name), "changed while being read: left for the next run");
            Ok(Taken::Changed)
        }
        Err(Abort::Duplicate) => {
            let unmoved = archive_file(
                file,
                &archive,
                "ingested meanwhile: archived without effect",
            );
            Ok(Taken::Duplicate { unmoved })
        }
        Err(Abort::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Taken::Changed),
        Err(Abort::Io(e)) => {
            let reason = format!("{}: cannot be read: {e}", shown::name(&file.name));
            fail_entry(ctx, date, &file.name, &file.path, &sha256, &reason)
        }
        Err(Abort::Db(e)) => match refusal(ctx.conn, e) {
            Ok(why) => {
                let reason = format!(
                    "{}: the database refused the file: {why}",
                    shown::name(&file.name)
                );
                fail_entry(ctx, date, &file.name, &file.path, &sha256, &reason)
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// Moves a file whose bytes are already ingested to the archive; `Some(why)` if it could not.
fn archive_file(file: &Candidate, archive: &Path, what: &str) -> Option<String> {
    match inbox::move_into(&file.path, archive, None) {
        Ok(to) => {
            tracing::info!(file = %shown::name(&file.name), archived = %shown::path(&to), "{what}");
            None
        }
        Err(e) => {
            let why = format!("{e}; its bytes are ingested, the next run archives it");
            tracing::error!(file = %shown::name(&file.name), "left in the inbox: {why}");
            Some(why)
        }
    }
}

/// An inbox entry that is not a regular file, or whose name is not UTF-8: never opened, moved
/// to failed/ saying so.
fn take_stray(ctx: &mut JobContext<'_>, date: NaiveDate, stray: &Stray) -> Result<Taken> {
    let reason = format!("{}: {}", shown::name(&stray.name), stray.why);
    fail_entry(ctx, date, &stray.name, &stray.path, "", &reason)
}

/// Whether a database error while staging a file is the file's own (its reason, to fail the
/// file with) or the database's (returned, to end the run): a lost connection, a
/// serialization failure, a read-only database are not the file's fault. The file's
/// transaction is already rolled back; a connection that no longer answers ends the run.
fn refusal(
    conn: &mut PgConnection,
    error: diesel::result::Error,
) -> std::result::Result<String, diesel::result::Error> {
    use diesel::result::{DatabaseErrorKind as Kind, Error as DbError};
    let info = match &error {
        DbError::DatabaseError(
            Kind::ClosedConnection
            | Kind::UnableToSendCommand
            | Kind::SerializationFailure
            | Kind::ReadOnlyTransaction,
            _,
        ) => return Err(error),
        DbError::DatabaseError(_, info) => info,
        _ => return Err(error),
    };
    if crate::store::ping(conn).is_err() {
        return Err(error);
    }
    // The message only: the details may repeat a whole row, however long.
    let mut why: String = info.message().chars().take(500).collect();
    for (what, name) in [
        ("table", info.table_name()),
        ("column", info.column_name()),
        ("constraint", info.constraint_name()),
    ] {
        if let Some(name) = name {
            why.push_str(&format!(" ({what} {name})"));
        }
    }
    Ok(why)
}

/// Why recording a failed file was undone.
enum FailAbort {
    Db(diesel::result::Error),
    Move(inbox::MoveError),
}

impl From<diesel::result::Error> for FailAbort {
    fn from(e: diesel::result::Error) -> Self {
        FailAbort::Db(e)
    }
}

/// Fails an inbox entry as a whole: its record and its move to failed/ (beside
/// `<name>.error.txt` holding `reasons`) happen together or not at all. The record is
/// written first and committed last, after the move: a move that cannot complete is undone
/// and rolls the record back (the entry stays in the inbox for the next run, `Unmoved`), and
/// a crash before the commit leaves the entry in failed/ with its reasons but no record,
/// never a record of a file still in the inbox.
fn fail_entry(
    ctx: &mut JobContext<'_>,
    date: NaiveDate,
    name: &str,
    path: &Path,
    sha256: &str,
    reasons: &str,
) -> Result<Taken> {
    let failed = &ctx.config.intake.failed;
    let mut moved: Option<std::path::PathBuf> = None;
    let recorded = ctx.conn.transaction(|conn| {
        staging::record_failed(conn, name, sha256, date, reasons)?;
        let to = inbox::move_into(path, failed, Some(reasons)).map_err(FailAbort::Move)?;
        moved = Some(to);
        Ok::<_, FailAbort>(())
    });
    match recorded {
        Ok(()) => {
            let to = moved.unwrap_or_default();
            tracing::error!(
                file = %shown::name(name),
                failed = %shown::path(&to),
                "the file failed as a whole:\n{reasons}"
            );
            Ok(Taken::Failed)
        }
        Err(FailAbort::Move(e)) => {
            let why = format!("{e}; it failed as a whole:\n{reasons}");
            tracing::error!(file = %shown::name(name), "failed, but left in the inbox: {why}");
            Ok(Taken::Unmoved(why))
        }
        Err(FailAbort::Db(e)) => {
            // The commit itself failed after the move: put the entry back (best effort).
            if let Some(to) = moved
                && inbox::move_back(&to, path).is_ok()
            {
                let _ = std::fs::remove_file(inbox::reasons_path(&to));
            }
            Err(e.into())
        }
    }
}

/// Stages one file inside the caller's transaction; any `Err` rolls it all back. A second
/// thread reads and parses the file while this one COPYs the previous batch.
fn stage_file(
    conn: &mut PgConnection,
    file: &Candidate,
    sha256: &str,
    (date, reported_on): (NaiveDate, NaiveDate),
    partner: &str,
    watch: &mut Stopwatch,
) -> std::result::Result<RowCounts, Abort> {
    use diesel::result::{DatabaseErrorKind, Error as DbError};
    let file_id = match staging::open_file(conn, &file.name, sha256, date) {
        Ok(id) => id,
        Err(DbError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            return Err(Abort::Duplicate);
        }
        Err(e) => return Err(e.into()),
    };
    watch.lap("open");
    let mut counts = RowCounts::default();
    std::thread::scope(|scope| {
        // Two batches in flight at most: memory stays bounded.
        let (sender, batches) = std::sync::mpsc::sync_channel::<Parsed>(1);
        // Staged batches go back to the parser: it frees their rows (it made them, so
        // they go back to its own allocator arena) and refills their space.
        let (give_back, spares) = std::sync::mpsc::channel::<Vec<StagedEvent>>();
        let parser =
            scope.spawn(move || parse_file(file, file_id, reported_on, partner, &sender, &spares));
        let mut outcome = Ok(());
        while let Ok(parsed) = batches.recv() {
            watch.lap("stage_wait_parser");
            let step = match parsed {
                Parsed::Rows { staged, rejects } => {
                    let step = stage_rows(conn, reported_on, &staged, &rejects, &mut counts);
                    watch.lap("stage_copy");
                    let _ = give_back.send(staged);
                    step
                }
                Parsed::Failed(problems) => Err(Abort::Failed(problems)),
            };
            if let Err(abort) = step {
                outcome = Err(abort);
                break;
            }
        }
        // Dropping the receiver stops a parser still sending.
        drop(batches);
        let read = parser.join().expect("the order file parser does not panic");
        outcome?;
        read.map_err(Abort::Io)
    })?;
    // A file written to while it was read is not taken: the next run sees it whole.
    if Stamp::of(&file.path)? != file.stamp {
        return Err(Abort::Changed);
    }
    staging::finish_file(conn, file_id, counts)?;
    watch.lap("finish");
    Ok(counts)
}

/// What the parser thread hands over: a batch ready to stage, or why the file fails.
enum Parsed {
    Rows {
        staged: Vec<StagedEvent>,
        rejects: Vec<NewReject>,
    },
    /// The file fails as a whole (sent last, after every problem was looked for).
    Failed(FileProblems),
}

/// Reads `file` with the order-file reader, turning each batch into rows to stage and
/// rejects to record, and sends them. Stops early (`Ok`) when the receiver is gone.
fn parse_file(
    file: &Candidate,
    file_id: i64,
    reported_on: NaiveDate,
    partner: &str,
    out: &std::sync::mpsc::SyncSender<Parsed>,
    spares: &std::sync::mpsc::Receiver<Vec<StagedEvent>>,
) -> std::io::Result<()> {
    let Some(source) = progress_reader(&file.path, file.stamp.len)? else {
        // Swapped for a link, a FIFO or a folder since the scan: left for the next scan.
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no longer a regular file",
        ));
    };
    let mut order_file = OrderFile::new(&file.path, source, partner)?;
    while let Some(piece) = order_file.next() {
        let parsed = match piece {
            Piece::Rows(mut batch) => {
                let mut staged = spares
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(batch.parsed.len()));
                staged.clear();
                staged.extend(
                    batch
                        .parsed
                        .drain(..)
                        .map(|row| StagedEvent::new(file_id, row)),
                );
                order_file.reuse(batch.parsed);
                Parsed::Rows {
                    staged,
                    rejects: batch
                        .malformed
                        .into_iter()
                        .map(|row| NewReject::malformed(reported_on, file_id, row))
                        .collect(),
                }
            }
            Piece::Failed(problems) => Parsed::Failed(problems),
        };
        if out.send(parsed).is_err() {
            break;
        }
    }
    Ok(())
}

/// Stages one batch of parsed rows and records its malformed rows.
fn stage_rows(
    conn: &mut PgConnection,
    reported_on: NaiveDate,
    staged: &[StagedEvent],
    malformed: &[NewReject],
    counts: &mut RowCounts,
) -> std::result::Result<(), Abort> {
    let out = staging::stage_batch(conn, reported_on, staged)?;
    counts.received += (staged.len() + malformed.len()) as i64;
    counts.staged += out.inserted + out.duplicate;
    counts.duplicate += out.duplicate;
    counts.rejected += (malformed.len() + out.conflicting.len()) as i64;
    insert_rejects(conn, malformed)?;
    insert_rejects(conn, &out.conflicting)?;
    Ok(())
}

/// The file as a byte source, drawing a progress bar for a large file on a terminal; `None`
/// when it is no longer a regular file.
fn progress_reader(path: &Path, len: u64) -> std::io::Result<Option<Box<dyn Read>>> {
    let Some(file) = inbox::open_regular(path)? else {
        return Ok(None);
    };
    if len < PROGRESS_BYTES || !std::io::stderr().is_terminal() {
        return Ok(Some(Box::new(file)));
    }
    // Drawn below the log lines, which print above it (crate::logging).
    let bar = crate::logging::progress_bar(len, "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})");
    bar.set_message(
        path.file_name()
            .map(|n| shown::name(&n.to_string_lossy()).into_owned())
            .unwrap_or_default(),
    );
    Ok(Some(Box::new(bar.wrap_read(file))))
}
