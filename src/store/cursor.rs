//! The one server-side cursor of subsweep: a query declared once inside a transaction, its
//! rows fetched a batch at a time, so memory stays bounded whatever the query returns.
//! apply-orders (pending events), the transition jobs (members of the families due) and
//! preview (subscriptions by customer) all stream through it.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId, SqlQuery};
use diesel::query_dsl::LoadQuery;

/// The `DECLARE … CURSOR FOR <select>` statement, to bind the select's parameters to.
pub type Declare<'a> = BoxedSqlQuery<'a, Pg, SqlQuery>;

/// An open cursor over rows of type `T`. Must be opened and read inside one transaction; it
/// closes itself when a fetch comes back short (the transaction's end closes it otherwise).
pub struct Cursor<T> {
    name: &'static str,
    open: bool,
    row: PhantomData<fn() -> T>,
}

impl<T> Cursor<T> {
    /// Declares cursor `name` over `select`; `bind` binds the select's parameters (`$1`…).
    pub(crate) fn open<'a>(
        conn: &mut PgConnection,
        name: &'static str,
        select: &str,
        bind: impl FnOnce(Declare<'a>) -> Declare<'a>,
    ) -> QueryResult<Cursor<T>> {
        let declare =
            diesel::sql_query(format!("DECLARE {name} NO SCROLL CURSOR FOR {select}")).into_boxed();
        bind(declare).execute(conn)?;
        Ok(Cursor {
            name,
            open: true,
            row: PhantomData,
        })
    }

    /// The next `n` rows, or fewer at the end (empty once done), decoded by column name.
    pub fn next(&mut self, conn: &mut PgConnection, n: usize) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<Pg> + 'static,
    {
        if !self.open {
            return Ok(Vec::new());
        }
        let rows: Vec<T> = diesel::sql_query(self.fetch(n)).load(conn)?;
        self.close_if_short(conn, rows.len(), n)?;
        Ok(rows)
    }

    /// The next `n` rows decoded by position, as a `Queryable` row of SQL type `ST` (the
    /// select's columns must be `ST`'s, in order): no lookup of each field by its name.
    pub fn next_by_position<ST>(&mut self, conn: &mut PgConnection, n: usize) -> QueryResult<Vec<T>>
    where
        Fetch<ST>: for<'q> LoadQuery<'q, PgConnection, T>,
    {
        if !self.open {
            return Ok(Vec::new());
        }
        let rows: Vec<T> = Fetch::<ST>::new(diesel::sql_query(self.fetch(n))).load(conn)?;
        self.close_if_short(conn, rows.len(), n)?;
        Ok(rows)
    }

    /// Closes the cursor before its end (its remaining rows are not wanted).
    pub fn close(&mut self, conn: &mut PgConnection) -> QueryResult<()> {
        if self.open {
            diesel::sql_query(format!("CLOSE {}", self.name)).execute(conn)?;
            self.open = false;
        }
        Ok(())
    }

    fn fetch(&self, n: usize) -> String {
        format!("FETCH {n} FROM {}", self.name)
    }

    fn close_if_short(&mut self, conn: &mut PgConnection, got: usize, n: usize) -> QueryResult<()> {
        if got < n {
            diesel::sql_query(format!("CLOSE {}", self.name)).execute(conn)?;
            self.open = false;
        }
        Ok(())
    }
}

/// A query whose rows have SQL type `ST`, so diesel decodes them by position: a cursor's
/// `FETCH`, or a select run whole (`store::events::pending_ahead`).
pub struct Positional<Q, ST> {
    query: Q,
    row: PhantomData<fn() -> ST>,
}

impl<Q, ST> Positional<Q, ST> {
    /// `query`, whose columns must be `ST`'s, in order.
    pub fn new(query: Q) -> Self {
        Positional {
            query,
            row: PhantomData,
        }
    }
}

/// A `FETCH` decoded by position.
pub type Fetch<ST> = Positional<SqlQuery, ST>;

impl<Q, ST> QueryId for Positional<Q, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, ST: 'static> Query for Positional<Q, ST> {
    type SqlType = ST;
}

impl<Q: QueryFragment<Pg>, ST> QueryFragment<Pg> for Positional<Q, ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.query.walk_ast(out)
    }
}

impl<Q, ST> RunQueryDsl<PgConnection> for Positional<Q, ST> {}
