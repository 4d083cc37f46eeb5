//! The reference app on actix-web.
//!
//! ```text
//! cargo run --release --bin actix-demo
//! ```
//!
//! Configuration comes from the environment (see `examples::config`); the
//! routes are `examples::table`, shared with `axum-demo`, and what they do
//! lives in `examples::routes`. This file only turns the table into an
//! actix-web app.

use std::rc::Rc;

use actix_web::http::{header, StatusCode};
use actix_web::{
    guard, web, App, FromRequest, HttpRequest, HttpResponse, HttpServer, ResponseError, Route,
};
use examples::model::DemoData;
use examples::routes::{self, Reply};
use examples::table::{self, BodyError, Endpoint, Input, Method};
use examples::{startup, ui, DemoError};
use session_actix::{CsrfMiddleware, LoginGuard, Session, SessionMiddleware};
use session_core::SessionManager;

#[actix_web::main]
async fn main() {
    startup::start("actix-demo", Actix).await;
}

/// Serves the demo on actix-web.
struct Actix;

impl startup::Server for Actix {
    async fn serve<D: DemoData>(
        self,
        listener: std::net::TcpListener,
        manager: SessionManager<D>,
    ) -> Result<(), DemoError> {
        let addr = listener.local_addr().map_err(DemoError::Serve)?;
        // The factory runs once per worker thread; the manager is shared.
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(manager.clone()))
                .configure(configure::<D>)
                .wrap(CsrfMiddleware::<D>::new(ui::csrf_policy()))
                .wrap(SessionMiddleware::new(manager.clone()))
        })
        .listen(listener)
        .map_err(DemoError::Serve)?;
        startup::announce(addr);
        server.run().await.map_err(DemoError::Serve)
    }
}

fn configure<D: DemoData>(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(routes::BODY_LIMIT));
    for resource in table::table::<D>() {
        let (has_param, allow) = (resource.has_param(), resource.allow());
        let mut service = web::resource(resource.path)
            .default_service(web::to(move || method_not_allowed(allow.clone())));
        for endpoint in resource.endpoints {
            service = service.route(route(endpoint, has_param));
        }
        cfg.service(service);
    }
    cfg.default_service(web::to(|| async { respond(routes::not_found()) }));
}

/// Another method of a known path: `405` with an `Allow` header listing
/// the methods it serves, as axum answers it.
async fn method_not_allowed(allow: String) -> HttpResponse {
    let mut response = respond(routes::method_not_allowed());
    if let Ok(allow) = header::HeaderValue::try_from(allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// One endpoint as actix-web routes it, behind its login guard if it has
/// one. `GET` routes answer `HEAD` too (without the body), as in axum.
fn route<D: DemoData>(endpoint: Endpoint<D>, has_param: bool) -> Route {
    let route = match endpoint.method {
        Method::Get => web::route().guard(guard::Any(guard::Get()).or(guard::Head())),
        Method::Post => web::post(),
        Method::Put => web::put(),
        Method::Delete => web::delete(),
    };
    let guard = endpoint.guard.clone();
    let endpoint = Rc::new(endpoint);
    let route = route.to(move |request: HttpRequest, payload: web::Payload| {
        let endpoint = Rc::clone(&endpoint);
        async move { serve(&endpoint, has_param, request, payload).await }
    });
    match guard {
        Some(policy) => route.wrap(LoginGuard::from(policy)),
        None => route,
    }
}

/// Gathers what the endpoint reads (the path's parameter, the session, the
/// body), in the order the contract's answers need, and answers it.
async fn serve<D: DemoData>(
    endpoint: &Endpoint<D>,
    has_param: bool,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(manager) = request.app_data::<web::Data<SessionManager<D>>>().cloned() else {
        return respond(routes::internal());
    };
    let param = match has_param {
        true => match web::Path::<String>::extract(&request).await {
            Ok(param) => param.into_inner(),
            Err(error) => return error.error_response(),
        },
        false => String::new(),
    };
    let session = match endpoint.takes_session() {
        true => match Session::<D>::extract(&request).await {
            Ok(session) => Some(session),
            Err(error) => return error.error_response(),
        },
        false => None,
    };
    let body = match endpoint.input {
        Input::None => Ok(web::Bytes::new()),
        Input::Json | Input::Form => {
            let read = web::Bytes::from_request(&request, &mut payload.into_inner()).await;
            read.map_err(|error| match error.as_response_error().status_code() {
                StatusCode::PAYLOAD_TOO_LARGE => BodyError::TooLarge,
                _ => BodyError::Unreadable,
            })
        }
    };
    let content_type = request.headers().get(header::CONTENT_TYPE);
    let request = table::Request {
        manager: &manager,
        session: session.as_deref(),
        content_type: content_type.and_then(|v| v.to_str().ok()),
        body: body.as_deref().map_err(|error| *error),
        param: &param,
        peer: request.peer_addr().map(|addr| addr.ip()),
    };
    respond(endpoint.answer(request).await)
}

fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Some(location) = reply.location() {
        return response
            .insert_header((header::LOCATION, location))
            .finish();
    }
    match reply.content_type() {
        Some(content_type) => response.content_type(content_type).body(reply.into_bytes()),
        None => response.finish(),
    }
}
