//! The files of `contrib/` (a crontab line and systemd units) work as shipped: the units pass
//! `systemd-analyze verify` (where it is installed), they say what an operator relies on
//! (a oneshot nightly run at 00:30 UTC, a persistent timer, a serve daemon restarted on
//! failure), and every subsweep command line in them is one the binary accepts. No database.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_subsweep");
const UNITS: [&str; 3] = [
    "subsweep-nightly.service",
    "subsweep-nightly.timer",
    "subsweep-serve.service",
];

fn contrib(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of `key=` in `[section]` of a unit file.
fn values(unit: &str, section: &str, key: &str) -> Vec<String> {
    let mut current = String::new();
    let mut found = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).to_string();
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            found.push(v.trim().to_string());
        }
    }
    found
}

fn one(unit: &str, section: &str, key: &str) -> String {
    let found = values(unit, section, key);
    assert_eq!(found.len(), 1, "[{section}] {key}= in\n{unit}");
    found[0].clone()
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let Some(analyze) = on_path("systemd-analyze") else {
        eprintln!("skipped: systemd-analyze is not installed on this machine");
        return;
    };
    // verify insists that ExecStart's program exists: point it at the binary just built.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut files = Vec::new();
    for name in UNITS {
        let text: String = contrib(&format!("systemd/{name}"))
            .lines()
            .map(|line| match line.strip_prefix("ExecStart=") {
                Some(command) => {
                    let args = command.split_once(' ').map_or("", |(_, args)| args);
                    format!("ExecStart={BIN} {args}\n")
                }
                None => format!("{line}\n"),
            })
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("written");
        files.push(path);
    }
    let out = Command::new(&analyze)
        .arg("verify")
        .arg("--man=no")
        .args(&files)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 on an unknown key or a bad value, with a warning: a warning about our
    // units is a failure too (lines about the host's own units are not ours to judge).
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|line| UNITS.iter().any(|unit| line.contains(unit)))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

#[test]
fn the_units_run_nightly_at_0030_utc_and_keep_serve_up() {
    let nightly = contrib("systemd/subsweep-nightly.service");
    assert_eq!(one(&nightly, "Service", "Type"), "oneshot");
    assert!(one(&nightly, "Service", "ExecStart").ends_with(" nightly"));

    let timer = contrib("systemd/subsweep-nightly.timer");
    assert_eq!(one(&timer, "Timer", "OnCalendar"), "*-*-* 00:30:00 UTC");
    assert_eq!(one(&timer, "Timer", "Persistent"), "true");
    assert_eq!(one(&timer, "Timer", "Unit"), "subsweep-nightly.service");
    assert_eq!(one(&timer, "Install", "WantedBy"), "timers.target");

    let serve = contrib("systemd/subsweep-serve.service");
    assert_eq!(one(&serve, "Service", "Restart"), "on-failure");
    assert!(one(&serve, "Service", "ExecStart").ends_with(" serve"));
    assert_eq!(one(&serve, "Install", "WantedBy"), "multi-user.target");

    for service in [&nightly, &serve] {
        for key in ["User", "WorkingDirectory"] {
            assert!(!one(service, "Service", key).is_empty(), "{key}=");
        }
        assert!(
            one(service, "Service", "Environment").starts_with("DATABASE_URL="),
            "a DATABASE_URL placeholder"
        );
    }
}

/// The crontab's job lines: (schedule, command).
fn cron_jobs() -> Vec<(String, String)> {
    contrib("crontab")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| {
            // Variable assignments (NAME=value) are not jobs.
            !l.split_whitespace()
                .next()
                .is_some_and(|first| first.contains('='))
        })
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert!(fields.len() > 5, "a cron line has 5 time fields: {l}");
            (fields[..5].join(" "), fields[5..].join(" "))
        })
        .collect()
}

#[test]
fn the_crontab_runs_nightly_at_0030_utc() {
    let text = contrib("crontab");
    assert!(
        text.lines().any(|l| l.trim() == "CRON_TZ=UTC"),
        "the hour is UTC"
    );
    let jobs = cron_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0, "30 0 * * *");
    assert!(jobs[0].1.ends_with(" nightly"), "{}", jobs[0].1);
}

/// The arguments after the subsweep program in a command line.
fn subsweep_args(command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let at = words
        .iter()
        .rposition(|w| w.ends_with("/bin/subsweep"))
        .unwrap_or_else(|| panic!("no subsweep program in `{command}`"));
    words[at + 1..].iter().map(|w| w.to_string()).collect()
}

#[test]
fn every_command_line_in_contrib_is_one_subsweep_accepts() {
    let mut commands: Vec<String> = cron_jobs().into_iter().map(|(_, c)| c).collect();
    for name in UNITS.iter().filter(|n| n.ends_with(".service")) {
        commands.push(one(
            &contrib(&format!("systemd/{name}")),
            "Service",
            "ExecStart",
        ));
    }
    for command in commands {
        // `--help` after the command makes clap check every option and the subcommand, then
        // print the subcommand's help without reading the configuration.
        let mut args = subsweep_args(&command);
        args.push("--help".into());
        let out = Command::new(BIN)
            .args(&args)
            .output()
            .expect("subsweep runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "`subsweep {}`: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
