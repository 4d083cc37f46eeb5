//! The reference app on axum.
//!
//! ```text
//! cargo run --release --bin axum-demo
//! ```
//!
//! Configuration comes from the environment (see `examples::config`); the
//! behaviour of every route lives in `examples::routes`, shared with
//! `actix-demo`. This file only adapts it to axum.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::header::CONTENT_TYPE;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use examples::routes::{self, Reply};
use examples::{startup, DemoError, DemoSession};
use session_axum::SessionLayer;
use session_core::SessionManager;

type Session = session_axum::Session<DemoSession>;
type Body = Result<Bytes, BytesRejection>;

#[tokio::main]
async fn main() {
    startup::init_tracing();
    if let Err(err) = run().await {
        startup::exit_with("axum-demo", &err);
    }
}

async fn run() -> Result<(), DemoError> {
    let config = startup::load_config()?;
    let listener = startup::bind(&config)?;
    let manager = startup::open(&config).await?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(DemoError::Serve)?;
    startup::announce(listener.local_addr().map_err(DemoError::Serve)?);
    let service = app(manager).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(DemoError::Serve)
}

fn app(manager: SessionManager<DemoSession>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/counter", get(counter))
        .route("/counter/peek", get(counter_peek))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/flash", get(flash_get).post(flash_post))
        .route("/consent", post(consent))
        .route("/secret-note", get(get_secret_note).put(put_secret_note))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(routes::BODY_LIMIT))
        .layer(SessionLayer::new(manager))
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.content_type() {
        Some(content_type) => (
            status,
            [(header::CONTENT_TYPE, content_type)],
            reply.into_bytes(),
        )
            .into_response(),
        None => status.into_response(),
    }
}

/// Runs a route on a JSON request body, or answers why the body is
/// unusable (not JSON by its `Content-Type`, too large, unreadable).
fn with_body(headers: &HeaderMap, body: Body, route: impl FnOnce(&[u8]) -> Reply) -> Response {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let Err(reply) = routes::require_json(content_type) {
        return respond(reply);
    }
    respond(match body {
        Ok(bytes) => route(&bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            routes::body_too_large()
        }
        Err(_) => routes::body_unreadable(),
    })
}

async fn health() -> Response {
    respond(routes::health())
}

async fn counter(session: Session) -> Response {
    respond(routes::counter(&session))
}

async fn counter_peek(session: Session) -> Response {
    respond(routes::counter_peek(&session))
}

async fn login(headers: HeaderMap, session: Session, body: Body) -> Response {
    with_body(&headers, body, |body| routes::login(&session, body))
}

async fn me(session: Session) -> Response {
    respond(routes::me(&session))
}

async fn logout(session: Session) -> Response {
    respond(routes::logout(&session))
}

async fn flash_post(headers: HeaderMap, session: Session, body: Body) -> Response {
    with_body(&headers, body, |body| routes::flash_post(&session, body))
}

async fn flash_get(session: Session) -> Response {
    respond(routes::flash_get(&session))
}

async fn consent(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    body: Body,
) -> Response {
    with_body(&headers, body, |body| {
        routes::consent(&session, body, Some(peer.ip()))
    })
}

async fn put_secret_note(headers: HeaderMap, session: Session, body: Body) -> Response {
    with_body(&headers, body, |body| {
        routes::put_secret_note(&session, body)
    })
}

async fn get_secret_note(session: Session) -> Response {
    respond(routes::get_secret_note(&session))
}

async fn not_found() -> Response {
    respond(routes::not_found())
}

async fn method_not_allowed() -> Response {
    respond(routes::method_not_allowed())
}
