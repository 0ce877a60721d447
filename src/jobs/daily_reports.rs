//! The daily reports of `apply-orders` in `out/reports/<D>/`: `rejects.csv`,
//! `provisioning.csv` and `suspended.csv`. All three are written every day (a header alone
//! when there is nothing to report), atomically, in a complete order. The store streams the
//! rows; `output::reports` formats them.

use chrono::NaiveDate;

use super::JobContext;
use crate::domain::clock::{Moment, Step};
use crate::error::Result;
use crate::output::atomic::{replace_csv, sync_folder};
use crate::output::reports as files;
use crate::store::{clock, reports};

/// Writes the three reports of `date`. Called at the end of `apply-orders`, once the day's
/// rows have all been applied or rejected. Each file is replaced whole; their folder is synced
/// once, after the last, so the day pays one folder sync instead of three.
///
/// `suspended.csv` is the state at the end of `date`, which the database only holds while the
/// state clock stands at `date`: when an older day is re-run, its existing suspended.csv is
/// kept rather than rewritten with a later state.
pub fn write(ctx: &mut JobContext<'_>, date: NaiveDate) -> Result<()> {
    let dir = ctx.config.reports_dir(date);
    let bom = ctx.config.output_bom;

    reports::rejects(ctx.conn, date, |rows| {
        replace_csv(&dir.join("rejects.csv"), bom, |out| {
            files::write_rejects(out, rows)
        })
    })??;

    reports::provisioning(ctx.conn, date, |rows| {
        replace_csv(&dir.join("provisioning.csv"), bom, |out| {
            files::write_provisioning(out, rows)
        })
    })??;

    let path = dir.join("suspended.csv");
    let past = clock::read(ctx.conn)?.is_some_and(|at| at > Moment::new(date, Step::Orders));
    if past && path.exists() {
        tracing::info!(%date, "state has moved past {date}: keeping its suspended.csv");
    } else {
        if past {
            tracing::warn!(%date, "state has moved past {date}: suspended.csv shows the current state");
        }
        reports::suspended(ctx.conn, date, |rows| {
            replace_csv(&path, bom, |out| files::write_suspended(out, rows))
        })??;
    }
    // One folder sync makes the three renames durable (before the job commits).
    sync_folder(&path)?;
    Ok(())
}
