//! Everything subsweep writes to standard error: log lines, progress bars and the final error.
//!
//! - Two formats. `human`: one line per event, coloured only when standard error is a terminal,
//!   `NO_COLOR` is unset (or empty) and `TERM` is not `dumb` ([`colour`]). `json`: one JSON
//!   object per line, for every line the process writes to standard error (log events, the
//!   final error, usage errors, a panic); a field named in [`NESTED_JSON_FIELDS`] (the job-run
//!   summary's `counts`) is a nested object, not a string holding JSON.
//! - Levels: `RUST_LOG` when set, else the command's default (`info`; `warn` for the demo);
//!   `tokio_cron_scheduler` is held to warnings unless `RUST_LOG` names it. `-q/--quiet` caps
//!   whatever was chosen at warnings: `RUST_LOG` picks, `--quiet` never lets info through.
//! - Progress bars ([`progress_bar`]) are drawn on a terminal only, and every log line is
//!   written with the bars cleared and then redrawn below it, so the scrollback holds log
//!   lines and one live bar.
//! - Every byte goes through [`redact::scrub`]: no known password reaches standard error.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{
    HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressState,
    ProgressStyle,
};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::store::redact;

/// Log format on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event (coloured on a terminal).
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How the process logs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: LogFormat,
    /// Warnings and errors only (caps `RUST_LOG` too).
    pub quiet: bool,
    /// The level when `RUST_LOG` is unset or invalid.
    pub default_level: &'static str,
}

/// Fields whose value is a JSON document: a JSON log line carries them as nested JSON.
pub const NESTED_JSON_FIELDS: &[&str] = &["counts"];

/// The crate whose INFO lines (`Job creator created`, …) say nothing to an operator.
const CHATTY_TARGETS: &[&str] = &["tokio_cron_scheduler"];

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format chosen by [`init`] (human before it).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Human)
}

/// Installs the log subscriber for the process (once; later calls change nothing).
pub fn init(options: Options) {
    if FORMAT.set(options.format).is_err() {
        return;
    }
    let rust_log = std::env::var("RUST_LOG").ok();
    let mut filter = rust_log
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(options.default_level));
    for target in CHATTY_TARGETS {
        if !rust_log.as_deref().unwrap_or("").contains(target)
            && let Ok(directive) = format!("{target}=warn").parse()
        {
            filter = filter.add_directive(directive);
        }
    }
    let cap = options.quiet.then_some(LevelFilter::WARN);
    let registry = tracing_subscriber::registry().with(filter).with(cap);
    let result = match options.format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(stderr_colour())
                    .with_writer(|| Stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonLine)
                    .with_writer(|| Stderr),
            )
            .try_init(),
    };
    let _ = result;
    if options.format == LogFormat::Json {
        std::panic::set_hook(Box::new(|info| {
            let message = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_string(),
                None => info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "panic".to_string()),
            };
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            write_stderr(&json_line(
                "ERROR",
                &format!("panicked{place}: {message}"),
                &[],
            ));
        }));
    }
}

