//! Reading an order file from its bytes: the header, then the records in batches of parsed
//! and malformed rows; or the problems that fail the file as a whole (no header, a header
//! problem, a NUL byte, bytes that are not UTF-8, a field or record over its size cap,
//! another partner's id, an unreadable record), at most [`MAX_PROBLEMS`] of them listed.
//! No database and no file system: the job opens the file, stages what this yields and
//! decides the file's fate.

use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::csv_source::{
    CsvReader, FileProblem, NUL_BYTE, long_field, long_field_message, nul_field,
};
use super::orders::{self, ColumnMap, MalformedRow, ParsedRow, Row};

/// Rows per batch at most: memory stays bounded whatever the file's size.
pub const BATCH_ROWS: usize = 10_000;

/// Rows of the first batch at most: the database starts storing sooner (the batches after it
/// are parsed while it stores the one before).
pub const FIRST_BATCH_ROWS: usize = 2_000;

/// Bytes of records per batch at most, so that long (but allowed) fields keep it bounded too.
pub const BATCH_BYTES: usize = 16 << 20;

/// Whole-file problems listed (in `<name>.error.txt`) before "... and N more".
pub const MAX_PROBLEMS: usize = 50;

/// A batch of an order file's rows, in file order within each list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub parsed: Vec<ParsedRow>,
    pub malformed: Vec<MalformedRow>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.parsed.is_empty() && self.malformed.is_empty()
    }
}

/// Why a file fails as a whole: the first [`MAX_PROBLEMS`] problems found, and how many more
/// there were (a header of 100,000 unknown columns is not 100,000 lines of log, of
/// `.error.txt` and of the file's record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblems {
    pub listed: Vec<FileProblem>,
    pub more: usize,
}

impl FileProblems {
    fn of(problems: Vec<FileProblem>) -> FileProblems {
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        let mut listed = problems;
        listed.truncate(MAX_PROBLEMS);
        FileProblems { listed, more }
    }

    /// One readable line per problem (`orders.csv:3: column partner_id: ...`), then how many
    /// more there were.
    pub fn lines(&self, file_name: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .listed
            .iter()
            .map(|p| orders::problem_line(file_name, p))
            .collect();
        if self.more > 0 {
            lines.push(format!(
                "{file_name}: ... and {} more problems like these",
                self.more
            ));
        }
        lines
    }
}

/// What reading an order file yields, in order: batches of rows, then, if the file fails, its
/// problems (last, once every problem was looked for; the batches before it are then void).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Rows(Batch),
    Failed(FileProblems),
}

/// An order file being read: an iterator of [`Piece`]s.
pub struct OrderFile {
    path: PathBuf,
    partner: String,
    reader: CsvReader,
    /// Whether the source gave any byte at all (an empty file is told apart from one of
    /// blank lines).
    any_byte: Rc<Cell<bool>>,
    /// The header, once read; `None` before.
    map: Option<ColumnMap>,
    record: csv::ByteRecord,
    problems: Vec<FileProblem>,
    unlisted: usize,
    done: bool,
    /// A batch's emptied row list handed back ([`OrderFile::reuse`]): its space is refilled
    /// instead of allocating a list per batch.
    spare: Vec<ParsedRow>,
    /// Batches handed out so far.
    batches: usize,
}

impl OrderFile {
    /// Reads the order file `path` (named in problems) from `source`, for partner `partner`.
    /// Only the first bytes are read here (a BOM, the delimiter); an error reading them is the
    /// source's.
    pub fn new(path: &Path, source: Box<dyn Read>, partner: &str) -> std::io::Result<OrderFile> {
        let any_byte = Rc::new(Cell::new(false));
        let source = Box::new(Seen {
            inner: source,
            any_byte: any_byte.clone(),
        });
        Ok(OrderFile {
            path: path.to_path_buf(),
            partner: partner.to_string(),
            reader: CsvReader::from_reader(source)?,
            any_byte,
            map: None,
            record: csv::ByteRecord::new(),
            problems: Vec::new(),
            unlisted: 0,
            done: false,
            spare: Vec::new(),
            batches: 0,
        })
    }

