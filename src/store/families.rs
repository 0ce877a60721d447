//! Subscription families: loading them (state, history, last event) for the rules, and
//! writing back the state the rules computed.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use rust_decimal::Decimal;

use super::cursor::Cursor;
use super::events::{self, StagedRow};
use super::schema::{applied_events, staged_events, subscriptions};
use super::subscriptions::SubscriptionRow;
use crate::domain::calendar::month_end;
use crate::domain::clock::{Moment, Step};
use crate::domain::event::FamilyEvent;
use crate::domain::lifecycle::Family;
use crate::domain::needs::Needs;
use crate::domain::subscription::Subscription;

/// Builds families from subscription rows (any order): base first, add-ons by purchase.
pub fn assemble(rows: Vec<SubscriptionRow>) -> Vec<Family> {
    // A due cursor's rows come ordered by family: each family's run of rows is one family,
    // in the order the map-and-sort below gives, without a copy of its id per row.
    if rows.windows(2).all(|w| w[0].family_id <= w[1].family_id) {
        let mut families: Vec<Family> = Vec::new();
        for row in rows {
            let sub = Subscription::from(row);
            match families.last_mut() {
                Some(family) if family.id == sub.family_id => family.members.push(sub),
                _ => {
                    let mut family = Family::empty(sub.family_id.clone());
                    family.members.push(sub);
                    families.push(family);
                }
            }
        }
        for family in &mut families {
            sort_members(&mut family.members);
        }
        return families;
    }
    let mut by_family: HashMap<String, Vec<Subscription>> = HashMap::new();
    for row in rows {
        let sub = Subscription::from(row);
        by_family
            .entry(sub.family_id.clone())
            .or_default()
            .push(sub);
    }
    let mut families: Vec<Family> = by_family
        .into_iter()
        .map(|(id, mut members)| {
            sort_members(&mut members);
            let mut family = Family::empty(id);
            family.members = members;
            family
        })
        .collect();
    families.sort_by(|a, b| a.id.cmp(&b.id));
    families
}

/// A family's members in their order: base first, add-ons by purchase.
fn sort_members(members: &mut [Subscription]) {
    members.sort_by(|a, b| {
        (
            a.parent.is_some(),
            a.purchased_at,
            &a.order_id,
            a.order_line,
        )
            .cmp(&(
                b.parent.is_some(),
                b.purchased_at,
                &b.order_id,
                b.order_line,
            ))
    });
}

/// The members of the families with a member whose transition of `moment.step` may fall on
/// `moment.date` (a superset is fine: the rules decide; this only narrows the search),
/// through one cursor ordered by family, so memory stays flat however many are due and the
/// server finds them in one pass instead of a lookup per family. None for the orders step.
/// Must run inside a transaction.
pub fn due_members(
    conn: &mut PgConnection,
    moment: Moment,
) -> QueryResult<Option<Cursor<SubscriptionRow>>> {
    due_members_from(conn, moment, None)
}

/// Whether any family is due at `moment` (whether [`due_members`] would give any row: a due
/// family has a member), in one statement. False for the orders step.
pub fn any_due(conn: &mut PgConnection, moment: Moment) -> QueryResult<bool> {
    use diesel::sql_types::{Bool, Date, SmallInt};
    #[derive(QueryableByName)]
    struct Any {
        #[diesel(sql_type = Bool)]
        due: bool,
    }
    let Some(due) = due_families(moment.step) else {
        return Ok(false);
    };
    let day = moment.date;
    let query = diesel::sql_query(format!("SELECT EXISTS ({due}) AS due"))
        .into_boxed()
        .bind::<Date, _>(day);
    let query = match moment.step {
        Step::Renewals => query
            .bind::<SmallInt, _>(day.day() as i16)
            .bind::<Bool, _>(month_end(day) == day)
            .bind::<SmallInt, _>(day.month() as i16),
        _ => query,
    };
    Ok(query.get_result::<Any>(conn)?.due)
}

