//! The reference app on actix-web.
//!
//! ```text
//! cargo run --release --bin actix-demo
//! ```
//!
//! Configuration comes from the environment (see `examples::config`); the
//! behaviour of every route lives in `examples::routes`, shared with
//! `axum-demo`. This file only adapts it to actix-web.

use actix_web::http::{header, StatusCode};
use actix_web::{guard, web, App, HttpRequest, HttpResponse, HttpServer, Resource, Route};
use examples::model::{v2, DemoData};
use examples::routes::{self, Reply};
use examples::{startup, DemoConfig, DemoError, DemoSession};
use session_actix::{Session, SessionMiddleware};
use session_core::SessionManager;

type Body = Result<web::Bytes, actix_web::Error>;

#[actix_web::main]
async fn main() {
    startup::init_tracing();
    startup::init_metrics();
    if let Err(err) = run().await {
        startup::exit_with("actix-demo", &err);
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
    let addr = listener.local_addr().map_err(DemoError::Serve)?;
    // The factory runs once per worker thread; the manager is shared.
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(manager.clone()))
            .configure(configure::<D>)
            .wrap(SessionMiddleware::new(manager.clone()))
    })
    .listen(listener)
    .map_err(DemoError::Serve)?;
    startup::announce(addr);
    server.run().await.map_err(DemoError::Serve)
}

fn configure<D: DemoData>(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(routes::BODY_LIMIT))
        .service(resource("/health", "GET,HEAD").route(get().to(health)))
        .service(resource("/metrics", "GET,HEAD").route(get().to(metrics)))
        .service(resource("/counter", "GET,HEAD").route(get().to(counter::<D>)))
        .service(resource("/counter/peek", "GET,HEAD").route(get().to(counter_peek::<D>)))
        .service(resource("/login", "POST").route(web::post().to(login::<D>)))
        .service(resource("/me", "GET,HEAD").route(get().to(me::<D>)))
        .service(resource("/logout", "POST").route(web::post().to(logout::<D>)))
        .service(
            resource("/flash", "GET,HEAD,POST")
                .route(get().to(flash_get::<D>))
                .route(web::post().to(flash_post::<D>)),
        )
        .service(resource("/consent", "POST").route(web::post().to(consent::<D>)))
        .service(
            resource("/secret-note", "GET,HEAD,PUT")
                .route(get().to(get_secret_note::<D>))
                .route(web::put().to(put_secret_note::<D>)),
        )
        .service(resource("/sessions", "GET,HEAD").route(get().to(sessions_list::<D>)))
        .service(
            resource("/sessions/revoke-others", "POST")
                .route(web::post().to(sessions_revoke_others::<D>)),
        )
        .service(resource("/sessions/{id}", "DELETE").route(web::delete().to(sessions_revoke::<D>)))
        .default_service(web::to(not_found));
    // Version 1 has no such route: a plain 404, as for any unknown path.
    if D::VERSION >= 2 {
        cfg.service(
            resource("/preferences", "GET,HEAD,PUT")
                .route(get().to(get_preferences::<D>))
                .route(web::put().to(put_preferences::<D>)),
        );
    }
}

/// `GET` routes answer `HEAD` too (without the body), as in axum.
fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// A path whose other methods answer `405` with an `Allow` header listing
/// `allow`, the methods it serves, as axum does.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut response = respond(routes::method_not_allowed());
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        response
    }))
}

fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    match reply.content_type() {
        Some(content_type) => response.content_type(content_type).body(reply.into_bytes()),
        None => response.finish(),
    }
}

/// Runs a route on a JSON request body, or answers why the body is
/// unusable (not JSON by its `Content-Type`, too large, unreadable).
fn with_body(
    request: &HttpRequest,
    body: Body,
    route: impl FnOnce(&[u8]) -> Reply,
) -> HttpResponse {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Err(reply) = routes::require_json(content_type) {
        return respond(reply);
    }
    respond(match body {
        Ok(bytes) => route(&bytes),
        Err(err) if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            routes::body_too_large()
        }
        Err(_) => routes::body_unreadable(),
    })
}

async fn health() -> HttpResponse {
    respond(routes::health())
}

async fn metrics() -> HttpResponse {
    respond(routes::metrics())
}

async fn counter<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::counter(&session))
}

async fn counter_peek<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::counter_peek(&session))
}

async fn login<D: DemoData>(request: HttpRequest, session: Session<D>, body: Body) -> HttpResponse {
    with_body(&request, body, |body| routes::login(&session, body))
}

async fn me<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::me(&session))
}

async fn logout<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::logout(&session))
}

async fn flash_post<D: DemoData>(
    request: HttpRequest,
    session: Session<D>,
    body: Body,
) -> HttpResponse {
    with_body(&request, body, |body| routes::flash_post(&session, body))
}

async fn flash_get<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::flash_get(&session))
}

async fn consent<D: DemoData>(
    request: HttpRequest,
    session: Session<D>,
    body: Body,
) -> HttpResponse {
    let peer = request.peer_addr().map(|addr| addr.ip());
    with_body(&request, body, |body| routes::consent(&session, body, peer))
}

async fn put_secret_note<D: DemoData>(
    request: HttpRequest,
    session: Session<D>,
    body: Body,
) -> HttpResponse {
    with_body(&request, body, |body| {
        routes::put_secret_note(&session, body)
    })
}

async fn get_secret_note<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::get_secret_note(&session))
}

async fn get_preferences<D: DemoData>(session: Session<D>) -> HttpResponse {
    respond(routes::get_preferences(&session))
}

async fn put_preferences<D: DemoData>(
    request: HttpRequest,
    session: Session<D>,
    body: Body,
) -> HttpResponse {
    with_body(&request, body, |body| {
        routes::put_preferences(&session, body)
    })
}

async fn not_found() -> HttpResponse {
    respond(routes::not_found())
}

async fn sessions_list<D: DemoData>(
    manager: web::Data<SessionManager<D>>,
    session: Session<D>,
) -> HttpResponse {
    respond(routes::sessions_list(&manager, &session).await)
}

async fn sessions_revoke<D: DemoData>(
    manager: web::Data<SessionManager<D>>,
    id: web::Path<String>,
    session: Session<D>,
) -> HttpResponse {
    respond(routes::sessions_revoke(&manager, &session, &id).await)
}

async fn sessions_revoke_others<D: DemoData>(
    manager: web::Data<SessionManager<D>>,
    session: Session<D>,
) -> HttpResponse {
    respond(routes::sessions_revoke_others(&manager, &session).await)
}
