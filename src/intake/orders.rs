//! The shape of an order file (SPEC section 3): its header becomes a [`ColumnMap`], and each
//! record becomes a row to stage, a malformed row, or a problem that fails the whole file.
//! Pure: plain values in, plain values out; `intake::order_file` reads a file record by record
//! through these, and the job stages what it yields.

use std::path::Path;

use crate::domain::order::{COLUMNS, REQUIRED_COLUMNS, RawRow, col, is_plain, parse_row};

use super::csv_source::FileProblem;

/// Where each of the 13 SPEC columns sits in the file (any order; optional ones may be absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    /// Field index in the file of each column of [`COLUMNS`].
    positions: [Option<usize>; 13],
    /// The header's column names as written (trimmed), to name a field by its position.
    header: Vec<String>,
}

impl ColumnMap {
    /// Reads the header record (line `line` of `file`). Every problem is reported at once:
    /// unknown names, names given twice, required columns missing.
    pub fn from_header(
        file: &Path,
        line: u64,
        header: &csv::StringRecord,
    ) -> Result<ColumnMap, Vec<FileProblem>> {
        let mut positions = [None; 13];
        let mut problems = Vec::new();
        let names: Vec<String> = header.iter().map(|n| n.trim().to_string()).collect();
        for (i, name) in names.iter().enumerate() {
            match COLUMNS.iter().position(|c| c == name) {
                None if name.is_empty() => problems.push(FileProblem::at(
                    file,
                    line,
                    None,
                    format!(
                        "field {} of the header has no column name (expected names: {})",
                        i + 1,
                        COLUMNS.join(", ")
                    ),
                )),
                None => problems.push(FileProblem::at(
                    file,
                    line,
                    Some(name),
                    format!("unknown column (expected names: {})", COLUMNS.join(", ")),
                )),
                Some(c) if positions[c].is_some() => problems.push(FileProblem::at(
                    file,
                    line,
                    Some(name),
                    "column appears twice in the header",
                )),
                Some(c) => positions[c] = Some(i),
            }
        }
        for name in REQUIRED_COLUMNS {
            let c = COLUMNS
                .iter()
                .position(|c| *c == name)
                .expect("required ⊂ columns");
            if positions[c].is_none() {
                problems.push(FileProblem::at(
                    file,
                    line,
                    Some(name),
                    "required column is missing from the header",
                ));
            }
        }
        if problems.is_empty() {
            Ok(ColumnMap {
                positions,
                header: names,
            })
        } else {
            Err(problems)
        }
    }

    /// The number of fields the header has (every row must have as many).
    pub fn width(&self) -> usize {
        self.header.len()
    }

    /// The row's 13 values exactly as written, in [`COLUMNS`] order; empty for absent columns
    /// (or fields missing from a short row).
    pub fn raw(&self, record: &csv::StringRecord) -> RawRow {
        self.fields(record).map(str::to_string)
    }

    /// [`ColumnMap::raw`], borrowed from the record.
    pub fn fields<'r>(&self, record: &'r csv::StringRecord) -> [&'r str; 13] {
        std::array::from_fn(|c| self.positions[c].and_then(|i| record.get(i)).unwrap_or(""))
    }

    /// The column name of the field at `index`.
    pub fn name_at(&self, index: usize) -> &str {
        &self.header[index]
    }
}

pub use crate::domain::order::{MalformedRow, ParsedRow};

/// What one record of an order file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// Only empty fields: skipped, not counted.
    Blank,
    Parsed(ParsedRow),
    Malformed(MalformedRow),
    /// Another partner's id: the whole file fails.
    OtherPartner(FileProblem),
}

