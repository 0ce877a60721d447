//! The database shell: connecting (with the embedded default), migrations, the generated
//! diesel schema and the queries each part of subsweep runs.

pub mod catalog;
pub mod charges;
pub mod citus;
pub mod clock;
pub mod cursor;
pub mod demo;
pub mod due_reader;
pub mod embedded;
pub mod events;
pub mod explain;
pub mod export;
pub mod families;
pub mod invoices;
pub mod ledger;
pub mod line_stream;
pub mod metrics;
pub mod output_owner;
pub mod preview;
pub mod reader;
pub mod redact;
pub mod rejects;
pub mod reports;
pub mod schema;
pub mod sessions;
pub mod staged;
pub mod staging;
pub mod status;
pub mod subscriptions;
pub mod vocabulary;

use std::time::Duration;

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::Config;
use embedded::{Durability, EmbeddedCluster, EmbeddedError};
pub use redact::redact;

/// The migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The database subsweep uses inside its embedded cluster.
pub const EMBEDDED_DATABASE: &str = "subsweep";

/// Why no usable database connection could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("database {url} unreachable after {attempts} attempts: {last_error}")]
    Unreachable {
        url: String,
        attempts: u32,
        last_error: String,
    },
    #[error("migrating database {url} failed: {message}")]
    Migration { url: String, message: String },
}

/// Where the database is: a URL given by the user, or the embedded cluster.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    Url(String),
    Embedded(EmbeddedCluster),
}

impl DatabaseLocation {
    /// `--database-url`, then `DATABASE_URL`, then `[database].url`; with none, the embedded
    /// cluster under `[database].data_dir` (started if needed).
    pub fn resolve(config: &Config, cli_url: Option<&str>) -> Result<Self, ConnectError> {
        let env_url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        // Every candidate's password is kept out of the logs, even one that is not used.
        for candidate in [cli_url, env_url.as_deref(), config.database.url.as_deref()]
            .into_iter()
            .flatten()
        {
            redact::remember(candidate);
        }
        if let Some(url) = cli_url
            .map(str::to_string)
            .or(env_url)
            .or_else(|| config.database.url.clone())
        {
            return Ok(DatabaseLocation::Url(url));
        }
        let cluster =
            EmbeddedCluster::ensure_running(&config.database.data_dir, Durability::Durable)?;
        ensure_database(&cluster.url("postgres"), EMBEDDED_DATABASE)?;
        tracing::info!(
            data_dir = %cluster.data_dir.display(),
            "using the embedded PostgreSQL cluster (set DATABASE_URL to use another server)"
        );
        Ok(DatabaseLocation::Embedded(cluster))
    }

    /// The URL of the main database.
    pub fn url(&self) -> String {
        match self {
            DatabaseLocation::Url(url) => url.clone(),
            DatabaseLocation::Embedded(cluster) => cluster.url(EMBEDDED_DATABASE),
        }
    }

    /// A description safe for logs: passwords removed.
    pub fn describe(&self) -> String {
        match self {
            DatabaseLocation::Url(url) => redact(url),
            DatabaseLocation::Embedded(cluster) => {
                format!("embedded cluster at {}", cluster.data_dir.display())
            }
        }
    }
}

/// Connects, retrying with exponential backoff (the number of attempts is
/// `SUBSWEEP_CONNECT_ATTEMPTS`, default 5: about 15 seconds in all).
pub fn connect(url: &str) -> Result<PgConnection, ConnectError> {
    redact::remember(url);
    let attempts = std::env::var("SUBSWEEP_CONNECT_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(5)
        .max(1);
    let mut delay = Duration::from_millis(500);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        match PgConnection::establish(url) {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                last_error = one_line(&redact::scrub(&e.to_string()));
                if attempt < attempts {
                    tracing::warn!(attempt, database = %redact(url), error = %last_error, "database unreachable, retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(8));
                }
            }
        }
    }
    Err(ConnectError::Unreachable {
        url: redact(url),
        attempts,
        last_error,
    })
}

/// Connects and brings the schema up to date.
pub fn connect_and_migrate(url: &str) -> Result<PgConnection, ConnectError> {
    let mut conn = connect(url)?;
    migrate(&mut conn).map_err(|message| ConnectError::Migration {
        url: redact(url),
        message: redact::scrub(&message).into_owned(),
    })?;
    Ok(conn)
}

/// Runs pending migrations; returns how many ran.
pub fn migrate(conn: &mut PgConnection) -> Result<usize, String> {
    // Serialize concurrent migrators (two processes starting at once).
    diesel::sql_query("SELECT pg_advisory_lock(7365432101)")
        .execute(conn)
        .map_err(|e| e.to_string())?;
    let result = refuse_newer_schema(conn).and_then(|()| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| e.to_string())
    });
    diesel::sql_query("SELECT pg_advisory_unlock(7365432101)")
        .execute(conn)
        .map_err(|e| e.to_string())?;
    result
}

