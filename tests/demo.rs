//! `subsweep demo` as a newcomer runs it: from a checkout with no database configured, twice.

use std::path::Path;

use subsweep::store::embedded::{Durability, EmbeddedCluster};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn read_tree(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            read_tree(&path, out);
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

/// The words of a command line the demo printed (bare words and single-quoted ones).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The commands the demo suggests, as argument lists (without the program name).
fn suggested(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("demo:   subsweep "))
        .map(shell_words)
        .collect()
}

/// Runs a suggested command with `database_url` as DATABASE_URL (or none).
fn run_suggested(dir: &Path, args: &[String], database_url: Option<&str>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"));
    command
        .current_dir(dir)
        .args(args)
        .env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// What the suggested commands show is the demo's own data.
fn check_suggestions(dir: &Path, stdout: &str, database_url: Option<&str>) {
    let commands = suggested(stdout);
    assert_eq!(commands.len(), 2, "{stdout}");
    for args in &commands {
        let shown = run_suggested(dir, args, database_url);
        match args.last().map(String::as_str) {
            Some("status") => {
                assert!(!shown.contains("(none yet)"), "{shown}");
                assert!(shown.contains("invoices"), "{shown}");
                assert!(shown.contains("2026-10-31"), "{shown}");
            }
            Some("subscriptions") => assert!(shown.lines().count() > 5, "{shown}"),
            other => panic!("unexpected suggestion {other:?}"),
        }
    }
}

#[test]
fn the_demo_runs_on_the_embedded_default_twice_with_the_same_files() {
    let checkout = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("jobs.toml"), checkout.path().join("jobs.toml")).unwrap();
    copy_dir(&root.join("fixtures"), &checkout.path().join("fixtures"));

    // `closed_stdout`: the reader of its output has gone (`subsweep demo | head -1`).
    let run = |database_url: Option<&str>, closed_stdout: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"));
        command
            .current_dir(checkout.path())
            .arg("demo")
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        let mut child = command.spawn().unwrap();
        if closed_stdout {
            drop(child.stdout.take());
        }
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
        let out = checkout.path().join(".subsweep/demo/out");
        let mut files = Vec::new();
        read_tree(&out, &mut files);
        (stdout, stderr, files)
    };
    let (stdout, _, first) = run(None, false);
    check_suggestions(checkout.path(), &stdout, None);

    // With DATABASE_URL set (to another server), the demo still uses its own database and the
    // commands it suggests name it, without a password.
    let elsewhere = "postgres://someone:s3cret@127.0.0.1:1/elsewhere";
    let (with_env, stderr, second) = run(Some(elsewhere), false);
    assert!(
        stderr.contains("DATABASE_URL is not used by the demo"),
        "{stderr}"
    );
    assert!(with_env.contains("--database-url"), "{with_env}");
    assert!(with_env.contains("subsweep_demo"), "{with_env}");
    assert!(!with_env.contains("s3cret"), "{with_env}");
    check_suggestions(checkout.path(), &with_env, Some(elsewhere));

    // Nobody reads the output: the demo still does all its work.
    let (_, _, third) = run(None, true);

    let cluster = EmbeddedCluster::ensure_running(
        &checkout.path().join(".subsweep/pgdata"),
        Durability::Durable,
    )
    .unwrap();
    cluster.stop().unwrap();

    assert!(stdout.contains("invoices in"), "{stdout}");
    let lines = checkout
        .path()
        .join(".subsweep/demo/out/invoices/2026-07/invoice-lines.csv");
    let text = std::fs::read_to_string(&lines).unwrap();
    assert!(text.lines().count() > 1, "{text}");
    assert!(text.contains("Prorate fees when purchase"), "{text}");
    // Every fixture month has its invoice, and a second run writes the same bytes.
    for month in ["2026-07", "2026-08", "2026-09", "2026-10"] {
        assert!(
            first
                .iter()
                .any(|(p, _)| p.ends_with(&format!("{month}/invoices.csv"))),
            "{month}"
        );
    }
    assert_eq!(first, second);
    assert_eq!(first, third);
}
