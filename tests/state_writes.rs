//! Writing changed subscription states back (`store::families::update_state`): a big batch goes
//! through COPY and one `UPDATE … FROM`, a small one (and every batch on Citus) through the
//! upsert. Both must leave exactly the same rows, and the bulk way must never drop a state.

mod common;

use common::TestDb;
use common::fixtures::SubscriptionFixture;
use diesel::prelude::*;
use rust_decimal::Decimal;
use subsweep::domain::subscription::Subscription;
use subsweep::domain::vocabulary::Status;
use subsweep::store::families::{self, STATE_COPY_ROWS};

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

/// `n` subscriptions as bought (the fixture's state), and the same with states changed in
/// every field the write covers, one pattern per subscription.
fn bought_and_changed(n: usize) -> (Vec<Subscription>, Vec<Subscription>) {
    let bought: Vec<Subscription> = (0..n)
        .map(|i| {
            SubscriptionFixture::new(
                &format!("S{i:05}"),
                &format!("C{:03}", i % 97),
                "OF",
                &format!("O{i}"),
            )
            .0
        })
        .collect();
    let changed = bought
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            let st = &mut s.state;
            match i % 4 {
                0 => {
                    st.status = Status::Suspended;
                    st.suspended_on = Some(d("2026-02-03"));
                    st.data_expires_on = Some(d("2026-05-04"));
                }
                1 => {
                    st.in_trial = true;
                    st.trial_end = Some(d("2026-01-31"));
                    st.paid_start = None;
                    st.quantity = None;
                }
                2 => {
                    st.status = Status::Cancelled;
                    st.ended_on = Some(d("2026-02-10"));
                    st.auto_renew = false;
                    st.cancel_at_term_end = true;
                    st.cancel_with_base = true;
                    st.suspended_with_base = true;
                }
                _ => {
                    st.quantity = Some(Decimal::new(i as i64 + 2, 0));
                    st.anchor = Some(d("2026-02-28"));
                    st.usage_units = Decimal::new(12345, 3);
                }
            }
            s
        })
        .collect();
    (bought, changed)
}

/// Every subscription row, in id order, as PostgreSQL prints it.
fn rows(conn: &mut PgConnection) -> Vec<String> {
    common::table_rows(conn, "subscriptions", "subscription_id")
}

/// Writes `changed` in two calls of one transaction (the second one reuses the bulk way's
/// temporary table), the upsert's way when `citus`.
fn write(
    db: &TestDb,
    bought: &[Subscription],
    changed: &[Subscription],
    citus: bool,
) -> Vec<String> {
    let mut conn = db.conn();
    let bought: Vec<&Subscription> = bought.iter().collect();
    families::insert_new(&mut conn, &bought).unwrap();
    let changed: Vec<&Subscription> = changed.iter().collect();
    let (first, second) = changed.split_at(changed.len() / 2);
    let written = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            Ok(families::update_state(conn, first, citus)?
                + families::update_state(conn, second, citus)?)
        })
        .unwrap();
    assert_eq!(written, changed.len());
    rows(&mut conn)
}

#[test]
fn the_bulk_write_of_states_leaves_the_rows_the_upsert_leaves() {
    let n = 2 * STATE_COPY_ROWS + 10;
    let (bought, changed) = bought_and_changed(n);
    let (upsert, copied) = (TestDb::new(), TestDb::new());
    let by_upsert = write(&upsert, &bought, &changed, true);
    let by_copy = write(&copied, &bought, &changed, false);
    assert_eq!(by_copy.len(), n);
    assert_eq!(by_copy, by_upsert);
    // And the states did change (the comparison is not of two untouched tables).
    let mut conn = copied.conn();
    let suspended: i64 = subsweep::store::schema::subscriptions::table
        .filter(subsweep::store::schema::subscriptions::status.eq("suspended"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(suspended as usize, n.div_ceil(4));
}

#[test]
fn the_bulk_write_refuses_a_state_whose_subscription_is_not_there() {
    let (bought, mut changed) = bought_and_changed(STATE_COPY_ROWS);
    let db = TestDb::new();
    let mut conn = db.conn();
    let bought: Vec<&Subscription> = bought.iter().collect();
    families::insert_new(&mut conn, &bought).unwrap();
    let before = rows(&mut conn);
    changed.push(SubscriptionFixture::new("S-NEVER-BOUGHT", "C001", "OF", "O-X").0);
    let changed: Vec<&Subscription> = changed.iter().collect();
    let err = conn
        .transaction::<usize, diesel::result::Error, _>(|conn| {
            families::update_state(conn, &changed, false)
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("1001 subscription states to write, 1000 subscriptions found"),
        "{err}"
    );
    assert_eq!(rows(&mut conn), before, "the transaction wrote nothing");
}

/// A database whose `TEMPORARY` privilege was taken from PUBLIC (a hardened setup): the role
/// the jobs run as cannot make the bulk way's table, and its states are upserted instead, with
/// the same result.
#[test]
fn a_role_without_temporary_tables_writes_many_states_by_upsert() {
    let n = STATE_COPY_ROWS + 5;
    let (bought, changed) = bought_and_changed(n);
    let upsert = TestDb::new();
    let by_upsert = write(&upsert, &bought, &changed, true);

    let db = TestDb::new();
    let mut conn = db.conn();
    let bought: Vec<&Subscription> = bought.iter().collect();
    families::insert_new(&mut conn, &bought).unwrap();
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let Name { name: database } = diesel::sql_query("SELECT current_database() AS name")
        .get_result(&mut conn)
        .unwrap();
    let role = format!("no_temp_{database}");
    for sql in [
        format!("CREATE ROLE \"{role}\""),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO \"{role}\""),
        format!("REVOKE TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC"),
    ] {
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
    let changed: Vec<&Subscription> = changed.iter().collect();
    let written = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query(format!("SET LOCAL ROLE \"{role}\"")).execute(conn)?;
            families::update_state(conn, &changed, false)
        })
        .unwrap();
    assert_eq!(written, n);
    assert_eq!(rows(&mut conn), by_upsert);
    for sql in [
        format!("DROP OWNED BY \"{role}\""),
        format!("DROP ROLE \"{role}\""),
    ] {
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
}