/// A database whose schema a newer subsweep migrated is not this version's to write into: its
/// tables may mean what this version does not know. Refused before anything runs.
fn refuse_newer_schema(conn: &mut PgConnection) -> Result<(), String> {
    use diesel::migration::MigrationSource;
    let known: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let unknown: Vec<String> = conn
        .applied_migrations()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|v| v.to_string())
        .filter(|v| !known.contains(v))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "its schema was migrated by a newer version of subsweep (migration {} is unknown to \
         version {}): run that version or a newer one, or point this one at another database",
        unknown.join(", "),
        env!("CARGO_PKG_VERSION")
    ))
}

/// Creates database `name` through the maintenance URL if it does not exist yet.
pub fn ensure_database(maintenance_url: &str, name: &str) -> Result<(), ConnectError> {
    let mut conn = connect(maintenance_url)?;
    let exists = diesel::select(diesel::dsl::exists(
        pg_database::table.filter(pg_database::datname.eq(name)),
    ))
    .get_result::<bool>(&mut conn)
    .map_err(|e| unreachable_error(maintenance_url, e))?;
    if !exists {
        match diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn) {
            Ok(_) => {}
            // Another process created it between our check and our CREATE.
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("already exists") => {}
            Err(e) => return Err(unreachable_error(maintenance_url, e)),
        }
    }
    Ok(())
}

fn unreachable_error(url: &str, e: diesel::result::Error) -> ConnectError {
    ConnectError::Unreachable {
        url: redact(url),
        attempts: 1,
        last_error: one_line(&redact::scrub(&e.to_string())),
    }
}

/// A file's line number as the schema stores it (`integer`).
fn source_line(line: u64) -> i32 {
    i32::try_from(line).expect("an order file has fewer than 2^31 lines")
}

/// A libpq message (often several indented lines) as one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

diesel::table! {
    pg_database (datname) {
        datname -> Text,
    }
}

/// A job that wrote more rows than this refreshes what the planner knows of its tables.
pub const BULK_ROWS: i64 = 20_000;

/// After a bulk write, in the job's transaction: fresh planner statistics for `tables`, and
/// their BRIN indexes' new block ranges summarized. Autovacuum does both, but later: until
/// then the planner estimates from nothing (a quiet day after a million purchases scanned
/// whole tables). Table names are the caller's literals.
pub fn refresh_after_bulk(conn: &mut PgConnection, tables: &[&str]) -> QueryResult<()> {
    analyze(conn, tables)?;
    summarize_brin(conn, tables)
}

/// The statistics target of the refresh after a bulk write (PostgreSQL's default is 100):
/// ANALYZE samples 300 rows per unit of target, so 10 reads 3,000 rows of each table instead
/// of 30,000, and keeps 10 common values and 10 histogram buckets per column. The queries the
/// jobs run next need only the tables' sizes and rough selectivities to pick their index
/// plans; measured on the purchase day of 100,000 orders, ANALYZE of its four tables went from
/// about 0.6 s to 0.15 s. Columns with a target of their own keep it.
pub const BULK_STATISTICS_TARGET: i32 = 10;

/// Fresh planner statistics for `tables` (the caller's literal names), in the caller's
/// transaction: rows written earlier in it are otherwise unknown to the planner. Sampled at
/// [`BULK_STATISTICS_TARGET`] (or the server's own default, if lower) for this transaction's
/// ANALYZEs only: the setting is put back before returning.
pub fn analyze(conn: &mut PgConnection, tables: &[&str]) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        previous: String,
    }
    let Setting { previous } = diesel::sql_query(
        "SELECT current_setting('default_statistics_target') AS previous, \
                set_config('default_statistics_target', \
                           least(current_setting('default_statistics_target')::int, $1)::text, \
                           true)",
    )
    .bind::<diesel::sql_types::Integer, _>(BULK_STATISTICS_TARGET)
    .get_result(conn)?;
    for table in tables {
        diesel::sql_query(format!("ANALYZE {table}")).execute(conn)?;
    }
    diesel::sql_query("SELECT set_config('default_statistics_target', $1, true)")
        .bind::<diesel::sql_types::Text, _>(previous)
        .execute(conn)?;
    Ok(())
}

/// Whether the database answers (an error if it does not).
pub fn ping(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

/// Summarizes the new block ranges of the BRIN indexes of `tables`: an unsummarized range
/// matches every search (a day's provisioning report read every applied event). Cheap: it
/// reads only the ranges appended since the last summary. Only the owner may summarize: an
/// index of another role (tables migrated by someone else) is left to autovacuum rather than
/// failing the night.
pub fn summarize_brin(conn: &mut PgConnection, tables: &[&str]) -> QueryResult<()> {
    let list = tables
        .iter()
        .map(|t| format!("'{t}'::regclass"))
        .collect::<Vec<_>>()
        .join(", ");
    diesel::sql_query(format!(
        "SELECT brin_summarize_new_values(i.indexrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
         WHERE a.amname = 'brin' AND i.indrelid IN ({list}) \
           AND pg_has_role(current_user, c.relowner, 'USAGE')"
    ))
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(
            redact("postgres://app:p@ss@db/x"),
            "postgres://app:***@db/x"
        );
    }
}
