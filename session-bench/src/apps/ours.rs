//! Our apps: session-axum and session-actix with the memory, Redis and cookie
//! stores, default configuration (idle timeout 1 hour, refreshed by a
//! request that loads the session once it would move by a tenth of it,
//! absolute timeout 24 hours, random 256-bit tokens keyed by their SHA-256
//! in server stores).
//!
//! The `ours-onwrite` apps change one setting, [`IdleRefresh::OnWrite`]: a
//! read neither extends the idle expiry nor sends `Set-Cookie` (nor reseals
//! a cookie-store cookie), which is what the peers do by default. They
//! measure ours doing the peers' work.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::test::init_service;
use actix_web::{web, App, HttpResponse, HttpServer};
use axum::routing::get;
use axum::{Json, Router};
use session_core::{Concurrency, IdleRefresh, KeyRing, SessionConfig, SessionManager};
use session_store_cookie::CookieStore;
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

use super::{CountBody, Counter, Library, ServeOptions, Store};
use crate::inproc::{ActixInProcess, Driver};
use crate::redis_rs_store::{LockStep, RedisRsStore};
use crate::BoxError;

/// Redis connections: the store's default (one connection; fred pipelines
/// concurrent commands on it).
pub(super) const REDIS_POOL_SIZE: usize = 1;

/// Sessions the near cache of `ours-nearcache` holds: every user's.
pub(super) const NEAR_CACHE_CAPACITY: usize = 100_000;

/// Why our cookie-store apps cannot run, if they cannot.
pub(super) const COOKIE_UNAVAILABLE: Option<&str> = None;
/// Why our Redis apps cannot run, if they cannot.
pub(super) const REDIS_UNAVAILABLE: Option<&str> = None;
/// Why our actix-web apps cannot run, if they cannot.
pub(super) const ACTIX_UNAVAILABLE: Option<&str> = None;

/// Why `ours-serialize` cannot run on a store, if it cannot: the cookie
/// store keeps no server state to lock.
pub(super) fn serialize_unavailable(store: Store) -> Option<&'static str> {
    match store {
        Store::Cookie => Some("the cookie store cannot serialize requests"),
        _ => None,
    }
}

/// The manager of an app: the store, the options' secret (random per
/// process when none is given), and the defaults, except [`IdleRefresh::OnWrite`] for `ours-onwrite`.
async fn manager(
    library: Library,
    store: Store,
    options: &ServeOptions,
) -> Result<SessionManager<Counter>, BoxError> {
    let secret = options
        .secret
        .clone()
        .unwrap_or_else(session_core::crypto::token::random_token);
    let keys = KeyRing::new([secret.as_str()])?;
    let mut builder = SessionConfig::builder().keys(keys.clone()).secure(false);
    if library == Library::OursOnWrite {
        builder = builder.idle_refresh(IdleRefresh::OnWrite);
    }
    if library.serializes() {
        builder = builder.concurrency(Concurrency::Serialize);
    }
    let builder = match store {
        Store::Memory => builder.store(MemoryStore::new()),
        Store::Cookie => builder.store(CookieStore::new(keys)),
        Store::Redis => builder.store(redis_store(library, options).await?),
        Store::Postgres => builder.store(postgres_store(options).await?),
        Store::RedisRs => builder.store(redis_rs_store(options, LockStep::Script).await?),
        Store::RedisRsPipelined => {
            builder.store(redis_rs_store(options, LockStep::Pipeline).await?)
        }
        other => return Err(format!("no {} store in this build", other.name()).into()),
    };
    Ok(SessionManager::new(builder.build()?))
}

/// The Redis store of an app: its prefix, the pool of every Redis variant,
/// the near cache for `ours-nearcache` only, and the options' wake-ups.
async fn redis_store(library: Library, options: &ServeOptions) -> Result<RedisStore, BoxError> {
    let mut builder = RedisStore::builder()
        .prefix(options.redis_prefix.clone())
        .pool_size(REDIS_POOL_SIZE)
        .near_cache(match library {
            Library::OursNearCache => NEAR_CACHE_CAPACITY,
            _ => 0,
        });
    if let Some(on) = options.lock_wakeups {
        builder = builder.lock_wakeups(on);
    }
    Ok(builder.connect(options.redis_url()?).await?)
}