/// The query of the families due at a step (`$1` the day; for renewals `$2`–`$4` too), ordered
/// by family; None for the orders step.
fn due_families(step: Step) -> Option<&'static str> {
    match step {
        Step::TrialConversions => Some(
            "SELECT DISTINCT family_id FROM subscriptions \
             WHERE in_trial AND status = 'active' AND trial_end_date < $1 \
             ORDER BY family_id",
        ),
        Step::Renewals => Some(include_str!("due_renewals.sql")),
        Step::SuspensionExpiry => Some(
            "SELECT DISTINCT family_id FROM subscriptions \
             WHERE status = 'suspended' AND data_expires_on <= $1 ORDER BY family_id",
        ),
        Step::Orders => None,
    }
}

/// [`due_members`], from family `from` on (itself included) when given: the rest of a step's
/// families, once the first have been read elsewhere.
pub fn due_members_from(
    conn: &mut PgConnection,
    moment: Moment,
    from: Option<String>,
) -> QueryResult<Option<Cursor<SubscriptionRow>>> {
    use diesel::sql_types::{Bool, Date, SmallInt, Text};
    let day = moment.date;
    let Some(due) = due_families(moment.step) else {
        return Ok(None);
    };
    // The columns `SubscriptionRow` selects, in its order: the rows are decoded by position.
    let select = match from {
        None => format!(
            "SELECT {} FROM subscriptions WHERE family_id IN ({due}) ORDER BY family_id",
            row_columns()
        ),
        // The bound is the parameter after the step's own; inside the due families' query
        // too, so the server skips them there as well.
        Some(_) => {
            let bound = match moment.step {
                Step::Renewals => "$5",
                _ => "$2",
            };
            format!(
                "SELECT {} FROM subscriptions WHERE family_id IN \
                 (SELECT family_id FROM ({due}) d WHERE family_id >= {bound}) \
                 AND family_id >= {bound} ORDER BY family_id",
                row_columns()
            )
        }
    };
    // No JIT for it (the rest of the job's transaction neither): past a few hundred thousand
    // subscriptions its cost crosses `jit_above_cost`, and the compiled expressions and
    // deforming read the rows slower than the interpreter (a million subscriptions: 4.3 s
    // with JIT, 2.9-3.5 s without, `MOVE ALL` in psql).
    diesel::sql_query("SET LOCAL jit = off").execute(conn)?;
    let cursor = Cursor::open(conn, "due_members", &select, |declare| {
        let declare = declare.bind::<Date, _>(day);
        let declare = match moment.step {
            // The day of month and month fit a smallint, like the columns they meet.
            Step::Renewals => declare
                .bind::<SmallInt, _>(day.day() as i16)
                .bind::<Bool, _>(month_end(day) == day)
                .bind::<SmallInt, _>(day.month() as i16),
            _ => declare,
        };
        match from {
            Some(from) => declare.bind::<Text, _>(from),
            None => declare,
        }
    })?;
    Ok(Some(cursor))
}

/// A due cursor's rows in batches of whole families: each fetch's last family waits for the
/// next fetch, which may hold more of its members.
pub struct DueBatches {
    cursor: Cursor<SubscriptionRow>,
    carried: Vec<SubscriptionRow>,
    done: bool,
}

impl DueBatches {
    pub fn new(cursor: Cursor<SubscriptionRow>) -> DueBatches {
        DueBatches {
            cursor,
            carried: Vec::new(),
            done: false,
        }
    }

    /// The rows of the next whole families, fetching `n` rows (may be empty when one family
    /// spans the whole fetch); None once every row was given.
    pub fn next(
        &mut self,
        conn: &mut PgConnection,
        n: usize,
    ) -> QueryResult<Option<Vec<SubscriptionRow>>> {
        if self.done {
            return Ok(None);
        }
        let fetched = self.cursor.next_by_position::<DueRow>(conn, n)?;
        self.done = fetched.len() < n;
        let mut rows = std::mem::take(&mut self.carried);
        rows.extend(fetched);
        if !self.done {
            self.carried = split_last_group(&mut rows, |r| r.family_id.as_str());
        }
        Ok(Some(rows))
    }