/// Classifies one record found on line `line`. A non-empty `partner_id` other than
/// `partner_id` fails the file; an empty one is a malformed row (the column is required).
pub fn read_row(
    map: &ColumnMap,
    file: &Path,
    line: u64,
    record: &csv::StringRecord,
    partner_id: &str,
) -> Row {
    if record.iter().all(|f| f.trim().is_empty()) {
        return Row::Blank;
    }
    // Borrowed: a row that parses and is written plainly (most are) copies only the values
    // its event keeps.
    let fields = map.fields(record);
    let written_partner = fields[col::PARTNER_ID].trim();
    if !written_partner.is_empty() && written_partner != partner_id {
        return Row::OtherPartner(FileProblem::at(
            file,
            line,
            Some(COLUMNS[col::PARTNER_ID]),
            format!(
                "'{written_partner}' is not this partner's id ({partner_id}): \
                 files of another partner are not accepted"
            ),
        ));
    }
    let malformed = |column: &str, what: String| {
        Row::Malformed(MalformedRow {
            source_line: line,
            raw: fields.map(str::to_string),
            column: column.to_string(),
            message: format!("column {column}: {what}"),
        })
    };
    let width = map.width();
    if record.len() < width {
        let column = map.name_at(record.len()).to_string();
        let what = format!(
            "missing: the row has {} fields, the header has {width}",
            record.len()
        );
        return malformed(&column, what);
    }
    if record.len() > width {
        let column = map.name_at(width - 1).to_string();
        let what = format!(
            "the row has {} fields, the header has {width}: extra fields after this column",
            record.len()
        );
        return malformed(&column, what);
    }
    match parse_row(&fields) {
        Ok(event) if i32::try_from(event.line).is_err() => {
            let what = format!("'{}' is too large for a line number", event.line);
            malformed(COLUMNS[col::LINE], what)
        }
        Ok(event) => Row::Parsed(ParsedRow {
            source_line: line,
            raw: (!is_plain(&event, &fields)).then(|| fields.map(str::to_string)),
            event,
        }),
        Err(e) => Row::Malformed(MalformedRow {
            source_line: line,
            raw: fields.map(str::to_string),
            column: e.column.to_string(),
            message: e.to_string(),
        }),
    }
}

/// A record with a byte sequence that is not UTF-8: the whole file fails, naming the field.
pub fn not_utf8(
    map: Option<&ColumnMap>,
    file: &Path,
    line: u64,
    error: &csv::FromUtf8Error,
) -> FileProblem {
    field_problem(
        map,
        file,
        line,
        error.utf8_error().field(),
        "is not valid UTF-8 (save the file as CSV UTF-8)",
    )
}

/// A problem with field `field` (0-based) of a row: named by its column when the header has
/// one there, else by its position.
pub fn field_problem(
    map: Option<&ColumnMap>,
    file: &Path,
    line: u64,
    field: usize,
    what: &str,
) -> FileProblem {
    let column = map.and_then(|m| (field < m.width()).then(|| m.name_at(field).to_string()));
    let what = match &column {
        Some(_) => what.to_string(),
        None => format!("field {} {what}", field + 1),
    };
    FileProblem::at(file, line, column.as_deref(), what)
}

