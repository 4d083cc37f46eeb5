//! The `Session<T>` extractor, its rejection and the request extension trait.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, COOKIE};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{log_missing_layer, LazySession, Reply};
use session_core::{SessionData, SessionError};

use crate::response::{into_response, LAYER};

/// The session of the current request, loaded from the store on first
/// extraction. Every extraction in one request (the [`LoginGuard`](crate::LoginGuard),
/// several extractors) shares the same handle and the same single store
/// call.
///
/// It dereferences to [`session_core::Session`], so `session.data()`,
/// `session.data_mut()`, `session.regenerate()` and the rest work directly.
/// Unlike actix-session's handle it is `Send + Sync`: it can move into
/// `tokio::spawn` or `web::block`.
#[derive(Clone)]
pub struct Session<T>(session_core::Session<T>);

impl<T> Session<T> {
    /// The core handle.
    pub fn into_inner(self) -> session_core::Session<T> {
        self.0
    }
}

impl<T> Deref for Session<T> {
    type Target = session_core::Session<T>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: SessionData> FromRequest for Session<T> {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<'static, Result<Self, SessionRejection>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(lazy) = req.get_session::<T>() else {
            let rejection = missing_middleware::<T>();
            return Box::pin(async { Err(rejection) });
        };
        let req = req.clone();
        Box::pin(async move { Ok(Session(lazy.load(cookie_values(req.headers())).await?)) })
    }
}

/// Why a [`Session`] could not be extracted. As a response it never shows
/// store details; the details go to a `tracing` error event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No [`SessionMiddleware<T>`](crate::SessionMiddleware) wraps this
    /// route (for this `T`): `500 Internal Server Error`. A setup mistake,
    /// named in the body so that it is found on the first try.
    #[error("SessionMiddleware<T> is not installed for this route")]
    MissingMiddleware,
    /// The store failed while loading: [`SessionError::status_code`] (`503`
    /// when the store is down) with [`SessionError::public_message`].
    #[error(transparent)]
    Store(#[from] SessionError),
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        let status = match self {
            SessionRejection::MissingMiddleware => 500,
            SessionRejection::Store(error) => error.status_code(),
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(match self {
            // Logged where it is found, with the type name.
            SessionRejection::MissingMiddleware => Reply::missing_layer(LAYER.0),
            SessionRejection::Store(error) => Reply::error(error, "load"),
        })
    }
}

/// Access to the request's [`LazySession`] outside extractors (in guards
/// or middleware of your own): `req.get_session::<T>()` on an `HttpRequest`
/// or a `ServiceRequest`.
pub trait SessionExt {
    /// The session cycle of this request, if a
    /// [`SessionMiddleware<T>`](crate::SessionMiddleware) runs around it.
    fn get_session<T: SessionData>(&self) -> Option<LazySession<T>>;
}

/// For `HttpRequest`, `ServiceRequest` and every other [`HttpMessage`].
impl<M: HttpMessage> SessionExt for M {
    fn get_session<T: SessionData>(&self) -> Option<LazySession<T>> {
        self.extensions().get::<LazySession<T>>().cloned()
    }
}

/// Every `Cookie` header that is valid UTF-8: one bad header must not hide
/// the session cookie in another.
pub(crate) fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
}

/// The rejection for a route without the middleware, logged once with the
/// type.
fn missing_middleware<T>() -> SessionRejection {
    log_missing_layer::<T>(LAYER.0, LAYER.1);
    SessionRejection::MissingMiddleware
}