/// Should human log lines be coloured? Only on a terminal, never with a non-empty `NO_COLOR`
/// (<https://no-color.org>), never when `TERM=dumb`.
pub fn colour(is_terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// [`colour`] for this process's standard error.
pub fn stderr_colour() -> bool {
    colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// Can a progress bar be drawn (a terminal that moves its cursor)?
fn bars_drawn() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// The bars on screen; log lines are written with them cleared.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// A progress bar below the log lines on a terminal (hidden elsewhere), in `template`
/// (indicatif's syntax).
pub fn progress_bar(len: u64, template: &str) -> ProgressBar {
    if !bars_drawn() {
        return ProgressBar::hidden();
    }
    // Dropped unfinished (an error ends the run), it leaves no copy behind either.
    let bar = ProgressBar::new(len).with_finish(ProgressFinish::AndClear);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.with_key("eta", mean_eta));
    }
    let _ = BARS_IN_USE.set(());
    let bar = bars().add(bar);
    // Keeps the elapsed time and the ETA moving while a long step runs.
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// The time left at the mean pace so far. (indicatif's own estimate decays while a long step
/// makes no progress, and a backfill day can take minutes: it would climb to hours.)
fn mean_eta(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = match eta(state.pos(), state.len(), state.elapsed()) {
        Some(left) => write!(out, "{}", HumanDuration(left)),
        None => write!(out, "…"),
    };
}

/// `elapsed` for `done` steps of `total`: the time the rest takes at that pace.
fn eta(done: u64, total: Option<u64>, elapsed: Duration) -> Option<Duration> {
    let total = total?;
    if done == 0 {
        return None;
    }
    let steps_left = u128::from(total.saturating_sub(done));
    let nanos = elapsed.as_nanos() * steps_left / u128::from(done);
    Some(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// Writes `text` to standard error, scrubbed, with the progress bars cleared meanwhile.
fn write_stderr(text: &str) {
    let text = redact::scrub(text);
    let write = || {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    };
    match BARS_IN_USE.get() {
        Some(()) => bars().suspend(write),
        None => write(),
    }
}

/// Set once a bar may be on screen (so the plain path takes no lock before).
static BARS_IN_USE: OnceLock<()> = OnceLock::new();

/// Standard error for the log layer: scrubbed, and below/above the bars as it should be.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stderr(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The last word of a failed command, said once: `subsweep: <message>` in human mode, a JSON
/// line (level ERROR, with the exit code) in JSON mode. Never filtered by `RUST_LOG` or `-q`.
pub fn report_error(message: &str, exit_code: u8) {
    match format() {
        LogFormat::Human => write_stderr(&format!("subsweep: {message}\n")),
        LogFormat::Json => write_stderr(&json_line(
            "ERROR",
            message,
            &[("exit_code", serde_json::Value::from(exit_code))],
        )),
    }
}

/// A notice that must reach standard error whatever the filter (the failpoints of the tests).
pub fn notice(message: &str) {
    match format() {
        LogFormat::Human => write_stderr(&format!("subsweep: {message}\n")),
        LogFormat::Json => write_stderr(&json_line("WARN", message, &[])),
    }
}

/// Did the command line ask for JSON logs? Read before the arguments are parsed, so that a
/// usage error is reported in the format asked for.
pub fn json_requested<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut json = false;
    let mut value_next = false;
    for arg in args {
        let arg = arg.as_ref();
        if value_next {
            json = arg == "json";
            value_next = false;
        } else if arg == "--" {
            break;
        } else if arg == "--log-format" {
            value_next = true;
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--log-format=")) {
            json = value == "json";
        }
    }
    json
}

/// A usage error of the command line as one JSON line: `message` is clap's first line,
/// `usage` the rest of what it would have printed.
pub fn usage_error_json(rendered: &str, exit_code: u8) -> String {
    let rendered = rendered.trim();
    let (first, rest) = rendered.split_once('\n').unwrap_or((rendered, ""));
    let message = first.strip_prefix("error: ").unwrap_or(first);
    let mut fields = vec![("exit_code", serde_json::Value::from(exit_code))];
    if !rest.trim().is_empty() {
        fields.push(("usage", serde_json::Value::from(rest.trim())));
    }
    json_line("ERROR", message, &fields)
}

/// Writes a usage error (already rendered by clap) in the chosen format.
pub fn report_usage_error(rendered: &str, exit_code: u8, json: bool) {
    if json {
        write_stderr(&usage_error_json(rendered, exit_code));
    } else {
        write_stderr(rendered);
    }
}

/// One JSON log line (with its newline) in the shape of the log events.
fn json_line(level: &str, message: &str, fields: &[(&str, serde_json::Value)]) -> String {
    let mut entries: Vec<(String, serde_json::Value)> = vec![
        ("timestamp".into(), now().into()),
        ("level".into(), level.into()),
        ("message".into(), message.into()),
    ];
    entries.extend(fields.iter().map(|(k, v)| (k.to_string(), v.clone())));
    entries.push(("target".into(), "subsweep".into()));
    object_line(&entries)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `{"k":v,…}` in the order given, and a newline.
fn object_line(entries: &[(String, serde_json::Value)]) -> String {
    let mut line = String::from("{");
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&serde_json::Value::from(key.as_str()).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push_str("}\n");
    line
}

/// The JSON event format: timestamp, level, message, the event's fields, target (and the
/// names of the spans it is in, if any).
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let mut entries: Vec<(String, serde_json::Value)> = vec![
            ("timestamp".into(), now().into()),
            ("level".into(), meta.level().as_str().into()),
        ];
        if let Some(message) = fields.message {
            entries.push(("message".into(), message.into()));
        }
        entries.extend(fields.fields);
        entries.push(("target".into(), meta.target().into()));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<serde_json::Value> =
                scope.from_root().map(|span| span.name().into()).collect();
            entries.push(("spans".into(), spans.into()));
        }
        writer.write_str(&object_line(&entries))
    }
}

