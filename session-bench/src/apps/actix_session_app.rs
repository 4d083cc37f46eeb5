//! actix-session on actix-web: CookieSessionStore and RedisSessionStore, with
//! the defaults (cookie `id`, private (encrypted) cookie content, a
//! browser-session cookie, TTL extended only when the state changes).

use std::net::TcpListener;

use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse, HttpServer};

use super::{CountBody, ServeOptions, Store};
use crate::inproc::{ActixInProcess, Driver};
use crate::BoxError;
use actix_web::test::init_service;

async fn counter(session: Session) -> actix_web::Result<HttpResponse> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", count)?;
    Ok(HttpResponse::Ok().json(CountBody { count }))
}

async fn peek(session: Session) -> actix_web::Result<HttpResponse> {
    let count = session.get::<u64>("count")?.unwrap_or(0);
    Ok(HttpResponse::Ok().json(CountBody { count }))
}

/// The app with a store, for a server or for calling in process.
fn app<S: SessionStore + 'static>(
    store: S,
    key: Key,
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
        .wrap(SessionMiddleware::new(store, key))
        .route("/counter", web::get().to(counter))
        .route("/counter/peek", web::get().to(peek))
}

/// The app on one worker, with a store made per worker by `store`.
fn one_worker<S, F>(make_store: F, listener: TcpListener) -> std::io::Result<Server>
where
    S: SessionStore + 'static,
    F: Fn() -> S + Send + Clone + 'static,
{
    let key = Key::generate();
    Ok(HttpServer::new(move || app(make_store(), key.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
}

/// The app with a store, called in process with `users` users.
pub(super) async fn in_process(
    store: Store,
    options: &ServeOptions,
    users: usize,
) -> Result<Box<dyn Driver>, BoxError> {
    let key = Key::generate();
    match store {
        Store::Cookie => {
            let service = init_service(app(CookieSessionStore::default(), key)).await;
            Ok(Box::new(ActixInProcess::new(service, users, true).await?))
        }
        Store::Redis => {
            let redis = redis_store(options).await?;
            let service = init_service(app(redis, key)).await;
            Ok(Box::new(ActixInProcess::new(service, users, true).await?))
        }
        other => Err(format!("actix-session has no {} store", other.name()).into()),
    }
}

async fn redis_store(options: &ServeOptions) -> Result<RedisSessionStore, BoxError> {
    let prefix = options.redis_prefix.clone();
    Ok(RedisSessionStore::builder(options.redis_url()?)
        .cache_keygen(move |key| format!("{prefix}{key}"))
        .build()
        .await
        .map_err(|e| format!("actix-session cannot reach Redis: {e}"))?)
}

/// The app with a store.
pub(super) async fn server(
    store: Store,
    options: &ServeOptions,
    listener: TcpListener,
) -> Result<Server, BoxError> {
    match store {
        Store::Cookie => Ok(one_worker(CookieSessionStore::default, listener)?),
        Store::Redis => {
            let redis = redis_store(options).await?;
            Ok(one_worker(move || redis.clone(), listener)?)
        }
        other => Err(format!("actix-session has no {} store", other.name()).into()),
    }
}
