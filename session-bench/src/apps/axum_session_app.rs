//! axum_session on axum: the null pool (sessions in its in-memory cache
//! only) and axum_session_redispool, with the defaults (cookie `session`,
//! 6-hour lifespan renewed in memory on every request; the database is
//! written when the session changed or every 10 s per session).

use std::fmt::Debug;

use axum::routing::get;
use axum::{Json, Router};
use axum_session::{
    DatabasePool, Session, SessionConfig, SessionLayer, SessionNullPool, SessionStore,
};
use axum_session_redispool::SessionRedisPool;
use redis_pool::RedisPool;

use super::{CountBody, ServeOptions, Store};
use crate::BoxError;

async fn counter<P>(session: Session<P>) -> Json<CountBody>
where
    P: DatabasePool + Clone + Debug + Sync + Send + 'static,
{
    let count = session.get::<u64>("count").unwrap_or(0) + 1;
    session.set("count", count);
    Json(CountBody { count })
}

async fn peek<P>(session: Session<P>) -> Json<CountBody>
where
    P: DatabasePool + Clone + Debug + Sync + Send + 'static,
{
    Json(CountBody {
        count: session.get::<u64>("count").unwrap_or(0),
    })
}

fn routes<P>(store: SessionStore<P>) -> Router
where
    P: DatabasePool + Clone + Debug + Sync + Send + 'static,
{
    Router::new()
        .route("/counter", get(counter::<P>))
        .route("/counter/peek", get(peek::<P>))
        .layer(SessionLayer::new(store))
}

/// The app with a store.
pub(super) async fn router(store: Store, options: &ServeOptions) -> Result<Router, BoxError> {
    match store {
        Store::Memory => {
            let store =
                SessionStore::<SessionNullPool>::new(None, SessionConfig::default()).await?;
            Ok(routes(store))
        }
        Store::Redis => {
            let client = redis::Client::open(options.redis_url()?)?;
            let pool = SessionRedisPool::from(RedisPool::from(client));
            // Keys are "<table>:<id>": the table name is the variant's prefix.
            let table = options.redis_prefix.trim_end_matches(':').to_owned();
            let config = SessionConfig::default().with_table_name(table);
            let store = SessionStore::<SessionRedisPool>::new(Some(pool), config).await?;
            Ok(routes(store))
        }
        other => Err(format!("axum_session has no {} store", other.name()).into()),
    }
}
