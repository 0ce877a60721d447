//! The `ingest-orders` job (SPEC section 3): every settled inbox file, oldest first, is taken
//! whole or not at all. A file's rows and its `inbox_files` record commit in one transaction,
//! then the file moves to `archive/<date>/`; a file that cannot be read as a whole is
//! recorded as failed and moves to `failed/` beside `<name>.error.txt`.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use diesel::PgConnection;
use diesel::prelude::*;

use super::{JobContext, JobOutcome};
use crate::error::{Error, Result};
use crate::intake::csv_source::{CsvReader, FileProblem, NUL_BYTE, error_line, nul_field};
use crate::intake::inbox::{self, Candidate, Stamp};
use crate::intake::orders::{self, ColumnMap, Row};
use crate::output::atomic::write_atomically;
use crate::store::staging::{self, NewReject, NewStaged, RowCounts};

/// Rows COPYed per batch: memory stays bounded whatever the file's size.
const BATCH_ROWS: usize = 10_000;

/// Whole-file problems listed in `<name>.error.txt` before "... and N more".
const MAX_PROBLEMS: usize = 50;

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
                .map_err(|e| Error::Other(format!("cannot create {}: {e}", folder.display())))?;
            tracing::info!(folder = %folder.display(), "created");
        }
    }
    let scan = inbox::scan(&intake.inbox, settle, ctx.wall_clock).map_err(|e| {
        Error::Other(format!(
            "cannot read the inbox {}: {e}",
            intake.inbox.display()
        ))
    })?;
    let mut outcome = JobOutcome::default();
    for count in [
        "files_ingested",
        "files_duplicate",
        "files_failed",
        "rows_received",
        "rows_staged",
        "rows_duplicate",
        "rows_rejected",
    ] {
        outcome.add(count, 0);
    }
    outcome.add("files_waiting", scan.waiting.len() as i64);
    for name in &scan.waiting {
        tracing::info!(file = %name, "not settled yet: left for the next run");
    }
    for candidate in &scan.ready {
        match take_file(ctx, date, candidate)? {
            Taken::Ingested(counts) => {
                outcome.add("files_ingested", 1);
                outcome.add("rows_received", counts.received);
                outcome.add("rows_staged", counts.staged);
                outcome.add("rows_duplicate", counts.duplicate);
                outcome.add("rows_rejected", counts.rejected);
            }
            Taken::Duplicate => outcome.add("files_duplicate", 1),
            Taken::Failed => {
                outcome.add("files_failed", 1);
                outcome.failed_files.push(candidate.name.clone());
            }
            Taken::Changed => outcome.add("files_waiting", 1),
        }
    }
    Ok(outcome)
}

/// What became of one inbox file.
enum Taken {
    Ingested(RowCounts),
    /// Its bytes were ingested before: archived without effect.
    Duplicate,
    /// Failed as a whole: in failed/ with its reasons.
    Failed,
    /// It changed (or vanished) while being read: left for the next run.
    Changed,
}

