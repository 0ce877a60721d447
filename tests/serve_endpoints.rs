//! `serve`'s `/healthz` and `/metrics` on `[serve] listen`, through the binary as an operator
//! runs it: a schedule every two seconds, scrapes with a plain HTTP/1.1 GET on a loopback
//! port, SIGTERM at the end (exit 0). Every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use common::{ORDER_HEADER, PARTNER, TestEnv};

const DEADLINE: Duration = Duration::from_secs(90);

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:port: (status code, body), or `None` if nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8(response).expect("the answer is UTF-8");
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The value of the sample written exactly `series` (name and labels), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn yesterday() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Days::new(1)
}

fn midnight_seconds(date: chrono::NaiveDate) -> f64 {
    date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() as f64
}

/// `serve` running in the background, its standard error in a file; killed if a test fails.
struct Serving {
    child: Child,
    log: PathBuf,
}

impl Serving {
    fn start(env: &TestEnv) -> Serving {
        let log = env.dir.path().join("serve.log");
        let child = env
            .cli()
            .arg("serve")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Serving { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Scrapes `path` until `done` holds for the answer; panics with the last answer and the
    /// log after the deadline.
    fn wait_for(&self, port: u16, path: &str, done: impl Fn(u16, &str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some((status, body)) = get(port, path) {
                if done(status, &body) {
                    return body;
                }
                last = Some((status, body));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "{path} never answered as expected: {last:?}\n{}",
            self.log()
        );
    }

    /// SIGTERM, then the exit code (bounded).
    fn stop(mut self) -> Option<i32> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_serving_on(port: u16) -> TestEnv {
    TestEnv::with_config(&format!(
        "[serve]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[jobs]]\nname = \"nightly\"\nschedule = \"*/2 * * * * *\"\n"
    ))
}

#[test]
fn serve_answers_health_and_metrics_after_a_night_and_stops_on_sigterm() {
    let port = free_port();
    let env = env_serving_on(port);
    env.load_fixture_catalog();
    let day = yesterday();
    // One purchase that applies, one for a customer nobody knows (rejected by a rule).
    env.drop_file(
        "orders.csv",
        format!(
            "{ORDER_HEADER}\n\
             S-1,1,{day}T10:00:00Z,purchase,C-1001,admin_agent,{PARTNER},MS-M365-BP,3,,,,\n\
             S-2,1,{day}T11:00:00Z,purchase,C-9999,admin_agent,{PARTNER},MS-M365-BP,1,,,,\n"
        ),
    );
    let serving = Serving::start(&env);
    let invoices_done = "subsweep_job_last_success_date_seconds{job=\"invoices\"}";
    let text = serving.wait_for(port, "/metrics", |status, body| {
        status == 200 && sample(body, invoices_done) == Some(midnight_seconds(day))
    });

    // Every family has its HELP and TYPE, once.
    for family in [
        "subsweep_scheduler_up",
        "subsweep_serve_runs_total",
        "subsweep_inbox_files_waiting",
        "subsweep_database_up",
        "subsweep_job_last_success_date_seconds",
        "subsweep_job_last_run_date_seconds",
        "subsweep_job_last_run_status",
        "subsweep_job_last_run_duration_seconds",
        "subsweep_job_last_run_count",
        "subsweep_rows_received_total",
        "subsweep_rows_staged_total",
        "subsweep_rows_applied_total",
        "subsweep_rows_rejected_total",
        "subsweep_files_ingested_total",
        "subsweep_files_failed_total",
        "subsweep_lines_posted_total",
        "subsweep_invoices_emitted_total",
    ] {
        assert_eq!(
            text.matches(&format!("# HELP {family} ")).count(),
            1,
            "{family}\n{text}"
        );
        assert_eq!(
            text.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family}\n{text}"
        );
    }
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}\n{text}"));
    assert_eq!(value("subsweep_scheduler_up"), 1.0);
    assert_eq!(value("subsweep_database_up"), 1.0);
    for job in [
        "ingest-orders",
        "trial-conversions",
        "renewals",
        "suspension-expiry",
        "apply-orders",
        "invoices",
    ] {
        assert_eq!(
            value(&format!(
                "subsweep_job_last_success_date_seconds{{job=\"{job}\"}}"
            )),
            midnight_seconds(day)
        );
        assert_eq!(
            value(&format!(
                "subsweep_job_last_run_status{{job=\"{job}\",status=\"succeeded\"}}"
            )),
            1.0
        );
        assert_eq!(
            value(&format!(
                "subsweep_job_last_run_status{{job=\"{job}\",status=\"failed\"}}"
            )),
            0.0
        );
        let seconds = value(&format!(
            "subsweep_job_last_run_duration_seconds{{job=\"{job}\"}}"
        ));
        assert!((0.0..60.0).contains(&seconds), "{job}: {seconds}");
    }
    // The rows of the file: two staged, one applied, one rejected; the ledger's own counts.
    assert_eq!(value("subsweep_rows_received_total"), 2.0);
    assert_eq!(value("subsweep_rows_staged_total"), 2.0);
    assert_eq!(value("subsweep_rows_applied_total"), 1.0);
    assert_eq!(value("subsweep_rows_rejected_total"), 1.0);
    assert_eq!(value("subsweep_files_ingested_total"), 1.0);
    assert_eq!(value("subsweep_files_failed_total"), 0.0);
    assert_eq!(
        value("subsweep_job_last_run_count{job=\"apply-orders\",count=\"events_applied\"}"),
        1.0
    );
    let posted = env.count("SELECT count(*) AS n FROM charge_lines");
    assert!(posted > 0, "the purchase posted its lines");
    assert_eq!(value("subsweep_lines_posted_total"), posted as f64);
    assert_eq!(
        value("subsweep_invoices_emitted_total"),
        env.count("SELECT count(*) AS n FROM invoices") as f64
    );
    assert_eq!(value("subsweep_inbox_files_waiting"), 0.0);
    assert!(value("subsweep_serve_runs_total{entry=\"nightly\",outcome=\"succeeded\"}") >= 1.0);
    assert_eq!(
        value("subsweep_serve_runs_total{entry=\"nightly\",outcome=\"failed\"}"),
        0.0
    );

    let (status, body) = get(port, "/healthz").expect("/healthz answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok\n"), "{body}");
    assert!(
        body.contains(&format!("nightly: succeeded through {day}")),
        "{body}"
    );
    assert_eq!(get(port, "/nothing-here").map(|a| a.0), Some(404));

    // A file dropped now waits for the next date: the gauge counts it at once.
    env.drop_file("late.csv", format!("{ORDER_HEADER}\n"));
    serving.wait_for(port, "/metrics", |_, body| {
        sample(body, "subsweep_inbox_files_waiting") == Some(1.0)
    });

    let log = serving.log.clone();
    assert_eq!(
        serving.stop(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(get(port, "/healthz").is_none(), "the endpoints stopped too");
}

#[test]
fn serve_health_is_503_naming_the_failed_job_and_date_until_a_run_succeeds() {
    let port = free_port();
    let env = env_serving_on(port);
    // A file where the reports folder should be: apply-orders fails writing the day's reports.
    let reports = env.config.output_dir.join("reports");
    std::fs::write(&reports, "not a folder").unwrap();
    let day = yesterday();
    let serving = Serving::start(&env);
    let body = serving.wait_for(port, "/healthz", |status, _| status == 503);
    assert!(body.starts_with("unhealthy\n"), "{body}");
    let reason = body
        .lines()
        .find(|l| l.starts_with("last run failed:"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        reason.starts_with(&format!(
            "last run failed: nightly: apply-orders for {day}: "
        )),
        "{reason}"
    );
    assert!(
        reason.contains(&reports.join(day.to_string()).display().to_string()),
        "the error names what could not be written: {reason}"
    );

    let text = serving.wait_for(port, "/metrics", |status, _| status == 200);
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}\n{text}"));
    assert_eq!(
        value("subsweep_job_last_run_status{job=\"apply-orders\",status=\"failed\"}"),
        1.0
    );
    assert_eq!(
        value("subsweep_job_last_run_status{job=\"apply-orders\",status=\"succeeded\"}"),
        0.0
    );
    assert!(value("subsweep_serve_runs_total{entry=\"nightly\",outcome=\"failed\"}") >= 1.0);
    assert_eq!(
        sample(
            &text,
            "subsweep_job_last_success_date_seconds{job=\"apply-orders\"}"
        ),
        None,
        "apply-orders never succeeded"
    );
    assert_eq!(
        value("subsweep_job_last_success_date_seconds{job=\"suspension-expiry\"}"),
        midnight_seconds(day)
    );

    // Fixed: the next fire retries the date, succeeds, and the health is back.
    std::fs::remove_file(&reports).unwrap();
    let body = serving.wait_for(port, "/healthz", |status, _| status == 200);
    assert!(
        body.contains(&format!("nightly: succeeded through {day}")),
        "{body}"
    );
    let log = serving.log.clone();
    assert_eq!(
        serving.stop(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn serve_health_says_the_database_is_unreachable() {
    let port = free_port();
    let env = env_serving_on(port);
    let log = env.dir.path().join("serve.log");
    // Nothing listens on port 9: every fire fails to connect, and so does the health check.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_subsweep"))
        .args(["--config", env.config_path().to_str().unwrap()])
        .args(["--database-url", "postgres://finance:s3cret@127.0.0.1:9/x"])
        .arg("serve")
        .env("SUBSWEEP_CONNECT_ATTEMPTS", "1")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let serving = Serving { child, log };
    let body = serving.wait_for(port, "/healthz", |status, body| {
        status == 503 && body.contains("last run failed")
    });
    assert!(
        body.lines()
            .any(|l| l.starts_with("database unreachable: ")),
        "{body}"
    );
    assert!(!body.contains("s3cret"), "{body}");
    let text = serving.wait_for(port, "/metrics", |status, _| status == 200);
    assert_eq!(sample(&text, "subsweep_database_up"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "subsweep_rows_applied_total"), None, "{text}");
    assert!(!text.contains("s3cret"));
    assert_eq!(serving.stop(), Some(0));
}

#[test]
fn serve_refuses_a_listen_address_in_use_with_exit_78_naming_the_key() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let env = env_serving_on(port);
    let (code, _, err) = env.run(&["serve"]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains(&format!("[serve] listen = '127.0.0.1:{port}'")),
        "{err}"
    );
    assert!(err.contains("in use"), "{err}");
    assert!(
        err.contains(&env.config_path().display().to_string()),
        "{err}"
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM job_runs"),
        0,
        "nothing ran"
    );
    drop(taken);
}