    /// Whether every row was given.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Stops here: closes the cursor and returns the first family not given yet (None when
    /// every row was).
    pub fn stop(&mut self, conn: &mut PgConnection) -> QueryResult<Option<String>> {
        self.cursor.close(conn)?;
        self.done = true;
        Ok(std::mem::take(&mut self.carried)
            .first()
            .map(|r| r.family_id.clone()))
    }
}

/// Splits off the rows of `rows`' last group (rows grouped by `key`, each group contiguous):
/// the next fetch may continue that group.
pub(crate) fn split_last_group<T>(rows: &mut Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let Some(last) = rows.last().map(|r| key(r).to_string()) else {
        return Vec::new();
    };
    let cut = rows.partition_point(|r| key(r) != last);
    rows.split_off(cut)
}

/// The SQL type of a subscriptions row as [`SubscriptionRow`] selects it: a due cursor's rows
/// are fetched with it ([`Cursor::next_by_position`]).
pub type DueRow = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<SubscriptionRow, diesel::pg::Pg>>;

/// The select list of [`SubscriptionRow`] (qualified column names, in its field order), as
/// diesel writes it.
fn row_columns() -> String {
    let select = diesel::debug_query::<diesel::pg::Pg, _>(
        &subscriptions::table.select(SubscriptionRow::as_select()),
    )
    .to_string();
    // `SELECT "subscriptions"."subscription_id", … FROM "subscriptions" -- binds: []`
    select
        .strip_prefix("SELECT ")
        .and_then(|rest| rest.split(" FROM ").next())
        .expect("diesel writes a select as SELECT <columns> FROM <table>")
        .to_string()
}

/// The families with these ids.
pub fn load(conn: &mut PgConnection, family_ids: &[String]) -> QueryResult<Vec<Family>> {
    let rows = subscriptions::table
        .filter(subscriptions::family_id.eq_any(family_ids))
        .select(SubscriptionRow::as_select())
        .load(conn)?;
    Ok(assemble(rows))
}

/// The families the rules read for a batch, as the core's [`Needs`] names them: those of the
/// subscriptions named, those holding the (customer, offer) pairs, every family of the
/// customers listed. Sorted, without repeats.
pub fn needed(conn: &mut PgConnection, needs: &Needs) -> QueryResult<Vec<String>> {
    let mut ids: BTreeSet<String> = family_of(conn, &needs.subscriptions)?
        .into_values()
        .collect();
    if !needs.holdings.is_empty() {
        ids.extend(of_customer_offers(conn, &needs.holdings)?);
    }
    if !needs.customers_families.is_empty() {
        ids.extend(of_customers(conn, &needs.customers_families)?);
    }
    Ok(ids.into_iter().collect())
}

/// The family of each of these subscriptions (unknown ids are absent).
pub fn family_of(
    conn: &mut PgConnection,
    subscription_ids: &[String],
) -> QueryResult<HashMap<String, String>> {
    Ok(subscriptions::table
        .filter(subscriptions::subscription_id.eq_any(subscription_ids))
        .select((subscriptions::subscription_id, subscriptions::family_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// The families holding any subscription of these customers (optionally of one offer each).
pub fn of_customers(conn: &mut PgConnection, customer_ids: &[String]) -> QueryResult<Vec<String>> {
    subscriptions::table
        .filter(subscriptions::customer_id.eq_any(customer_ids))
        .select(subscriptions::family_id)
        .distinct()
        .load(conn)
}

/// The families holding a subscription of `offer_id` for `customer_id`, for each pair.
pub fn of_customer_offers(
    conn: &mut PgConnection,
    pairs: &[(String, String)],
) -> QueryResult<Vec<String>> {
    let mut out = HashSet::new();
    let customers: Vec<String> = pairs.iter().map(|(c, _)| c.clone()).collect();
    let rows: Vec<(String, String, String)> = subscriptions::table
        .filter(subscriptions::customer_id.eq_any(&customers))
        .select((
            subscriptions::customer_id,
            subscriptions::offer_id,
            subscriptions::family_id,
        ))
        .load(conn)?;
    for (customer, offer, family) in rows {
        if pairs.iter().any(|(c, o)| *c == customer && *o == offer) {
            out.insert(family);
        }
    }
    Ok(out.into_iter().collect())
}

/// Event time of the last event each family applied.
///
/// The families' applied events are found first, then their staged rows: on Citus a join of
/// `applied_events` (distributed) with `staged_events` (a coordinator table) in one step sent
/// every staged row to every shard, once per batch, so a purchase day's cost grew with the
/// square of its size (10,000 families at a million orders: 6.9 s, now 0.5 s; one server
/// plans both forms alike, 0.1 s).
pub fn last_applied(
    conn: &mut PgConnection,
    family_ids: &[String],
) -> QueryResult<HashMap<String, DateTime<Utc>>> {
    use diesel::sql_types::{Array, Text, Timestamptz};
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Text)]
        family_id: String,
        #[diesel(sql_type = Timestamptz)]
        event_time: DateTime<Utc>,
    }
    if family_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Last> = diesel::sql_query(
        "WITH applied AS MATERIALIZED ( \
             SELECT family_id, event_id FROM applied_events WHERE family_id = ANY($1)) \
         SELECT a.family_id, max(s.event_time) AS event_time \
         FROM applied a JOIN staged_events s ON s.event_id = a.event_id \
         GROUP BY a.family_id",
    )
    .bind::<Array<Text>, _>(family_ids)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.family_id, r.event_time))
        .collect())
}

