//! Opening a CSV file the way finance staff write them: UTF-8 with or without BOM, LF or
//! CRLF, `,` or `;` as the delimiter (sniffed from the header line), quoted fields.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A problem at a place in a file: line and column when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", location(.file, *.line, .column.as_deref()), .message)]
pub struct FileProblem {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

fn location(file: &Path, line: Option<u64>, column: Option<&str>) -> String {
    let mut at = crate::shown::path(file);
    if let Some(line) = line {
        at.push_str(&format!(" line {line}"));
    }
    if let Some(column) = column {
        at.push_str(&format!(" column {column}"));
    }
    at + ": "
}

impl FileProblem {
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        FileProblem {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn at(file: &Path, line: u64, column: Option<&str>, message: impl Into<String>) -> Self {
        FileProblem {
            file: file.to_path_buf(),
            line: Some(line),
            column: column.map(str::to_string),
            message: message.into(),
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Sniffs the delimiter from the header line: `;` when it has more `;` than `,` outside
/// quotes, `,` otherwise.
pub fn sniff_delimiter(header_line: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for &b in header_line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// The longest record (all its fields, up to its terminator) any input file may have. No
/// order or catalog row comes near it; a longer one is an unbalanced quote or not a CSV file,
/// and reading stops there, so a 50 MB "field" is never held in memory or stored.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// The longest field an order file may have (SPEC's identifiers are at most 100 characters).
pub const MAX_FIELD_BYTES: usize = 64 << 10;

/// Where the lines are in the bytes the CSV parser has pulled in and not yet accounted for.
/// The csv crate's own line numbers drift on CRLF files and blank lines, so we count ourselves.
struct Newlines {
    /// Offsets (from the start of the data after the BOM) of unaccounted newlines, ascending.
    pending: VecDeque<u64>,
    /// Offsets of the first byte of each line that is not a line terminator, ascending: a
    /// record starts at one of them (the parser skips blank lines before it).
    starts: VecDeque<u64>,
    /// Newlines before the first pending one.
    accounted: u64,
    /// Bytes passed through so far.
    offset: u64,
    /// Whether the last byte passed through ended a line (true at the start).
    after_terminator: bool,
    /// Where the parser stood when it began the record it is reading.
    record_from: u64,
}

impl Default for Newlines {
    fn default() -> Self {
        Newlines {
            pending: VecDeque::new(),
            starts: VecDeque::new(),
            accounted: 0,
            offset: 0,
            after_terminator: true,
            record_from: 0,
        }
    }
}

impl Newlines {
    /// The physical line on which the record begun at `record_from` starts (its first byte
    /// that is not a line terminator); forgets what lies before.
    fn record_line(&mut self) -> u64 {
        while self.starts.front().is_some_and(|&at| at < self.record_from) {
            self.starts.pop_front();
        }
        let start = self.starts.front().copied().unwrap_or(self.record_from);
        while self.pending.front().is_some_and(|&at| at < start) {
            self.pending.pop_front();
            self.accounted += 1;
        }
        self.accounted + 1
    }
}

/// What a reader error says when a record is longer than [`MAX_RECORD_BYTES`].
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the record starting on this line is longer than {} MiB: an unbalanced quote, or \
             not a CSV file? (reading stopped here)",
            MAX_RECORD_BYTES >> 20
        )
    }
}

impl std::error::Error for RecordTooLong {}

/// A reader that records where the lines are, and refuses to feed a record longer than
/// [`MAX_RECORD_BYTES`].
struct CountingReader<R> {
    inner: R,
    newlines: Rc<RefCell<Newlines>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        {
            let lines = self.newlines.borrow_mut();
            let from = lines.record_from;
            let start = lines
                .starts
                .iter()
                .find(|&&at| at >= from)
                .copied()
                .unwrap_or(lines.offset);
            // Checked before each read of (at most) one parser buffer: a record is refused
            // once it is longer than the limit by up to that buffer.
            if lines.offset.saturating_sub(start) > MAX_RECORD_BYTES {
                return Err(std::io::Error::other(RecordTooLong));
            }
        }
        let n = self.inner.read(buf)?;
        let mut lines = self.newlines.borrow_mut();
        let base = lines.offset;
        for (i, &b) in buf[..n].iter().enumerate() {
            let terminator = b == b'\n' || b == b'\r';
            if b == b'\n' {
                lines.pending.push_back(base + i as u64);
            } else if !terminator && lines.after_terminator {
                lines.starts.push_back(base + i as u64);
            }
            lines.after_terminator = terminator;
        }
        lines.offset += n as u64;
        Ok(n)
    }
}

/// A reader error, with the physical line on which the record being read starts.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
pub struct RecordError {
    pub line: u64,
    pub error: csv::Error,
}

impl RecordError {
    /// What went wrong, without the csv crate's own (drifting) position.
    pub fn message(&self) -> String {
        if let csv::ErrorKind::Io(e) = self.error.kind()
            && let Some(too_long) = e.get_ref().and_then(|e| e.downcast_ref::<RecordTooLong>())
        {
            return too_long.to_string();
        }
        match self.error.kind() {
            csv::ErrorKind::Utf8 { err, .. } => format!(
                "field {} is not valid UTF-8 (save the file as CSV UTF-8)",
                err.field() + 1
            ),
            csv::ErrorKind::Io(e) => format!("cannot read the file: {e}"),
            _ => self.error.to_string(),
        }
    }
}

/// A streaming CSV reader that knows the physical line each record starts on.
pub struct CsvReader {
    reader: csv::Reader<CountingReader<Box<dyn Read>>>,
    newlines: Rc<RefCell<Newlines>>,
    /// The sniffed delimiter.
    pub delimiter: u8,
}

impl CsvReader {
    /// Opens `path`, skipping a BOM and sniffing the delimiter from the first line.
    pub fn open(path: &Path) -> Result<CsvReader, FileProblem> {
        let file =
            File::open(path).map_err(|e| FileProblem::file(path, format!("cannot open: {e}")))?;
        CsvReader::from_reader(Box::new(file))
            .map_err(|e| FileProblem::file(path, format!("cannot read: {e}")))
    }

