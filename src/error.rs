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
    /// An input file named on the command line is missing or unreadable (EX_NOINPUT).
    NoInput = 66,
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
    /// An input file named on the command line is missing or unreadable (exit 66).
    #[error("{0}")]
    NoInput(String),
    /// Another process holds the job.
    #[error("{0}")]
    JobHeld(String),
    /// SIGINT or SIGTERM stopped the run; the job in flight was rolled back.
    #[error("{0}")]
    Interrupted(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    /// The database connection went away while a command was using it (exit 69): the
    /// message says what was in progress and that nothing of it was committed.
    #[error("{0}")]
    ConnectionLost(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        if self.is_connection_lost() {
            return Exit::DatabaseUnreachable;
        }
        match self {
            Error::Config(_) => Exit::BadConfiguration,
            Error::Connect(ConnectError::Migration { .. }) => Exit::Failure,
            Error::Connect(_) => Exit::DatabaseUnreachable,
            Error::Usage(_) => Exit::Usage,
            Error::InputFailed(_) => Exit::InputFailed,
            Error::NoInput(_) => Exit::NoInput,
            Error::JobHeld(_) => Exit::JobHeld,
            Error::ConnectionLost(_) => Exit::DatabaseUnreachable,
            Error::Interrupted(_) => Exit::Interrupted,
            Error::Database(_) | Error::Other(_) => Exit::Failure,
        }
    }

    /// Did the database connection go away (the server stopped or restarted, the session was
    /// terminated, the network broke)? Also true of such an error already turned into text
    /// on its way up (`Error::Other`).
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Error::ConnectionLost(_) => true,
            Error::Database(e) => is_connection_lost(e),
            Error::Other(message) => says_connection_lost(message),
            Error::Connect(ConnectError::Migration { message, .. }) => {
                says_connection_lost(message)
            }
            _ => false,
        }
    }

    /// A lost connection, said as such: `during` is what was in progress (`apply-orders for
    /// 2026-07-30`), `rolled_back` what its rollback undid. Any other error is returned as is.
    pub fn into_connection_lost(self, during: &str, rolled_back: &str) -> Error {
        if !self.is_connection_lost() || matches!(self, Error::ConnectionLost(_)) {
            return self;
        }
        let detail = match &self {
            Error::Database(e) => e.to_string(),
            other => other.to_string(),
        };
        Error::ConnectionLost(format!(
            "the database connection was lost during {during} ({}): {rolled_back}; run it \
             again when the database is back",
            crate::store::one_line(&detail)
        ))
    }
}

/// Is this diesel error a lost connection?
pub fn is_connection_lost(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as D};
    match e {
        D::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | D::BrokenTransactionManager => true,
        D::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => is_connection_lost(rollback_error) || is_connection_lost(commit_error),
        D::DatabaseError(_, info) => says_connection_lost(info.message()),
        other => says_connection_lost(&other.to_string()),
    }
}

/// Does a message (libpq's, the server's, or one that wraps them) say the connection is gone?
/// libpq and the server word it in these ways; the SQLSTATEs are class 08 (connection
/// exception) and 57P01..57P03 (administrator, crash or startup/shutdown).
pub fn says_connection_lost(message: &str) -> bool {
    const SIGNS: [&str; 16] = [
        "server closed the connection unexpectedly",
        "no connection to the server",
        "terminating connection",
        "connection to server was lost",
        "could not receive data from server",
        "could not send data to server",
        "lost synchronization with server",
        "ssl connection has been closed unexpectedly",
        "ssl syscall error",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "the database system is not yet accepting connections",
        "server conn crashed",
        "connection not open",
        "connection exception",
    ];
    let message = message.to_ascii_lowercase();
    SIGNS.iter().any(|sign| message.contains(sign))
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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as D};

    fn db(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::Database(D::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn every_way_a_connection_is_lost_exits_69() {
        let lost = [
            db(DatabaseErrorKind::ClosedConnection, "x"),
            db(DatabaseErrorKind::UnableToSendCommand, "x"),
            Error::Database(D::BrokenTransactionManager),
            db(
                DatabaseErrorKind::Unknown,
                "server closed the connection unexpectedly\n\tThis probably means the server \
                 terminated abnormally",
            ),
            db(DatabaseErrorKind::Unknown, "no connection to the server\n"),
            db(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            db(
                DatabaseErrorKind::Unknown,
                "FATAL: the database system is shutting down",
            ),
            Error::Database(D::RollbackErrorOnCommit {
                rollback_error: Box::new(D::BrokenTransactionManager),
                commit_error: Box::new(D::NotFound),
            }),
            Error::Other("reading the period's lines: no connection to the server".into()),
            Error::Other("COPY failed: could not receive data from server: EOF".into()),
        ];
        for e in lost {
            assert!(e.is_connection_lost(), "{e:?}");
            assert_eq!(e.exit(), Exit::DatabaseUnreachable, "{e:?}");
            let said =
                e.into_connection_lost("apply-orders for 2026-07-30", "nothing was committed");
            assert!(matches!(said, Error::ConnectionLost(_)));
            assert!(
                said.to_string()
                    .contains("connection was lost during apply-orders")
            );
        }
    }

    #[test]
    fn other_database_errors_are_not_a_lost_connection() {
        for e in [
            db(DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            db(
                DatabaseErrorKind::Unknown,
                "index row size 3016 exceeds btree maximum",
            ),
            Error::Database(D::NotFound),
            Error::Other("Read-only file system (os error 30)".into()),
        ] {
            assert!(!e.is_connection_lost(), "{e:?}");
            assert_eq!(e.exit(), Exit::Failure, "{e:?}");
        }
    }
}
