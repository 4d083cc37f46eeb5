//! The extractors, [`Session`] and [`ReadOnlySession`], their rejection and
//! the request extension trait.

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, COOKIE};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{extract, Handle, LazySession};
use session_core::SessionData;

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
pub type Session<T> = Extract<session_core::Session<T>>;

/// The session of the current request for a handler that only reads it:
/// it dereferences to [`session_core::ReadOnlySession`], which takes no lock
/// under [`Concurrency::Serialize`](session_core::Concurrency::Serialize).
/// Under the other policies it is a [`Session`] that cannot write.
///
/// Take it first, or alone: every extraction in a request shares one
/// handle, and whichever loads first decides whether it is locked.
pub type ReadOnlySession<T> = Extract<session_core::ReadOnlySession<T>>;

session_core::extractor_types! {
    /// An actix-web extractor for one of core's session handles ([`Session`],
    /// [`ReadOnlySession`]): the local type the orphan rule asks for.
    Extract;
    /// Why a [`Session`] could not be extracted: core's
    /// [`Rejection`](session_core::adapter::Rejection) (the
    /// [`SessionMiddleware<T>`](crate::SessionMiddleware) is missing: `500`;
    /// the store failed: `503` when it is down). As a response it never shows
    /// store details; the details go to a `tracing` error event.
    SessionRejection;
}

impl<H: Handle + 'static> FromRequest for Extract<H> {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<'static, Result<Self, SessionRejection>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let lazy = req.get_session::<H::Data>();
        let load = extract(lazy, LAYER, cookie_values(req.headers()));
        Box::pin(async { Ok(Extract(load.await?)) })
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        let status = StatusCode::from_u16(self.0.status_code());
        status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.reply())
    }
}

/// Access to the request's [`LazySession`] outside extractors (in guards
/// or middleware of your own): `req.get_session::<T>()` on an `HttpRequest`
/// or a `ServiceRequest`.
pub trait SessionExt: HttpMessage {
    /// The session cycle of this request, if a
    /// [`SessionMiddleware<T>`](crate::SessionMiddleware) runs around it.
    fn get_session<T: SessionData>(&self) -> Option<LazySession<T>> {
        self.extensions().get::<LazySession<T>>().cloned()
    }
}

/// For `HttpRequest`, `ServiceRequest` and every other [`HttpMessage`].
impl<M: HttpMessage> SessionExt for M {}

/// Every `Cookie` header that is valid UTF-8: one bad header must not hide
/// the session cookie in another.
pub(crate) fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
}
