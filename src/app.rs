//! The application edge shared by every command: configuration, the database location and
//! connections.

use std::path::Path;

use diesel::PgConnection;

use crate::config::Config;
use crate::error::Result;
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

    /// A connection to a database whose schema is up to date.
    pub fn connect(&self) -> Result<PgConnection> {
        Ok(store::connect_and_migrate(&self.database.url())?)
    }
}
