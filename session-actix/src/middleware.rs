//! The actix-web middleware that runs the request cycle around every request.

use std::future::{ready, Ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderValue, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::future::LocalBoxFuture;
use session_core::{LazySession, SessionData, SessionManager};

use crate::extract::{error_response, text_response};

/// Wraps an `App` (or a scope) so that its handlers can extract
/// [`Session<T>`](crate::Session). Register it with `App::wrap`.
///
/// Per request it starts the session cycle (no I/O), and after the handler
/// it saves what changed and appends the `Set-Cookie` header. A request
/// whose handler never extracts the session costs nothing.
///
/// If saving fails, the response is replaced by the error's status (`503`
/// when the store is down) with a short `text/plain` body; the detail is
/// logged with `tracing`, never sent.
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
                    if let Some(value) = set_cookie {
                        response.headers_mut().append(SET_COOKIE, value);
                    }
                    Ok(response.map_into_left_body())
                }
                Err(failure) => Ok(response.into_response(*failure).map_into_right_body()),
            }
        })
    }
}

/// An inner middleware failed: commit for the status its error stands for
/// (a logout still happens), and carry the cookie on the error's response.
async fn finish_error<T: SessionData>(
    manager: &SessionManager<T>,
    lazy: &LazySession<T>,
    error: Error,
) -> Error {
    let response = match commit(manager, lazy, error.as_response_error().status_code()).await {
        Ok(None) => return error,
        Ok(Some(value)) => {
            let mut response = error.error_response();
            response.headers_mut().append(SET_COOKIE, value);
            response
        }
        Err(failure) => *failure,
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
    let set_cookie = match manager.finish_request(lazy, status.as_u16()).await {
        Ok(set_cookie) => set_cookie,
        Err(error) => return Err(Box::new(error_response(&error, "save"))),
    };
    set_cookie
        .map(|c| HeaderValue::try_from(c.into_string()))
        .transpose()
        // Only a cookie path or domain with control characters gets here.
        .map_err(|error| {
            tracing::error!(%error, "Set-Cookie is not a valid header value: check the cookie path and domain");
            Box::new(text_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"))
        })
}
