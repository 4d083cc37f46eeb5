//! The actix-web middleware that runs the request cycle around every request.

use std::future::{ready, Ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::{Error, HttpMessage};
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{header, ClientInfo, LazySession};
use session_core::{SessionData, SessionManager};

use crate::response::{into_response, Headers};

/// Wraps an `App` (or a scope) so that its handlers can extract
/// [`Session<T>`](crate::Session). Register it with `App::wrap`.
///
/// Per request it starts the session cycle (no I/O), and after the handler
/// it saves what changed and appends the `Set-Cookie` header. A request
/// whose handler never extracts the session costs nothing.
///
/// A response that sets (or removes) the session cookie gets
/// `Cache-Control: no-store` unless the handler set a `Cache-Control` of
/// its own, and a response whose handler loaded the session gets
/// `Vary: Cookie` (appended: an existing `Vary` is kept, `Cookie` is not
/// repeated and `Vary: *` stays alone), so that shared caches neither store
/// a session cookie nor serve one user's page to another. See
/// [`SessionConfig::cache_headers_for`](session_core::SessionConfig::cache_headers_for); `cache_headers(false)` on the
/// configuration builder turns this off. The error of an inner middleware
/// passes through untouched unless a `Set-Cookie` rides on its response
/// (then that response gets the caching headers too).
///
/// If saving fails, the response is replaced by the error's status (`503`
/// when the store is down, `500` for a session over its size limit) with a
/// short `text/plain` body; the detail is logged with `tracing`, never sent.
#[derive(Clone, Debug)]
pub struct SessionMiddleware<T> {
    manager: SessionManager<T>,
}

impl<T: SessionData> SessionMiddleware<T> {
    /// A middleware for the sessions of `manager`.
    pub fn new(manager: SessionManager<T>) -> Self {
        SessionMiddleware { manager }
    }
}

impl<S, B, T> Transform<S, ServiceRequest> for SessionMiddleware<T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = SessionService<S, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, inner: S) -> Self::Future {
        let manager = self.manager.clone();
        ready(Ok(SessionService { inner, manager }))
    }
}

/// The service made by [`SessionMiddleware`].
#[derive(Debug)]
pub struct SessionService<S, T> {
    inner: S,
    manager: SessionManager<T>,
}

impl<S, B, T> Service<ServiceRequest> for SessionService<S, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Error>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let lazy = self.manager.start_request_with(|| {
            let agent = req.headers().get(header::USER_AGENT).map(|v| v.as_bytes());
            ClientInfo::from_header(req.peer_addr().map(|peer| peer.ip()), agent)
        });
        req.extensions_mut().insert(lazy.clone());
        let handled = self.inner.call(req);
        Box::pin(async move {
            let mut response = match handled.await {
                Ok(response) => response,
                Err(error) => return Err(finish_error(&lazy, error).await),
            };
            let status = response.status().as_u16();
            let headers = &mut Headers(response.headers_mut());
            match lazy.commit(status, headers).await {
                Ok(_) => Ok(response.map_into_left_body()),
                Err(reply) => Ok(response
                    .into_response(into_response(reply))
                    .map_into_right_body()),
            }
        })
    }
}

/// An inner middleware failed: commit for the status its error stands for
/// (a logout still happens), and carry the cookie, with the caching headers,
/// on the error's response. Without a cookie the error passes through as
/// it is, so that outer error handlers still see its type.
async fn finish_error<T: SessionData>(lazy: &LazySession<T>, error: Error) -> Error {
    let status = error.as_response_error().status_code().as_u16();
    let mut response = error.error_response();
    let headers = &mut Headers(response.headers_mut());
    let response = match lazy.commit(status, headers).await {
        Ok(false) => return error,
        Ok(true) => response,
        Err(reply) => into_response(reply),
    };
    InternalError::from_response(error, response).into()
}
