//! The state clock: how far the subscription state has been carried, as (date, step).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::state_clock;
use crate::domain::clock::{Moment, Step};

/// Where the state stands, if any state job ever ran.
pub fn read(conn: &mut PgConnection) -> QueryResult<Option<Moment>> {
    let row: Option<(NaiveDate, i16)> = state_clock::table
        .select((state_clock::through_date, state_clock::through_step))
        .first(conn)
        .optional()?;
    Ok(row.map(|(date, step)| moment(date, step)))
}

/// Locks the clock row for the rest of the transaction (state jobs serialize on it) and
/// returns where the state stands.
pub fn read_for_update(conn: &mut PgConnection) -> QueryResult<Option<Moment>> {
    let row: Option<(NaiveDate, i16)> = state_clock::table
        .select((state_clock::through_date, state_clock::through_step))
        .for_update()
        .first(conn)
        .optional()?;
    Ok(row.map(|(date, step)| moment(date, step)))
}

/// The moment a clock row's (through_date, through_step) say.
pub(crate) fn moment(date: NaiveDate, step: i16) -> Moment {
    Moment::new(
        date,
        Step::from_number(step).expect("through_step is 1..=4 by CHECK"),
    )
}

/// Records that the state has been carried through `moment`.
pub fn advance(conn: &mut PgConnection, moment: Moment) -> QueryResult<()> {
    diesel::insert_into(state_clock::table)
        .values((
            state_clock::singleton.eq(true),
            state_clock::through_date.eq(moment.date),
            state_clock::through_step.eq(moment.step.number()),
        ))
        .on_conflict(state_clock::singleton)
        .do_update()
        .set((
            state_clock::through_date.eq(excluded(state_clock::through_date)),
            state_clock::through_step.eq(excluded(state_clock::through_step)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The last logical date whose state jobs have all run (for "as of" displays).
pub fn processed_through(conn: &mut PgConnection) -> QueryResult<Option<NaiveDate>> {
    Ok(read(conn)?.map(|m| {
        if m.step == Step::Orders {
            m.date
        } else {
            m.date.pred_opt().unwrap_or(m.date)
        }
    }))
}