/// The accepted events of these families, in order, with the retention days kept for
/// suspensions.
pub fn accepted_events(
    conn: &mut PgConnection,
    family_ids: &[String],
) -> QueryResult<HashMap<String, Vec<FamilyEvent>>> {
    if family_ids.is_empty() {
        return Ok(HashMap::new());
    }
    // The families' applied events first, then their staged rows (as in `last_applied`: on
    // Citus a one-step join sends every staged row to every shard).
    let applied: HashMap<i64, (String, Option<i32>)> = applied_events::table
        .filter(applied_events::family_id.eq_any(family_ids))
        .select((
            applied_events::event_id,
            applied_events::family_id,
            applied_events::retention_days,
        ))
        .load::<(i64, String, Option<i32>)>(conn)?
        .into_iter()
        .map(|(event, family, retention)| (event, (family, retention)))
        .collect();
    let event_ids: Vec<i64> = applied.keys().copied().collect();
    let staged: Vec<StagedRow> = staged_events::table
        .filter(staged_events::event_id.eq_any(&event_ids))
        .order((
            staged_events::event_time,
            staged_events::order_id,
            staged_events::line,
        ))
        .select(StagedRow::as_select())
        .load(conn)?;
    let rows = staged.into_iter().map(|row| {
        let (family, retention) = applied[&row.event_id].clone();
        (family, retention, row)
    });
    let mut out: HashMap<String, Vec<FamilyEvent>> = HashMap::new();
    for (family, retention, row) in rows {
        let mut event = events::family_event(row);
        event.retention_days =
            retention.map(|r| u32::try_from(r).expect("retention days are 90..=120"));
        out.entry(family).or_default().push(event);
    }
    Ok(out)
}

/// Inserts subscriptions bought in this run, with COPY.
pub fn insert_new(conn: &mut PgConnection, subs: &[&Subscription]) -> QueryResult<usize> {
    if subs.is_empty() {
        return Ok(0);
    }
    let rows: Vec<NewSubscription<'_>> = subs.iter().map(|s| NewSubscription::of(s)).collect();
    diesel::copy_from(subscriptions::table)
        .from_insertable(&rows)
        .execute(conn)
}

