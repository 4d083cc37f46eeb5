//! The tower layer that runs the request cycle around every request, and
//! the one service of every layer of this crate: the cycle, or core's
//! [`Check`] (of the login guard and the CSRF layer) on axum requests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum_core::body::Body;
use axum_core::response::Response;
use http::Request;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use session_core::adapter::{header, Check, CheckedRequest, ClientInfo, LazySession};
use session_core::csrf::CsrfRefusal;
use session_core::{SessionData, SessionManager};
use tower_service::Service;

use crate::extract::cookie_values;
use crate::response::{into_response, Headers, LAYER};

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

/// The [`Layer`] impl of a layer type of this crate: a [`SessionService`]
/// that runs the [`Step`] made by `$step` from the layer.
macro_rules! session_service_layer {
    ($layer:ident, $step:expr) => {
        impl<S, T: SessionData> tower_layer::Layer<S> for $layer<T> {
            type Service = $crate::layer::SessionService<S, T>;

            fn layer(&self, inner: S) -> Self::Service {
                let step = ($step)(self);
                $crate::layer::SessionService { inner, step }
            }
        }
    };
}
pub(crate) use session_service_layer;

session_service_layer!(SessionLayer, |l: &Self| Step::Cycle(l.manager.clone()));

/// The service of every layer of this crate: the request cycle of a
/// [`SessionLayer`], or the check of a [`LoginGuard`](crate::LoginGuard)
/// or a [`CsrfLayer`](crate::CsrfLayer), around the inner service.
#[derive(Clone, Debug)]
pub struct SessionService<S, T> {
    pub(crate) inner: S,
    pub(crate) step: Step<T>,
}

/// What a [`SessionService`] does before the inner service.
#[derive(Clone, Debug)]
pub(crate) enum Step<T> {
    /// Start the cycle, and commit after the handler.
    Cycle(SessionManager<T>),
    /// Let the request through only if it passes.
    Check(Check<T>),
}

impl<S, T> Service<Request<Body>> for SessionService<S, T>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    T: SessionData,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let manager = match &self.step {
            Step::Cycle(manager) => manager,
            Step::Check(check) => {
                // The ready service goes into the future; a fresh clone stays.
                let fresh = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, fresh);
                return Box::pin(run_check(check.clone(), inner, request));
            }
        };
        // The peer from axum's `ConnectInfo<SocketAddr>` (when served with
        // `into_make_service_with_connect_info`) and the `User-Agent`.
        let lazy = manager.start_request_with(|| {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
            let agent = request.headers().get(header::USER_AGENT);
            let peer = peer.map(|ConnectInfo(peer)| peer.ip());
            ClientInfo::from_header(peer, agent.map(|v| v.as_bytes()))
        });
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

/// Core's check on the request, with the path as the router sees it,
/// then the inner service (a form body read for its token is handed on
/// rebuilt), or the refusal.
async fn run_check<S, T>(
    check: Check<T>,
    mut inner: S,
    req: Request<Body>,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = Response>,
    T: SessionData,
{
    let (parts, mut body) = req.into_parts();
    let checked = CheckedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        target: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        authority: parts.uri.authority().map(|a| a.as_str()),
        session: parts.extensions.get::<LazySession<T>>().cloned(),
        layer: LAYER,
    };
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let read = |limit| read_form(std::mem::take(&mut body), limit);
    let cookies = cookie_values(&parts.headers);
    let form = check.run(checked, header, cookies, read).await;
    let body = match form {
        Ok(form) => form.map_or(body, Body::from),
        Err(refusal) => return Ok(into_response(refusal)),
    };
    inner.call(Request::from_parts(parts, body)).await
}

/// The whole body, if it is at most `limit` bytes.
async fn read_form(body: Body, limit: usize) -> Result<Bytes, CsrfRefusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(CsrfRefusal::FormTooLarge),
        Err(_) => Err(CsrfRefusal::MissingToken),
    }
}
