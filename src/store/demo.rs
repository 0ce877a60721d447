//! What `demo` asks of the database: a fresh database of its own, and the counts of its
//! closing summary.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Drops database `name` (ending its sessions) and creates it empty. `name` is the caller's
/// literal identifier, never input.
pub fn recreate_database(conn: &mut PgConnection, name: &str) -> QueryResult<()> {
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(conn)?;
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(conn)?;
    Ok(())
}

/// A labelled count.
#[derive(Debug, Clone, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = Text)]
    pub label: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Subscriptions by status, `(trial)` marking those in trial, in label order.
pub fn subscriptions_by_status(conn: &mut PgConnection) -> QueryResult<Vec<Count>> {
    diesel::sql_query(
        "SELECT status || CASE WHEN in_trial THEN ' (trial)' ELSE '' END AS label, count(*) AS n \
         FROM subscriptions GROUP BY 1 ORDER BY 1",
    )
    .load(conn)
}

/// Rows staged, rows rejected, charge lines, invoices.
pub fn table_counts(conn: &mut PgConnection) -> QueryResult<Vec<Count>> {
    diesel::sql_query(
        "SELECT 'rows staged' AS label, count(*) AS n FROM staged_events \
         UNION ALL SELECT 'rows rejected', count(*) FROM rejected_rows \
         UNION ALL SELECT 'charge lines', count(*) FROM charge_lines \
         UNION ALL SELECT 'invoices', count(*) FROM invoices",
    )
    .load(conn)
}

/// Per currency, `<currency> <total invoiced>` and the number of invoices.
pub fn invoiced_by_currency(conn: &mut PgConnection) -> QueryResult<Vec<Count>> {
    diesel::sql_query(
        "SELECT currency || ' ' || to_char(sum(total), 'FM999999990.00') AS label, \
                count(*) AS n FROM invoices GROUP BY currency ORDER BY currency",
    )
    .load(conn)
}
