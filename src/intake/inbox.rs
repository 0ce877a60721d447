//! The inbox folder (SPEC section 3): which files are ready to take, the SHA-256 of a file's
//! bytes, and moving a file to `archive/<date>/` or `failed/` without ever overwriting one.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
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
        // Not followed: a file swapped for a link while it was read has changed.
        let meta = fs::symlink_metadata(path)?;
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
    /// Entries with an order file's name that are not regular files: never read.
    pub strays: Vec<Stray>,
}

/// An inbox entry named like an order file that is never read (SPEC section 9): one that is
/// not a regular file (a symbolic link, a FIFO, a folder, a socket or a device), or one whose
/// name is not UTF-8 (no record, log line or report could name it as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub path: PathBuf,
    /// The name, with U+FFFD for bytes that are not UTF-8.
    pub name: String,
    /// Why it was not read, for its reasons: "is a folder, not a regular file: …".
    pub why: String,
}

/// What an entry that is not a regular file is, as its reasons say it; `None` for a regular
/// file. Looks at the entry itself, never at what a link points to.
pub fn not_regular(path: &Path, file_type: fs::FileType) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let what = if file_type.is_file() {
        return None;
    } else if file_type.is_symlink() {
        match fs::read_link(path) {
            Ok(target) => format!("a symbolic link (to {})", crate::shown::path(&target)),
            Err(_) => "a symbolic link".to_string(),
        }
    } else if file_type.is_dir() {
        "a folder".to_string()
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)".to_string()
    } else if file_type.is_socket() {
        "a socket".to_string()
    } else {
        "a device".to_string()
    };
    Some(what)
}

/// How many entries of `dir` are order files waiting (regular files) and how many are named
/// like order files but are not regular files. `(0, 0)` when the folder cannot be read.
pub fn count(dir: &Path) -> (usize, usize) {
    let (mut files, mut strays) = (0, 0);
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if !is_order_file_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_file() => files += 1,
            Ok(_) => strays += 1,
            Err(_) => {}
        }
    }
    (files, strays)
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
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_order_file_name(&name) {
                    let why = "its name is not UTF-8 (shown with U+FFFD for the bytes that are \
                               not): it was not read; give it a UTF-8 name and drop it again"
                        .to_string();
                    scan.strays.push(Stray { path, name, why });
                }
                continue;
            };
            if !is_order_file_name(&name) {
                continue;
            }
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Some(what) = not_regular(&path, file_type) {
                let why = format!(
                    "is {what}, not a regular file: it was not read (an order file must be a \
                     regular file in the inbox itself)"
                );
                scan.strays.push(Stray { path, name, why });
                continue;
            }
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
        scan.strays.sort_by(|a, b| a.name.cmp(&b.name));
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

/// The SHA-256 of a regular file's bytes, lowercase hex, read in bounded memory; `Ok(None)`
/// when `path` is not (or no longer) a regular file.
pub fn sha256_file(path: &Path) -> io::Result<Option<String>> {
    let Some(mut file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    ))
}

