//! The shape of the source tree, checked on its text (no database): only `src/store/` speaks
//! SQL, no layer imports one above it, the store modules import each other in no cycle, and
//! one struct holds a staged event's columns. ARCHITECTURE.md ("Invariants") states the rules this
//! file enforces; a failure names the file, the line and what was found.
//!
//! What counts as speaking SQL, outside `src/store/`:
//! - in code (comments and string contents left out): diesel's query building and running
//!   (`sql_query`, `diesel::dsl`, `diesel::prelude`, `diesel::sql_types`, `RunQueryDsl`,
//!   `QueryDsl`, `ExpressionMethods`, `QueryableByName`, `#[diesel(`, `copy_from`, `copy_to`,
//!   `.load::<`, `.get_result`, `.get_results`, `batch_execute`, `store::schema`);
//! - in string literals: SQL statements (`SELECT`, `INSERT INTO`, `UPDATE … SET`,
//!   `DELETE FROM`, `DECLARE`, `FETCH`, `CLOSE`, `COPY (`, `COPY t FROM/TO`, `BEGIN`,
//!   `COMMIT`, `ROLLBACK`, `ANALYZE`, `VACUUM`, `LOCK TABLE`, `CREATE`/`DROP`/`ALTER`
//!   `DATABASE|TABLE|INDEX`, `SET TRANSACTION`), and any `….sql` file name (`include_str!`);
//! - any `.sql` file under `src/` but outside `src/store/`.
//!
//! Allowed anywhere (the shell's plumbing): `diesel::PgConnection`, `diesel::Connection`
//! (for `conn.transaction(…)`), `diesel::result::Error` and its kinds (to classify a failure),
//! and calls of `store::` functions.
//!
//! Iterator adaptors such as `.filter(` and `.load(` of atomics are plain Rust: diesel's
//! `.filter(`/`.load(` cannot be called without the query traits above, which are refused.

use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The path relative to the crate root, with `/` separators.
fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("under the crate")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn in_store(rel: &str) -> bool {
    rel.starts_with("src/store/")
}

/// A Rust source split into its code (string literals emptied, comments removed; newlines
/// kept so lines still count) and its string literals with the line each starts on.
struct Lexed {
    code: String,
    strings: Vec<(usize, String)>,
}

fn lex(text: &str) -> Lexed {
    let chars: Vec<char> = text.chars().collect();
    let mut code = String::new();
    let mut strings = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let n = chars.len();
    while i < n {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < n && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < n {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                        code.push('\n');
                    }
                    i += 1;
                }
            }
            continue;
        }
        // Raw strings: r"…", r#"…"#, br"…" (an identifier ending in r is not one).
        let ident_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let raw_start = if !ident_before && c == 'r' {
            Some(i + 1)
        } else if !ident_before && c == 'b' && next == Some('r') {
            Some(i + 2)
        } else {
            None
        };
        if let Some(mut j) = raw_start {
            let mut hashes = 0;
            while j < n && chars[j] == '#' {
                hashes += 1;
                j += 1;
            }
            if j < n && chars[j] == '"' {
                let start_line = line;
                let mut content = String::new();
                j += 1;
                loop {
                    if j >= n {
                        break;
                    }
                    if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    if chars[j] == '\n' {
                        line += 1;
                        code.push('\n');
                    }
                    content.push(chars[j]);
                    j += 1;
                }
                code.push_str("\"\"");
                strings.push((start_line, content));
                i = j;
                continue;
            }
        }
        if c == '"' {
            let start_line = line;
            let mut content = String::new();
            i += 1;
            while i < n && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < n {
                    // A line continuation (`\` then newline) joins with a space's worth.
                    if chars[i + 1] == '\n' {
                        line += 1;
                        code.push('\n');
                        i += 2;
                        while i < n && chars[i].is_whitespace() {
                            if chars[i] == '\n' {
                                line += 1;
                                code.push('\n');
                            }
                            i += 1;
                        }
                        continue;
                    }
                    content.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                if chars[i] == '\n' {
                    line += 1;
                    code.push('\n');
                }
                content.push(chars[i]);
                i += 1;
            }
            i += 1;
            code.push_str("\"\"");
            strings.push((start_line, content));
            continue;
        }
        if c == '\'' {
            // A char literal ('x', '\n', '\''), else a lifetime.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < n && chars[j] != '\'' {
                    j += 1;
                }
                if chars.get(i + 2) == Some(&'\'') {
                    j = i + 3;
                    while j < n && chars[j] != '\'' {
                        j += 1;
                    }
                }
                code.push_str("' '");
                i = j + 1;
                continue;
            }
            if chars.get(i + 2) == Some(&'\'') {
                code.push_str("' '");
                i += 3;
                continue;
            }
        }
        if c == '\n' {
            line += 1;
        }
        code.push(c);
        i += 1;
    }
    Lexed { code, strings }
}

