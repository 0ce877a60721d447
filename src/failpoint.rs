//! Test-only fault injection at named points of a run.
//!
//! - `SUBSWEEP_FAILPOINT=<name>` makes the process abort (no unwinding, no cleanup, like a
//!   kill -9) when it reaches the failpoint of that name. Tests use it to prove that a crash at
//!   any point leaves the database consistent and the next run finishes the work.
//! - With `SUBSWEEP_FAILPOINT_PAUSE_MS=<ms>` as well, the process instead prints
//!   `failpoint <name> reached, pausing <ms> ms` on standard error and waits that long before
//!   going on: a test can meanwhile do something to the world (terminate the job's database
//!   session, fill a disk) and see how the rest of the run copes.
//!
//! The points, as [`hit`] names them: `<job>:before-commit` for every job (after its work,
//! before its ledger row and transaction commit) and `<job>:after-commit` for the jobs that run
//! in one transaction (every job but ingest-orders, which commits file by file).
//! `due-reader:fail` and `pending-reader:fail` are checked by `store::reader` with [`armed`]:
//! the reader of that name (the due families of a transition job, the pending events of
//! apply-orders) fails as with a database error after its first batch instead;
//! `due-reader:pause` and `pending-reader:pause` hold it there for a minute.

use std::time::Duration;

/// Aborts the process (or pauses it) if the failpoint `name` is armed.
pub fn hit(name: &str) {
    let Some(armed) = std::env::var_os("SUBSWEEP_FAILPOINT") else {
        return;
    };
    if armed != name {
        return;
    }
    let pause = std::env::var("SUBSWEEP_FAILPOINT_PAUSE_MS")
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok());
    match pause {
        Some(ms) => {
            crate::logging::notice(&format!("failpoint {name} reached, pausing {ms} ms"));
            std::thread::sleep(Duration::from_millis(ms));
        }
        None => {
            crate::logging::notice(&format!("failpoint {name} hit, aborting"));
            std::process::abort();
        }
    }
}

/// Whether the failpoint `name` is armed (for failpoints that do something other than abort,
/// such as `<job>:pause`, which holds the job inside its transaction for a minute so a test
/// can look at a live run or interrupt it).
pub fn armed(name: &str) -> bool {
    std::env::var_os("SUBSWEEP_FAILPOINT").is_some_and(|armed| armed == name)
}
