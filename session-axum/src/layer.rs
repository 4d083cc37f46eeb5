//! The tower layer that runs the request cycle around every request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::header::SET_COOKIE;
use http::{HeaderValue, Request, StatusCode};
use session_core::{LazySession, SessionData, SessionManager};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::error_response;

/// A `Send` boxed future: what both services of this crate answer.
pub(crate) type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send + 'static>>;

/// Wraps routes so that their handlers can extract [`Session<T>`](crate::Session).
///
/// Per request it starts the session cycle (no I/O), and after the handler
/// it saves what changed and appends the `Set-Cookie` header. A request
/// whose handler never extracts the session costs nothing.
///
/// If saving fails, the response is replaced by the error's status (`503`
/// when the store is down) with a short `text/plain` body; the detail is
/// logged with `tracing`, never sent.
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
        SessionService {
            inner,
            manager: self.manager.clone(),
        }
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
        let lazy = self.manager.start_request();
        request.extensions_mut().insert(lazy.clone());
        let handled = self.inner.call(request);
        let manager = self.manager.clone();
        Box::pin(async move {
            let response = handled.await?;
            Ok(finish(&manager, &lazy, response).await)
        })
    }
}

/// Commits the session for `response` and adds its `Set-Cookie`.
async fn finish<T: SessionData>(
    manager: &SessionManager<T>,
    lazy: &LazySession<T>,
    mut response: Response,
) -> Response {
    let status = response.status().as_u16();
    match manager.finish_request(lazy, status).await {
        Ok(None) => response,
        Ok(Some(set_cookie)) => match HeaderValue::try_from(set_cookie.into_string()) {
            Ok(value) => {
                response.headers_mut().append(SET_COOKIE, value);
                response
            }
            // Only a cookie path or domain with control characters gets here.
            Err(error) => {
                tracing::error!(%error, "Set-Cookie is not a valid header value: check the cookie path and domain");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
            }
        },
        Err(error) => error_response(&error, "save"),
    }
}
