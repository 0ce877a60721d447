//! The state jobs against a real database give what the pure core gives: the same lines, the
//! same states, the same verdicts, whether events arrive on time or late, in one batch or many.

mod common;
mod core;

use chrono::NaiveDate;
use common::TestEnv;
use common::fixtures;
use core::*;
use diesel::prelude::*;
use rust_decimal::Decimal;
use subsweep::domain::catalog::{Customer, Offer};
use subsweep::domain::order::{COLUMNS, OrderEvent};
use subsweep::domain::vocabulary::{Action, BillingFrequency};
use subsweep::jobs::JobName;
use subsweep::store::{self, schema};

/// A database-backed subsweep whose days are run job by job, like `nightly` does.
struct Db {
    env: TestEnv,
    conn: PgConnection,
    file_id: i64,
}

impl Db {
    fn new(offers: &[Offer], customers: &[Customer]) -> Db {
        let env = TestEnv::new();
        let mut conn = env.conn();
        store::catalog::upsert_offers(&mut conn, offers).unwrap();
        store::catalog::upsert_customers(&mut conn, customers).unwrap();
        let file_id = fixtures::inbox_file(&mut conn, "test.csv", "2000-01-01");
        Db { env, conn, file_id }
    }

    /// Stages rows as intake would.
    fn stage(&mut self, orders: &[OrderEvent]) {
        for (i, o) in orders.iter().enumerate() {
            let raw: Vec<String> = COLUMNS.iter().map(|c| format!("raw {c}")).collect();
            fixtures::stage_event(&mut self.conn, self.file_id, i as i32 + 2, o, Some(raw));
        }
    }

    fn run(&mut self, job: JobName, date: NaiveDate) {
        common::execute_job(&mut self.conn, &self.env.config, job, date)
            .unwrap_or_else(|e| panic!("{job} {date}: {e}"));
    }

    fn run_day(&mut self, date: NaiveDate) {
        for job in [
            JobName::TrialConversions,
            JobName::Renewals,
            JobName::SuspensionExpiry,
            JobName::ApplyOrders,
        ] {
            self.run(job, date);
        }
    }

    fn run_days(&mut self, from: &str, to: &str) {
        let mut day = d(from);
        while day <= d(to) {
            self.run_day(day);
            day = day.succ_opt().unwrap();
        }
    }

    /// Lines as (posted_on, subscription, type, start, end, quantity, amount), in posting order.
    fn lines(&mut self) -> Vec<(String, String, String, String, String, String, String)> {
        use schema::charge_lines as c;
        c::table
            .order(c::line_id)
            .select((
                c::posted_on,
                c::subscription_id,
                c::charge_type,
                c::start_date,
                c::end_date,
                c::quantity,
                c::amount,
            ))
            .load::<(
                NaiveDate,
                String,
                String,
                NaiveDate,
                NaiveDate,
                Decimal,
                Decimal,
            )>(&mut self.conn)
            .unwrap()
            .into_iter()
            .map(|(on, s, t, a, b, q, m)| {
                (
                    on.to_string(),
                    s,
                    t,
                    a.to_string(),
                    b.to_string(),
                    q.normalize().to_string(),
                    format!("{m:.2}"),
                )
            })
            .collect()
    }

    fn rejects(&mut self) -> Vec<(String, String)> {
        use schema::{rejected_rows as r, staged_events as s};
        r::table
            .inner_join(s::table)
            .order(s::order_id)
            .select((s::order_id, r::error_code))
            .load(&mut self.conn)
            .unwrap()
    }
}

fn sim_lines(sim: &Sim) -> Vec<(String, String, String, String, String, String, String)> {
    sim.posted
        .iter()
        .map(|(on, l)| {
            (
                on.to_string(),
                l.subscription_id.clone(),
                l.charge_type.as_str().to_string(),
                l.range.start.to_string(),
                l.range.end.to_string(),
                l.quantity.normalize().to_string(),
                format!("{:.2}", l.amount),
            )
        })
        .collect()
}

fn sim_rejects(sim: &Sim) -> Vec<(String, String)> {
    let mut out: Vec<_> = sim
        .rejected
        .iter()
        .map(|(e, r)| (e.order.order_id.clone(), r.code.as_str().to_string()))
        .collect();
    out.sort();
    out
}

fn catalog() -> (Vec<Offer>, Vec<Customer>) {
    (
        vec![
            offer("M", BillingFrequency::Monthly, 12, "30.00"),
            Offer {
                trial_days: 30,
                ..monthly("T", "12.00")
            },
            addon("A", &["M", "T"], "6.00"),
            usage_offer("U", "0.25"),
            Offer {
                one_per_customer: true,
                ..offer("Y", BillingFrequency::Annual, 12, "120.00")
            },
        ],
        vec![customer("C1", "2026-01-01"), customer("C2", "2025-06-01")],
    )
}

