//! Test-only crash injection: `SUBSWEEP_FAILPOINT=<name>` makes the process abort (no unwinding,
//! no cleanup, like a kill -9) when it reaches the failpoint of that name. Tests use it to prove
//! that a crash at any point leaves the database consistent and the next run finishes the work.

/// Aborts the process if the failpoint `name` is armed.
pub fn hit(name: &str) {
    if let Some(armed) = std::env::var_os("SUBSWEEP_FAILPOINT")
        && armed == name
    {
        eprintln!("subsweep: failpoint {name} hit, aborting");
        std::process::abort();
    }
}

/// Whether the failpoint `name` is armed (for failpoints that do something other than abort,
/// such as `<job>:pause`, which holds the job inside its transaction for a minute so a test
/// can look at a live run or interrupt it).
pub fn armed(name: &str) -> bool {
    std::env::var_os("SUBSWEEP_FAILPOINT").is_some_and(|armed| armed == name)
}
