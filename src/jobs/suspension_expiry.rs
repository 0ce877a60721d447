//! The `suspension-expiry` job.

use chrono::NaiveDate;

use super::{JobContext, JobOutcome};
use crate::error::{Error, Result};

/// Runs `suspension-expiry` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let _ = (ctx, date);
    Err(Error::Other(
        "suspension-expiry is not implemented yet".into(),
    ))
}
