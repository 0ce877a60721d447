//! The application edge shared by every command: configuration, the database location and
//! connections.

use std::path::Path;

use diesel::PgConnection;

use crate::config::{Config, ConfigError};
use crate::error::{Error, Result};
use crate::store::citus::CitusError;
use crate::store::{self, DatabaseLocation};

/// A loaded configuration and where its database is.
pub struct App {
    pub config: Config,
    pub database: DatabaseLocation,
}

impl App {
    /// Reads the configuration and resolves the database (starting the embedded cluster when
    /// no URL is given).
    pub fn open(config_path: &Path, cli_url: Option<&str>) -> Result<App> {
        let config = Config::load(config_path)?;
        App::with_config(config, cli_url)
    }

    /// Resolves the database for an already loaded configuration.
    pub fn with_config(config: Config, cli_url: Option<&str>) -> Result<App> {
        let database = DatabaseLocation::resolve(&config, cli_url)?;
        tracing::debug!(database = %database.describe(), "database resolved");
        Ok(App { config, database })
    }

    /// A connection to a database whose schema is up to date (and distributed, with
    /// `[database] citus = true`).
    pub fn connect(&self) -> Result<PgConnection> {
        let mut conn = store::connect_and_migrate(&self.database.url())?;
        self.distribute(&mut conn)?;
        Ok(conn)
    }

    /// With `[database] citus = true`, places the tables on the Citus cluster (nothing when
    /// already done; nothing at all without the setting); returns how many steps ran. A
    /// server without the citus extension is a configuration error (exit 78).
    pub fn distribute(&self, conn: &mut PgConnection) -> Result<usize> {
        if !self.config.database.citus {
            return Ok(0);
        }
        store::citus::distribute(conn).map_err(|e| match e {
            CitusError::NoExtension => Error::Config(ConfigError::Invalid {
                path: self.config.path.clone(),
                message: format!(
                    "[database] citus = true, but the server of {} has no citus extension in \
                     this database: create it on the coordinator and every worker and register \
                     the workers (see README, \"Running on Citus\"), or remove citus = true",
                    self.database.describe()
                ),
            }),
            CitusError::Database(e) => Error::Connect(store::ConnectError::Migration {
                url: self.database.describe(),
                message: format!(
                    "distributing the schema on Citus failed: {}",
                    store::one_line(&e.to_string())
                ),
            }),
        })
    }
}
