//! The tower layer that runs the request cycle around every request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::Response;
use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, Request};
use session_core::{
    adapter::{CacheHeaders, LazySession, ResponseFacts},
    SessionConfig, SessionData, SessionManager,
};
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
/// A response that sets (or removes) the session cookie gets
/// `Cache-Control: no-store` unless the handler set a `Cache-Control` of
/// its own, and a response whose handler loaded the session gets
/// `Vary: Cookie` (appended: an existing `Vary` is kept, `Cookie` is not
/// repeated and `Vary: *` stays alone), so that shared caches neither store
/// a session cookie nor serve one user's page to another. See
/// [`SessionConfig::cache_headers_for`]; `cache_headers(false)` on the
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

/// Commits the session for `response` and adds its `Set-Cookie` and
/// caching headers.
async fn finish<T: SessionData>(
    manager: &SessionManager<T>,
    lazy: &LazySession<T>,
    mut response: Response,
) -> Response {
    let status = response.status().as_u16();
    let sets_cookie = match manager.finish_request(lazy, status).await {
        Ok(None) => false,
        Ok(Some(set_cookie)) => {
            // Takes the buffer over without a copy.
            let value = HeaderValue::try_from(set_cookie.into_string())
                .expect("a SetCookie is visible ASCII and spaces: the configuration checks the name, Path and Domain, and core the value");
            response.headers_mut().append(SET_COOKIE, value);
            true
        }
        Err(error) => {
            response = error_response(&error, "save");
            false
        }
    };
    if lazy.is_loaded() {
        add_cache_headers(manager.config(), sets_cookie, response.headers_mut());
    }
    response
}

/// Adds what [`SessionConfig::cache_headers_for`] asks for to the headers
/// of a response whose handler loaded the session.
fn add_cache_headers(config: &SessionConfig, sets_cookie: bool, headers: &mut HeaderMap) {
    if !config.cache_headers_enabled() {
        return;
    }
    let vary = headers.get_all(VARY).iter().filter_map(|v| v.to_str().ok());
    let add = config.cache_headers_for(ResponseFacts {
        sets_session_cookie: sets_cookie,
        session_loaded: true,
        has_cache_control: headers.contains_key(CACHE_CONTROL),
        varies_on_cookie: CacheHeaders::vary_covers_cookie(vary),
    });
    if add.no_store {
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(CacheHeaders::NO_STORE),
        );
    }
    if add.vary_cookie {
        // A line of its own: the members already there stay as they are.
        headers.append(VARY, HeaderValue::from_static(CacheHeaders::VARY_COOKIE));
    }
}
