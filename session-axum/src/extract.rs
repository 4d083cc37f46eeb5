//! The extractors, [`Session`] and [`ReadOnlySession`], and their rejection.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::header::COOKIE;
use http::request::Parts;
use http::HeaderMap;
use session_core::adapter::{extract, Handle, LazySession};

use crate::response::{into_response, LAYER};

/// The session of the current request, loaded from the store on first
/// extraction. Every extraction in one request (the [`LoginGuard`](crate::LoginGuard),
/// several handlers' arguments) shares the same handle and the same single
/// store call.
///
/// It dereferences to [`session_core::Session`], so `session.data()`,
/// `session.data_mut()`, `session.regenerate()` and the rest work directly.
/// `Option<Session<T>>` is `None` where no [`SessionLayer`](crate::SessionLayer)
/// is installed.
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
    /// An axum extractor for one of core's session handles ([`Session`],
    /// [`ReadOnlySession`]): the local type the orphan rule asks for.
    Extract;
    /// Why a [`Session`] could not be extracted: core's
    /// [`Rejection`](session_core::adapter::Rejection) (the
    /// [`SessionLayer<T>`](crate::SessionLayer) is missing: `500`; the store
    /// failed: `503` when it is down). As a response it never shows store
    /// details; the details go to a `tracing` error event.
    SessionRejection;
}

impl<S: Send + Sync, H: Handle> FromRequestParts<S> for Extract<H> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let lazy = parts.extensions.get::<LazySession<H::Data>>().cloned();
        Ok(Extract(
            extract(lazy, LAYER, cookie_values(&parts.headers)).await?,
        ))
    }
}

impl<S: Send + Sync, H: Handle> OptionalFromRequestParts<S> for Extract<H> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Option<Self>, Self::Rejection> {
        let layered = parts.extensions.get::<LazySession<H::Data>>().is_some();
        let load = <Self as FromRequestParts<S>>::from_request_parts(parts, s);
        Ok(if layered { Some(load.await?) } else { None })
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        into_response(self.0.reply())
    }
}

/// Every `Cookie` header that is valid UTF-8: one bad header must not hide
/// the session cookie in another.
pub(crate) fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
}
