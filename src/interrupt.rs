//! Ctrl-C (SIGINT) and SIGTERM during `run`, `nightly` and `backfill`: the job in flight is
//! rolled back and recorded as `interrupted`, and the process exits 130. A second signal
//! stops at once (the database rolls the transaction back when the connection drops).
//!
//! The signal handler only counts signals. A watcher thread sees the count, says what is
//! happening, and cancels the query running on the job's connection (`pg_cancel_backend`), so
//! a long statement ends now rather than when it finishes; the runner checks
//! [`requested`] before each job and at its commit point, so a job between two statements
//! never commits after a signal. `serve` keeps its own handling and does not install this.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::error::{Error, Result};
use crate::store;

/// Signals received since [`install`].
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    // Async-signal-safe: an atomic increment, nothing else.
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Whether SIGINT or SIGTERM arrived: the job in flight must not commit.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Installs the handlers for SIGINT and SIGTERM and starts the watcher, which cancels the
/// statement running on backend `job_backend_pid` of the database at `url` when a signal comes.
pub fn install(url: String, job_backend_pid: i32) -> Result<()> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }
            .map_err(|e| Error::Other(format!("cannot install the {signal} handler: {e}")))?;
    }
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || watch(&url, job_backend_pid))?;
    Ok(())
}

fn watch(url: &str, job_backend_pid: i32) {
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if requested() {
            break;
        }
    }
    tracing::warn!(
        "interrupted: rolling back the job in flight (send the signal again to stop at once)"
    );
    if let Ok(mut conn) = store::connect(url) {
        let _ = store::sessions::cancel_backend(&mut conn, job_backend_pid);
    }
    loop {
        if SIGNALS.load(Ordering::SeqCst) > 1 {
            eprintln!("subsweep: stopped at once; the job's transaction is rolled back");
            std::process::exit(130);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
