//! The state clock: how far the subscription state has been carried, as (date, step).

use chrono::NaiveDate;
use diesel::prelude::*;

use super::schema::state_clock;

/// The last logical date whose state jobs have all run, if any ran.
pub fn processed_through(conn: &mut PgConnection) -> QueryResult<Option<NaiveDate>> {
    state_clock::table
        .select(state_clock::through_date)
        .first(conn)
        .optional()
}
