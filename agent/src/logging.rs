//! Log lines for `tracing` events, one per event: `fotad: WARN
//! fotad::dm::session::ui: message`. The daemon writes them to stderr (the
//! journal under systemd); `FOTAD_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`) sets the level, `warn` by default. Spans are not tracked.

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

    /// Lines to stderr, at the level `FOTAD_LOG` names (default `warn`).
    pub fn stderr() -> LineLog {
        let max = std::env::var("FOTAD_LOG").ok().and_then(|l| l.trim().parse().ok()).unwrap_or(Level::WARN);
        LineLog::new(max, |line| {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        })
    }

    /// Lines kept in memory (tests check what was logged).
    pub fn capture(max: Level) -> (LineLog, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let log = LineLog::new(max, move |l| sink.lock().unwrap_or_else(|p| p.into_inner()).push(l.to_string()));
        (log, lines)
    }
}

/// Installs [`LineLog::stderr`] for the whole process (once; later calls do nothing).
pub fn install_stderr() {
    let _ = tracing::subscriber::set_global_default(LineLog::stderr());
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
}