/// Why an inbox entry could not be moved. The move was undone: the entry is still in the
/// inbox under its name, and nothing of it (no partial copy, no reasons) is left at `to`.
#[derive(Debug, thiserror::Error)]
#[error("cannot move {} to {}: {source}", crate::shown::path(.from), crate::shown::path(.to))]
pub struct MoveError {
    pub from: PathBuf,
    pub to: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Moves `from` into folder `to_dir` under its own name, or `<stem>-<n>.<ext>` when that name
/// is taken: an existing file is never overwritten. With `reasons`, also writes
/// `<new name>.error.txt` holding them. All or nothing: on any error, whatever was made in
/// `to_dir` is removed and `from` stays where it was. A symbolic link is moved as the link
/// itself, never followed. Returns the new path.
pub fn move_into(from: &Path, to_dir: &Path, reasons: Option<&str>) -> Result<PathBuf, MoveError> {
    let fail = |source: io::Error| MoveError {
        from: from.to_path_buf(),
        to: to_dir.to_path_buf(),
        source,
    };
    // A name that is not UTF-8 arrives with U+FFFD in place of its bad bytes.
    let name = from
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| fail(io::Error::other("the entry has no file name")))?;
    let name = name.as_str();
    fs::create_dir_all(to_dir).map_err(fail)?;
    let kind = fs::symlink_metadata(from).map_err(fail)?;
    // Across file systems, a complete copy is made once under a hidden name, then linked in.
    let mut copy: Option<PathBuf> = None;
    let moved = place_under_free_name(from, to_dir, name, &kind, reasons, &mut copy);
    if let Some(copy) = copy {
        let _ = fs::remove_file(copy);
    }
    let to = moved.map_err(fail)?;
    // The rename is durable before anyone (the database record) relies on it.
    for dir in [to_dir, from.parent().unwrap_or(Path::new("."))] {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(to)
}

fn place_under_free_name(
    from: &Path,
    to_dir: &Path,
    name: &str,
    kind: &fs::Metadata,
    reasons: Option<&str>,
    copy: &mut Option<PathBuf>,
) -> io::Result<PathBuf> {
    let reserve = if reasons.is_some() {
        REASONS_SUFFIX.len()
    } else {
        0
    };
    for n in 1.. {
        let target = to_dir.join(suffixed(name, n, reserve));
        // The reasons first: if the entry cannot follow them, removing them undoes everything.
        let reasons_path = match reasons {
            Some(text) => {
                let path = reasons_path(&target);
                match write_new(&path, text) {
                    Ok(()) => Some(path),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        match place(from, &target, kind, copy) {
            Ok(()) => return Ok(target),
            Err(e) => {
                if let Some(path) = reasons_path {
                    let _ = fs::remove_file(path);
                }
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
            }
        }
    }
    unreachable!("some suffix is free")
}

/// Puts an entry [`move_into`] moved back at `to` (which must be free), all or nothing.
pub fn move_back(from: &Path, to: &Path) -> io::Result<()> {
    let kind = fs::symlink_metadata(from)?;
    let mut copy = None;
    let placed = place(from, to, &kind, &mut copy);
    if let Some(copy) = copy {
        let _ = fs::remove_file(copy);
    }
    placed
}

/// What a failed file's reasons add to its name.
const REASONS_SUFFIX: &str = ".error.txt";

/// The most bytes a file name may have (Linux file systems).
const NAME_MAX: usize = 255;

/// The hidden name a copy is made under before it is linked into place:
/// `.<name>.subsweep-partial-<pid>`, the name cut so that the whole fits in a file name.
fn partial_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.subsweep-partial-{}", &name[..cut], std::process::id())
}

/// `<path>.error.txt`.
pub fn reasons_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(REASONS_SUFFIX);
    path.with_file_name(name)
}

/// Moves `from` to `target` (which must not exist: `AlreadyExists` otherwise). On error,
/// `target` does not exist and `from` is untouched.
fn place(
    from: &Path,
    target: &Path,
    kind: &fs::Metadata,
    copy: &mut Option<PathBuf>,
) -> io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    match renameat2(
        AT_FDCWD,
        from,
        AT_FDCWD,
        target,
        RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => return Ok(()),
        Err(Errno::EXDEV) => {}
        // A file system without RENAME_NOREPLACE: a hard link fails when the target exists,
        // so the check and the move are still one step.
        Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) if !kind.is_dir() => {
            match fs::hard_link(from, target) {
                Ok(()) => return remove_source(from, target),
                Err(e) if e.raw_os_error() == Some(Errno::EXDEV as i32) => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e.into()),
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let staged = match copy {
        Some(staged) => staged.clone(),
        None => copy.insert(copy_beside(from, dir, kind)?).clone(),
    };
    fs::hard_link(&staged, target)?;
    remove_source(from, target)
}

/// Removes `from` now that `target` holds it; if it cannot be removed, removes `target`.
fn remove_source(from: &Path, target: &Path) -> io::Result<()> {
    fs::remove_file(from).inspect_err(|_| {
        let _ = fs::remove_file(target);
    })
}

/// A complete copy of `from` in `dir` under a hidden name no other entry has: a regular file's
/// bytes (synced), a symbolic link's target, a FIFO. A folder is not copied.
fn copy_beside(from: &Path, dir: &Path, kind: &fs::Metadata) -> io::Result<PathBuf> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let staged = dir.join(partial_name(from));
    let _ = fs::remove_file(&staged);
    let made = if kind.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, &staged)
    } else if kind.file_type().is_fifo() {
        let mode = nix::sys::stat::Mode::from_bits_truncate(kind.permissions().mode());
        nix::unistd::mkfifo(&staged, mode).map_err(io::Error::from)
    } else if kind.is_file() {
        copy_file(from, &staged)
    } else {
        return Err(io::Error::other(
            "it is not a regular file and cannot be moved to another file system: move it by hand",
        ));
    };
    match made {
        Ok(()) => Ok(staged),
        Err(e) => {
            let _ = fs::remove_file(&staged);
            Err(e)
        }
    }
}

fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    let Some(mut source) = open_regular(from)? else {
        return Err(io::Error::other("it is no longer a regular file"));
    };
    let mut out = OpenOptions::new().write(true).create_new(true).open(to)?;
    io::copy(&mut source, &mut out)?;
    out.sync_all()
}

/// Writes `text` (and a final newline) to `path`, which must not exist yet (`AlreadyExists`):
/// the whole text or no file.
fn write_new(path: &Path, text: &str) -> io::Result<()> {
    let staged = path.with_file_name(partial_name(path));
    let written = (|| {
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&staged)?;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
        out.sync_all()?;
        fs::hard_link(&staged, path)
    })();
    let _ = fs::remove_file(&staged);
    written
}

/// Opens `path` for reading if it is a regular file, `Ok(None)` if it is anything else: a
/// symbolic link is not followed, and a FIFO is opened without waiting for a writer.
pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(file.metadata()?.is_file().then_some(file))
}

/// `name` for n = 1, else `<stem>-<n><.ext>`; the stem is cut (at a character boundary) when
/// the name and `reserve` more bytes (`.error.txt`) would not fit in a file name, so a name of
/// 255 bytes can still take a suffix and its reasons.
fn suffixed(name: &str, n: u32, reserve: usize) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let tag = if n == 1 {
        String::new()
    } else {
        format!("-{n}")
    };
    let room = NAME_MAX.saturating_sub(reserve + tag.len() + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tag}{ext}", &stem[..cut])
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
        assert_eq!(suffixed("orders.csv", 1, 0), "orders.csv");
        assert_eq!(suffixed("orders.csv", 2, 0), "orders-2.csv");
        assert_eq!(suffixed("orders", 3, 0), "orders-3");
    }

    #[test]
    fn a_name_too_long_for_its_suffix_is_cut_at_a_character_boundary() {
        let long = format!("{}x.csv", "é".repeat(125));
        assert_eq!(long.len(), 255);
        assert_eq!(suffixed(&long, 1, 0), long);
        for (n, reserve) in [(2, 0), (1, 10), (12, 10)] {
            let name = suffixed(&long, n, reserve);
            assert!(name.len() + reserve <= 255, "{n} {reserve}: {}", name.len());
            assert!(name.ends_with(".csv") && name.starts_with("éé"), "{name}");
        }
        assert_eq!(suffixed(&long, 2, 0), format!("{}-2.csv", "é".repeat(124)));
    }

    #[test]
    fn moving_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("archive");
        for content in ["first", "second"] {
            let from = dir.path().join("o.csv");
            fs::write(&from, content).unwrap();
            move_into(&from, &to, None).unwrap();
            assert!(!from.exists());
        }
        assert_eq!(fs::read_to_string(to.join("o.csv")).unwrap(), "first");
        assert_eq!(fs::read_to_string(to.join("o-2.csv")).unwrap(), "second");
    }

    #[test]
    fn a_file_moves_with_its_reasons_under_a_name_free_for_both() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("failed");
        fs::create_dir(&to).unwrap();
        // An orphan reasons file keeps its name taken.
        fs::write(to.join("o.csv.error.txt"), "old").unwrap();
        let from = dir.path().join("o.csv");
        fs::write(&from, "bytes").unwrap();
        let moved = move_into(&from, &to, Some("o.csv:2: bad")).unwrap();
        assert_eq!(moved, to.join("o-2.csv"));
        assert_eq!(fs::read_to_string(&moved).unwrap(), "bytes");
        assert_eq!(
            fs::read_to_string(to.join("o-2.csv.error.txt")).unwrap(),
            "o.csv:2: bad\n"
        );
        assert_eq!(
            fs::read_to_string(to.join("o.csv.error.txt")).unwrap(),
            "old"
        );
        let mut names: Vec<_> = fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["o-2.csv", "o-2.csv.error.txt", "o.csv.error.txt"]);
    }

    #[test]
    fn a_symlink_is_moved_as_the_link_and_its_target_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.csv");
        fs::write(&target, "x").unwrap();
        let link = dir.path().join("inbox.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let kind = fs::symlink_metadata(&link).unwrap().file_type();
        assert!(not_regular(&link, kind).unwrap().contains("symbolic link"));
        assert!(open_regular(&link).unwrap().is_none());
        let moved = move_into(&link, &dir.path().join("failed"), Some("why")).unwrap();
        assert_eq!(fs::read_link(&moved).unwrap(), target);
        assert!(fs::symlink_metadata(&link).is_err());
    }

    #[test]
    fn a_fifo_is_opened_without_waiting_and_is_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p.csv");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_regular(&fifo).unwrap().is_none());
        assert_eq!(sha256_file(&fifo).unwrap(), None);
    }
}
