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
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path};
use axum::http::header::CONTENT_TYPE;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use examples::model::{v2, DemoData};
use examples::routes::{self, Reply};
use examples::{startup, DemoConfig, DemoError, DemoSession};
use session_axum::{Session, SessionLayer};
use session_core::SessionManager;

type Body = Result<Bytes, BytesRejection>;

#[tokio::main]
async fn main() {
    startup::init_tracing();
    startup::init_metrics();
    if let Err(err) = run().await {
        startup::exit_with("axum-demo", &err);
    }
}

async fn run() -> Result<(), DemoError> {
    let config = startup::load_config()?;
    match config.session_version {
        2 => serve::<v2::DemoSession>(config).await,
        _ => serve::<DemoSession>(config).await,
    }
}

async fn serve<D: DemoData>(config: DemoConfig) -> Result<(), DemoError> {
    let listener = startup::bind(&config)?;
    let manager = startup::open::<D>(&config).await?;
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

fn app<D: DemoData>(manager: SessionManager<D>) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/counter", get(counter::<D>))
        .route("/counter/peek", get(counter_peek::<D>))
        .route("/login", post(login::<D>))
        .route("/me", get(me::<D>))
        .route("/logout", post(logout::<D>))
        .route("/flash", get(flash_get::<D>).post(flash_post::<D>))
        .route("/consent", post(consent::<D>))
        .route(
            "/secret-note",
            get(get_secret_note::<D>).put(put_secret_note::<D>),
        )
        .route("/sessions", get(sessions_list::<D>))
        .route("/sessions/revoke-others", post(sessions_revoke_others::<D>))
        .route("/sessions/{id}", delete(sessions_revoke::<D>));
    // Version 1 has no such route: a plain 404, as for any unknown path.
    if D::VERSION >= 2 {
        router = router.route(
            "/preferences",
            get(get_preferences::<D>).put(put_preferences::<D>),
        );
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(routes::BODY_LIMIT))
        .layer(Extension(manager.clone()))
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

async fn metrics() -> Response {
    respond(routes::metrics())
}

async fn counter<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::counter(&session))
}

async fn counter_peek<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::counter_peek(&session))
}

async fn login<D: DemoData>(headers: HeaderMap, session: Session<D>, body: Body) -> Response {
    with_body(&headers, body, |body| routes::login(&session, body))
}

async fn me<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::me(&session))
}

async fn logout<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::logout(&session))
}

async fn flash_post<D: DemoData>(headers: HeaderMap, session: Session<D>, body: Body) -> Response {
    with_body(&headers, body, |body| routes::flash_post(&session, body))
}

async fn flash_get<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::flash_get(&session))
}

async fn consent<D: DemoData>(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session<D>,
    body: Body,
) -> Response {
    with_body(&headers, body, |body| {
        routes::consent(&session, body, Some(peer.ip()))
    })
}

async fn put_secret_note<D: DemoData>(
    headers: HeaderMap,
    session: Session<D>,
    body: Body,
) -> Response {
    with_body(&headers, body, |body| {
        routes::put_secret_note(&session, body)
    })
}

async fn get_secret_note<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::get_secret_note(&session))
}

async fn get_preferences<D: DemoData>(session: Session<D>) -> Response {
    respond(routes::get_preferences(&session))
}

async fn put_preferences<D: DemoData>(
    headers: HeaderMap,
    session: Session<D>,
    body: Body,
) -> Response {
    with_body(&headers, body, |body| {
        routes::put_preferences(&session, body)
    })
}

async fn sessions_list<D: DemoData>(
    Extension(manager): Extension<SessionManager<D>>,
    session: Session<D>,
) -> Response {
    respond(routes::sessions_list(&manager, &session).await)
}

async fn sessions_revoke<D: DemoData>(
    Extension(manager): Extension<SessionManager<D>>,
    Path(id): Path<String>,
    session: Session<D>,
) -> Response {
    respond(routes::sessions_revoke(&manager, &session, &id).await)
}

async fn sessions_revoke_others<D: DemoData>(
    Extension(manager): Extension<SessionManager<D>>,
    session: Session<D>,
) -> Response {
    respond(routes::sessions_revoke_others(&manager, &session).await)
}

async fn not_found() -> Response {
    respond(routes::not_found())
}

async fn method_not_allowed() -> Response {
    respond(routes::method_not_allowed())
}
