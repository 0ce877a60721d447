//! `/metrics` in the Prometheus text exposition format (version 0.0.4): every family with its
//! `# HELP` and `# TYPE` lines once, then its samples; help text and label values escaped.
//!
//! Two sources: the database (the ledger and the tables, so the numbers survive restarts and
//! count the work of every command, `nightly` from cron included) and `serve`'s own memory
//! (whether its scheduler runs, its runs since it started).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::NaiveDate;

use super::health::Health;
use crate::store::metrics::Totals;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The status values `subsweep_job_last_run_status` has a sample for.
pub const RUN_STATUSES: [&str; 4] = ["succeeded", "failed", "running", "interrupted"];

/// A job's latest attempt, its status resolved (a `running` row whose process is gone is
/// `interrupted`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobLastRun {
    pub job: String,
    pub logical_date: NaiveDate,
    pub status: String,
    /// Finished minus started, for a finished attempt.
    pub duration_seconds: Option<f64>,
    /// The counts the attempt recorded (empty unless it succeeded).
    pub counts: BTreeMap<String, i64>,
}

/// What the database says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseView {
    pub last_success: Vec<(String, NaiveDate)>,
    pub last_runs: Vec<JobLastRun>,
    pub totals: Totals,
}

/// Everything one scrape shows.
#[derive(Debug, Clone)]
pub struct Scrape<'a> {
    pub health: &'a Health,
    /// `None` when the database could not be read (then `subsweep_database_up` is 0 and the
    /// families read from it have no samples).
    pub database: Option<DatabaseView>,
    /// Order files waiting in the inbox now.
    pub inbox_waiting: usize,
}

