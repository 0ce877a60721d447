//! The `invoices` job.

use chrono::NaiveDate;

use super::{JobContext, JobOutcome};
use crate::error::{Error, Result};

/// Runs `invoices` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let _ = (ctx, date);
    Err(Error::Other("invoices is not implemented yet".into()))
}