/// A subscription's row as written (COPY of new ones, the upsert of changed states), borrowing
/// its texts from the book (the values [`SubscriptionRow`] holds, without a copy of each text:
/// a purchase day writes a million).
#[derive(Insertable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
#[diesel(treat_none_as_default_value = false)]
struct NewSubscription<'a> {
    subscription_id: &'a str,
    family_id: &'a str,
    parent_subscription_id: Option<&'a str>,
    customer_id: &'a str,
    offer_id: &'a str,
    order_id: &'a str,
    order_line: i32,
    purchased_at: DateTime<Utc>,
    billing_type: &'static str,
    billing_months: i16,
    term_months: i16,
    unit_price: Decimal,
    currency: &'a str,
    trial_days: i32,
    status: &'static str,
    in_trial: bool,
    quantity: Option<Decimal>,
    auto_renew: bool,
    cancel_at_term_end: bool,
    cancel_with_base: bool,
    trial_end_date: Option<NaiveDate>,
    paid_start: Option<NaiveDate>,
    anchor_date: Option<NaiveDate>,
    suspended_on: Option<NaiveDate>,
    suspended_with_base: bool,
    data_expires_on: Option<NaiveDate>,
    ended_on: Option<NaiveDate>,
    usage_units: Decimal,
}

impl<'a> NewSubscription<'a> {
    /// The row of `s`.
    fn of(s: &'a Subscription) -> Self {
        let st = &s.state;
        NewSubscription {
            subscription_id: &s.id,
            family_id: &s.family_id,
            parent_subscription_id: s.parent.as_deref(),
            customer_id: &s.customer_id,
            offer_id: &s.offer_id,
            order_id: &s.order_id,
            order_line: i32::try_from(s.order_line).expect("order lines fit in i32"),
            purchased_at: s.purchased_at,
            billing_type: s.terms.billing_type.as_str(),
            billing_months: s.terms.frequency.months() as i16,
            term_months: s.terms.term_months as i16,
            unit_price: s.terms.unit_price,
            currency: &s.terms.currency,
            trial_days: i32::try_from(s.terms.trial_days).expect("trial days are small"),
            status: st.status.as_str(),
            in_trial: st.in_trial,
            quantity: st.quantity,
            auto_renew: st.auto_renew,
            cancel_at_term_end: st.cancel_at_term_end,
            cancel_with_base: st.cancel_with_base,
            trial_end_date: st.trial_end,
            paid_start: st.paid_start,
            anchor_date: st.anchor,
            suspended_on: st.suspended_on,
            suspended_with_base: st.suspended_with_base,
            data_expires_on: st.data_expires_on,
            ended_on: st.ended_on,
            usage_units: st.usage_units,
        }
    }
}

/// At least this many changed states are written with COPY into a temporary table and one
/// `UPDATE … FROM` it; fewer, with the upsert (1,000 rows of 27 parameters a statement). The
/// trial conversions of the benchmark's 1M set (100,555 states) took 8.7–10.3 s in upserts
/// and take 3.6–4.0 s this way; at 100k the difference is inside the machine's noise.
pub const STATE_COPY_ROWS: usize = 1_000;

/// Writes the state of existing subscriptions (their terms never change). On Citus, for fewer
/// than [`STATE_COPY_ROWS`], and for a role that may not create temporary tables, an upsert
/// per 1,000 rows; otherwise [`update_state_copied`].
pub fn update_state(
    conn: &mut PgConnection,
    subs: &[&Subscription],
    citus: bool,
) -> QueryResult<usize> {
    if !citus
        && subs.len() >= STATE_COPY_ROWS
        && let Some(written) = update_state_copied(conn, subs)?
    {
        return Ok(written);
    }
    use subscriptions::dsl as s;
    let mut written = 0;
    for chunk in subs.chunks(1000) {
        let rows: Vec<NewSubscription<'_>> = chunk.iter().map(|s| NewSubscription::of(s)).collect();
        written += diesel::insert_into(subscriptions::table)
            .values(&rows)
            .on_conflict((s::subscription_id, s::customer_id))
            .do_update()
            .set((
                s::status.eq(excluded(s::status)),
                s::in_trial.eq(excluded(s::in_trial)),
                s::quantity.eq(excluded(s::quantity)),
                s::auto_renew.eq(excluded(s::auto_renew)),
                s::cancel_at_term_end.eq(excluded(s::cancel_at_term_end)),
                s::cancel_with_base.eq(excluded(s::cancel_with_base)),
                s::trial_end_date.eq(excluded(s::trial_end_date)),
                s::paid_start.eq(excluded(s::paid_start)),
                s::anchor_date.eq(excluded(s::anchor_date)),
                s::suspended_on.eq(excluded(s::suspended_on)),
                s::suspended_with_base.eq(excluded(s::suspended_with_base)),
                s::data_expires_on.eq(excluded(s::data_expires_on)),
                s::ended_on.eq(excluded(s::ended_on)),
                s::usage_units.eq(excluded(s::usage_units)),
            ))
            .execute(conn)?;
    }
    Ok(written)
}

