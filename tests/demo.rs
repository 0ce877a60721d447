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

#[test]
fn the_demo_runs_on_the_embedded_default_twice_with_the_same_files() {
    let checkout = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("jobs.toml"), checkout.path().join("jobs.toml")).unwrap();
    copy_dir(&root.join("fixtures"), &checkout.path().join("fixtures"));

    let run = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
            .current_dir(checkout.path())
            .arg("demo")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let out = checkout.path().join(".subsweep/demo/out");
        let mut files = Vec::new();
        read_tree(&out, &mut files);
        (stdout, files)
    };
    let (stdout, first) = run();
    let (_, second) = run();

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
}