    /// Wraps any byte source (for tests and in-memory data).
    pub fn from_reader(source: Box<dyn Read>) -> std::io::Result<CsvReader> {
        let mut buffered = BufReader::with_capacity(1 << 16, source);
        if buffered.fill_buf()?.starts_with(BOM) {
            buffered.consume(BOM.len());
        }
        let buffer = buffered.fill_buf()?;
        let first_line = buffer.split(|&b| b == b'\n').next().unwrap_or_default();
        let delimiter = sniff_delimiter(first_line);
        let newlines = Rc::new(RefCell::new(Newlines::default()));
        let counting = CountingReader {
            inner: Box::new(buffered) as Box<dyn Read>,
            newlines: newlines.clone(),
        };
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(counting);
        Ok(CsvReader {
            reader,
            newlines,
            delimiter,
        })
    }

    /// Reads the next record into `record`; returns the line it starts on, or `None` at the
    /// end. Blank lines are skipped by the parser and never returned.
    pub fn next_record(
        &mut self,
        record: &mut csv::StringRecord,
    ) -> Result<Option<u64>, RecordError> {
        self.begin_record();
        let read = self.reader.read_record(record);
        self.finish_record(read)
    }

    /// Like [`CsvReader::next_record`], without requiring UTF-8: the caller can then name the
    /// exact line and field of an invalid byte sequence.
    pub fn next_byte_record(
        &mut self,
        record: &mut csv::ByteRecord,
    ) -> Result<Option<u64>, RecordError> {
        self.begin_record();
        let read = self.reader.read_byte_record(record);
        self.finish_record(read)
    }

    fn begin_record(&mut self) {
        self.newlines.borrow_mut().record_from = self.reader.position().byte();
    }

