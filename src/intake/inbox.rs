//! The inbox folder (SPEC section 3): which files are ready to take, the SHA-256 of a file's
//! bytes, and moving a file to `archive/<date>/` or `failed/` without ever overwriting one.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// What a file looked like when it was seen: a file still being written changes one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: SystemTime,
}

impl Stamp {
    /// The file's current size and modification time.
    pub fn of(path: &Path) -> io::Result<Stamp> {
        let meta = fs::metadata(path)?;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified()?,
        })
    }
}

/// A file ready to be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub name: String,
    pub stamp: Stamp,
}

/// The result of looking at the inbox once.
#[derive(Debug, Default)]
pub struct Scan {
    /// Settled order files, oldest first (modification time, then name).
    pub ready: Vec<Candidate>,
    /// Order files left for a later run: still in the settle window, or changed since seen.
    pub waiting: Vec<String>,
}

/// Whether a file name is an order file to consider: `*.csv` (any letter case), not hidden,
/// not a partial upload (`.tmp`, `.part`).
pub fn is_order_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.')
        && !lower.ends_with(".tmp")
        && !lower.ends_with(".part")
        && lower.ends_with(".csv")
        && lower.len() > ".csv".len()
}

/// The stamps of the files left waiting at the previous scan of each inbox: a file whose size or
/// modification time changed since is still being written, whatever its modification time
/// says (a copier may set the time before it has written every byte).
#[derive(Debug, Default)]
pub struct Sightings {
    seen: HashMap<PathBuf, Stamp>,
}

impl Sightings {
    /// Looks at `dir` at wall-clock time `now`. A file is ready when its modification time is
    /// at least `settle` old and it has not changed since the previous scan saw it.
    pub fn scan(&mut self, dir: &Path, settle: Duration, now: SystemTime) -> io::Result<Scan> {
        let mut scan = Scan::default();
        let mut current = HashMap::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!(file = ?entry.file_name(), "inbox file name is not UTF-8: ignored");
                continue;
            };
            if !is_order_file_name(&name) || !entry.file_type()?.is_file() {
                continue;
            }
            let path = entry.path();
            let stamp = match Stamp::of(&path) {
                Ok(stamp) => stamp,
                // Gone between the listing and the look (moved by someone else): not ours.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // A time in the future (clock skew, a file written after `now` was read) is age 0.
            let age = now.duration_since(stamp.modified).unwrap_or_default();
            let unchanged = self.seen.get(&path).is_none_or(|before| *before == stamp);
            if age >= settle && unchanged {
                scan.ready.push(Candidate { path, name, stamp });
            } else {
                current.insert(path, stamp);
                scan.waiting.push(name);
            }
        }
        // Remember the files left waiting (a file taken now is gone, and a new file under its
        // name is a new file); keep what other inboxes' scans saw.
        self.seen.retain(|path, _| path.parent() != Some(dir));
        self.seen.extend(current);
        scan.ready
            .sort_by(|a, b| (a.stamp.modified, &a.name).cmp(&(b.stamp.modified, &b.name)));
        scan.waiting.sort();
        Ok(scan)
    }
}

/// Scans `dir` with the sightings this process remembers from its previous scans (the
/// scheduler daemon runs ingest many times in one process).
pub fn scan(dir: &Path, settle: Duration, now: SystemTime) -> io::Result<Scan> {
    static SIGHTINGS: OnceLock<Mutex<Sightings>> = OnceLock::new();
    let mut sightings = SIGHTINGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    sightings.scan(dir, settle, now)
}

/// The SHA-256 of a file's bytes, lowercase hex, read in bounded memory.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Moves `from` into folder `to_dir` under its own name, or `<stem>-<n>.<ext>` when that name
/// is taken: an existing file is never overwritten. Returns the new path.
pub fn move_into(from: &Path, to_dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(to_dir)?;
    let name = from
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other(format!("{} has no file name", from.display())))?;
    for n in 1.. {
        let target = to_dir.join(suffixed(name, n));
        // A hard link fails when the target exists, so the check and the move are one step.
        match fs::hard_link(from, &target) {
            Ok(()) => {
                fs::remove_file(from)?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // Another file system (or one without hard links): copy to a new file, then remove.
            Err(_) => match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
            {
                Ok(mut out) => {
                    io::copy(&mut File::open(from)?, &mut out)?;
                    out.sync_all()?;
                    fs::remove_file(from)?;
                    return Ok(target);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            },
        }
    }
    unreachable!("some suffix is free")
}

/// `name` for n = 1, else `<stem>-<n><.ext>`.
fn suffixed(name: &str, n: u32) -> String {
    if n == 1 {
        return name.to_string();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}-{n}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}-{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_complete_csv_files_are_order_files() {
        assert!(is_order_file_name("orders.csv"));
        assert!(is_order_file_name("ORDERS.CSV"));
        for ignored in [
            ".orders.csv",
            "orders.csv.tmp",
            "orders.csv.part",
            "a.txt",
            ".csv",
        ] {
            assert!(!is_order_file_name(ignored), "{ignored}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_numbered_suffix() {
        assert_eq!(suffixed("orders.csv", 1), "orders.csv");
        assert_eq!(suffixed("orders.csv", 2), "orders-2.csv");
        assert_eq!(suffixed("orders", 3), "orders-3");
    }

    #[test]
    fn moving_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("archive");
        for content in ["first", "second"] {
            let from = dir.path().join("o.csv");
            fs::write(&from, content).unwrap();
            move_into(&from, &to).unwrap();
            assert!(!from.exists());
        }
        assert_eq!(fs::read_to_string(to.join("o.csv")).unwrap(), "first");
        assert_eq!(fs::read_to_string(to.join("o-2.csv")).unwrap(), "second");
    }
}