fn story() -> Vec<(OrderEvent, Option<&'static str>)> {
    // (row, delivered late on this date)
    vec![
        (
            purchase("P1", "2026-01-05T09:00:00Z", "C1", "M", Some("2")),
            None,
        ),
        (
            purchase("P2", "2026-01-06T09:00:00Z", "C1", "T", Some("1")),
            None,
        ),
        (
            addon_purchase("P3", "2026-01-10T09:00:00Z", "C1", "A", "3", "P1-1"),
            None,
        ),
        (
            addon_purchase("P4", "2026-01-12T09:00:00Z", "C1", "A", "1", "P2-1"),
            None,
        ),
        (
            purchase("P5", "2026-01-12T10:00:00Z", "C2", "U", None),
            None,
        ),
        (
            purchase("P6", "2026-01-13T10:00:00Z", "C2", "Y", Some("1")),
            None,
        ),
        (
            purchase("P7", "2026-01-14T10:00:00Z", "C2", "Y", Some("1")),
            None,
        ),
        (
            usage("U1", "2026-01-20T10:00:00Z", "C2", "P5-1", "40"),
            None,
        ),
        (
            change("Q1", "2026-01-25T10:00:00Z", "C1", "P1-1", "5"),
            None,
        ),
        (
            act("S1", "2026-02-03T10:00:00Z", Action::Suspend, "C1", "P1-1"),
            Some("2026-02-09"),
        ),
        (
            usage("U2", "2026-02-10T10:00:00Z", "C2", "P5-1", "12.5"),
            Some("2026-02-16"),
        ),
        (
            act(
                "R1",
                "2026-02-20T10:00:00Z",
                Action::Reactivate,
                "C1",
                "P1-1",
            ),
            None,
        ),
        (
            act("K1", "2026-02-21T10:00:00Z", Action::Cancel, "C2", "P6-1"),
            None,
        ),
        (
            auto_renew("A1", "2026-02-22T10:00:00Z", "C1", "P2-1", false),
            None,
        ),
        (
            act(
                "X1",
                "2026-02-23T10:00:00Z",
                Action::Reactivate,
                "C1",
                "P1-1",
            ),
            None,
        ),
        (
            act("K2", "2026-03-01T10:00:00Z", Action::Cancel, "C2", "P5-1"),
            None,
        ),
    ]
}

#[test]
fn a_story_through_the_database_matches_the_pure_core_day_by_day() {
    let (offers, customers) = catalog();
    let mut sim = Sim::new(offers.clone(), customers.clone());
    let mut db = Db::new(&offers, &customers);
    let mut day = d("2026-01-05");
    let story = story();
    while day <= d("2026-03-20") {
        let today: Vec<OrderEvent> = story
            .iter()
            .filter(|(o, late)| late.map_or(o.event_time.date_naive(), d) == day)
            .map(|(o, _)| o.clone())
            .collect();
        for o in &today {
            sim.deliver_on(o.clone(), day);
        }
        db.stage(&today);
        sim.run_through(&day.to_string());
        db.run_day(day);
        day = day.succ_opt().unwrap();
    }
    assert_eq!(db.lines(), sim_lines(&sim));
    assert_eq!(db.rejects(), sim_rejects(&sim));
    assert_eq!(
        db.rejects(),
        vec![
            ("P7".into(), "one_per_customer".into()),
            ("X1".into(), "invalid_transition".into())
        ]
    );
    let subs = store::subscriptions::list(&mut db.conn, None).unwrap();
    for sub in &subs {
        assert_eq!(&sub.state, &sim.sub(&sub.id).state, "{}", sub.id);
    }
    assert_eq!(subs.len(), 6);
}

#[test]
fn a_whole_history_staged_at_once_is_billed_as_if_applied_day_by_day() {
    let (offers, customers) = catalog();
    let mut on_time = Sim::new(offers.clone(), customers.clone());
    let story = story();
    for (o, _) in &story {
        on_time.order(o.clone());
    }
    on_time.run_through("2026-03-20");

    // The same rows staged at once and applied by one day's run (a historical import).
    let mut db = Db::new(&offers, &customers);
    db.stage(&story.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>());
    db.run_day(d("2026-03-20"));
    let mut totals = std::collections::BTreeMap::<String, Decimal>::new();
    for line in db.lines() {
        *totals.entry(line.1).or_default() += line.6.parse::<Decimal>().unwrap();
    }
    totals.retain(|_, t| !t.is_zero());
    let mut expected = std::collections::BTreeMap::<String, Decimal>::new();
    for (_, l) in &on_time.posted {
        *expected.entry(l.subscription_id.clone()).or_default() += l.amount;
    }
    expected.retain(|_, t| !t.is_zero());
    assert_eq!(totals, expected);
    assert_eq!(db.rejects(), sim_rejects(&on_time));
    assert!(
        db.lines().iter().all(|l| l.0 == "2026-03-20"),
        "everything is posted on the day it was applied"
    );
}

#[test]
fn re_running_a_day_posts_nothing_new() {
    let (offers, customers) = catalog();
    let mut db = Db::new(&offers, &customers);
    db.stage(&story().iter().map(|(o, _)| o.clone()).collect::<Vec<_>>());
    db.run_days("2026-01-05", "2026-02-10");
    let before = db.lines();
    for job in [
        JobName::TrialConversions,
        JobName::Renewals,
        JobName::SuspensionExpiry,
        JobName::ApplyOrders,
    ] {
        db.run(job, d("2026-02-10"));
        db.run(job, d("2026-01-20"));
    }
    assert_eq!(db.lines(), before);
}

#[test]
fn skipped_days_are_caught_up_by_the_next_run() {
    let (offers, customers) = catalog();
    let story: Vec<OrderEvent> = story().into_iter().map(|(o, _)| o).collect();
    let mut daily = Db::new(&offers, &customers);
    daily.stage(&story);
    daily.run_days("2026-01-05", "2026-03-20");

    let mut gappy = Db::new(&offers, &customers);
    gappy.stage(&story);
    for date in ["2026-01-05", "2026-01-06", "2026-02-01", "2026-03-20"] {
        gappy.run_day(d(date));
    }
    let total = |db: &mut Db| {
        db.lines()
            .iter()
            .map(|l| l.6.parse::<Decimal>().unwrap())
            .sum::<Decimal>()
    };
    assert_eq!(total(&mut gappy), total(&mut daily));
    let states = |db: &mut Db| {
        store::subscriptions::list(&mut db.conn, None)
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&mut gappy), states(&mut daily));
}