diesel::table! {
    /// The changed states of one [`update_state_copied`], in a temporary table of the job's
    /// transaction (dropped at its end).
    subscription_states (subscription_id, customer_id) {
        subscription_id -> Text,
        customer_id -> Text,
        status -> Text,
        in_trial -> Bool,
        quantity -> Nullable<Numeric>,
        auto_renew -> Bool,
        cancel_at_term_end -> Bool,
        cancel_with_base -> Bool,
        trial_end_date -> Nullable<Date>,
        paid_start -> Nullable<Date>,
        anchor_date -> Nullable<Date>,
        suspended_on -> Nullable<Date>,
        suspended_with_base -> Bool,
        data_expires_on -> Nullable<Date>,
        ended_on -> Nullable<Date>,
        usage_units -> Numeric,
    }
}

/// A changed state as [`update_state_copied`] COPYs it.
#[derive(Insertable)]
#[diesel(table_name = subscription_states, check_for_backend(diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
struct StateRow<'a> {
    subscription_id: &'a str,
    customer_id: &'a str,
    status: &'static str,
    in_trial: bool,
    quantity: Option<Decimal>,
    auto_renew: bool,
    cancel_at_term_end: bool,
    cancel_with_base: bool,
    trial_end_date: Option<NaiveDate>,
    paid_start: Option<NaiveDate>,
    anchor_date: Option<NaiveDate>,
    suspended_on: Option<NaiveDate>,
    suspended_with_base: bool,
    data_expires_on: Option<NaiveDate>,
    ended_on: Option<NaiveDate>,
    usage_units: Decimal,
}

impl<'a> StateRow<'a> {
    fn of(s: &'a Subscription) -> Self {
        let st = &s.state;
        StateRow {
            subscription_id: &s.id,
            customer_id: &s.customer_id,
            status: st.status.as_str(),
            in_trial: st.in_trial,
            quantity: st.quantity,
            auto_renew: st.auto_renew,
            cancel_at_term_end: st.cancel_at_term_end,
            cancel_with_base: st.cancel_with_base,
            trial_end_date: st.trial_end,
            paid_start: st.paid_start,
            anchor_date: st.anchor,
            suspended_on: st.suspended_on,
            suspended_with_base: st.suspended_with_base,
            data_expires_on: st.data_expires_on,
            ended_on: st.ended_on,
            usage_units: st.usage_units,
        }
    }
}