/// Diesel query code: refused outside `src/store/`.
const QUERY_CODE: &[&str] = &[
    "sql_query",
    "diesel::dsl",
    "diesel::prelude",
    "diesel::sql_types",
    "diesel::query_dsl",
    "diesel::query_builder",
    "RunQueryDsl",
    "QueryDsl",
    "ExpressionMethods",
    "QueryableByName",
    "#[diesel(",
    "copy_from",
    "copy_to",
    ".load::<",
    ".get_result",
    ".get_results",
    "batch_execute",
    "store::schema",
];

fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The SQL statement a string literal holds, if any (keywords in capitals, as the code
/// writes them).
fn sql_in(text: &str) -> Option<String> {
    let w = words(text);
    let at = |i: usize| w.get(i).copied().unwrap_or("");
    let object = |s: &str| matches!(s, "DATABASE" | "TABLE" | "INDEX" | "SCHEMA" | "VIEW");
    for i in 0..w.len() {
        let found = match w[i] {
            "SELECT" | "DECLARE" | "FETCH" | "BEGIN" | "COMMIT" | "ROLLBACK" | "ANALYZE"
            | "VACUUM" | "TRUNCATE" => true,
            "INSERT" => at(i + 1) == "INTO",
            "DELETE" => at(i + 1) == "FROM",
            "UPDATE" => at(i + 2) == "SET",
            "CLOSE" => !at(i + 1).is_empty(),
            "LOCK" => at(i + 1) == "TABLE",
            "SET" => at(i + 1) == "TRANSACTION",
            "CREATE" | "DROP" | "ALTER" => object(at(i + 1)),
            "COPY" => {
                text.contains("COPY (")
                    || matches!(at(i + 2), "FROM" | "TO")
                    || matches!(at(i + 5), "FROM" | "TO")
            }
            _ => false,
        };
        if found {
            return Some(w[i..w.len().min(i + 4)].join(" "));
        }
    }
    None
}

/// Every place a file outside `src/store/` speaks SQL.
fn sql_outside_store() -> Vec<String> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut found = Vec::new();
    for path in all {
        let rel = relative(&path);
        if in_store(&rel) {
            continue;
        }
        if rel.ends_with(".sql") {
            found.push(format!("{rel}: an SQL file outside src/store/"));
            continue;
        }
        if !rel.ends_with(".rs") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("a source file is UTF-8");
        let lexed = lex(&text);
        for (n, line) in lexed.code.lines().enumerate() {
            for token in QUERY_CODE {
                if line.contains(token) {
                    found.push(format!("{rel}:{}: diesel query code `{token}`", n + 1));
                }
            }
        }
        for (n, s) in &lexed.strings {
            if let Some(sql) = sql_in(s) {
                found.push(format!("{rel}:{n}: SQL in a string: {sql:?}"));
            }
            if s.trim_end().ends_with(".sql") {
                found.push(format!("{rel}:{n}: names an SQL file: {s:?}"));
            }
        }
    }
    found
}

#[test]
fn only_the_store_speaks_sql() {
    let found = sql_outside_store();
    assert!(
        found.is_empty(),
        "SQL or diesel query code outside src/store/ (move it into a store function with \
         typed inputs and outputs):\n  {}",
        found.join("\n  ")
    );
}

