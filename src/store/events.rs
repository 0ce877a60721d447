//! Staged order events as the rules see them: the pending ones of a day (streamed through a
//! cursor in application order), and the record of which were applied or rejected.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::pg::PgRowByRowLoadingMode;
use diesel::prelude::*;

use super::catalog::{CustomerRow, CustomerSql};
use super::clock;
use super::cursor::{Cursor, Positional};
use super::reader::Reader;
use super::rejects::{NewReject, insert_rejects};
use super::schema::{applied_events, staged_events};
pub use super::staged::StagedRow;
use crate::domain::catalog::Customer;
use crate::domain::clock::Moment;
use crate::domain::event::FamilyEvent;
use crate::domain::order::plain_values;

/// The event as the rules take it: the staged row's typed columns, parsed once when read.
pub fn family_event(row: StagedRow) -> FamilyEvent {
    FamilyEvent {
        event_id: row.event_id,
        order: row.event.into_order(),
        retention_days: None,
    }
}

/// The mark and the newest staged event id, as one row ([`OrdersMark::freeze`] and
/// [`OrdersMark::clock_for_update`] read them).
#[derive(QueryableByName)]
struct Frozen {
    #[diesel(embed)]
    mark: OrdersMark,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    newest: i64,
}

/// How far apply-orders has taken the staged events (see `state_clock.orders_*_mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct OrdersMark {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub event: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    pub date: Option<NaiveDate>,
}

impl OrdersMark {
    /// Blocks intake until the calling transaction ends (no staged event can commit behind the
    /// mark), then reads the mark and the newest staged event id (one statement).
    pub fn freeze(conn: &mut PgConnection) -> QueryResult<(OrdersMark, i64)> {
        diesel::sql_query("LOCK TABLE staged_events IN SHARE MODE").execute(conn)?;
        Self::read(conn)
    }

    /// The state clock, locked as `store::clock::read_for_update` locks it, with the mark and
    /// the newest staged event id as [`OrdersMark::freeze`] reads them but without blocking
    /// intake (what the run is likely to find), in one statement: apply-orders' first
    /// question. None when no state job ever ran.
    pub fn clock_for_update(
        conn: &mut PgConnection,
    ) -> QueryResult<Option<(Moment, OrdersMark, i64)>> {
        #[derive(QueryableByName)]
        struct Clock {
            #[diesel(sql_type = diesel::sql_types::Date)]
            through_date: NaiveDate,
            #[diesel(sql_type = diesel::sql_types::SmallInt)]
            through_step: i16,
            #[diesel(embed)]
            frozen: Frozen,
        }
        let clock = diesel::sql_query(
            "SELECT through_date, through_step, orders_event_mark AS event, \
                    orders_date_mark AS date, \
                    (SELECT coalesce(max(event_id), 0) FROM staged_events) AS newest \
             FROM state_clock FOR UPDATE",
        )
        .get_result::<Clock>(conn)
        .optional()?;
        Ok(clock.map(|c| {
            let at = clock::moment(c.through_date, c.through_step);
            (at, c.frozen.mark, c.frozen.newest)
        }))
    }

    /// The mark and the newest staged event id, in one statement.
    fn read(conn: &mut PgConnection) -> QueryResult<(OrdersMark, i64)> {
        let frozen = diesel::sql_query(
            "SELECT coalesce((SELECT orders_event_mark FROM state_clock), 0) AS event, \
                    (SELECT orders_date_mark FROM state_clock) AS date, \
                    (SELECT coalesce(max(event_id), 0) FROM staged_events) AS newest",
        )
        .get_result::<Frozen>(conn)?;
        Ok((frozen.mark, frozen.newest))
    }

    /// The mark after apply-orders of `date` took every event up to `newest`: moved only by a
    /// run at or after the mark's date (a re-run of an earlier date leaves later-dated events
    /// untaken, so it must not claim them).
    pub fn after_run(self, date: NaiveDate, newest: i64) -> OrdersMark {
        match self.date {
            Some(marked) if date < marked => self,
            _ => OrdersMark {
                event: newest.max(self.event),
                date: Some(date),
            },
        }
    }

    /// Stores the mark, and the state clock's `through` moment when given, in one statement
    /// (the clock row exists: apply-orders runs after the transition jobs).
    pub fn store(self, conn: &mut PgConnection, through: Option<Moment>) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Date, Nullable, SmallInt};
        diesel::sql_query(
            "UPDATE state_clock SET orders_event_mark = $1, orders_date_mark = $2, \
                    through_date = coalesce($3, through_date), \
                    through_step = coalesce($4, through_step)",
        )
        .bind::<BigInt, _>(self.event)
        .bind::<Nullable<Date>, _>(self.date)
        .bind::<Nullable<Date>, _>(through.map(|m| m.date))
        .bind::<Nullable<SmallInt>, _>(through.map(|m| m.step.number()))
        .execute(conn)?;
        Ok(())
    }
}

