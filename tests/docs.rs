//! The documentation in `docs/` stays true to the code. Every list below is taken from the
//! code itself (its enums, its column constants, its configuration structs), never typed
//! again here: a reject code, charge type, configuration key, CSV column or exit code added
//! to the code fails this test until `docs/` describes it. No database.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use subsweep::config::Config;
use subsweep::domain::charges::ChargeType;
use subsweep::domain::order::{COLUMNS, REQUIRED_COLUMNS};
use subsweep::domain::reject::RejectCode;
use subsweep::domain::vocabulary::{Action, PartnerType, Role};
use subsweep::output;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The part of a Markdown text under the first heading whose line contains `needle`, up to
/// the next heading of the same or a higher level.
fn section<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    let mut start = None;
    let mut level = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let heading = hashes > 0 && line[hashes..].starts_with(' ');
        match start {
            None if heading && line.contains(needle) => {
                start = Some(offset + line.len());
                level = hashes;
            }
            Some(from) if heading && hashes <= level => return Some(&text[from..offset]),
            _ => {}
        }
        offset += line.len();
    }
    start.map(|from| &text[from..])
}

/// The variant names of `pub enum NAME { … }` as written in a source file.
fn enum_variants(source: &str, name: &str) -> Vec<String> {
    let open = format!("pub enum {name} {{");
    let body = source
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .unwrap_or_else(|| panic!("`{open}` not found"));
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with('#'))
        .map(|l| {
            l.split(['=', ',', '(', '{', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn the_code_lists_every_reject_code_and_charge_type() {
    let declared = enum_variants(&read("src/domain/reject.rs"), "RejectCode");
    let listed: Vec<String> = RejectCode::ALL.iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(
        listed, declared,
        "RejectCode::ALL must list every variant, in declaration order"
    );
    let declared = enum_variants(&read("src/domain/charges.rs"), "ChargeType");
    let listed: Vec<String> = ChargeType::ALL.iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(
        listed, declared,
        "ChargeType::ALL must list every variant, in declaration order"
    );
}

#[test]
fn every_reject_code_has_its_own_section() {
    let doc = read("docs/reject-codes.md");
    let missing: Vec<&str> = RejectCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|code| {
            section(&doc, &format!("`{code}`")).is_none_or(|text| !text.contains("Example"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/reject-codes.md needs a `## \\`code\\`` section with an Example for: {missing:?}"
    );
}

#[test]
fn every_charge_type_has_its_own_section() {
    let doc = read("docs/charge-types.md");
    let missing: Vec<&str> = ChargeType::ALL
        .iter()
        .map(|t| t.as_str())
        .filter(|name| {
            section(&doc, &format!("`{name}`")).is_none_or(|text| !text.contains("Example"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/charge-types.md needs a `## \\`type\\`` section with an Example for: {missing:?}"
    );
}

/// The keys a TOML table accepts, as serde's `deny_unknown_fields` of the configuration
/// structs lists them when it meets an unknown key; `None` when the table takes any key (a
/// map such as `[permissions]`).
fn accepted_keys(text: &str) -> Option<Vec<String>> {
    let err = match Config::parse(text, Path::new("/x/jobs.toml")) {
        Ok(_) => return None,
        Err(e) => e.to_string(),
    };
    let (_, after) = err.split_once("unknown field `__probe`")?;
    let listed = after.split_once("expected")?.1;
    let listed = listed.lines().next().unwrap_or_default();
    Some(
        listed
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|k| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_string)
            .collect(),
    )
}

const PARTNER: &str = "[partner]\nid = \"P-1\"\ntype = \"direct_bill\"\n";

/// Every table of jobs.toml and the keys it accepts, read from the configuration structs.
fn configuration_tables() -> Vec<(String, Option<Vec<String>>)> {
    let tables = accepted_keys(&format!("__probe = 1\n{PARTNER}"))
        .expect("the top level of jobs.toml rejects unknown keys, naming the expected ones");
    tables
        .into_iter()
        .map(|table| {
            let text = match table.as_str() {
                "partner" => "[partner]\n__probe = 1\nid = \"P\"\ntype = \"direct_bill\"\n".into(),
                "jobs" => format!("{PARTNER}[[jobs]]\n__probe = 1\n"),
                other => format!("{PARTNER}[{other}]\n__probe = 1\n"),
            };
            let keys = accepted_keys(&text);
            (table, keys)
        })
        .collect()
}

#[test]
fn every_configuration_key_is_documented_under_its_table() {
    let tables = configuration_tables();
    // The probe itself must work, or this test would pass on nothing.
    let intake = tables.iter().find(|(t, _)| t == "intake");
    assert!(
        intake.is_some_and(|(_, keys)| keys
            .as_ref()
            .is_some_and(|k| k.contains(&"settle_seconds".to_string()))),
        "probing the configuration structs found {tables:?}"
    );

    let doc = read("docs/configuration.md");
    let mut missing = Vec::new();
    for (table, keys) in &tables {
        let heading = if table == "jobs" {
            format!("`[[{table}]]`")
        } else {
            format!("`[{table}]`")
        };
        let Some(text) = section(&doc, &heading) else {
            missing.push(heading);
            continue;
        };
        let mut words: Vec<String> = keys.clone().unwrap_or_default();
        match table.as_str() {
            "permissions" => {
                words.extend(Action::ALL.iter().map(|a| a.as_str().to_string()));
                words.extend(Role::ALL.iter().map(|r| r.as_str().to_string()));
            }
            "partner" => words.extend(PartnerType::ALL.iter().map(|p| p.as_str().to_string())),
            "jobs" => words.extend(
                subsweep::config::SCHEDULABLE
                    .iter()
                    .map(|name| name.to_string()),
            ),
            _ => {}
        }
        for word in words {
            if !text.contains(&format!("`{word}`")) {
                missing.push(format!("{heading} {word}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document: {missing:?}"
    );
}

/// The header of a CSV file in the repository.
fn header_of(relative: &str) -> Vec<String> {
    let text = read(relative);
    let first = text.lines().next().unwrap_or_default();
    first
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(str::to_string)
        .collect()
}

#[test]
fn every_column_of_every_file_is_documented() {
    let mut rejects: Vec<String> = output::reports::REJECTS_LEADING
        .iter()
        .map(|c| c.to_string())
        .collect();
    rejects.extend(COLUMNS.iter().map(|c| c.to_string()));
    let owned = |columns: &[&str]| columns.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let files: Vec<(&str, Vec<String>)> = vec![
        ("offers.csv", header_of("fixtures/offers.csv")),
        ("customers.csv", header_of("fixtures/customers.csv")),
        ("Order files", owned(&COLUMNS)),
        ("invoice-lines.csv", owned(&output::invoices::LINE_HEADER)),
        ("invoices.csv", owned(&output::invoices::INVOICE_HEADER)),
        ("rejects.csv", rejects),
        (
            "provisioning.csv",
            owned(&output::reports::PROVISIONING_HEADER),
        ),
        ("suspended.csv", owned(&output::reports::SUSPENDED_HEADER)),
        (
            "subsweep subscriptions",
            owned(&output::subscriptions::HEADER),
        ),
    ];
    let doc = read("docs/file-formats.md");
    let mut missing = Vec::new();
    for (file, columns) in files {
        let Some(text) = section(&doc, file) else {
            missing.push(format!("a section for {file}"));
            continue;
        };
        if !text.contains("Example") {
            missing.push(format!("{file}: an example"));
        }
        for column in columns {
            if !text.contains(&format!("`{column}`")) {
                missing.push(format!("{file}: {column}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/file-formats.md does not document: {missing:?}"
    );
}

#[test]
fn order_columns_are_marked_required_exactly_as_the_parser_requires_them() {
    let doc = read("docs/file-formats.md");
    let text = section(&doc, "Order files").expect("an Order files section");
    for column in COLUMNS {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| `{column}` |")))
            .unwrap_or_else(|| panic!("no table row for order column {column}"));
        let required = row.split('|').nth(2).unwrap_or_default().trim();
        assert_eq!(
            required == "yes",
            REQUIRED_COLUMNS.contains(&column),
            "order column {column}: the table says required = '{required}'"
        );
    }
}

#[test]
fn every_exit_code_is_documented() {
    let source = read("src/error.rs");
    let body = source
        .split_once("pub enum Exit {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .expect("the Exit enum");
    let codes: BTreeSet<u32> = body
        .lines()
        .filter_map(|l| l.split_once('=').map(|(_, v)| v))
        .filter_map(|v| v.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(codes.contains(&78), "read the exit codes: {codes:?}");
    let doc = read("docs/operations.md");
    let table = section(&doc, "Exit codes").expect("an Exit codes section");
    let missing: Vec<u32> = codes
        .into_iter()
        .filter(|code| !table.contains(&format!("| {code} |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/operations.md's exit code table lacks {missing:?}"
    );
}

fn docs_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_documentation_stands_alone_and_its_links_resolve() {
    let mut pages = docs_files();
    assert!(pages.len() >= 5, "{pages:?}");
    pages.push(root().join("README.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("readable");
        assert!(
            !text.contains("SPEC"),
            "{} mentions the SPEC, which the product's users never see",
            page.display()
        );
        // Relative Markdown links: [text](target) with no scheme.
        for (_, rest) in text.match_indices("](").map(|(i, _)| ((), &text[i + 2..])) {
            let target = rest.split(')').next().unwrap_or_default();
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = page.parent().expect("a folder").join(target);
            assert!(
                resolved.exists(),
                "{} links to {target}, which does not exist",
                page.display()
            );
        }
    }
    let readme = read("README.md");
    for page in docs_files() {
        let name = page
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(
            readme.contains(&format!("docs/{name}")),
            "README.md does not link to docs/{name}"
        );
    }
}
