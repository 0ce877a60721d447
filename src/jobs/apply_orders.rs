//! The `apply-orders` job.

use chrono::NaiveDate;

use super::{JobContext, JobOutcome};
use crate::error::{Error, Result};

/// Runs `apply-orders` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let _ = (ctx, date);
    Err(Error::Other("apply-orders is not implemented yet".into()))
}
