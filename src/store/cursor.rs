//! The one server-side cursor of subsweep: a query declared once inside a transaction, its
//! rows fetched a batch at a time, so memory stays bounded whatever the query returns.
//! apply-orders (pending events), the transition jobs (members of the families due) and
//! preview (subscriptions by customer) all stream through it.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};

/// The `DECLARE … CURSOR FOR <select>` statement, to bind the select's parameters to.
pub type Declare<'a> = BoxedSqlQuery<'a, Pg, SqlQuery>;

/// An open cursor over rows of type `T`. Must be opened and read inside one transaction; it
/// closes itself when a fetch comes back short (the transaction's end closes it otherwise).
pub struct Cursor<T> {
    name: &'static str,
    open: bool,
    row: PhantomData<fn() -> T>,
}

impl<T> Cursor<T>
where
    T: QueryableByName<Pg> + 'static,
{
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

    /// The next `n` rows, or fewer at the end (empty once done).
    pub fn next(&mut self, conn: &mut PgConnection, n: usize) -> QueryResult<Vec<T>> {
        if !self.open {
            return Ok(Vec::new());
        }
        let rows: Vec<T> = diesel::sql_query(format!("FETCH {n} FROM {}", self.name)).load(conn)?;
        if rows.len() < n {
            diesel::sql_query(format!("CLOSE {}", self.name)).execute(conn)?;
            self.open = false;
        }
        Ok(rows)
    }
}