/// The top-level modules of the crate a file names through `crate::…` (in code only),
/// `use crate::{a, b::c}` included.
fn crate_modules(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    let ident = |from: usize| -> String {
        bytes[from..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect()
    };
    while i < bytes.len() {
        if bytes[i] == '\n' {
            line += 1;
        }
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if boundary && rest == "crate::" {
            let mut j = i + 7;
            if bytes.get(j) == Some(&'{') {
                // Top-level items of the group.
                let mut depth = 0;
                let mut expect_item = true;
                while j < bytes.len() {
                    match bytes[j] {
                        '{' => {
                            depth += 1;
                            if depth == 1 {
                                expect_item = true;
                            }
                        }
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' if depth == 1 => expect_item = true,
                        c if depth == 1 && expect_item && (c.is_alphanumeric() || c == '_') => {
                            let name = ident(j);
                            j += name.len();
                            out.push((line, name));
                            expect_item = false;
                            continue;
                        }
                        _ => {}
                    }
                    j += 1;
                }
            } else {
                out.push((line, ident(j)));
            }
            i += 7;
            continue;
        }
        i += 1;
    }
    out
}

/// The layer a file belongs to, and the crate modules it may not name.
fn forbidden_for(rel: &str) -> Option<(&'static str, &'static [&'static str])> {
    // Everything above the store: what calls it.
    const ABOVE_STORE: &[&str] = &[
        "intake",
        "jobs",
        "output",
        "runner",
        "status",
        "demo",
        "preview",
        "explain",
        "serve",
        "app",
        "generate",
        "output_folder",
        "interrupt",
        "logging",
    ];
    const ABOVE_OUTPUT: &[&str] = &[
        "jobs",
        "runner",
        "status",
        "demo",
        "preview",
        "explain",
        "serve",
        "app",
        "generate",
        "output_folder",
        "interrupt",
    ];
    const ABOVE_DOMAIN: &[&str] = &[
        "intake",
        "store",
        "jobs",
        "output",
        "runner",
        "status",
        "demo",
        "preview",
        "explain",
        "serve",
        "app",
        "config",
        "generate",
        "output_folder",
        "interrupt",
        "logging",
        "failpoint",
        "stdout",
    ];
    if rel.starts_with("src/domain/") {
        Some(("src/domain/", ABOVE_DOMAIN))
    } else if rel.starts_with("src/store/") {
        Some(("src/store/", ABOVE_STORE))
    } else if rel.starts_with("src/output/") {
        Some(("src/output/", ABOVE_OUTPUT))
    } else {
        None
    }
}

#[test]
fn no_layer_imports_one_above_it() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut found = Vec::new();
    for path in all {
        let rel = relative(&path);
        if !rel.ends_with(".rs") {
            continue;
        }
        let Some((layer, forbidden)) = forbidden_for(&rel) else {
            continue;
        };
        let text = fs::read_to_string(&path).expect("a source file is UTF-8");
        for (line, module) in crate_modules(&lex(&text).code) {
            if forbidden.contains(&module.as_str()) {
                found.push(format!(
                    "{rel}:{line}: {layer} names crate::{module}, a layer above it"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "upward imports (pass plain values down instead, or move the shared type to the \
         lower layer that owns it):\n  {}",
        found.join("\n  ")
    );
}

/// Which store modules each `src/store/<name>.rs` names (through `super::` or
/// `crate::store::`), by file stem.
fn store_imports() -> Vec<(String, Vec<String>)> {
    let mut all = Vec::new();
    files(&src().join("store"), &mut all);
    let mut uses: Vec<(String, Vec<String>)> = Vec::new();
    for path in all {
        let rel = relative(&path);
        if !rel.ends_with(".rs") {
            continue;
        }
        let name = path
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let code = lex(&fs::read_to_string(&path).expect("UTF-8")).code;
        let mut named = Vec::new();
        for prefix in ["super::", "crate::store::"] {
            for (at, _) in code.match_indices(prefix) {
                let rest = &code[at + prefix.len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        named.push(words(item).first().copied().unwrap_or("").to_string());
                    }
                } else {
                    named.push(words(rest).first().copied().unwrap_or("").to_string());
                }
            }
        }
        named.retain(|n| *n != name);
        uses.push((name, named));
    }
    uses
}

/// `store/<a>.rs` and `store/<b>.rs` naming each other is a cycle inside the store.
#[test]
fn no_two_store_modules_import_each_other() {
    let uses = store_imports();
    let mut cycles = Vec::new();
    for (a, a_uses) in &uses {
        for (b, b_uses) in &uses {
            if a < b && a_uses.contains(b) && b_uses.contains(a) {
                cycles.push(format!("store/{a}.rs <-> store/{b}.rs"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "store modules that import each other (move the shared type to the one that owns \
         it):\n  {}",
        cycles.join("\n  ")
    );
}

/// The first cycle in a graph of named nodes (`edges[i]`: the nodes `nodes[i]` names), as
/// the path that closes it.
fn a_cycle(nodes: &[String], edges: &[Vec<String>]) -> Option<Vec<String>> {
    fn visit(
        at: usize,
        nodes: &[String],
        edges: &[Vec<String>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[at] = 1;
        path.push(at);
        for next in &edges[at] {
            let Some(n) = nodes.iter().position(|m| m == next) else {
                continue;
            };
            if state[n] == 1 {
                let from = path.iter().position(|&p| p == n).expect("on the path");
                let mut cycle: Vec<String> =
                    path[from..].iter().map(|&p| nodes[p].clone()).collect();
                cycle.push(nodes[n].clone());
                return Some(cycle);
            }
            if state[n] == 0
                && let Some(cycle) = visit(n, nodes, edges, state, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        state[at] = 2;
        None
    }
    let mut state = vec![0u8; nodes.len()];
    (0..nodes.len()).find_map(|i| {
        (state[i] == 0)
            .then(|| visit(i, nodes, edges, &mut state, &mut Vec::new()))
            .flatten()
    })
}

/// No chain of store modules leads back to where it started (`staging` → `events` →
/// `staging` was one; a longer ring is the same knot).
#[test]
fn the_store_modules_import_each_other_in_no_cycle() {
    let (nodes, edges): (Vec<String>, Vec<Vec<String>>) = store_imports()
        .into_iter()
        .filter(|(name, _)| name != "mod")
        .unzip();
    let cycle = a_cycle(&nodes, &edges);
    assert!(
        cycle.is_none(),
        "store modules import each other in a ring: {} (move the shared type to a module \
         both use)",
        cycle.unwrap_or_default().join(" -> ")
    );
}

/// One staged-event type (ARCHITECTURE.md, "Invariants"): only `src/store/staged.rs` declares
/// a struct holding the event columns of `staged_events` (a struct naming the table for a few
/// bookkeeping columns, such as `file_id` and `raw`, is not a second event type).
#[test]
fn one_staged_event_type() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut found = Vec::new();
    for path in all {
        let rel = relative(&path);
        if !rel.ends_with(".rs") || rel == "src/store/staged.rs" {
            continue;
        }
        let code = lex(&fs::read_to_string(&path).expect("UTF-8")).code;
        for (at, _) in code.match_indices("table_name = staged_events") {
            let rest = &code[at..];
            let Some(open) = rest.find('{') else { continue };
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            let body = &rest[open..close];
            let fields = words(body);
            if ["action", "reason", "customer_id", "event_time"]
                .iter()
                .any(|column| fields.contains(column))
            {
                let line = code[..at].lines().count();
                found.push(format!(
                    "{rel}:{line}: a second struct of staged_events' columns"
                ));
            }
        }
        for vocabulary in ["parse::<Action>", "parse::<Reason>"] {
            if rel.starts_with("src/store/") && code.contains(vocabulary) {
                found.push(format!(
                    "{rel}: `{vocabulary}`: parses a stored value again"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "use store::staged::StagedEvent (StagedRow to read with the id):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_cycle_finder_finds_rings_and_only_rings() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let nodes = names(&["a", "b", "c"]);
    let ring = vec![names(&["b"]), names(&["c"]), names(&["a"])];
    assert_eq!(a_cycle(&nodes, &ring), Some(names(&["a", "b", "c", "a"])));
    let chain = vec![names(&["b", "c"]), names(&["c", "schema"]), vec![]];
    assert_eq!(a_cycle(&nodes, &chain), None);
}

#[test]
fn the_scanner_sees_sql_in_strings_and_not_in_comments() {
    let text = r##"
// SELECT in a comment is fine
/// DECLARE in a doc comment is fine
fn f(conn: &mut PgConnection) {
    let q = "SELECT 1";
    let r = r#"INSERT INTO t VALUES (1)"#;
    let s = "UPDATE state_clock SET x = 1";
    let t = "COPY (SELECT 1) TO STDOUT";
    let c = 'a';
    let l: &'static str = "an update of the mark";
    diesel::sql_query(q);
}
"##;
    let lexed = lex(text);
    let sql: Vec<String> = lexed
        .strings
        .iter()
        .filter_map(|(_, s)| sql_in(s))
        .collect();
    assert_eq!(sql.len(), 4, "{sql:?}");
    assert!(!lexed.code.contains("SELECT"));
    assert!(lexed.code.contains("sql_query"));
    assert_eq!(sql_in("COPY failed: could not receive data"), None);
    assert_eq!(sql_in("the UPDATE of a row"), None);
    let mods = crate_modules("use crate::{jobs::JobContext, store};\nuse crate::domain::x;");
    let names: Vec<&str> = mods.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["jobs", "store", "domain"]);
}
