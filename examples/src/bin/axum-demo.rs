//! The reference app on axum.
//!
//! ```text
//! cargo run --release --bin axum-demo
//! ```
//!
//! Configuration comes from the environment (see `examples::config`); the
//! routes are `examples::table`, shared with `actix-demo`, and what they do
//! lives in `examples::routes`. This file only turns the table into an axum
//! router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodFilter, MethodRouter};
use axum::Router;
use examples::model::DemoData;
use examples::routes::{self, Reply};
use examples::table::{self, BodyError, Endpoint, Input, Method};
use examples::{startup, ui, DemoError};
use session_axum::{CsrfLayer, LoginGuard, Session, SessionLayer};
use session_core::SessionManager;

#[tokio::main]
async fn main() {
    startup::start("axum-demo", Axum).await;
}

/// Serves the demo on axum.
struct Axum;

impl startup::Server for Axum {
    async fn serve<D: DemoData>(
        self,
        listener: std::net::TcpListener,
        manager: SessionManager<D>,
    ) -> Result<(), DemoError> {
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
}

fn app<D: DemoData>(manager: SessionManager<D>) -> Router {
    let mut router = Router::new();
    for resource in table::table::<D>() {
        let has_param = resource.has_param();
        let mut methods = MethodRouter::new();
        for endpoint in resource.endpoints {
            methods = methods.merge(method_router(endpoint, has_param, &manager));
        }
        router = router.route(resource.path, methods);
    }
    router
        .fallback(|| async { respond(routes::not_found()) })
        .method_not_allowed_fallback(|| async { respond(routes::method_not_allowed()) })
        .layer(DefaultBodyLimit::max(routes::BODY_LIMIT))
        .layer(CsrfLayer::<D>::new(ui::csrf_policy()))
        .layer(SessionLayer::new(manager))
}

/// One endpoint as axum routes it, behind its login guard if it has one.
fn method_router<D: DemoData>(
    endpoint: Endpoint<D>,
    has_param: bool,
    manager: &SessionManager<D>,
) -> MethodRouter {
    let filter = match endpoint.method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Delete => MethodFilter::DELETE,
    };
    let guard = endpoint.guard.clone();
    let endpoint = Arc::new(endpoint);
    let manager = manager.clone();
    let handler = move |request: Request| {
        let (endpoint, manager) = (Arc::clone(&endpoint), manager.clone());
        async move { serve(&endpoint, &manager, has_param, request).await }
    };
    let methods = routing::on(filter, handler);
    match guard {
        Some(policy) => methods.route_layer(LoginGuard::from(policy)),
        None => methods,
    }
}

/// Gathers what the endpoint reads (the path's parameter, the session, the
/// body), in the order the contract's answers need, and answers it.
async fn serve<D: DemoData>(
    endpoint: &Endpoint<D>,
    manager: &SessionManager<D>,
    has_param: bool,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let param = match has_param {
        true => match Path::<String>::from_request_parts(&mut parts, &()).await {
            Ok(Path(param)) => param,
            Err(rejection) => return rejection.into_response(),
        },
        false => String::new(),
    };
    let session = match endpoint.takes_session() {
        true => match Session::<D>::from_request_parts(&mut parts, &()).await {
            Ok(session) => Some(session),
            Err(rejection) => return rejection.into_response(),
        },
        false => None,
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    let body = match endpoint.input {
        Input::None => Ok(Bytes::new()),
        Input::Json | Input::Form => Bytes::from_request(Request::from_parts(parts, body), &())
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => BodyError::TooLarge,
                _ => BodyError::Unreadable,
            }),
    };
    let request = table::Request {
        manager,
        session: session.as_deref(),
        content_type: content_type.as_ref().and_then(|v| v.to_str().ok()),
        body: body.as_deref().map_err(|error| *error),
        param: &param,
        peer,
    };
    respond(endpoint.answer(request).await)
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(location) = reply.location() {
        return (status, [(header::LOCATION, location)]).into_response();
    }
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
