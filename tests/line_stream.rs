//! The transition jobs stream their charge lines into one binary COPY they encode themselves
//! (`store::line_stream`); the other jobs post through diesel's `copy_from(…).from_insertable`
//! (`store::charges::insert`). Both must store exactly the same values: the numerics with
//! their scale (zero, negative, tiny, large), the dates, the texts.

mod common;

use chrono::NaiveDate;
use common::TestDb;
use common::fixtures::{CustomerFixture, OfferFixture, SubscriptionFixture};
use diesel::prelude::*;
use diesel::sql_types::Text;
use rust_decimal::Decimal;
use subsweep::domain::calendar::DateRange;
use subsweep::domain::charges::{ChargeLine, ChargeType};
use subsweep::store::charges::{self, PostingTarget};
use subsweep::store::line_stream;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Stored {
    #[diesel(sql_type = Text)]
    row: String,
}

/// Every stored column but the line id and the subscription, as text, in posting order.
fn stored(conn: &mut PgConnection, sub: &str) -> Vec<Stored> {
    diesel::sql_query(
        "SELECT concat_ws('|', customer_id, charge_type, start_date, end_date, billable_days, \
                period_days, unit_price::text, quantity::text, amount::text, posted_on, cause, \
                coalesce(corrects_line_id::text, 'null'), invoice_period_start) AS row \
         FROM charge_lines WHERE subscription_id = $1 ORDER BY line_id",
    )
    .bind::<Text, _>(sub)
    .load(conn)
    .unwrap()
}

