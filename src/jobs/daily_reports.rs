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
use crate::store::reports::HaveRows;
use crate::store::{clock, reports};

/// The rows of a report that has none.
const NO_ROWS: &[u8] = b"";

/// Writes the three reports of `date`. Called at the end of `apply-orders`, once the day's
/// rows have all been applied or rejected. Each file is replaced whole; their folder is synced
/// once, after the last, so the day pays one folder sync instead of three.
///
/// `suspended.csv` is the state at the end of `date`, which the database only holds while the
/// state clock stands at `date`: when an older day is re-run, its existing suspended.csv is
/// kept rather than rewritten with a later state.
///
/// A report with no rows is written from no rows without exporting it: one query first asks
/// which of the three have rows (on one server; on Citus each is exported). After a `bulk` day
/// (more rows applied or rejected than [`crate::store::BULK_ROWS`]) the three are exported
/// without asking: the question costs more than the round trips it saves (on the 1M purchase
/// day it found the first provisioning row in 0.22–0.36 s; an empty export is its header, as
/// a report written from no rows).
pub fn write(ctx: &mut JobContext<'_>, date: NaiveDate, bulk: bool) -> Result<()> {
    let dir = ctx.config.reports_dir(date);
    let bom = ctx.config.output_bom;
    let have = if ctx.config.database.citus || bulk {
        HaveRows {
            rejects: true,
            provisioning: true,
            suspended: true,
        }
    } else {
        reports::have_rows(ctx.conn, date)?
    };

    let path = dir.join("rejects.csv");
    if have.rejects {
        reports::rejects(ctx.conn, date, |rows| {
            replace_csv(&path, bom, |out| files::write_rejects(out, rows))
        })??;
    } else {
        replace_csv(&path, bom, |out| files::write_rejects(out, NO_ROWS))?;
    }

    let path = dir.join("provisioning.csv");
    if have.provisioning {
        reports::provisioning(ctx.conn, date, |rows| {
            replace_csv(&path, bom, |out| files::write_provisioning(out, rows))
        })??;
    } else {
        replace_csv(&path, bom, |out| files::write_provisioning(out, NO_ROWS))?;
    }

    let path = dir.join("suspended.csv");
    let past = clock::read(ctx.conn)?.is_some_and(|at| at > Moment::new(date, Step::Orders));
    if past && path.exists() {
        tracing::info!(%date, "state has moved past {date}: keeping its suspended.csv");
    } else {
        if past {
            tracing::warn!(%date, "state has moved past {date}: suspended.csv shows the current state");
        }
        if have.suspended {
            reports::suspended(ctx.conn, date, |rows| {
                replace_csv(&path, bom, |out| files::write_suspended(out, rows))
            })??;
        } else {
            replace_csv(&path, bom, |out| files::write_suspended(out, NO_ROWS))?;
        }
    }
    // One folder sync makes the three renames durable (before the job commits).
    sync_folder(&path)?;
    Ok(())
}
