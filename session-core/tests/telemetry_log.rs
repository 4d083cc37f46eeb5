//! An application that logs through `log` and sets no `tracing` subscriber
//! still gets the store calls' spans, with their outcome, as log records
//! (tracing's `log` feature): the store call skips its span's work only
//! where neither would show it. A test binary of its own, since both the
//! logger and the absence of a subscriber are process-wide.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::sync::Mutex;

use common::{manager, pair, request, Cart, Counting};

/// Every record's target and message.
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.target(), record.args());
        RECORDS.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

#[test]
fn without_a_subscriber_store_calls_reach_log_with_their_outcome() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Counting::new();
        let manager = manager::<Cart>(&store, |b| b);
        let add = |s: &session_core::Session<Cart>| {
            s.update(|c| c.items.push("apple".into()));
        };
        let first = request(&manager, None, 200, Some(&add)).await.unwrap();
        let cookie = pair(&first);
        request(&manager, Some(&cookie), 200, Some(&add))
            .await
            .unwrap();
    });
    let records = RECORDS.lock().unwrap().clone();
    let spans: Vec<_> = records
        .iter()
        .filter(|r| r.contains("session_store"))
        .collect();
    for operation in ["create", "load", "save"] {
        let opened = format!("operation=\"{operation}\"");
        assert!(
            spans.iter().any(|r| r.contains(&opened)),
            "no {operation} span in {records:?}"
        );
    }
    let outcomes = spans
        .iter()
        .filter(|r| r.contains("outcome=\"ok\""))
        .count();
    assert_eq!(outcomes, 3, "{records:?}");
}
