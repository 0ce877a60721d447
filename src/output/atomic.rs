//! Writing a file so readers see the old version or the new one, never half of one: write a
//! temporary file beside it, fsync, rename over the target, fsync the folder.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The UTF-8 byte order mark `[output] bom = true` puts before a CSV file's first byte.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes `path` atomically with whatever `write` produces. Every error names the path (or the
/// folder) it happened on, keeping the kind of the underlying error.
pub fn write_atomically<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    replace(path, write)?;
    sync_folder(path)
}

/// Replaces `path` whole like [`write_atomically`], except the last step: the rename is not
/// yet durable until [`sync_folder`] runs for the file's folder. For several files of one
/// folder written together (a day's reports): one folder sync for all of them instead of one
/// each. The caller must sync the folder before it reports the files written.
pub fn replace<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no folder", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| named(e, "cannot create the folder", dir))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = File::create(&temp).map_err(|e| named(e, "cannot create", &temp))?;
        let mut out = BufWriter::new(EarlyWriteback::new(file));
        write(&mut out).map_err(|e| named(e, "cannot write", path))?;
        let file = out
            .into_inner()
            .map_err(|e| named(e.into_error(), "cannot write", path))?
            .file;
        file.sync_all()
            .map_err(|e| named(e, "cannot write", path))?;
        fs::rename(&temp, path).map_err(|e| named(e, "cannot replace", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Bytes written between two requests to start writing them to disk.
const WRITEBACK_BYTES: u64 = 4 << 20;

/// A file being written that asks the kernel to start writing each [`WRITEBACK_BYTES`] to
/// disk as soon as they are written (`sync_file_range`, which does not wait), so that the
/// fsync at the end waits for the last few MiB instead of the whole file. Only a hint: the
/// fsync still decides that the file is on disk.
struct EarlyWriteback {
    file: File,
    written: u64,
    flushed_to: u64,
}

impl EarlyWriteback {
    fn new(file: File) -> Self {
        EarlyWriteback {
            file,
            written: 0,
            flushed_to: 0,
        }
    }
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.flushed_to >= WRITEBACK_BYTES {
            start_writeback(&self.file, self.flushed_to, self.written - self.flushed_to);
            self.flushed_to = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Starts writing `len` bytes of `file` from `offset` to disk, without waiting. A failure is
/// ignored: the fsync that follows reports any error that matters.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use nix::libc;
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a valid open descriptor and plain integers; the call reads no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Makes the renames [`replace`] did in `path`'s folder durable (fsync of the folder).
pub fn sync_folder(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no folder", path.display())))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| named(e, "cannot sync the folder", dir))
}

/// [`write_atomically`] for a CSV file under the output folder: with `bom`, the file starts
/// with the UTF-8 byte order mark (`[output] bom`), so a spreadsheet reads it as UTF-8.
pub fn write_csv_atomically<F>(path: &Path, bom: bool, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    replace_csv(path, bom, write)?;
    sync_folder(path)
}

/// [`replace`] for a CSV file, with `bom` as in [`write_csv_atomically`]: the folder still
/// needs [`sync_folder`].
pub fn replace_csv<F>(path: &Path, bom: bool, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    replace(path, |out| {
        if bom {
            out.write_all(BOM)?;
        }
        write(out)
    })
}

/// `e` with what was being done and the path in its message, of the same kind.
fn named(e: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{doing} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_appears_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.csv");
        write_atomically(&path, |w| w.write_all(b"x,y\n")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "x,y\n");
        let failed = write_atomically(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "x,y\n");
        assert_eq!(fs::read_dir(dir.path().join("a")).unwrap().count(), 1);
    }

    #[test]
    fn every_failure_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A file where a folder should be: even root cannot make a folder inside it.
        fs::write(dir.path().join("reports"), "x").unwrap();
        let target = dir.path().join("reports/2026-07-30/rejects.csv");
        let err = write_atomically(&target, |w| w.write_all(b"x")).unwrap_err();
        assert!(
            err.to_string()
                .contains(&dir.path().join("reports/2026-07-30").display().to_string()),
            "{err}"
        );
        // A folder where the file should be: the rename fails.
        let blocked = dir.path().join("invoices.csv");
        fs::create_dir_all(blocked.join("inside")).unwrap();
        let err = write_atomically(&blocked, |w| w.write_all(b"x")).unwrap_err();
        assert!(
            err.to_string().contains(&blocked.display().to_string()),
            "{err}"
        );
        // What the writer itself fails with is named too.
        let err = write_atomically(&dir.path().join("a.csv"), |_| {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device",
            ))
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(err.to_string().contains("a.csv: No space left"), "{err}");
    }

    #[test]
    fn the_byte_order_mark_comes_first_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write_csv_atomically(&path, true, |w| w.write_all(b"a,b\n")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"\xEF\xBB\xBFa,b\n");
        write_csv_atomically(&path, false, |w| w.write_all(b"a,b\n")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a,b\n");
    }
}