/// Why a file's transaction is rolled back.
enum Abort {
    Failed(Vec<FileProblem>),
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

fn io_error(file: &Path, e: std::io::Error) -> Error {
    Error::Other(format!("{}: {e}", file.display()))
}

fn take_file(ctx: &mut JobContext<'_>, date: NaiveDate, file: &Candidate) -> Result<Taken> {
    let intake = &ctx.config.intake;
    let sha256 = match inbox::sha256_file(&file.path) {
        Ok(hash) => hash,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Taken::Changed),
        Err(e) => return Err(io_error(&file.path, e)),
    };
    let archive = intake.archive.join(date.to_string());
    if staging::is_ingested(ctx.conn, &sha256)? {
        let to = inbox::move_into(&file.path, &archive).map_err(|e| io_error(&file.path, e))?;
        tracing::info!(file = %file.name, archived = %to.display(), "ingested before: archived without effect");
        return Ok(Taken::Duplicate);
    }
    let partner = ctx.config.partner.id.clone();
    let staged = ctx
        .conn
        .transaction(|conn| stage_file(conn, file, &sha256, date, &partner));
    match staged {
        Ok(counts) => {
            let to = inbox::move_into(&file.path, &archive).map_err(|e| io_error(&file.path, e))?;
            tracing::info!(
                file = %file.name,
                received = counts.received,
                staged = counts.staged,
                duplicate = counts.duplicate,
                rejected = counts.rejected,
                archived = %to.display(),
                "ingested"
            );
            Ok(Taken::Ingested(counts))
        }
        Err(Abort::Failed(problems)) => {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| orders::problem_line(&file.name, p))
                .collect();
            let text = lines.join("\n");
            staging::record_failed(ctx.conn, &file.name, &sha256, date, &text)?;
            let to = inbox::move_into(&file.path, &intake.failed)
                .map_err(|e| io_error(&file.path, e))?;
            let moved_name = to
                .file_name()
                .and_then(|n| n.to_str())
                .expect("moved under a UTF-8 name");
            let reasons = intake.failed.join(format!("{moved_name}.error.txt"));
            write_atomically(&reasons, |out| writeln!(out, "{text}"))
                .map_err(|e| io_error(&reasons, e))?;
            tracing::error!(file = %file.name, failed = %to.display(), "the file failed as a whole:\n{text}");
            Ok(Taken::Failed)
        }
        Err(Abort::Changed) => {
            tracing::warn!(file = %file.name, "changed while being read: left for the next run");
            Ok(Taken::Changed)
        }
        Err(Abort::Duplicate) => {
            let to = inbox::move_into(&file.path, &archive).map_err(|e| io_error(&file.path, e))?;
            tracing::info!(file = %file.name, archived = %to.display(), "ingested meanwhile: archived without effect");
            Ok(Taken::Duplicate)
        }
        Err(Abort::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Taken::Changed),
        Err(Abort::Io(e)) => Err(io_error(&file.path, e)),
        Err(Abort::Db(e)) => Err(e.into()),
    }
}