    fn finish_record(
        &mut self,
        read: Result<bool, csv::Error>,
    ) -> Result<Option<u64>, RecordError> {
        let line = self.newlines.borrow_mut().record_line();
        match read {
            Ok(true) => Ok(Some(line)),
            Ok(false) => Ok(None),
            Err(error) => Err(RecordError { line, error }),
        }
    }
}

/// The first field holding a NUL byte, if any. No PostgreSQL text can hold one, and a CSV file
/// with one is almost always a UTF-16 export or not text at all: the file fails, naming it.
pub fn nul_field<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Option<usize> {
    fields.into_iter().position(|f| f.contains(&0))
}

/// What a file problem says of a field holding a NUL byte.
pub const NUL_BYTE: &str =
    "holds a NUL byte (0x00), which no text can store (a UTF-16 file? save it as CSV UTF-8)";

/// The first field longer than [`MAX_FIELD_BYTES`], if any.
pub fn long_field<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Option<(usize, usize)> {
    fields
        .into_iter()
        .enumerate()
        .find(|(_, f)| f.len() > MAX_FIELD_BYTES)
        .map(|(i, f)| (i, f.len()))
}

/// What a file problem says of a field longer than [`MAX_FIELD_BYTES`].
pub fn long_field_message(bytes: usize) -> String {
    format!(
        "holds {bytes} bytes, more than the {} KiB any field may hold (is this an order file?)",
        MAX_FIELD_BYTES >> 10
    )
}

/// A small CSV table (catalog, customers) read whole, with columns looked up by name.
#[derive(Debug)]
pub struct Table {
    pub path: PathBuf,
    columns: HashMap<String, usize>,
    pub rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    /// Reads `path` whole. The header must have every `required` column; any column outside
    /// `required` and `optional` makes the file fail.
    pub fn read(
        path: &Path,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Table, Vec<FileProblem>> {
        let mut reader = CsvReader::open(path).map_err(|p| vec![p])?;
        let mut headers = csv::StringRecord::new();
        match reader.next_record(&mut headers) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(vec![FileProblem::file(
                    path,
                    "the file is empty: a header line is required",
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
        }
        if let Some(field) = nul_field(headers.iter().map(str::as_bytes)) {
            return Err(vec![FileProblem::at(
                path,
                1,
                None,
                format!("header field {} {NUL_BYTE}", field + 1),
            )]);
        }
        let mut problems = Vec::new();
        let mut columns = HashMap::new();
        for (i, name) in headers.iter().enumerate() {
            let name = name.trim();
            if !required.contains(&name) && !optional.contains(&name) {
                problems.push(FileProblem::at(path, 1, Some(name), "unknown column"));
            } else if columns.insert(name.to_string(), i).is_some() {
                problems.push(FileProblem::at(
                    path,
                    1,
                    Some(name),
                    "column appears twice in the header",
                ));
            }
        }
        for name in required {
            if !columns.contains_key(*name) {
                problems.push(FileProblem::at(
                    path,
                    1,
                    Some(name),
                    "required column is missing from the header",
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut rows = Vec::new();
        loop {
            let mut record = csv::StringRecord::new();
            match reader.next_record(&mut record) {
                Ok(None) => break,
                Ok(Some(_)) if record.iter().all(|f| f.trim().is_empty()) => {}
                Ok(Some(line)) => match nul_field(record.iter().map(str::as_bytes)) {
                    Some(field) => {
                        let column = headers.get(field).map(str::trim);
                        problems.push(FileProblem::at(path, line, column, NUL_BYTE));
                    }
                    None => rows.push((line, record)),
                },
                Err(e) => {
                    problems.push(FileProblem::at(path, e.line, None, e.message()));
                    break;
                }
            }
        }
        if problems.is_empty() {
            Ok(Table {
                path: path.to_path_buf(),
                columns,
                rows,
            })
        } else {
            Err(problems)
        }
    }

    /// The trimmed value of column `name` in `record`, or "" when the column or field is absent.
    pub fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        self.columns
            .get(name)
            .and_then(|&i| record.get(i))
            .map_or("", str::trim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_sniffed_outside_quotes() {
        assert_eq!(sniff_delimiter(b"a;b;c"), b';');
        assert_eq!(sniff_delimiter(b"a,b,c"), b',');
        assert_eq!(sniff_delimiter(b"\"x;y;z\",b"), b',');
    }

    #[test]
    fn a_bom_and_semicolons_and_crlf_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            b"\xEF\xBB\xBFid;name\r\n1;\"Contoso; Ltd\"\r\n\r\n2;Fabrikam\r\n",
        )
        .unwrap();
        let table = Table::read(&path, &["id", "name"], &[]).unwrap();
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.get(&table.rows[0].1, "name"), "Contoso; Ltd");
        assert_eq!(table.rows[1].0, 4);
    }

    #[test]
    fn line_numbers_are_physical_lines_whatever_the_line_endings() {
        let lf: &[u8] = b"h,i\n1,x\n\n2,y\n\n\n3,\"a\nb\"\n4,z";
        let crlf: &[u8] = b"h;i\r\n1;x\r\n\r\n2;y\r\n3;\"a\r\nb\"\r\n4;z\r\n";
        for (data, expected) in [(lf, vec![1, 2, 4, 7, 9]), (crlf, vec![1, 2, 4, 5, 7])] {
            let mut reader = CsvReader::from_reader(Box::new(data)).unwrap();
            let mut record = csv::StringRecord::new();
            let mut lines = Vec::new();
            while let Some(line) = reader.next_record(&mut record).unwrap() {
                lines.push(line);
            }
            assert_eq!(lines, expected);
        }
    }

    fn lines_of(data: &'static [u8]) -> Vec<u64> {
        let mut reader = CsvReader::from_reader(Box::new(data)).unwrap();
        let mut record = csv::ByteRecord::new();
        let mut lines = Vec::new();
        while let Some(line) = reader.next_byte_record(&mut record).unwrap() {
            lines.push(line);
        }
        lines
    }

    #[test]
    fn a_record_with_an_unbalanced_quote_starts_on_its_own_line() {
        // The quote opened on line 4 runs to the end of the file.
        assert_eq!(lines_of(b"h,i\n1,x\n\n2,\"y\n3,z\n"), [1, 2, 4]);
        assert_eq!(lines_of(b"h,i\r\n1,x\r\n\r\n2,\"y\r\n3,z\r\n"), [1, 2, 4]);
        assert_eq!(lines_of(b"h,i\n1,\"x\n\n"), [1, 2]);
        assert_eq!(lines_of(b"\n\n\"h\n\n"), [3]);
        // A quoted field ending in a newline, then the terminator.
        assert_eq!(lines_of(b"h,i\n1,\"x\n\"\n2,y\n"), [1, 2, 4]);
    }

    #[test]
    fn a_record_longer_than_the_limit_stops_reading_at_its_line() {
        let mut data = b"h,i\n1,x\n2,".to_vec();
        data.extend(std::iter::repeat_n(
            b'y',
            (MAX_RECORD_BYTES + (64 << 10)) as usize,
        ));
        data.extend_from_slice(b"\n3,z\n");
        let mut reader = CsvReader::from_reader(Box::new(std::io::Cursor::new(data))).unwrap();
        let mut record = csv::ByteRecord::new();
        assert_eq!(reader.next_byte_record(&mut record).unwrap(), Some(1));
        assert_eq!(reader.next_byte_record(&mut record).unwrap(), Some(2));
        let error = reader.next_byte_record(&mut record).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message().contains("longer than 1 MiB"), "{error}");
    }

    #[test]
    fn a_record_just_under_the_limit_is_read() {
        let mut data = b"h,i\n1,".to_vec();
        data.extend(std::iter::repeat_n(b'y', (MAX_RECORD_BYTES - 100) as usize));
        data.extend_from_slice(b"\n3,z\n");
        let mut reader = CsvReader::from_reader(Box::new(std::io::Cursor::new(data))).unwrap();
        let mut record = csv::ByteRecord::new();
        let mut lines = Vec::new();
        while let Some(line) = reader.next_byte_record(&mut record).unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, [1, 2, 3]);
    }

    #[test]
    fn header_problems_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "id,id,colour\n").unwrap();
        let problems = Table::read(&path, &["id", "name"], &[]).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].contains("line 1 column id: column appears twice"));
    }

    #[test]
    fn a_nul_byte_in_a_table_is_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "id,name\n1,ok\n2,bad\0name\n").unwrap();
        let problems = Table::read(&path, &["id", "name"], &[]).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(
            text[0].contains("line 3 column name: holds a NUL byte"),
            "{text:?}"
        );

        std::fs::write(&path, "id,na\0me\n1,ok\n").unwrap();
        let problems = Table::read(&path, &["id", "name"], &[]).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(
            text[0].contains("header field 2 holds a NUL byte"),
            "{text:?}"
        );
    }
}
