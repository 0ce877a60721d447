//! Streaming a query's rows out of PostgreSQL with `COPY (SELECT …) TO STDOUT` in CSV format,
//! for the files that can hold a million rows: nothing is loaded whole, rows arrive as the
//! server produces them.
//!
//! diesel's `copy_to` takes a static target (a table, or here a query whose SQL is a constant),
//! and COPY takes no bind parameters, so the one parameter an export needs (a date) travels in
//! a session setting, `subsweep.export_param`, which the SQL reads with `current_setting`.

use std::io::BufRead;
use std::marker::PhantomData;

use diesel::pg::{CopyFormat, CopyTarget, Pg};
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::sql_types::Text;

/// A query exported with COPY: its SQL reads its parameter as
/// `current_setting('subsweep.export_param')`.
pub trait Export {
    const SQL: &'static str;
}

/// The COPY target for an export: `(SELECT …)` instead of a table.
struct Target<Q>(PhantomData<Q>);

impl<Q: Export> CopyTarget for Target<Q> {
    // diesel's trait names a table; COPY of a query never uses it.
    type Table = super::schema::charge_lines::table;
    type SqlType = Text;

    fn walk_target(mut pass: AstPass<'_, '_, Pg>) -> QueryResult<()> {
        pass.push_sql("(");
        pass.push_sql(Q::SQL);
        pass.push_sql(")");
        Ok(())
    }
}

/// Starts exporting `Q` with `param`: CSV without a header, NULL as an empty field, dates in
/// ISO format (`YYYY-MM-DD`) whatever the server's DateStyle. Read the rows to the end before
/// using the connection again.
///
/// When the query fails part-way, libpq ends the stream early without an error on this side:
/// callers check what they read against totals computed separately.
pub fn copy_csv<'c, Q: Export>(
    conn: &'c mut PgConnection,
    param: &str,
) -> QueryResult<impl BufRead + use<'c, Q>> {
    diesel::sql_query(
        "SELECT set_config('subsweep.export_param', $1, false), \
                set_config('DateStyle', 'ISO, YMD', false)",
    )
    .bind::<Text, _>(param)
    .execute(conn)?;
    diesel::copy_to(Target::<Q>(PhantomData))
        .with_format(CopyFormat::Csv)
        .load_raw(conn)
}
