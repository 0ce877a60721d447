//! `[database] citus = true`: the schema distributed on a Citus coordinator, after the
//! migrations. The tables that grow with the business are distributed by `customer_id` and
//! co-located (a customer's subscriptions, applied events, lines and invoices share a shard);
//! the catalog is made of reference tables (a copy on every node); every other table (intake,
//! the invoice runs, the job machinery) stays a plain table of the coordinator, which Citus
//! joins with the shards by bringing the needed rows of one side to the other (this needs the
//! coordinator registered in the cluster, `citus_set_coordinator_host`). ARCHITECTURE.md
//! ("Scaling out on Citus") says why each table is where it is.
//!
//! Every step is skipped when it is already done, so it runs on every connection at the cost
//! of one catalog query, and a crash between steps is finished by the next run. A table that
//! already holds rows is distributed with them (Citus copies them into the shards).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

/// How each table is placed on a Citus cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A copy on every node: small, read by the rules and joined by every shard.
    Reference,
    /// Hash-distributed by `customer_id`, co-located with `subscriptions`.
    ByCustomer,
}

impl Placement {
    /// The `citus_table_type` of `citus_tables` once the step is done.
    fn citus_type(self) -> &'static str {
        match self {
            Placement::Reference => "reference",
            Placement::ByCustomer => "distributed",
        }
    }
}

/// The tables Citus is told about, in the order they are placed (a referenced table before
/// the tables referencing it; `subscriptions` first of the distributed ones, as the others
/// are co-located with it). Tables not named (inbox_files, staged_events, rejected_rows,
/// invoice_runs, job_runs, state_clock, output_owner and diesel's own) stay plain tables of the
/// coordinator. (In Citus's metadata as "citus local" tables they would be read by Citus's
/// local execution, after which a transaction cannot ANALYZE them, as apply-orders does after
/// a big intake.)
pub const PLACEMENTS: [(&str, Placement); 6] = [
    ("offers", Placement::Reference),
    ("customers", Placement::Reference),
    ("subscriptions", Placement::ByCustomer),
    ("applied_events", Placement::ByCustomer),
    ("charge_lines", Placement::ByCustomer),
    ("invoices", Placement::ByCustomer),
];

/// Why the schema could not be distributed.
#[derive(Debug, thiserror::Error)]
pub enum CitusError {
    /// The server has no citus extension in this database.
    #[error("the database server has no citus extension in this database")]
    NoExtension,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct CitusTable {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    citus_table_type: String,
}

/// Whether the citus extension is installed in the connected database.
pub fn has_extension(conn: &mut PgConnection) -> QueryResult<bool> {
    let row: Present = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS present",
    )
    .get_result(conn)?;
    Ok(row.present)
}

/// Each table Citus knows, with its `citus_table_type` (reference, local, distributed).
pub fn table_types(conn: &mut PgConnection) -> QueryResult<HashMap<String, String>> {
    let rows: Vec<CitusTable> = diesel::sql_query(
        "SELECT table_name::text AS table_name, citus_table_type::text AS citus_table_type \
         FROM citus_tables",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.table_name, r.citus_table_type))
        .collect())
}

/// The distribution column of each hash-distributed table.
pub fn distribution_columns(conn: &mut PgConnection) -> QueryResult<HashMap<String, String>> {
    let rows: Vec<CitusTable> = diesel::sql_query(
        "SELECT table_name::text AS table_name, distribution_column::text AS citus_table_type \
         FROM citus_tables WHERE citus_table_type = 'distributed'",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.table_name, r.citus_table_type))
        .collect())
}

/// Places every table of [`PLACEMENTS`] not placed yet; returns how many steps ran (0 when
/// the schema was already distributed). Serialized with migrations by the same advisory lock.
pub fn distribute(conn: &mut PgConnection) -> Result<usize, CitusError> {
    if !has_extension(conn)? {
        return Err(CitusError::NoExtension);
    }
    diesel::sql_query("SELECT pg_advisory_lock(7365432101)").execute(conn)?;
    let result = place_all(conn);
    diesel::sql_query("SELECT pg_advisory_unlock(7365432101)").execute(conn)?;
    result
}

fn place_all(conn: &mut PgConnection) -> Result<usize, CitusError> {
    let mut ran = 0;
    for (table, placement) in PLACEMENTS {
        // Read again before each step: placing one table can bring others into Citus's
        // metadata (a table referencing a reference table becomes a "citus local" one).
        let now = table_types(conn)?;
        if now.get(table).map(String::as_str) == Some(placement.citus_type()) {
            continue;
        }
        let step = match placement {
            Placement::Reference => "SELECT create_reference_table($1::regclass)",
            Placement::ByCustomer => {
                "SELECT create_distributed_table($1::regclass, 'customer_id', \
                 colocate_with => CASE WHEN $1 = 'subscriptions' THEN 'default' \
                                       ELSE 'subscriptions' END)"
            }
        };
        tracing::info!(
            table,
            placement = placement.citus_type(),
            "citus: placing table"
        );
        diesel::sql_query(step)
            .bind::<Text, _>(table)
            .execute(conn)?;
        ran += 1;
    }
    Ok(ran)
}