/// Streams the events pending on `date` (dated on or before it, neither applied nor rejected)
/// in application order: (event time, order_id, line), each with the row of the customer it
/// names (none for an unknown customer), as [`PendingRow`]s: joined by the server once in the
/// query that sorts the events, instead of looked up again for each batch. Must run inside a
/// transaction. `mark` narrows the search to the events staged or dated after what earlier
/// runs took; the anti-joins stay the rule (written as LEFT JOIN … IS NULL, which PostgreSQL
/// plans as NOT EXISTS and Citus can also run between the coordinator's staged rows and the
/// distributed applied events).
pub fn pending(
    conn: &mut PgConnection,
    date: NaiveDate,
    mark: OrdersMark,
) -> QueryResult<Cursor<PendingEvent>> {
    Cursor::open(conn, "pending_events", &pending_select(mark), |declare| {
        bind_pending(declare, date, mark)
    })
}

/// A second connection to `url` for [`pending_ahead`], the staged events' statistics refreshed
/// and committed on it first: its query is planned with them, and apply-orders cannot refresh
/// them once it has frozen intake (an ANALYZE on another connection would wait on its lock).
pub fn pending_reader(url: &str) -> crate::error::Result<PgConnection> {
    let mut conn = super::reader::connect(url)?;
    conn.transaction(|c| super::refresh_after_bulk(c, &["staged_events"]))?;
    Ok(conn)
}

/// The events [`pending`] streams, read whole on `reader` (a second connection, see
/// `store::reader`) in the snapshot of `conn`'s transaction and sent [`CHUNK`] at a time: the
/// server may sort them with parallel workers (a cursor's query runs on one process), and
/// reads and decodes the next events while the job applies the last, [`CHUNK`] at a time. The job must not have
/// written anything the query reads (staged, applied and rejected events) before it starts.
/// With `SUBSWEEP_FAILPOINT=pending-reader:fail` it fails after its first batch.
pub fn pending_ahead(
    conn: &mut PgConnection,
    reader: PgConnection,
    date: NaiveDate,
    mark: OrdersMark,
) -> crate::error::Result<Reader<Vec<PendingEvent>>> {
    let select = pending_select(mark);
    Reader::start(
        conn,
        reader,
        "pending-reader",
        AHEAD,
        move |conn, outbox| {
            let query = Positional::<_, PendingRow>::new(bind_pending(
                diesel::sql_query(select).into_boxed(),
                date,
                mark,
            ));
            let mut rows = Vec::with_capacity(CHUNK);
            for row in query.load_iter::<PendingEvent, PgRowByRowLoadingMode>(conn)? {
                rows.push(row?);
                if rows.len() == CHUNK
                    && !outbox.send(std::mem::replace(&mut rows, Vec::with_capacity(CHUNK)))?
                {
                    return Ok(());
                }
            }
            if !rows.is_empty() {
                outbox.send(rows)?;
            }
            Ok(())
        },
    )
}

/// [`pending_ahead`] sends the events this many at a time, at most [`AHEAD`] chunks ahead of
/// the job: it reads ahead a few thousand events, not whole batches of the job (whose
/// decoded rows would raise the peak memory by a batch each, ~10 MB at 10,000 events).
pub const CHUNK: usize = 1_000;

/// Chunks of pending events [`pending_ahead`] reads ahead of the job, at most.
pub const AHEAD: usize = 2;

/// The select of [`pending`] and [`pending_ahead`]: the pending events in application order,
/// each with its customer's row.
fn pending_select(mark: OrdersMark) -> String {
    format!(
        "SELECT s.event_id, s.file_id, s.source_line, s.order_id, s.line, s.event_time, \
                s.event_date, s.action, s.customer_id, s.requested_by, s.partner_id, \
                s.offer_id, s.quantity, s.subscription_id, s.base_subscription_id, \
                s.auto_renew, s.reason, s.raw, \
                c.customer_id, c.name, c.country, c.segment, c.currency, c.account_opened_on \
         {} \
         ORDER BY s.event_time, s.order_id, s.line",
        pending_from(
            mark,
            "LEFT JOIN customers c ON c.customer_id = s.customer_id"
        )
    )
}

/// A pending event as [`pending`] reads it: the staged row, and its customer's row.
pub type PendingEvent = (StagedRow, Option<CustomerRow>);

/// The pending events' staged rows, and the customers they name, each once (by id).
pub fn split_customers(pending: Vec<PendingEvent>) -> (Vec<StagedRow>, Vec<Customer>) {
    let mut rows = Vec::with_capacity(pending.len());
    let mut customers = Vec::with_capacity(pending.len());
    for (row, customer) in pending {
        rows.push(row);
        customers.extend(customer);
    }
    customers.sort_unstable_by(|a, b| a.id().cmp(b.id()));
    customers.dedup_by(|a, b| a.id() == b.id());
    (rows, customers.into_iter().map(Customer::from).collect())
}

