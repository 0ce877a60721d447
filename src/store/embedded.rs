//! The embedded default (SPEC section 8): with no database URL, subsweep runs its own private
//! PostgreSQL cluster under `[database].data_dir`, built from the server binaries installed on
//! the machine and listening only on a Unix socket, so it never collides with another server.
//! The cluster is reused by later runs; it is left running between them.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Why the embedded cluster could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl on PATH, via \
         `pg_config --bindir` and under /usr/lib/postgresql/*/bin): install PostgreSQL \
         (for example `apt install postgresql`) or set DATABASE_URL to a running server"
    )]
    NoBinaries,
    #[error("embedded PostgreSQL at {dir}: {message}")]
    Failed { dir: PathBuf, message: String },
}

/// Server settings for the private cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Crash-safe: the default for real data.
    Durable,
    /// fsync off: for throwaway test clusters only.
    Throwaway,
}

/// A running private cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub bin_dir: PathBuf,
}

const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes; keep a margin for `.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;

impl EmbeddedCluster {
    /// Initializes the cluster if needed, starts it if it is not running, and returns it.
    /// Safe to call from several processes at once: they serialize on a lock file.
    pub fn ensure_running(data_dir: &Path, durability: Durability) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::NoBinaries)?;
        let fail = |message: String| EmbeddedError::Failed {
            dir: data_dir.to_path_buf(),
            message,
        };
        let parent = data_dir
            .parent()
            .ok_or_else(|| fail("data_dir has no parent folder".into()))?;
        fs::create_dir_all(parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        let data_dir = fs::canonicalize(parent)
            .map_err(|e| fail(format!("cannot resolve {}: {e}", parent.display())))?
            .join(
                data_dir
                    .file_name()
                    .ok_or_else(|| fail("data_dir has no folder name".into()))?,
            );

        let lock_path = data_dir.with_extension("lock");
        let lock = File::create(&lock_path).map_err(|e| {
            fail(format!(
                "cannot create lock file {}: {e}",
                lock_path.display()
            ))
        })?;
        lock.lock()
            .map_err(|e| fail(format!("cannot lock {}: {e}", lock_path.display())))?;

        let cluster = EmbeddedCluster {
            socket_dir: socket_dir_for(&data_dir),
            data_dir,
            bin_dir,
        };
        let server_user = ServerUser::current();
        server_user.ensure_reachable(parent).map_err(fail)?;
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.init(&server_user, durability)?;
        }
        if !cluster.is_running(&server_user) {
            cluster.start(&server_user)?;
        }
        Ok(cluster)
    }

    /// A connection URL for database `dbname` over the cluster's socket.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://postgres@localhost/{dbname}?host={}&port={PORT}",
            percent_encode(&self.socket_dir.to_string_lossy())
        )
    }

    fn fail(&self, message: String) -> EmbeddedError {
        EmbeddedError::Failed {
            dir: self.data_dir.clone(),
            message,
        }
    }

    fn init(&self, user: &ServerUser, durability: Durability) -> Result<(), EmbeddedError> {
        tracing::info!(data_dir = %self.data_dir.display(), "initializing embedded PostgreSQL cluster");
        // initdb into a scratch folder and rename it into place, so an interrupted initdb
        // never leaves a half-made cluster behind.
        let scratch = self.data_dir.with_extension("initdb-tmp");
        if scratch.exists() {
            fs::remove_dir_all(&scratch)
                .map_err(|e| self.fail(format!("cannot remove {}: {e}", scratch.display())))?;
        }
        fs::create_dir_all(&scratch)
            .map_err(|e| self.fail(format!("cannot create {}: {e}", scratch.display())))?;
        fs::set_permissions(&scratch, fs::Permissions::from_mode(0o700))
            .map_err(|e| self.fail(format!("cannot set permissions: {e}")))?;
        user.take_ownership(&scratch).map_err(|m| self.fail(m))?;

        let output = user
            .command(&self.bin_dir.join("initdb"), &scratch)
            .args(["-D"])
            .arg(&scratch)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .output()
            .map_err(|e| self.fail(format!("cannot run initdb: {e}")))?;
        check(&output, "initdb").map_err(|m| self.fail(m))?;

        let mut settings = format!(
            "\n# subsweep embedded cluster: Unix socket only, inside its own folder\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             port = {PORT}\n\
             max_connections = 200\n\
             # sized for nightly bulk work: a purchase day of a million orders writes several\n\
             # GB of WAL; with the defaults it checkpoints (and re-logs full pages) mid-run\n\
             shared_buffers = 512MB\n\
             max_wal_size = 8GB\n\
             checkpoint_timeout = 15min\n\
             wal_compression = on\n",
            self.socket_dir.display()
        );
        if durability == Durability::Throwaway {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        OpenOptions::new()
            .append(true)
            .open(scratch.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(settings.as_bytes()))
            .map_err(|e| self.fail(format!("cannot write postgresql.conf: {e}")))?;
        if self.data_dir.exists() {
            // An empty folder the user made is fine to replace; anything else is theirs.
            fs::remove_dir(&self.data_dir).map_err(|e| {
                self.fail(format!(
                    "the folder exists, is not a PostgreSQL cluster and is not empty ({e}): \
                     remove it or point [database].data_dir elsewhere"
                ))
            })?;
        }
        fs::rename(&scratch, &self.data_dir)
            .map_err(|e| self.fail(format!("cannot move the new cluster into place: {e}")))?;
        Ok(())
    }

    /// Stops the server (fast shutdown: open sessions are rolled back).
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        let output = ServerUser::current()
            .command(&self.bin_dir.join("pg_ctl"), &self.data_dir)
            .arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-s"])
            .output()
            .map_err(|e| self.fail(format!("cannot run pg_ctl: {e}")))?;
        check(&output, "pg_ctl stop").map_err(|m| self.fail(m))
    }

    fn is_running(&self, user: &ServerUser) -> bool {
        user.command(&self.bin_dir.join("pg_ctl"), &self.data_dir)
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .output()
            .is_ok_and(|o| o.status.success())
            && self.socket_dir.join(format!(".s.PGSQL.{PORT}")).exists()
    }

    fn start(&self, user: &ServerUser) -> Result<(), EmbeddedError> {
        if !self.socket_dir.exists() {
            fs::create_dir_all(&self.socket_dir).map_err(|e| {
                self.fail(format!(
                    "cannot create socket folder {}: {e}",
                    self.socket_dir.display()
                ))
            })?;
            fs::set_permissions(&self.socket_dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| self.fail(format!("cannot set socket folder permissions: {e}")))?;
            user.take_ownership(&self.socket_dir)
                .map_err(|m| self.fail(m))?;
        }
        let log = self.data_dir.join("server.log");
        let output = user
            .command(&self.bin_dir.join("pg_ctl"), &self.data_dir)
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s"])
            .output()
            .map_err(|e| self.fail(format!("cannot run pg_ctl: {e}")))?;
        check(&output, "pg_ctl start")
            .map_err(|m| self.fail(format!("{m} (see {})", log.display())))?;
        tracing::info!(
            data_dir = %self.data_dir.display(),
            "started embedded PostgreSQL (stop it with: pg_ctl -D {} stop)",
            self.data_dir.display()
        );
        Ok(())
    }
}

/// The socket folder: inside the data folder, unless that path is too long for a socket.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let inside = data_dir.join("socket");
    if inside.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return inside;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    std::env::temp_dir().join(format!("subsweep-pg-{:016x}", hasher.finish()))
}

/// The server binaries: next to `initdb` on PATH, `pg_config --bindir`, or the newest
/// /usr/lib/postgresql/<version>/bin.
fn find_bin_dir() -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if usable(&dir) {
                // Follow a symlinked initdb back to the real bin folder, where postgres lives.
                let real = fs::canonicalize(dir.join("initdb")).ok();
                if let Some(real_dir) = real.as_deref().and_then(Path::parent)
                    && usable(real_dir)
                {
                    return Some(real_dir.to_path_buf());
                }
                return Some(dir);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if usable(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| usable(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// Who runs the server: ourselves, or the `postgres` user when we are root (initdb refuses root).
enum ServerUser {
    Current,
    Postgres { uid: u32, gid: u32 },
}

impl ServerUser {
    fn current() -> Self {
        if !nix::unistd::geteuid().is_root() {
            return ServerUser::Current;
        }
        match nix::unistd::User::from_name("postgres") {
            Ok(Some(user)) => ServerUser::Postgres {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            },
            _ => ServerUser::Current,
        }
    }

    fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(cwd).env_remove("PGDATA");
        if let ServerUser::Postgres { uid, gid } = self {
            command
                .uid(*uid)
                .gid(*gid)
                .env("HOME", cwd)
                .env("USER", "postgres");
        }
        command
    }

    /// Gives `dir` to the server user.
    fn take_ownership(&self, dir: &Path) -> Result<(), String> {
        let ServerUser::Postgres { uid, gid } = self else {
            return Ok(());
        };
        std::os::unix::fs::chown(dir, Some(*uid), Some(*gid))
            .map_err(|e| format!("cannot give {} to the postgres user: {e}", dir.display()))
    }

    /// Lets the server user reach `dir` through every parent folder (search permission only),
    /// for a data folder under a private home when run as root.
    fn ensure_reachable(&self, dir: &Path) -> Result<(), String> {
        if matches!(self, ServerUser::Current) {
            return Ok(());
        }
        for ancestor in dir.ancestors() {
            let Ok(meta) = fs::metadata(ancestor) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                tracing::warn!(
                    folder = %ancestor.display(),
                    "adding search permission (o+x) so the postgres user can reach the embedded cluster"
                );
                fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001)).map_err(
                    |e| format!("cannot let postgres reach {}: {e}", ancestor.display()),
                )?;
            }
        }
        Ok(())
    }
}

fn check(output: &Output, what: &str) -> Result<(), String> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    Err(format!(
        "{what} failed ({}): {}{}",
        output.status,
        stderr.trim(),
        stdout.trim()
    ))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
