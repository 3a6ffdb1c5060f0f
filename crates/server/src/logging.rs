//! Logs of the long-running commands (`serve`, `collect`, `demo`): `tracing` events to
//! standard error, filtered by `RUST_LOG` (default `info`), as text for a person or, with
//! `--log-format json`, one JSON object a line for a log collector (the event's fields
//! flattened, the request's or collector's span beside them).
//!
//! What the process says about itself (what it serves, its memory budget, a collector's
//! summary) goes through [`notice`]: a line as before in text, an event like any other in
//! JSON, so that nothing but JSON reaches standard error there.

use std::sync::OnceLock;

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for a person (colours on a terminal).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the log writer for this process (the first call wins).
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// A message about the process: the line as given in text; in JSON an `info` event whose
/// message drops the `mailscope: ` prefix.
pub fn notice(message: impl std::fmt::Display) {
    match FORMAT.get() {
        Some(LogFormat::Json) => {
            let message = message.to_string();
            let message = message.strip_prefix("mailscope: ").unwrap_or(&message);
            tracing::info!(target: "mailscope", "{message}");
        }
        _ => eprintln!("{message}"),
    }
}
