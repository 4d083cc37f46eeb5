//! tower-sessions on axum: its memory store and tower-sessions-redis-store,
//! with the defaults (cookie `id`, no expiry set: the record lives two weeks
//! and is written only when modified).

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_redis_store::RedisStore;

use super::{CountBody, ServeOptions, Store};
use crate::BoxError;

/// Connections in the fred pool: the same as our Redis store's default, so
/// the comparison is about the session work.
pub(super) const REDIS_POOL_SIZE: usize = super::ours::REDIS_POOL_SIZE;

async fn counter(session: Session) -> Result<Json<CountBody>, StatusCode> {
    let count: u64 = session
        .get("count")
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .unwrap_or(0)
        + 1;
    session
        .insert("count", count)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(CountBody { count }))
}

async fn peek(session: Session) -> Result<Json<CountBody>, StatusCode> {
    let count: u64 = session
        .get("count")
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .unwrap_or(0);
    Ok(Json(CountBody { count }))
}

fn routes() -> Router {
    Router::new()
        .route("/counter", get(counter))
        .route("/counter/peek", get(peek))
}

/// The app with a store.
pub(super) async fn router(store: Store, options: &ServeOptions) -> Result<Router, BoxError> {
    match store {
        Store::Memory => Ok(routes().layer(SessionManagerLayer::new(MemoryStore::default()))),
        Store::Redis => {
            // The store has no key prefix: keys are bare session ids, in the
            // benchmark's private Redis.
            let pool = Pool::new(
                Config::from_url(options.redis_url()?)?,
                None,
                None,
                None,
                REDIS_POOL_SIZE,
            )?;
            pool.init().await?;
            Ok(routes().layer(SessionManagerLayer::new(RedisStore::new(pool))))
        }
        other => Err(format!("tower-sessions has no {} store", other.name()).into()),
    }
}