#[test]
fn lines_streamed_by_the_transition_jobs_are_stored_as_diesel_stores_them() {
    let db = TestDb::new();
    let mut conn = db.conn();
    CustomerFixture::new("CUS-1", "Contoso").insert(&mut conn);
    OfferFixture::new("OFF-1", "Seats", "Microsoft").insert(&mut conn);
    SubscriptionFixture::new("SUB-STREAM", "CUS-1", "OFF-1", "ORD-1").insert(&mut conn);
    SubscriptionFixture::new("SUB-DIESEL", "CUS-1", "OFF-1", "ORD-2").insert(&mut conn);

    let values = [
        ("12.34", "3", "37.02"),
        ("0", "0", "0"),
        ("0.00", "1.000", "0.00"),
        ("-0.01", "1", "-0.01"),
        ("123456789.123456", "10000", "1234567891234.56"),
        ("0.000001", "0.5", "0.0000005"),
        ("-98765.4321", "2", "-197530.8642"),
        ("10000", "100000000", "1000000000000"),
        ("1.10", "7", "7.70"),
        ("99999.9999", "0.0001", "9.99999999"),
    ];
    let line = |sub: &str, i: usize, (price, quantity, amount): (&str, &str, &str)| ChargeLine {
        subscription_id: sub.into(),
        charge_type: if i.is_multiple_of(2) {
            ChargeType::CycleFee
        } else {
            ChargeType::RenewFee
        },
        range: DateRange::new(d("2028-02-01"), d("2028-02-29")),
        billable_days: 29,
        period_days: 29,
        unit_price: dec(price),
        quantity: dec(quantity),
        amount: dec(amount),
        cause: format!("period:{i}:ünïcode"),
    };
    let target = PostingTarget {
        posted_on: d("2028-02-01"),
        invoice_period_start: d("2028-02-01"),
    };

    let posted = line_stream::post(&mut conn, &target, |sink| {
        for (i, v) in values.iter().enumerate() {
            sink.push(&line("SUB-STREAM", i, *v), "CUS-1")?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(posted, values.len());

    let postings: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| subsweep::domain::posting::Posting::New(line("SUB-DIESEL", i, *v)))
        .collect();
    let rows = charges::rows_for(&postings, &target, |_| "CUS-1".to_string());
    assert_eq!(charges::insert(&mut conn, &rows).unwrap(), values.len());

    let streamed = stored(&mut conn, "SUB-STREAM");
    assert_eq!(streamed.len(), values.len());
    assert_eq!(streamed, stored(&mut conn, "SUB-DIESEL"));
    // And the values are the ones given (not merely equal on both paths). Both paths store a
    // zero without its scale ("0.00" as "0", diesel's conversion); the files format every
    // amount and price themselves, so no output shows it.
    for (row, (price, quantity, amount)) in streamed.iter().zip(values) {
        let cells: Vec<Decimal> = row.row.split('|').skip(6).take(3).map(dec).collect();
        assert_eq!(
            cells,
            [dec(price), dec(quantity), dec(amount)],
            "{}",
            row.row
        );
        for (cell, given) in row.row.split('|').skip(6).zip([price, quantity, amount]) {
            if !dec(given).is_zero() {
                assert_eq!(cell, given, "the scale is kept: {}", row.row);
            }
        }
    }
}

#[test]
fn a_stream_with_no_line_stores_nothing() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let target = PostingTarget {
        posted_on: d("2026-03-01"),
        invoice_period_start: d("2026-03-01"),
    };
    assert_eq!(
        line_stream::post(&mut conn, &target, |_| Ok(())).unwrap(),
        0
    );
    let count: i64 = charge_count(&mut conn);
    assert_eq!(count, 0);
}

fn charge_count(conn: &mut PgConnection) -> i64 {
    use subsweep::store::schema::charge_lines::dsl::*;
    charge_lines.count().get_result(conn).unwrap()
}

/// apply-orders streams its postings, offsets among them (a full-path replay corrects lines
/// posted before): each offset stores the line it corrects, as `charges::insert` stores it.
#[test]
fn streamed_offsets_keep_the_line_they_correct_as_diesel_stores_it() {
    use subsweep::domain::posting::Posting;
    let db = TestDb::new();
    let mut conn = db.conn();
    CustomerFixture::new("CUS-1", "Contoso").insert(&mut conn);
    OfferFixture::new("OFF-1", "Seats", "Microsoft").insert(&mut conn);
    SubscriptionFixture::new("SUB-STREAM", "CUS-1", "OFF-1", "ORD-1").insert(&mut conn);
    SubscriptionFixture::new("SUB-DIESEL", "CUS-1", "OFF-1", "ORD-2").insert(&mut conn);
    let target = PostingTarget {
        posted_on: d("2026-03-10"),
        invoice_period_start: d("2026-03-01"),
    };
    let line = |sub: &str, charge_type, amount: &str, cause: &str| ChargeLine {
        subscription_id: sub.into(),
        charge_type,
        range: DateRange::new(d("2026-03-01"), d("2026-03-31")),
        billable_days: 31,
        period_days: 31,
        unit_price: dec("10.00"),
        quantity: dec("2"),
        amount: dec(amount),
        cause: cause.into(),
    };
    // The lines the offsets correct: one per subscription, through diesel.
    let originals: Vec<_> = ["SUB-STREAM", "SUB-DIESEL"]
        .iter()
        .map(|sub| Posting::New(line(sub, ChargeType::CycleFee, "20.00", "period:1")))
        .collect();
    let rows = charges::rows_for(&originals, &target, |_| "CUS-1".to_string());
    assert_eq!(charges::insert(&mut conn, &rows).unwrap(), 2);
    let ids: Vec<i64> = {
        use subsweep::store::schema::charge_lines::dsl::*;
        charge_lines
            .select(line_id)
            .order(line_id)
            .load(&mut conn)
            .unwrap()
    };
    let postings = |sub: &str, corrects: i64| {
        vec![
            Posting::Offset {
                corrects,
                line: line(sub, ChargeType::Offset, "-20.00", "correction:period:1"),
            },
            Posting::New(line(
                sub,
                ChargeType::CycleFee,
                "30.00",
                "seat_change:ORD-9:1",
            )),
        ]
    };

    let streamed = postings("SUB-STREAM", ids[0]);
    let posted = line_stream::post(&mut conn, &target, |sink| {
        streamed
            .iter()
            .try_for_each(|p| sink.push_posting(p, "CUS-1"))
    })
    .unwrap();
    assert_eq!(posted, 2);
    let rows = charges::rows_for(&postings("SUB-DIESEL", ids[1]), &target, |_| {
        "CUS-1".to_string()
    });
    assert_eq!(charges::insert(&mut conn, &rows).unwrap(), 2);

    let as_stored = |conn: &mut PgConnection, sub: &str, original: i64| -> Vec<String> {
        stored(conn, sub)
            .into_iter()
            .map(|s| {
                let mut cells: Vec<String> = s.row.split('|').map(String::from).collect();
                if cells[11] == original.to_string() {
                    cells[11] = "<original>".into();
                }
                cells.join("|")
            })
            .collect()
    };
    let streamed = as_stored(&mut conn, "SUB-STREAM", ids[0]);
    assert_eq!(streamed, as_stored(&mut conn, "SUB-DIESEL", ids[1]));
    assert!(
        streamed[1].contains("|<original>|"),
        "the offset names the line it corrects: {streamed:?}"
    );
}