    /// Reads the header into a [`ColumnMap`], or the problems that fail the file.
    fn header(&mut self) -> Result<ColumnMap, Vec<FileProblem>> {
        let path = self.path.as_path();
        let record = &mut self.record;
        let line = match self.reader.next_byte_record(record) {
            Ok(Some(line)) => line,
            Ok(None) if !self.any_byte.get() => {
                return Err(vec![FileProblem::file(
                    path,
                    "the file is empty: a header line naming the columns is required",
                )]);
            }
            Ok(None) => {
                return Err(vec![FileProblem::file(
                    path,
                    "the file has no header line (it holds only blank lines)",
                )]);
            }
            Err(e) => {
                return Err(vec![FileProblem::at(
                    path,
                    e.line,
                    None,
                    format!("unreadable header: {}", e.message()),
                )]);
            }
        };
        if let Some((field, bytes)) = long_field(record.iter()) {
            let what = long_field_message(bytes);
            return Err(vec![orders::field_problem(None, path, line, field, &what)]);
        }
        if let Some(field) = nul_field(record.iter()) {
            return Err(vec![orders::field_problem(
                None, path, line, field, NUL_BYTE,
            )]);
        }
        let header = csv::StringRecord::from_byte_record(std::mem::take(record))
            .map_err(|e| vec![orders::not_utf8(None, path, line, &e)])?;
        let map = ColumnMap::from_header(path, line, &header)?;
        *record = header.into_byte_record();
        Ok(map)
    }

    /// A problem that fails the file: kept while fewer than [`MAX_PROBLEMS`] are, else
    /// counted.
    fn problem(&mut self, problem: FileProblem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.unlisted += 1;
        }
    }

    /// Reads records until a batch is full or the file ends; `None` at the end of the rows.
    fn next_batch(&mut self, map: &ColumnMap) -> Option<Batch> {
        let path = self.path.clone();
        let path = path.as_path();
        let mut parsed = std::mem::take(&mut self.spare);
        parsed.reserve(BATCH_ROWS);
        let mut batch = Batch {
            parsed,
            malformed: Vec::new(),
        };
        let mut batch_bytes = 0usize;
        let most_rows = if self.batches == 0 {
            FIRST_BATCH_ROWS
        } else {
            BATCH_ROWS
        };
        loop {
            let line = match self.reader.next_byte_record(&mut self.record) {
                Ok(None) => break,
                Ok(Some(line)) => line,
                Err(e) => {
                    self.problem(FileProblem::at(path, e.line, None, e.message()));
                    break;
                }
            };
            let record = &self.record;
            if let Some((field, bytes)) = long_field(record.iter()) {
                let what = long_field_message(bytes);
                self.problem(orders::field_problem(Some(map), path, line, field, &what));
                continue;
            }
            batch_bytes += record.as_slice().len();
            if let Some(field) = nul_field(record.iter()) {
                self.problem(orders::field_problem(
                    Some(map),
                    path,
                    line,
                    field,
                    NUL_BYTE,
                ));
                continue;
            }
            let text = match csv::StringRecord::from_byte_record(std::mem::take(&mut self.record)) {
                Ok(text) => text,
                Err(e) => {
                    self.problem(orders::not_utf8(Some(map), path, line, &e));
                    self.record = e.into_byte_record();
                    continue;
                }
            };
            match orders::read_row(map, path, line, &text, &self.partner) {
                Row::Blank => {}
                Row::OtherPartner(p) => self.problem(p),
                // The file fails: nothing more is kept, but the rest is read for its problems.
                _ if !self.problems.is_empty() => {}
                Row::Parsed(row) => batch.parsed.push(row),
                Row::Malformed(row) => batch.malformed.push(row),
            }
            self.record = text.into_byte_record();
            if batch.parsed.len() >= most_rows
                || batch.malformed.len() >= most_rows
                || batch_bytes >= BATCH_BYTES
            {
                self.batches += 1;
                return Some(batch);
            }
        }
        self.done = true;
        (!batch.is_empty()).then_some(batch)
    }

    /// Hands back a batch's row list, emptied here, for the next batch to fill.
    pub fn reuse(&mut self, mut rows: Vec<ParsedRow>) {
        rows.clear();
        self.spare = rows;
    }

    /// The file's problems, if it has any.
    fn failure(&mut self) -> Option<FileProblems> {
        if self.problems.is_empty() {
            return None;
        }
        let mut problems = FileProblems::of(std::mem::take(&mut self.problems));
        problems.more += self.unlisted;
        Some(problems)
    }
}

impl Iterator for OrderFile {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        let map = match self.map.take() {
            Some(map) => map,
            None if self.done => return None,
            None => match self.header() {
                Ok(map) => map,
                Err(problems) => {
                    self.done = true;
                    return Some(Piece::Failed(FileProblems::of(problems)));
                }
            },
        };
        while !self.done {
            let batch = self.next_batch(&map);
            // Once the file fails its rows are void: read on for the problems only.
            if let Some(batch) = batch
                && self.problems.is_empty()
            {
                self.map = Some(map);
                return Some(Piece::Rows(batch));
            }
        }
        self.failure().map(Piece::Failed)
    }
}

