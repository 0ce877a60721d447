//! The `ingest-orders` job.

use chrono::NaiveDate;

use super::{JobContext, JobOutcome};
use crate::error::{Error, Result};

/// Runs `ingest-orders` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    let _ = (ctx, date);
    Err(Error::Other("ingest-orders is not implemented yet".into()))
}
