//! The `tracing` feature: spawns, switches and hub-context panics become `tracing` events.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects `target level message/fields` lines.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut line = Line(format!("{} {}", e.metadata().target(), e.metadata().level()));
        e.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spawns_switches_and_hub_context_panics_are_traced() {
    let c = Collect::default();
    tracing::subscriber::with_default(c.clone(), || {
        green::debug::hub_exceptions(false);
        green::Builder::new().name("traced").spawn(|| ()).wait().unwrap();
        green::hub::schedule_call_global(std::time::Duration::ZERO, || panic!("in hub"));
        green::sleep(std::time::Duration::ZERO);
    });
    let lines = c.0.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.starts_with("green DEBUG") && l.contains("name=\"traced\"")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("green::switch TRACE") && l.contains("switch in")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("green WARN") && l.contains("in hub")), "{lines:#?}");
}
