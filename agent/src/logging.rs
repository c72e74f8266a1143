//! Log lines for `tracing` events, one per event: `fotad: WARN
//! fotad::dm::session::ui: message key=value`, errors with their whole chain
//! of causes. The daemon writes them to stderr (the journal under systemd);
//! `FOTAD_LOG` (`error`, `warn`, `info`, `debug`, `trace`) sets the level,
//! `info` by default: sessions, jobs, progress every 10 %, results. Spans are
//! not tracked.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// A subscriber handing each event at or above its level to a sink as one line.
pub struct LineLog {
    max: Level,
    sink: Sink,
}

impl std::fmt::Debug for LineLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineLog").field("max", &self.max).finish_non_exhaustive()
    }
}

impl LineLog {
    pub fn new(max: Level, sink: impl Fn(&str) + Send + Sync + 'static) -> LineLog {
        LineLog { max, sink: Box::new(sink) }
    }

    /// Lines to stderr, at the level `FOTAD_LOG` names (default `info`).
    pub fn stderr() -> LineLog {
        let max = std::env::var("FOTAD_LOG").ok().and_then(|l| l.trim().parse().ok()).unwrap_or(Level::INFO);
        LineLog::new(max, |line| {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        })
    }

    /// Lines kept in memory (tests check what was logged).
    pub fn capture(max: Level) -> (LineLog, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let log = LineLog::new(max, move |l| fotad_updater::sync::lock(&sink).push(l.to_string()));
        (log, lines)
    }
}

/// Installs [`LineLog::stderr`] for the whole process (once; later calls do nothing).
pub fn install_stderr() {
    let _ = tracing::subscriber::set_global_default(LineLog::stderr());
}

/// An error with its causes, `outer: inner: innermost`, for a log field.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // A wrapper that prints its cause already (`#[error(transparent)]`, "{0}") adds nothing.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={:?}", field.name(), chain(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for LineLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.max.into())
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let m = event.metadata();
        let mut line = format!("fotad: {} {}:", m.level(), m.target());
        event.record(&mut Line(&mut line));
        (self.sink)(&line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn events_at_or_above_the_level_become_lines() {
        let (log, lines) = LineLog::capture(Level::WARN);
        tracing::subscriber::with_default(log, || {
            tracing::warn!(uri = "./A", "value {} ignored", 7);
            tracing::info!("not shown");
            tracing::error!("shown");
        });
        let lines = lines.lock().unwrap().clone();
        assert_eq!(
            lines,
            [
                "fotad: WARN fotad::logging::tests: value 7 ignored uri=\"./A\"",
                "fotad: ERROR fotad::logging::tests: shown"
            ]
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("opening {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[test]
    fn errors_are_logged_with_their_causes() {
        let e = Outer("/x", std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
        assert_eq!(chain(&e), "opening /x: no such file");
        let (log, lines) = LineLog::capture(Level::WARN);
        tracing::subscriber::with_default(log, || {
            tracing::warn!(error = &e as &(dyn std::error::Error + 'static), "failed");
        });
        assert_eq!(
            lines.lock().unwrap()[0],
            "fotad: WARN fotad::logging::tests: failed error=\"opening /x: no such file\""
        );
    }
}
