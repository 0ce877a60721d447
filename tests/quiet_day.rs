//! A quiet day's jobs ask first whether anything is due or pending and open no cursor when
//! nothing is: the question must answer exactly what the cursor would give, on every day of a
//! generated data set's first months (busy days and quiet ones).

mod common;

use chrono::{Days, NaiveDate};
use common::TestEnv;
use diesel::prelude::*;
use subsweep::domain::clock::{Moment, Step};
use subsweep::store::events::{self, OrdersMark};
use subsweep::store::families;

/// Whether the due cursor of `moment` gives a row, and what the question answers.
fn due_both_ways(conn: &mut PgConnection, moment: Moment) -> (bool, bool) {
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        let asked = families::any_due(conn, moment)?;
        let mut cursor = families::due_members(conn, moment)?.expect("a transition step");
        let rows = cursor.next_by_position::<families::DueRow>(conn, 1)?;
        cursor.close(conn)?;
        Ok((!rows.is_empty(), asked))
    })
    .unwrap()
}

/// Whether the pending cursor of `date` gives a row, and what the question answers.
fn pending_both_ways(conn: &mut PgConnection, date: NaiveDate) -> (bool, bool) {
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        let (mark, _) = OrdersMark::freeze(conn)?;
        let asked = events::any_pending(conn, date, mark)?;
        let mut cursor = events::pending(conn, date, mark)?;
        let rows = cursor.next_by_position::<events::PendingRow>(conn, 1)?;
        cursor.close(conn)?;
        Ok((!rows.is_empty(), asked))
    })
    .unwrap()
}

#[test]
fn asking_first_answers_what_the_cursors_give_on_busy_and_quiet_days() {
    let env = TestEnv::new();
    env.load_generated("150", "600", "7", "3");

    let mut conn = env.conn();
    let first: NaiveDate = "2026-01-05".parse().unwrap();
    let (mut due_days, mut quiet_days, mut pending_days) = (0, 0, 0);
    for offset in 0..65 {
        let date = first + Days::new(offset);
        let day = date.to_string();
        for step in [
            Step::TrialConversions,
            Step::Renewals,
            Step::SuspensionExpiry,
        ] {
            let (given, asked) = due_both_ways(&mut conn, Moment::new(date, step));
            assert_eq!(asked, given, "{step:?} of {day}");
            if step == Step::Renewals {
                if given {
                    due_days += 1;
                } else {
                    quiet_days += 1;
                }
            }
        }
        // The day's transitions first (the pending events are those after them), then its
        // orders, once ingested.
        env.ok(&["run", "trial-conversions", "--date", &day]);
        env.ok(&["run", "renewals", "--date", &day]);
        env.ok(&["run", "suspension-expiry", "--date", &day]);
        env.ok(&["run", "ingest-orders", "--date", &day]);
        let (given, asked) = pending_both_ways(&mut conn, date);
        assert_eq!(asked, given, "pending events of {day}");
        pending_days += i32::from(given);
        env.ok(&["backfill", "--from", &day, "--to", &day]);
        let (given, asked) = pending_both_ways(&mut conn, date);
        assert_eq!(
            (given, asked),
            (false, false),
            "nothing pending after {day}"
        );
    }
    assert!(due_days > 0 && quiet_days > 0, "{due_days} {quiet_days}");
    assert!(pending_days > 0);
}
