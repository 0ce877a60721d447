//! The `renewals` job.

use chrono::NaiveDate;

use super::{JobContext, JobOutcome};
use crate::error::{Error, Result};

/// Runs `renewals` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let _ = (ctx, date);
    Err(Error::Other("renewals is not implemented yet".into()))
}