/// One readable line per problem, as `failed/<name>.error.txt` holds them:
/// `orders.csv:3: column partner_id: ...`.
pub fn problem_line(file_name: &str, problem: &FileProblem) -> String {
    let mut out = file_name.to_string();
    if let Some(line) = problem.line {
        out.push_str(&format!(":{line}"));
    }
    out.push_str(": ");
    if let Some(column) = &problem.column {
        out.push_str(&format!("column {column}: "));
    }
    out.push_str(&problem.message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    fn map(header: &[&str]) -> ColumnMap {
        ColumnMap::from_header(Path::new("o.csv"), 1, &record(header)).unwrap()
    }

    const HEADER: [&str; 9] = [
        "partner_id",
        "order_id",
        "line",
        "event_time",
        "action",
        "customer_id",
        "requested_by",
        "offer_id",
        "quantity",
    ];

    #[test]
    fn columns_are_found_in_any_order_and_raw_values_come_back_in_spec_order() {
        let m = map(&HEADER);
        let r = record(&[
            "P-1",
            "O-1",
            "1",
            "2026-03-01T10:00:00Z",
            "purchase",
            "C-1",
            "admin_agent",
            "OFF",
            " 3 ",
        ]);
        let Row::Parsed(row) = read_row(&m, Path::new("o.csv"), 2, &r, "P-1") else {
            panic!("parses")
        };
        let raw = row.raw.expect("' 3 ' is not written plainly: kept");
        assert_eq!(raw[col::ORDER_ID], "O-1");
        assert_eq!(raw[col::QUANTITY], " 3 ", "raw values are kept as written");
        assert_eq!(raw[col::REASON], "");
    }

    #[test]
    fn every_header_problem_is_reported() {
        let problems = ColumnMap::from_header(
            Path::new("o.csv"),
            1,
            &record(&["order_id", "order_id", "colour", ""]),
        )
        .unwrap_err();
        let lines: Vec<String> = problems.iter().map(|p| problem_line("o.csv", p)).collect();
        assert!(lines[0].starts_with("o.csv:1: column order_id: column appears twice"));
        assert!(lines[1].starts_with("o.csv:1: column colour: unknown column"));
        assert!(lines[2].starts_with("o.csv:1: field 4 of the header has no column name"));
        // line, event_time, action, customer_id, requested_by, partner_id missing
        assert_eq!(lines.len(), 3 + 6, "{lines:#?}");
    }

    #[test]
    fn another_partners_id_fails_the_file_but_an_empty_one_is_malformed() {
        let m = map(&HEADER);
        let mut fields = [
            "P-2",
            "O-1",
            "1",
            "2026-03-01T10:00:00Z",
            "purchase",
            "C-1",
            "admin_agent",
            "OFF",
            "3",
        ];
        assert!(matches!(
            read_row(&m, Path::new("o.csv"), 2, &record(&fields), "P-1"),
            Row::OtherPartner(p) if p.line == Some(2) && p.column.as_deref() == Some("partner_id")
        ));
        fields[0] = "";
        assert!(matches!(
            read_row(&m, Path::new("o.csv"), 2, &record(&fields), "P-1"),
            Row::Malformed(r) if r.column == "partner_id"
        ));
    }

    #[test]
    fn a_short_or_long_row_is_malformed_naming_a_column() {
        let m = map(&HEADER);
        let short = record(&["P-1", "O-1", "1", "2026-03-01T10:00:00Z"]);
        let Row::Malformed(r) = read_row(&m, Path::new("o.csv"), 3, &short, "P-1") else {
            panic!("malformed")
        };
        assert_eq!(r.column, "action");
        assert!(
            r.message.starts_with("column action: missing"),
            "{}",
            r.message
        );
        let long = record(&[
            "P-1",
            "O-1",
            "1",
            "2026-03-01T10:00:00Z",
            "purchase",
            "C-1",
            "admin_agent",
            "OFF",
            "3",
            "extra",
        ]);
        let Row::Malformed(r) = read_row(&m, Path::new("o.csv"), 3, &long, "P-1") else {
            panic!("malformed")
        };
        assert_eq!(r.column, "quantity");
    }

    #[test]
    fn a_row_of_empty_fields_is_blank() {
        let m = map(&HEADER);
        assert_eq!(
            read_row(&m, Path::new("o.csv"), 3, &record(&["", " ", ""]), "P-1"),
            Row::Blank
        );
    }

    #[test]
    fn a_line_number_beyond_the_database_integer_is_malformed() {
        let m = map(&HEADER);
        let r = record(&[
            "P-1",
            "O-1",
            "3000000000",
            "2026-03-01T10:00:00Z",
            "purchase",
            "C-1",
            "admin_agent",
            "OFF",
            "3",
        ]);
        assert!(matches!(
            read_row(&m, Path::new("o.csv"), 2, &r, "P-1"),
            Row::Malformed(r) if r.column == "line"
        ));
    }
}
