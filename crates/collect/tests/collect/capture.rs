//! A tracing subscriber that writes every span field and event into a string, so a test can
//! search the log output of a run.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Default)]
pub struct Capture {
    pub buffer: Arc<Mutex<String>>,
    next_id: Arc<AtomicU64>,
}

impl Capture {
    pub fn text(&self) -> String {
        self.buffer.lock().unwrap().clone()
    }

    fn write(&self, record: impl FnOnce(&mut Visitor<'_>)) {
        let mut buffer = self.buffer.lock().unwrap();
        record(&mut Visitor(&mut buffer));
        buffer.push('\n');
    }
}

struct Visitor<'a>(&'a mut String);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.write(|visitor| {
            let _ = write!(visitor.0, "span {} ", span.metadata().name());
            span.record(visitor);
        });
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        self.write(|visitor| values.record(visitor));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        self.write(|visitor| {
            let _ = write!(visitor.0, "{} ", event.metadata().level());
            event.record(visitor);
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
