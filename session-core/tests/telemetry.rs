//! The `tracing` side of the telemetry: every store call of a request is one
//! `session_store` span with its operation, the store's name and the
//! outcome, and the session id (the hash of the token, never the token) is
//! in it only when the debug level is enabled. Spans are captured by a
//! layer of the test's own under a subscriber set for this thread.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{manager, pair, request, Cart, Counting};
use session_core::SessionId;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The fields one span was given, by name, as displayed.
type Fields = BTreeMap<String, String>;

/// Keeps the fields of every `session_store` span, in the order they close.
#[derive(Default, Clone)]
struct Spans {
    open: Arc<Mutex<BTreeMap<u64, Fields>>>,
    closed: Arc<Mutex<Vec<Fields>>>,
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() != "session_store" {
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        self.open.lock().unwrap().insert(id.into_u64(), fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(fields) = self.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Collect(fields));
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        if let Some(fields) = self.open.lock().unwrap().remove(&id.into_u64()) {
            self.closed.lock().unwrap().push(fields);
        }
    }
}

/// Two requests on the memory store, under a subscriber at `level`: a new
/// session (one `create`), then the same cookie adding an item (a `load`
/// and a `save`). Returns the spans and the session's token.
fn two_requests(level: LevelFilter) -> (Vec<Fields>, String) {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone().with_filter(level));
    let store = Counting::new();
    let token = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let manager = manager::<Cart>(&store, |b| b);
            let add = |s: &session_core::Session<Cart>| {
                s.update(|c| c.items.push("apple".into()));
            };
            let first = request(&manager, None, 200, Some(&add)).await.unwrap();
            let cookie = pair(&first);
            let token = cookie.split_once('=').unwrap().1.to_owned();
            request(&manager, Some(&cookie), 200, Some(&add))
                .await
                .unwrap();
            token
        })
    });
    let closed = spans.closed.lock().unwrap().clone();
    (closed, token)
}

fn field<'a>(span: &'a Fields, name: &str) -> Option<&'a str> {
    span.get(name).map(String::as_str)
}

/// One test, INFO then DEBUG: tracing caches whether a callsite is enabled
/// across the subscribers alive at once, so two tests under subscribers of
/// different levels in parallel threads would see each other's level.
#[test]
fn every_store_call_is_a_span_with_the_id_only_at_debug() {
    let (spans, _) = two_requests(LevelFilter::INFO);
    let operations: Vec<_> = spans.iter().map(|s| field(s, "operation")).collect();
    assert_eq!(
        operations,
        [Some("create"), Some("load"), Some("save")],
        "{spans:?}"
    );
    for span in &spans {
        assert_eq!(field(span, "store"), Some("counting-memory"), "{span:?}");
        assert_eq!(field(span, "outcome"), Some("ok"), "{span:?}");
        assert_eq!(field(span, "id"), None, "no id at info: {span:?}");
    }

    let (spans, token) = two_requests(LevelFilter::DEBUG);
    let id = SessionId::from_token(&token).to_string();
    assert_ne!(id, token);
    let load = spans
        .iter()
        .find(|s| field(s, "operation") == Some("load"))
        .unwrap_or_else(|| panic!("no load span: {spans:?}"));
    assert_eq!(field(load, "id"), Some(id.as_str()), "{load:?}");
    for span in &spans {
        assert!(
            span.values().all(|v| !v.contains(&token)),
            "the token in a span: {span:?}"
        );
    }
}
