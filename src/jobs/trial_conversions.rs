//! The `trial-conversions` job: the transitions that take effect at the start of the day (SPEC section 1).

use chrono::NaiveDate;

use super::{JobContext, JobOutcome, transitions};
use crate::domain::clock::Step;
use crate::error::Result;

/// Runs `trial-conversions` for logical date `date`.
pub fn run(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<JobOutcome> {
    transitions::carry(ctx, date, Step::TrialConversions)
}
