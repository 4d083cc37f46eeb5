//! The ceiling: the same routes without sessions.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
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

/// The actix-web app, for a server or for calling in process.
pub(super) fn actix_app() -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route("/counter", web::get().to(counter))
        .route("/counter/peek", web::get().to(peek))
}

/// The actix-web app, one worker.
pub(super) fn actix_server(listener: TcpListener) -> Result<Server, BoxError> {
    Ok(HttpServer::new(actix_app)
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
}
