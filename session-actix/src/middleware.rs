//! The actix-web middleware that runs the request cycle around every request.

use std::future::{ready, Ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, SET_COOKIE, VARY};
use actix_web::http::StatusCode;
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::future::LocalBoxFuture;
use session_core::{
    adapter::{CacheHeaders, LazySession, ResponseFacts, SetCookie},
    SessionConfig, SessionData, SessionManager,
};

use crate::extract::error_response;

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
/// [`SessionConfig::cache_headers_for`]; `cache_headers(false)` on the
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
        ready(Ok(SessionService {
            inner,
            manager: self.manager.clone(),
        }))
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
        let lazy = self.manager.start_request();
        req.extensions_mut().insert(lazy.clone());
        let handled = self.inner.call(req);
        let manager = self.manager.clone();
        Box::pin(async move {
            let mut response = match handled.await {
                Ok(response) => response,
                Err(error) => return Err(finish_error(&manager, &lazy, error).await),
            };
            match commit(&manager, &lazy, response.status()).await {
                Ok(set_cookie) => {
                    let sets_cookie = set_cookie.is_some();
                    let headers = response.headers_mut();
                    if let Some(value) = set_cookie {
                        headers.append(SET_COOKIE, value);
                    }
                    add_cache_headers(&manager, &lazy, sets_cookie, headers);
                    Ok(response.map_into_left_body())
                }
                Err(mut failure) => {
                    add_cache_headers(&manager, &lazy, false, failure.headers_mut());
                    Ok(response.into_response(*failure).map_into_right_body())
                }
            }
        })
    }
}

/// An inner middleware failed: commit for the status its error stands for
/// (a logout still happens), and carry the cookie, with the caching headers,
/// on the error's response. Without a cookie the error passes through as
/// it is, so that outer error handlers still see its type.
async fn finish_error<T: SessionData>(
    manager: &SessionManager<T>,
    lazy: &LazySession<T>,
    error: Error,
) -> Error {
    let response = match commit(manager, lazy, error.as_response_error().status_code()).await {
        Ok(None) => return error,
        Ok(Some(value)) => {
            let mut response = error.error_response();
            let headers = response.headers_mut();
            headers.append(SET_COOKIE, value);
            add_cache_headers(manager, lazy, true, headers);
            response
        }
        Err(mut failure) => {
            add_cache_headers(manager, lazy, false, failure.headers_mut());
            *failure
        }
    };
    InternalError::from_response(error, response).into()
}

/// Commits the session: the `Set-Cookie` value to add, or the response that
/// replaces the handler's.
async fn commit<T: SessionData>(
    manager: &SessionManager<T>,
    lazy: &LazySession<T>,
    status: StatusCode,
) -> Result<Option<HeaderValue>, Box<HttpResponse>> {
    match manager.finish_request(lazy, status.as_u16()).await {
        Ok(set_cookie) => Ok(set_cookie.map(header_value)),
        Err(error) => Err(Box::new(error_response(&error, "save"))),
    }
}

/// The header value of a `Set-Cookie`, taking its buffer over.
fn header_value(set_cookie: SetCookie) -> HeaderValue {
    HeaderValue::try_from(set_cookie.into_string()).expect(
        "a SetCookie is visible ASCII and spaces: the configuration checks the name, Path and Domain, and core the value",
    )
}

/// Adds what [`SessionConfig::cache_headers_for`] asks for, if a handler
/// loaded the session.
fn add_cache_headers<T: SessionData>(
    manager: &SessionManager<T>,
    lazy: &LazySession<T>,
    sets_cookie: bool,
    headers: &mut HeaderMap,
) {
    let config: &SessionConfig = manager.config();
    if !config.cache_headers_enabled() || !lazy.is_loaded() {
        return;
    }
    let vary = headers.get_all(VARY).filter_map(|v| v.to_str().ok());
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
