//! `serve`'s HTTP endpoints on `[serve] listen` (axum on serve's tokio runtime):
//! `/healthz` (200 or 503, the reasons in the body, as plain text) and `/metrics` (the
//! Prometheus text format). The database is read on a connection of the endpoints' own, off
//! the runtime's threads, and never for longer than [`DATABASE_TIMEOUT`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use diesel::PgConnection;

use super::health::Health;
use super::metrics::{self, DatabaseView, JobLastRun, Scrape};
use crate::config::{Config, ConfigError};
use crate::error::{Error, Result};
use crate::jobs::JobName;
use crate::store;

/// How long a scrape waits for the database before saying it is unreachable.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `[serve] listen`, before anything runs: an address that cannot be used (in use,
/// not this machine's, a port that needs privileges) is a configuration problem, exit 78,
/// naming the key and the address.
pub fn bind(config: &Config) -> Result<Option<(std::net::TcpListener, SocketAddr)>> {
    let Some(address) = config.serve.listen else {
        return Ok(None);
    };
    let listener = std::net::TcpListener::bind(address).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another process listens there: stop it or choose another port)"
            }
            std::io::ErrorKind::AddrNotAvailable => {
                " (no interface of this machine has that address)"
            }
            std::io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need privileges: choose a higher port)"
            }
            _ => "",
        };
        Error::Config(ConfigError::Invalid {
            path: config.path.clone(),
            message: format!("[serve] listen = '{address}': cannot listen there: {e}{hint}"),
        })
    })?;
    listener.set_nonblocking(true)?;
    Ok(Some((listener, address)))
}

/// What the handlers share.
#[derive(Clone)]
pub struct Endpoints {
    pub health: Arc<Mutex<Health>>,
    database_url: String,
    inbox: PathBuf,
    /// The endpoints' own connection, made on first use and again after an error.
    connection: Arc<Mutex<Option<PgConnection>>>,
}

impl Endpoints {
    pub fn new(health: Arc<Mutex<Health>>, database_url: String, inbox: PathBuf) -> Endpoints {
        Endpoints {
            health,
            database_url,
            inbox,
            connection: Arc::new(Mutex::new(None)),
        }
    }
}

/// Serves the endpoints on `listener` until `stop` resolves; in-flight requests finish.
pub async fn run(
    listener: std::net::TcpListener,
    endpoints: Endpoints,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_page))
        .with_state(endpoints);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| Error::Other(format!("the health and metrics endpoints stopped: {e}")))
}

/// Whether `address` only this machine can reach.
pub fn is_loopback(address: SocketAddr) -> bool {
    address.ip().is_loopback()
}

async fn healthz(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    let mut verdict = lock(&endpoints.health).verdict(Utc::now());
    if let Err(why) = with_database(&endpoints, |conn| {
        store::metrics::ping(conn).map_err(|e| e.to_string())
    })
    .await
    {
        verdict.healthy = false;
        verdict
            .lines
            .insert(0, format!("database unreachable: {why}"));
    }
    let status = if verdict.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        verdict.body(),
    )
}

async fn metrics_page(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    let database = match with_database(&endpoints, read_database).await {
        Ok(view) => Some(view),
        Err(why) => {
            tracing::warn!("serve: /metrics could not read the database: {why}");
            None
        }
    };
    let inbox = endpoints.inbox.clone();
    let inbox_waiting = tokio::task::spawn_blocking(move || crate::intake::inbox::count(&inbox).0)
        .await
        .unwrap_or(0);
    let health = lock(&endpoints.health).clone();
    let text = metrics::render(&Scrape {
        health: &health,
        database,
        inbox_waiting,
    });
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text)
}

/// The ledger and the tables, each `running` attempt checked against its job's lock.
fn read_database(conn: &mut PgConnection) -> std::result::Result<DatabaseView, String> {
    let text = |e: diesel::result::Error| e.to_string();
    let last_success = store::metrics::last_successes(conn).map_err(text)?;
    let mut last_runs = Vec::new();
    for run in store::metrics::latest_runs(conn).map_err(text)? {
        let mut status = run.status.clone();
        if status == "running"
            && let Ok(job) = run.job.parse::<JobName>()
            && !crate::runner::run_is_alive(conn, job, run.lock_pid).map_err(|e| e.to_string())?
        {
            status = "interrupted".into();
        }
        let duration_seconds = run
            .finished_at
            .map(|end| (end - run.started_at).num_milliseconds() as f64 / 1000.0);
        let counts = if status == "succeeded" {
            serde_json::from_str(&run.counts).unwrap_or_default()
        } else {
            Default::default()
        };
        last_runs.push(JobLastRun {
            job: run.job,
            logical_date: run.logical_date,
            status,
            duration_seconds,
            counts,
        });
    }
    let totals = store::metrics::totals(conn).map_err(text)?;
    Ok(DatabaseView {
        last_success,
        last_runs,
        totals,
    })
}

/// Runs `read` on the endpoints' connection, on a blocking thread, within
/// [`DATABASE_TIMEOUT`]. A scrape that finds the previous one still waiting does not queue
/// behind it: it says so.
async fn with_database<T: Send + 'static>(
    endpoints: &Endpoints,
    read: impl FnOnce(&mut PgConnection) -> std::result::Result<T, String> + Send + 'static,
) -> std::result::Result<T, String> {
    let slot = endpoints.connection.clone();
    let url = endpoints.database_url.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut slot = match slot.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err("the previous check is still waiting for the database".to_string());
            }
        };
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(store::metrics::connect_once(&url)?),
        };
        let result = read(conn);
        if result.is_err() {
            // Connect afresh next time: the connection may be what failed.
            *slot = None;
        }
        result.map_err(|e| store::one_line(&store::redact::scrub(&e)))
    });
    match tokio::time::timeout(DATABASE_TIMEOUT, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("the check failed: {e}")),
        Err(_) => Err(format!(
            "no answer within {} seconds",
            DATABASE_TIMEOUT.as_secs()
        )),
    }
}

/// The health state, even if a thread panicked holding it (it is plain data).
pub fn lock(health: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    health
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