/// The redis-rs store of an app (a measurement of the client, see
/// `redis_rs_store.rs`): the options' Redis and prefix, leases by `step`.
async fn redis_rs_store(options: &ServeOptions, step: LockStep) -> Result<RedisRsStore, BoxError> {
    let store = RedisRsStore::connect(options.redis_url()?, options.redis_prefix.clone()).await?;
    Ok(store.lock_step(step))
}

/// The PostgreSQL store of an app: its table (migrated), the store's
/// default pool, and the options' wake-ups.
async fn postgres_store(options: &ServeOptions) -> Result<SqlStore, BoxError> {
    let (url, table) = options
        .postgres
        .as_ref()
        .ok_or("a PostgreSQL app needs --postgres URL TABLE")?;
    let mut builder = SqlStore::builder().table(table.clone()).no_cleanup();
    if let Some(on) = options.lock_wakeups {
        builder = builder.lock_wakeups(on);
    }
    let store = builder.connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

async fn axum_counter(session: session_axum::Session<Counter>) -> Json<CountBody> {
    let count = session.update(|data| {
        data.count += 1;
        data.count
    });
    Json(CountBody { count })
}

async fn axum_peek(session: session_axum::Session<Counter>) -> Json<CountBody> {
    Json(CountBody {
        count: session.data().count,
    })
}

/// The peek of [`Library::OursSerializeReadOnly`]: the lock-free extractor.
async fn axum_peek_read_only(session: session_axum::ReadOnlySession<Counter>) -> Json<CountBody> {
    Json(CountBody {
        count: session.data().count,
    })
}

/// The axum app with a store.
pub(super) async fn axum_router(
    library: Library,
    store: Store,
    options: &ServeOptions,
) -> Result<Router, BoxError> {
    let manager = manager(library, store, options).await?;
    let peek = match library {
        Library::OursSerializeReadOnly => get(axum_peek_read_only),
        _ => get(axum_peek),
    };
    let counter = match options.handler_delay {
        None => get(axum_counter),
        // The handler's own work (a query, say) between its load and its
        // commit: what a waiter for its lease waits through.
        Some(delay) => get(move |session: session_axum::Session<Counter>| async move {
            tokio::time::sleep(delay).await;
            axum_counter(session).await
        }),
    };
    Ok(Router::new()
        .route("/counter", counter)
        .route("/counter/peek", peek)
        .layer(session_axum::SessionLayer::new(manager)))
}

async fn actix_counter(session: session_actix::Session<Counter>) -> HttpResponse {
    let count = session.update(|data| {
        data.count += 1;
        data.count
    });
    HttpResponse::Ok().json(CountBody { count })
}

async fn actix_peek(session: session_actix::Session<Counter>) -> HttpResponse {
    HttpResponse::Ok().json(CountBody {
        count: session.data().count,
    })
}

/// The actix-web app, for a server or for calling in process.
fn actix_app(
    manager: SessionManager<Counter>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route("/counter", web::get().to(actix_counter))
        .route("/counter/peek", web::get().to(actix_peek))
        .wrap(session_actix::SessionMiddleware::new(manager))
}

/// The actix-web app with a store, called in process with `users` users.
pub(super) async fn actix_in_process(
    library: Library,
    store: Store,
    options: &ServeOptions,
    users: usize,
) -> Result<Box<dyn Driver>, BoxError> {
    let manager = manager(library, store, options).await?;
    let service = init_service(actix_app(manager)).await;
    Ok(Box::new(ActixInProcess::new(service, users, true).await?))
}

/// The actix-web app with a store, one worker.
pub(super) async fn actix_server(
    library: Library,
    store: Store,
    options: &ServeOptions,
    listener: TcpListener,
) -> Result<Server, BoxError> {
    let manager = manager(library, store, options).await?;
    Ok(HttpServer::new(move || actix_app(manager.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
}