/// Stages one file inside the caller's transaction; any `Err` rolls it all back. A second
/// thread reads and parses the file while this one COPYs the previous batch.
fn stage_file(
    conn: &mut PgConnection,
    file: &Candidate,
    sha256: &str,
    date: NaiveDate,
    partner: &str,
) -> std::result::Result<RowCounts, Abort> {
    use diesel::result::{DatabaseErrorKind, Error as DbError};
    let file_id = match staging::open_file(conn, &file.name, sha256, date) {
        Ok(id) => id,
        Err(DbError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            return Err(Abort::Duplicate);
        }
        Err(e) => return Err(e.into()),
    };
    let mut counts = RowCounts::default();
    std::thread::scope(|scope| {
        // Two batches in flight at most: memory stays bounded.
        let (sender, batches) = std::sync::mpsc::sync_channel::<Parsed>(1);
        let parser = scope.spawn(move || parse_file(file, file_id, date, partner, &sender));
        let mut outcome = Ok(());
        for parsed in batches.iter() {
            let step = match parsed {
                Parsed::Rows { staged, rejects } => {
                    stage_rows(conn, date, &staged, &rejects, &mut counts)
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
    Ok(counts)
}

/// What the parser thread hands over.
enum Parsed {
    Rows {
        staged: Vec<NewStaged>,
        rejects: Vec<NewReject>,
    },
    /// The file fails as a whole (sent last, after every problem was looked for).
    Failed(Vec<FileProblem>),
}

/// Reads and parses `file`, sending rows in batches. Stops early (`Ok`) when the receiver
/// is gone.
fn parse_file(
    file: &Candidate,
    file_id: i64,
    date: NaiveDate,
    partner: &str,
    out: &std::sync::mpsc::SyncSender<Parsed>,
) -> std::io::Result<()> {
    let path = file.path.as_path();
    let failed = |problems: Vec<FileProblem>| {
        let _ = out.send(Parsed::Failed(problems));
        Ok(())
    };
    let mut reader = CsvReader::from_reader(progress_reader(path, file.stamp.len)?)?;
    let mut record = csv::ByteRecord::new();
    let header_line = match reader.next_byte_record(&mut record) {
        Ok(Some(line)) => line,
        Ok(None) if file.stamp.len == 0 => {
            return failed(vec![FileProblem::file(
                path,
                "the file is empty: a header line naming the columns is required",
            )]);
        }
        Ok(None) => {
            return failed(vec![FileProblem::file(
                path,
                "the file has no header line (it holds only blank lines)",
            )]);
        }
        Err(e) => {
            let line = error_line(&e).unwrap_or(1);
            return failed(vec![FileProblem::at(
                path,
                line,
                None,
                format!("unreadable header: {e}"),
            )]);
        }
    };
    if let Some(field) = nul_field(record.iter()) {
        return failed(vec![orders::field_problem(
            None,
            path,
            header_line,
            field,
            NUL_BYTE,
        )]);
    }
    let header = match csv::StringRecord::from_byte_record(record) {
        Ok(header) => header,
        Err(e) => return failed(vec![orders::not_utf8(None, path, header_line, &e)]),
    };
    let map = match ColumnMap::from_header(path, header_line, &header) {
        Ok(map) => map,
        Err(problems) => return failed(problems),
    };
    let mut record = header.into_byte_record();

    let mut staged: Vec<NewStaged> = Vec::with_capacity(BATCH_ROWS);
    let mut rejects: Vec<NewReject> = Vec::new();
    let mut problems: Vec<FileProblem> = Vec::new();
    let mut unlisted = 0usize;
    let mut problem = |problems: &mut Vec<FileProblem>, p: FileProblem| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(p);
        } else {
            unlisted += 1;
        }
    };
    loop {
        let line = match reader.next_byte_record(&mut record) {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err(e) => {
                let line = error_line(&e).unwrap_or(0);
                problem(
                    &mut problems,
                    FileProblem::at(path, line, None, e.to_string()),
                );
                break;
            }
        };
        if let Some(field) = nul_field(record.iter()) {
            problem(
                &mut problems,
                orders::field_problem(Some(&map), path, line, field, NUL_BYTE),
            );
            continue;
        }
        let text = match csv::StringRecord::from_byte_record(record) {
            Ok(text) => text,
            Err(e) => {
                problem(&mut problems, orders::not_utf8(Some(&map), path, line, &e));
                record = e.into_byte_record();
                continue;
            }
        };
        match orders::read_row(&map, path, line, &text, partner) {
            Row::Blank => {}
            Row::OtherPartner(p) => problem(&mut problems, p),
            // The file fails: nothing more is staged, but the rest is read for its problems.
            _ if !problems.is_empty() => {}
            Row::Parsed(row) => staged.push(NewStaged::new(file_id, row)),
            Row::Malformed(row) => rejects.push(NewReject::malformed(date, file_id, row)),
        }
        if staged.len() >= BATCH_ROWS || rejects.len() >= BATCH_ROWS {
            let batch = Parsed::Rows {
                staged: std::mem::replace(&mut staged, Vec::with_capacity(BATCH_ROWS)),
                rejects: std::mem::take(&mut rejects),
            };
            if out.send(batch).is_err() {
                return Ok(());
            }
        }
        record = text.into_byte_record();
    }
    if !problems.is_empty() {
        if unlisted > 0 {
            problems.push(FileProblem::file(
                path,
                format!("... and {unlisted} more problems like these"),
            ));
        }
        return failed(problems);
    }
    let _ = out.send(Parsed::Rows { staged, rejects });
    Ok(())
}

/// Stages one batch of parsed rows and records its malformed rows.
fn stage_rows(
    conn: &mut PgConnection,
    date: NaiveDate,
    staged: &[NewStaged],
    malformed: &[NewReject],
    counts: &mut RowCounts,
) -> std::result::Result<(), Abort> {
    let out = staging::stage_batch(conn, date, staged)?;
    counts.received += (staged.len() + malformed.len()) as i64;
    counts.staged += out.inserted + out.duplicate;
    counts.duplicate += out.duplicate;
    counts.rejected += (malformed.len() + out.conflicting.len()) as i64;
    staging::insert_rejects(conn, malformed)?;
    staging::insert_rejects(conn, &out.conflicting)?;
    Ok(())
}

/// The file as a byte source, drawing a progress bar for a large file on a terminal.
fn progress_reader(path: &Path, len: u64) -> std::io::Result<Box<dyn Read>> {
    let file = File::open(path)?;
    if len < PROGRESS_BYTES || !std::io::stderr().is_terminal() {
        return Ok(Box::new(file));
    }
    // Drawn below the log lines, which print above it (crate::logging).
    let bar = crate::logging::progress_bar(len, "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})");
    bar.set_message(
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    Ok(Box::new(bar.wrap_read(file)))
}