/// Whether any event is pending on `date` (those [`pending`] would stream), in one statement:
/// a day with none opens no cursor.
pub fn any_pending(
    conn: &mut PgConnection,
    date: NaiveDate,
    mark: OrdersMark,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Any {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        pending: bool,
    }
    let query = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 {}) AS pending",
        pending_from(mark, "")
    ))
    .into_boxed();
    Ok(bind_pending(query, date, mark)
        .get_result::<Any>(conn)?
        .pending)
}

/// The FROM and WHERE of the pending events ([`pending`], [`any_pending`]), `join` joined to
/// the staged rows `s`.
fn pending_from(mark: OrdersMark, join: &str) -> String {
    let since_mark = match mark.date {
        Some(_) => "AND (s.event_id > $2 OR s.event_date > $3)",
        None => "",
    };
    format!(
        "FROM staged_events s {join} \
         LEFT JOIN applied_events a ON a.event_id = s.event_id \
         LEFT JOIN rejected_rows r ON r.event_id = s.event_id \
         WHERE s.event_date <= $1 {since_mark} \
           AND a.event_id IS NULL AND r.event_id IS NULL"
    )
}

/// Binds [`pending_from`]'s parameters.
fn bind_pending<'a>(
    query: super::cursor::Declare<'a>,
    date: NaiveDate,
    mark: OrdersMark,
) -> super::cursor::Declare<'a> {
    use diesel::sql_types::{BigInt, Date};
    let query = query.bind::<Date, _>(date);
    match mark.date {
        Some(marked) => query.bind::<BigInt, _>(mark.event).bind::<Date, _>(marked),
        None => query,
    }
}

/// The SQL type of a pending event as [`pending`] selects it (the columns of [`StagedRow`], in
/// its field order, then those of its customer's row, null for an unknown customer): its rows
/// are fetched with [`Cursor::next_by_position`], no field looked up by name.
pub type PendingRow = (
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<StagedRow, diesel::pg::Pg>>,
    CustomerSql,
);

/// An event the rules applied.
#[derive(Insertable)]
#[diesel(table_name = applied_events, treat_none_as_default_value = false)]
pub struct NewApplied<'a> {
    pub event_id: i64,
    pub subscription_id: &'a str,
    pub family_id: &'a str,
    /// The customer of the subscription (the key Citus distributes the table by).
    pub customer_id: &'a str,
    pub applied_on: NaiveDate,
    pub retention_days: Option<i32>,
}

/// Records applied events with COPY.
pub fn record_applied(conn: &mut PgConnection, rows: &[NewApplied<'_>]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    diesel::copy_from(applied_events::table)
        .from_insertable(rows)
        .execute(conn)
}

/// A rule's verdict on a staged event.
pub struct RuleReject<'a> {
    pub event: &'a FamilyEvent,
    pub code: String,
    pub message: String,
}

/// Where a staged event came from and its values as written, if staging kept them.
#[derive(Queryable, Selectable)]
#[diesel(table_name = staged_events, check_for_backend(diesel::pg::Pg))]
struct StagedSource {
    event_id: i64,
    file_id: i64,
    source_line: i32,
    raw: Option<Vec<String>>,
}

/// Records rejected events for the report of `processed_on`, with their values as written:
/// those staging kept, else the plain rendering of the event (which is what was written).
pub fn record_rejected(
    conn: &mut PgConnection,
    processed_on: NaiveDate,
    rejects: &[RuleReject<'_>],
) -> QueryResult<usize> {
    if rejects.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rejects.iter().map(|r| r.event.event_id).collect();
    let sources: HashMap<i64, StagedSource> = staged_events::table
        .filter(staged_events::event_id.eq_any(&ids))
        .select(StagedSource::as_select())
        .load(conn)?
        .into_iter()
        .map(|s| (s.event_id, s))
        .collect();
    let rows: Vec<NewReject> = rejects
        .iter()
        .map(|r| {
            let source = sources
                .get(&r.event.event_id)
                .expect("a rejected event is a staged event");
            NewReject {
                processed_on,
                file_id: source.file_id,
                source_line: source.source_line,
                event_id: Some(source.event_id),
                error_code: r.code.clone(),
                error_message: r.message.clone(),
                raw: source
                    .raw
                    .clone()
                    .unwrap_or_else(|| plain_values(&r.event.order).to_vec()),
            }
        })
        .collect();
    insert_rejects(conn, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_orders_mark_moves_forward_only_with_the_date() {
        let start = OrdersMark {
            event: 0,
            date: None,
        };
        let first = start.after_run(d("2026-03-01"), 40);
        assert_eq!(
            first,
            OrdersMark {
                event: 40,
                date: Some(d("2026-03-01"))
            }
        );
        let next = first.after_run(d("2026-03-02"), 55);
        assert_eq!(
            next,
            OrdersMark {
                event: 55,
                date: Some(d("2026-03-02"))
            }
        );
        // Re-running an earlier date takes nothing dated after it: the mark stays.
        assert_eq!(next.after_run(d("2026-03-01"), 70), next);
        // A re-run of the marked date itself may move the event mark.
        assert_eq!(next.after_run(d("2026-03-02"), 70).event, 70);
    }
}