/// The states of `subs` COPYed into a temporary table (made on the transaction's first call,
/// emptied on the next), then written by one `UPDATE … FROM` it. Every subscription must
/// exist: a state with no row to update is an error, never a row silently left behind (the
/// upsert would have inserted it whole, and the rules only change subscriptions they loaded).
/// `None`, having written nothing, when the role may not create temporary tables (a database
/// whose `TEMPORARY` privilege was revoked from PUBLIC). Must run inside a transaction.
pub fn update_state_copied(
    conn: &mut PgConnection,
    subs: &[&Subscription],
) -> QueryResult<Option<usize>> {
    #[derive(QueryableByName)]
    struct Temporary {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        allowed: bool,
    }
    let Temporary { present, allowed } = diesel::sql_query(
        "SELECT to_regclass('pg_temp.subscription_states') IS NOT NULL AS present, \
                has_database_privilege(current_database(), 'TEMPORARY') AS allowed",
    )
    .get_result(conn)?;
    if !present && !allowed {
        return Ok(None);
    }
    if present {
        diesel::sql_query("TRUNCATE pg_temp.subscription_states").execute(conn)?;
    } else {
        diesel::sql_query(
            "CREATE TEMPORARY TABLE subscription_states ON COMMIT DROP AS \
             SELECT subscription_id, customer_id, status, in_trial, quantity, auto_renew, \
                    cancel_at_term_end, cancel_with_base, trial_end_date, paid_start, \
                    anchor_date, suspended_on, suspended_with_base, data_expires_on, ended_on, \
                    usage_units \
             FROM subscriptions WITH NO DATA",
        )
        .execute(conn)?;
    }
    let rows: Vec<StateRow<'_>> = subs.iter().map(|s| StateRow::of(s)).collect();
    diesel::copy_from(subscription_states::table)
        .from_insertable(&rows)
        .execute(conn)?;
    let updated = diesel::sql_query(
        "UPDATE subscriptions s SET status = t.status, in_trial = t.in_trial, \
                quantity = t.quantity, auto_renew = t.auto_renew, \
                cancel_at_term_end = t.cancel_at_term_end, cancel_with_base = t.cancel_with_base, \
                trial_end_date = t.trial_end_date, paid_start = t.paid_start, \
                anchor_date = t.anchor_date, suspended_on = t.suspended_on, \
                suspended_with_base = t.suspended_with_base, \
                data_expires_on = t.data_expires_on, ended_on = t.ended_on, \
                usage_units = t.usage_units \
         FROM pg_temp.subscription_states t \
         WHERE s.subscription_id = t.subscription_id AND s.customer_id = t.customer_id",
    )
    .execute(conn)?;
    if updated != rows.len() {
        return Err(diesel::result::Error::QueryBuilderError(
            format!(
                "{} subscription states to write, {updated} subscriptions found to write them to",
                rows.len()
            )
            .into(),
        ));
    }
    Ok(Some(updated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::vocabulary::{BillingType, Status};
    use crate::store::subscriptions::Word;

    fn row(id: &str, family: &str, parent: Option<&str>, minute: u32) -> SubscriptionRow {
        use chrono::TimeZone;
        SubscriptionRow {
            subscription_id: id.to_string(),
            family_id: family.to_string(),
            parent_subscription_id: parent.map(str::to_string),
            customer_id: "C1".to_string(),
            offer_id: "O1".to_string(),
            order_id: format!("ORD-{id}"),
            order_line: 1,
            purchased_at: Utc.with_ymd_and_hms(2026, 1, 5, 8, minute, 0).unwrap(),
            billing_type: Word(BillingType::License),
            billing_months: 1,
            term_months: 1,
            unit_price: Decimal::new(1000, 2),
            currency: "USD".to_string(),
            trial_days: 0,
            status: Word(Status::Active),
            in_trial: false,
            quantity: Some(Decimal::ONE),
            auto_renew: true,
            cancel_at_term_end: false,
            cancel_with_base: false,
            trial_end_date: None,
            paid_start: None,
            anchor_date: None,
            suspended_on: None,
            suspended_with_base: false,
            data_expires_on: None,
            ended_on: None,
            usage_units: Decimal::ZERO,
        }
    }

    /// Rows ordered by family (a due cursor's) and the same rows in any order make the same
    /// families: sorted by id, each base first and its add-ons by purchase.
    #[test]
    fn assemble_gives_the_same_families_whatever_the_rows_order() {
        // Ordered by family, but within a family the add-ons come before the base and out of
        // purchase order.
        let ordered = vec![
            row("A2", "A", Some("A"), 30),
            row("A1", "A", Some("A"), 20),
            row("A", "A", None, 10),
            row("B", "B", None, 5),
            row("C1", "C", Some("C"), 40),
            row("C", "C", None, 1),
        ];
        let mut shuffled = ordered.clone();
        shuffled.reverse();
        shuffled.swap(0, 3);
        let from_ordered = assemble(ordered);
        assert_eq!(from_ordered, assemble(shuffled));
        let ids: Vec<Vec<&str>> = from_ordered
            .iter()
            .map(|f| f.members.iter().map(|m| m.id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["A", "A1", "A2"], vec!["B"], vec!["C", "C1"]]);
        assert_eq!(
            from_ordered
                .iter()
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
    }
}
