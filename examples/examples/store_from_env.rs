//! Swapping the store from an environment variable: the handlers do not
//! change, only the one line that picks the store.
//!
//! What it shows: every store is an `Arc<dyn SessionStore>` to the
//! configuration, so `SESSION_STORE=memory|redis|sqlite` picks one at start.
//!
//! Run: `cargo run -p examples --example store_from_env` (memory), or
//! `SESSION_STORE=redis REDIS_URL=redis://127.0.0.1:6379 cargo run -p examples --example store_from_env`;
//! then `curl -c jar -b jar http://127.0.0.1:3000/`.

use std::sync::Arc;

use axum::{routing::get, Router};
use session_axum::{Session, SessionConfig, SessionLayer, SessionManager};
use session_core::store::SessionStore;

async fn pick_store() -> Result<Arc<dyn SessionStore>, Box<dyn std::error::Error>> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    Ok(match var("SESSION_STORE", "memory").as_str() {
        "memory" => Arc::new(session_store_memory::MemoryStore::new()),
        "redis" => Arc::new(
            session_store_redis::RedisStore::connect(&var("REDIS_URL", "redis://127.0.0.1:6379"))
                .await?,
        ),
        "sqlite" => {
            let store =
                session_store_sql::SqlStore::connect("sqlite://sessions.db?mode=rwc").await?;
            store.migrate().await?; // creates the table once; safe at every start
            Arc::new(store)
        }
        other => return Err(format!("SESSION_STORE={other}: use memory, redis or sqlite").into()),
    })
}

async fn count(session: Session<u64>) -> String {
    format!(
        "{}\n",
        session.update(|n| {
            *n += 1;
            *n
        })
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = pick_store().await?;
    eprintln!("{} store, listening on http://127.0.0.1:3000", store.name());
    let config = SessionConfig::development().shared_store(store).build()?;
    let app = Router::new()
        .route("/", get(count))
        .layer(SessionLayer::new(SessionManager::<u64>::new(config)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