/// A byte source that notes whether it gave any byte.
struct Seen {
    inner: Box<dyn Read>,
    any_byte: Rc<Cell<bool>>,
}

impl Read for Seen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.any_byte.set(true);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "order_id,line,event_time,action,customer_id,requested_by,partner_id,\
offer_id,quantity";

    fn read(bytes: &[u8]) -> Vec<Piece> {
        let source = Box::new(std::io::Cursor::new(bytes.to_vec()));
        OrderFile::new(Path::new("o.csv"), source, "P-1")
            .unwrap()
            .collect()
    }

    fn purchase(order: usize) -> String {
        format!("O-{order},1,2026-03-01T10:00:00Z,purchase,C-1,admin_agent,P-1,OFF,1\n")
    }

    fn failed(pieces: &[Piece]) -> Vec<String> {
        match pieces.last() {
            Some(Piece::Failed(problems)) => problems.lines("o.csv"),
            other => panic!("the file fails: {other:?}"),
        }
    }

    #[test]
    fn rows_come_in_one_batch_of_parsed_and_malformed_rows_in_file_order() {
        let text = format!(
            "{HEADER}\n{}\nO-2,x,,,,,P-1,,\n{}",
            purchase(1),
            purchase(3)
        );
        let pieces = read(text.as_bytes());
        let [Piece::Rows(batch)] = pieces.as_slice() else {
            panic!("one batch: {pieces:?}")
        };
        let lines: Vec<u64> = batch.parsed.iter().map(|r| r.source_line).collect();
        assert_eq!(lines, [2, 5], "the blank line 3 is skipped, not counted");
        assert_eq!(batch.malformed[0].source_line, 4);
        assert_eq!(batch.malformed[0].column, "line");
    }

    #[test]
    fn a_large_file_comes_in_batches_of_at_most_batch_rows() {
        let mut text = format!("{HEADER}\n");
        for order in 0..FIRST_BATCH_ROWS + BATCH_ROWS + 5 {
            text.push_str(&purchase(order));
        }
        let sizes: Vec<usize> = read(text.as_bytes())
            .iter()
            .map(|p| match p {
                Piece::Rows(batch) => batch.parsed.len(),
                Piece::Failed(f) => panic!("{f:?}"),
            })
            .collect();
        assert_eq!(sizes, [FIRST_BATCH_ROWS, BATCH_ROWS, 5]);
    }

    #[test]
    fn an_empty_file_and_a_file_of_blank_lines_fail_saying_which() {
        assert_eq!(
            failed(&read(b"")),
            ["o.csv: the file is empty: a header line naming the columns is required"]
        );
        assert_eq!(
            failed(&read(b"\n\r\n\n")),
            ["o.csv: the file has no header line (it holds only blank lines)"]
        );
    }

    #[test]
    fn a_nul_byte_or_bytes_that_are_not_utf8_fail_the_file_naming_line_and_column() {
        let mut bytes = format!("{HEADER}\n{}", purchase(1)).into_bytes();
        bytes.extend_from_slice(
            b"O-2,1,2026-03-01T10:00:00Z,purchase,C\x00,admin_agent,P-1,OFF,1\n",
        );
        bytes
            .extend_from_slice(b"O-3,1,2026-03-01T10:00:00Z,purchase,C-1,admin_agent,P-1,\xff,1\n");
        let pieces = read(&bytes);
        assert_eq!(pieces.len(), 1, "rows of a failing file are not handed out");
        let lines = failed(&pieces);
        assert!(lines[0].starts_with("o.csv:3: column customer_id: holds a NUL byte"));
        assert!(lines[1].starts_with("o.csv:4: column offer_id: is not valid UTF-8"));
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn a_header_problem_fails_the_file_before_any_row() {
        let text = format!("order_id,colour\n{}", purchase(1));
        let lines = failed(&read(text.as_bytes()));
        assert!(lines[0].starts_with("o.csv:1: column colour: unknown column"));
    }

    #[test]
    fn problems_beyond_the_cap_are_counted_not_listed() {
        let mut text = format!("{HEADER}\n");
        for order in 0..MAX_PROBLEMS + 7 {
            text.push_str(&format!(
                "O-{order},1,2026-03-01T10:00:00Z,purchase,C-1,admin_agent,P-2,OFF,1\n"
            ));
        }
        let lines = failed(&read(text.as_bytes()));
        assert_eq!(lines.len(), MAX_PROBLEMS + 1);
        assert_eq!(
            lines[MAX_PROBLEMS],
            "o.csv: ... and 7 more problems like these"
        );
    }
}
