//! The tower layer that runs the request cycle around every request.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum_core::body::Body;
use axum_core::response::Response;
use http::Request;
use session_core::adapter::{header, ClientInfo};
use session_core::{SessionData, SessionManager};
use tower_layer::Layer;
use tower_service::Service;

use crate::response::{into_response, Headers};

/// A `Send` boxed future: what both services of this crate answer.
pub(crate) type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send + 'static>>;

/// Wraps routes so that their handlers can extract [`Session<T>`](crate::Session).
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
/// configuration builder turns this off.
///
/// If saving fails, the response is replaced by the error's status (`503`
/// when the store is down, `500` for a session over its size limit) with a
/// short `text/plain` body; the detail is logged with `tracing`, never sent.
#[derive(Clone, Debug)]
pub struct SessionLayer<T> {
    manager: SessionManager<T>,
}

impl<T: SessionData> SessionLayer<T> {
    /// A layer for the sessions of `manager`.
    pub fn new(manager: SessionManager<T>) -> Self {
        SessionLayer { manager }
    }
}

impl<S, T: SessionData> Layer<S> for SessionLayer<T> {
    type Service = SessionService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        let manager = self.manager.clone();
        SessionService { inner, manager }
    }
}

/// The service made by [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct SessionService<S, T> {
    inner: S,
    manager: SessionManager<T>,
}

impl<S, T> Service<Request<Body>> for SessionService<S, T>
where
    S: Service<Request<Body>, Response = Response>,
    S::Future: Send + 'static,
    T: SessionData,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let lazy = self.manager.start_request_with(|| client_info(&request));
        request.extensions_mut().insert(lazy.clone());
        let handled = self.inner.call(request);
        Box::pin(async move {
            let mut response = handled.await?;
            let status = response.status().as_u16();
            let headers = &mut Headers(response.headers_mut());
            match lazy.commit(status, headers).await {
                Ok(_) => Ok(response),
                Err(reply) => Ok(into_response(reply)),
            }
        })
    }
}

/// The client of a request, for the session metadata: the peer address
/// from axum's `ConnectInfo<SocketAddr>` (present when the app is served
/// with `into_make_service_with_connect_info`) and the `User-Agent`.
fn client_info(req: &Request<Body>) -> ClientInfo {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
    let agent = req.headers().get(header::USER_AGENT).map(|v| v.as_bytes());
    ClientInfo::from_header(peer.map(|ConnectInfo(peer)| peer.ip()), agent)
}
