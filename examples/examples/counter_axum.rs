//! A counter kept in a typed session, on axum, with the in-memory store.
//!
//! What it shows: the session is a plain struct; a handler takes the
//! `Session<T>` extractor and changes it; the layer saves what changed and
//! sends the cookie. A route that never takes the session costs nothing.
//!
//! Run: `cargo run -p examples --example counter_axum`, then
//! `curl -c jar -b jar http://127.0.0.1:3000/` a few times.

use axum::{routing::get, Router};
use serde::{Deserialize, Serialize};
use session_axum::{Session, SessionConfig, SessionLayer, SessionManager};
use session_store_memory::MemoryStore;

#[derive(Default, Clone, Serialize, Deserialize)]
struct Visits {
    count: u64,
}

async fn count(session: Session<Visits>) -> String {
    let count = session.update(|visits| {
        visits.count += 1;
        visits.count
    });
    format!("you have been here {count} times\n")
}

async fn health() -> &'static str {
    "ok\n" // no session: no store call, no Set-Cookie
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // development(): no Secure attribute, so plain http://127.0.0.1 works.
    let config = SessionConfig::development()
        .store(MemoryStore::new())
        .build()?;
    let app = Router::new()
        .route("/", get(count))
        .route("/health", get(health))
        .layer(SessionLayer::new(SessionManager::<Visits>::new(config)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("listening on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