/// Writes families in the text format.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample of the family just started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label_value(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: backslash and line feed escaped.
pub fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A logical date as the Unix time of its first second (00:00:00 UTC).
pub fn date_seconds(date: NaiveDate) -> i64 {
    date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

/// The whole `/metrics` page.
pub fn render(scrape: &Scrape<'_>) -> String {
    let mut out = Exposition::default();
    let health = scrape.health;

    out.family(
        "subsweep_scheduler_up",
        "gauge",
        "1 while serve's scheduler runs, 0 once it is stopping.",
    );
    out.sample(
        "subsweep_scheduler_up",
        &[],
        u8::from(health.scheduler_up()),
    );
    out.family(
        "subsweep_serve_runs_total",
        "counter",
        "Runs of each [[jobs]] entry since serve started, by outcome (succeeded, failed, \
         skipped: another process held a job).",
    );
    for entry in &health.entries {
        for (outcome, n) in [
            ("succeeded", entry.runs.succeeded),
            ("failed", entry.runs.failed),
            ("skipped", entry.runs.skipped),
        ] {
            out.sample(
                "subsweep_serve_runs_total",
                &[("entry", &entry.name), ("outcome", outcome)],
                n,
            );
        }
    }
    out.family(
        "subsweep_inbox_files_waiting",
        "gauge",
        "Order files in the inbox now, waiting for the next ingest.",
    );
    out.sample("subsweep_inbox_files_waiting", &[], scrape.inbox_waiting);
    out.family(
        "subsweep_database_up",
        "gauge",
        "1 when this scrape read the database, 0 when it could not (the families read from \
         the database then have no samples).",
    );
    out.sample(
        "subsweep_database_up",
        &[],
        u8::from(scrape.database.is_some()),
    );

    let empty = DatabaseView::default();
    let db = scrape.database.as_ref().unwrap_or(&empty);
    out.family(
        "subsweep_job_last_success_date_seconds",
        "gauge",
        "The last logical date each job succeeded for, as the Unix time of 00:00 UTC that day.",
    );
    for (job, date) in &db.last_success {
        out.sample(
            "subsweep_job_last_success_date_seconds",
            &[("job", job)],
            date_seconds(*date),
        );
    }
    out.family(
        "subsweep_job_last_run_date_seconds",
        "gauge",
        "The logical date of each job's latest attempt, as the Unix time of 00:00 UTC that day.",
    );
    for run in &db.last_runs {
        out.sample(
            "subsweep_job_last_run_date_seconds",
            &[("job", &run.job)],
            date_seconds(run.logical_date),
        );
    }
    out.family(
        "subsweep_job_last_run_status",
        "gauge",
        "1 for the status of each job's latest attempt (succeeded, failed, running, \
         interrupted), 0 for the others.",
    );
    for run in &db.last_runs {
        for status in RUN_STATUSES {
            out.sample(
                "subsweep_job_last_run_status",
                &[("job", &run.job), ("status", status)],
                u8::from(run.status == status),
            );
        }
    }
    out.family(
        "subsweep_job_last_run_duration_seconds",
        "gauge",
        "How long each job's latest finished attempt took.",
    );
    for run in &db.last_runs {
        if let Some(seconds) = run.duration_seconds {
            out.sample(
                "subsweep_job_last_run_duration_seconds",
                &[("job", &run.job)],
                seconds,
            );
        }
    }
    out.family(
        "subsweep_job_last_run_count",
        "gauge",
        "The counts each job's latest attempt recorded when it succeeded (as in subsweep \
         status), by name.",
    );
    for run in &db.last_runs {
        for (count, n) in &run.counts {
            out.sample(
                "subsweep_job_last_run_count",
                &[("job", &run.job), ("count", count)],
                n,
            );
        }
    }

    let t = &db.totals;
    let totals: [(&str, &str, i64); 8] = [
        (
            "subsweep_rows_received_total",
            "Rows of the order files ingested (staged plus rejected at intake).",
            t.rows_received,
        ),
        (
            "subsweep_rows_staged_total",
            "Order rows staged by ingest-orders.",
            t.rows_staged,
        ),
        (
            "subsweep_rows_applied_total",
            "Order rows accepted by apply-orders.",
            t.rows_applied,
        ),
        (
            "subsweep_rows_rejected_total",
            "Rows rejected, at intake or by a rule (each with its reject code).",
            t.rows_rejected,
        ),
        (
            "subsweep_files_ingested_total",
            "Order files ingested and archived.",
            t.files_ingested,
        ),
        (
            "subsweep_files_failed_total",
            "Order files that failed as a whole and went to failed/.",
            t.files_failed,
        ),
        (
            "subsweep_lines_posted_total",
            "Charge lines posted (offsets included).",
            t.lines_posted,
        ),
        (
            "subsweep_invoices_emitted_total",
            "Invoices emitted.",
            t.invoices_emitted,
        ),
    ];
    for (name, help, value) in totals {
        out.family(
            name,
            "counter",
            &format!("{help} Read from the database: every command's work, kept across restarts."),
        );
        if scrape.database.is_some() {
            out.sample(name, &[], value);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::health::LastRun;

    fn health() -> Health {
        let cron = crate::config::parse_schedule("0 30 0 * * *").unwrap();
        let mut health = Health::new([("nightly".to_string(), cron)]);
        health.started(chrono::Utc::now());
        health
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(
            escape_label_value("a\\b\"c\nd"),
            "a\\\\b\\\"c\\nd",
            "backslash, quote and line feed"
        );
        assert_eq!(escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
        let mut out = Exposition::default();
        out.family("m", "gauge", "two\nlines");
        out.sample("m", &[("job", "we\"ird\n"), ("k", "v")], 1);
        assert_eq!(
            out.finish(),
            "# HELP m two\\nlines\n# TYPE m gauge\nm{job=\"we\\\"ird\\n\",k=\"v\"} 1\n"
        );
    }

    #[test]
    fn dates_are_the_unix_time_of_their_midnight() {
        assert_eq!(date_seconds("1970-01-02".parse().unwrap()), 86_400);
        assert_eq!(date_seconds("2026-07-30".parse().unwrap()), 1_785_369_600);
    }

    #[test]
    fn every_family_has_help_and_type_once_before_its_samples() {
        let mut health = health();
        health.run_finished(
            0,
            LastRun::Succeeded {
                through: "2026-07-30".parse().unwrap(),
            },
        );
        let view = DatabaseView {
            last_success: vec![("apply-orders".into(), "2026-07-30".parse().unwrap())],
            last_runs: vec![JobLastRun {
                job: "apply-orders".into(),
                logical_date: "2026-07-30".parse().unwrap(),
                status: "succeeded".into(),
                duration_seconds: Some(0.25),
                counts: [("events_applied".to_string(), 3)].into_iter().collect(),
            }],
            totals: Totals {
                rows_applied: 3,
                ..Totals::default()
            },
        };
        let text = render(&Scrape {
            health: &health,
            database: Some(view),
            inbox_waiting: 2,
        });
        let mut seen = std::collections::BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(name.clone()), "{name} twice");
                current = name;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split(' ');
                assert_eq!(words.next(), Some(current.as_str()));
                assert!(matches!(words.next(), Some("gauge" | "counter")), "{line}");
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "a sample outside its family: {line}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        for wanted in [
            "subsweep_scheduler_up 1",
            "subsweep_serve_runs_total{entry=\"nightly\",outcome=\"succeeded\"} 1",
            "subsweep_inbox_files_waiting 2",
            "subsweep_database_up 1",
            "subsweep_job_last_success_date_seconds{job=\"apply-orders\"} 1785369600",
            "subsweep_job_last_run_status{job=\"apply-orders\",status=\"succeeded\"} 1",
            "subsweep_job_last_run_status{job=\"apply-orders\",status=\"failed\"} 0",
            "subsweep_job_last_run_duration_seconds{job=\"apply-orders\"} 0.25",
            "subsweep_job_last_run_count{job=\"apply-orders\",count=\"events_applied\"} 3",
            "subsweep_rows_applied_total 3",
            "subsweep_invoices_emitted_total 0",
        ] {
            assert!(text.lines().any(|l| l == wanted), "{wanted} in\n{text}");
        }
    }

    #[test]
    fn without_the_database_its_families_have_no_samples() {
        let health = health();
        let text = render(&Scrape {
            health: &health,
            database: None,
            inbox_waiting: 0,
        });
        assert!(text.contains("subsweep_database_up 0\n"), "{text}");
        assert!(text.contains("# TYPE subsweep_rows_applied_total counter\n"));
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("subsweep_rows_applied_total")),
            "{text}"
        );
    }
}
