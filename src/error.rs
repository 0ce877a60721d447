//! Errors a run can end with, and the exit code each maps to (SPEC section 8).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::store::ConnectError;

/// Exit codes (sysexits.h values, as SPEC section 8 lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done = 0,
    /// Something went wrong that is none of the below (a bug, a disk error, a failed query).
    Failure = 1,
    Usage = 64,
    InputFailed = 65,
    DatabaseUnreachable = 69,
    JobHeld = 75,
    BadConfiguration = 78,
    /// Stopped by SIGINT or SIGTERM (128 + 2, as a shell reports Ctrl-C).
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Usage(String),
    /// One or more input files failed as a whole (they are in failed/ with their reasons).
    #[error("{0}")]
    InputFailed(String),
    /// Another process holds the job.
    #[error("{0}")]
    JobHeld(String),
    /// SIGINT or SIGTERM stopped the run; the job in flight was rolled back.
    #[error("{0}")]
    Interrupted(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) => Exit::BadConfiguration,
            Error::Connect(ConnectError::Migration { .. }) => Exit::Failure,
            Error::Connect(_) => Exit::DatabaseUnreachable,
            Error::Usage(_) => Exit::Usage,
            Error::InputFailed(_) => Exit::InputFailed,
            Error::JobHeld(_) => Exit::JobHeld,
            Error::Interrupted(_) => Exit::Interrupted,
            Error::Database(e) if is_connection_lost(e) => Exit::DatabaseUnreachable,
            Error::Database(_) | Error::Other(_) => Exit::Failure,
        }
    }
}

fn is_connection_lost(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as D};
    matches!(
        e,
        D::DatabaseError(DatabaseErrorKind::ClosedConnection, _) | D::BrokenTransactionManager
    )
}

impl From<Vec<crate::intake::csv_source::FileProblem>> for Error {
    /// Problems that make an input file unusable as a whole, one line each (exit 65).
    fn from(problems: Vec<crate::intake::csv_source::FileProblem>) -> Self {
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        Error::InputFailed(lines.join("\n"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Other(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