#[derive(Default)]
struct JsonFields {
    message: Option<String>,
    fields: Vec<(String, serde_json::Value)>,
}

impl JsonFields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        self.fields.push((field.name().to_string(), value));
    }

    fn put_text(&mut self, field: &Field, text: String) {
        if field.name() == "message" {
            self.message = Some(text);
            return;
        }
        if NESTED_JSON_FIELDS.contains(&field.name())
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        {
            self.put(field, value);
            return;
        }
        self.put(field, text.into());
    }
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put_text(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_text(field, value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| value.to_string().into());
        self.put(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put_text(field, value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color_and_not_dumb() {
        assert!(colour(true, None, os("xterm-256color")));
        assert!(colour(true, None, None));
        // A file or a pipe.
        assert!(!colour(false, None, os("xterm-256color")));
        // NO_COLOR with any non-empty value; an empty one does not count.
        assert!(!colour(true, os("1"), os("xterm")));
        assert!(!colour(true, os("0"), os("xterm")));
        assert!(colour(true, os(""), os("xterm")));
        assert!(!colour(true, None, os("dumb")));
    }

    #[test]
    fn the_time_left_is_the_mean_pace_so_far() {
        let s = Duration::from_secs;
        assert_eq!(eta(0, Some(10), s(30)), None);
        assert_eq!(eta(1, Some(3), s(60)), Some(s(120)));
        assert_eq!(eta(5, Some(10), s(10)), Some(s(10)));
        assert_eq!(eta(10, Some(10), s(10)), Some(s(0)));
        assert_eq!(eta(3, None, s(10)), None);
    }

    #[test]
    fn json_is_found_in_the_arguments_before_parsing() {
        assert!(json_requested([
            "subsweep",
            "--log-format",
            "json",
            "status"
        ]));
        assert!(json_requested(["subsweep", "status", "--log-format=json"]));
        assert!(!json_requested(["subsweep", "--log-format", "human"]));
        assert!(!json_requested(["subsweep", "status"]));
        assert!(!json_requested(["subsweep", "--", "--log-format=json"]));
        // The last one given wins, as clap takes it.
        assert!(!json_requested([
            "subsweep",
            "--log-format=json",
            "--log-format",
            "human"
        ]));
    }

    #[test]
    fn a_usage_error_is_one_json_line() {
        let rendered = "error: unexpected argument '--bogus' found\n\nUsage: subsweep <COMMAND>\n\nFor more information, try '--help'.\n";
        let line = usage_error_json(rendered, 64);
        assert_eq!(line.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "ERROR");
        assert_eq!(value["message"], "unexpected argument '--bogus' found");
        assert_eq!(value["exit_code"], 64);
        assert!(value["usage"].as_str().unwrap().contains("Usage: subsweep"));
    }
}
