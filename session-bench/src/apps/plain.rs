//! The ceiling: the same routes without sessions.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use axum::routing::get;
use axum::{Json, Router};

use super::CountBody;
use crate::BoxError;

/// The axum app.
pub(super) fn axum_router() -> Router {
    Router::new()
        .route("/counter", get(|| async { Json(CountBody { count: 1 }) }))
        .route(
            "/counter/peek",
            get(|| async { Json(CountBody { count: 0 }) }),
        )
}

async fn counter() -> HttpResponse {
    HttpResponse::Ok().json(CountBody { count: 1 })
}

async fn peek() -> HttpResponse {
    HttpResponse::Ok().json(CountBody { count: 0 })
}

/// The actix-web app, one worker.
pub(super) fn actix_server(listener: TcpListener) -> Result<Server, BoxError> {
    Ok(HttpServer::new(|| {
        App::new()
            .route("/counter", web::get().to(counter))
            .route("/counter/peek", web::get().to(peek))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
