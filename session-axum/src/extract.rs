//! The `Session<T>` extractor and its rejection.

use std::ops::Deref;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::header::COOKIE;
use http::request::Parts;
use http::HeaderMap;
use session_core::adapter::{log_missing_layer, LazySession, Reply};
use session_core::{SessionData, SessionError};

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

impl<S: Send + Sync, T: SessionData> FromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let lazy = parts
            .extensions
            .get::<LazySession<T>>()
            .ok_or_else(missing_layer::<T>)?;
        Ok(Session(lazy.load(cookie_values(&parts.headers)).await?))
    }
}

impl<S: Send + Sync, T: SessionData> OptionalFromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(lazy) = parts.extensions.get::<LazySession<T>>() else {
            return Ok(None);
        };
        Ok(Some(Session(
            lazy.load(cookie_values(&parts.headers)).await?,
        )))
    }
}

/// Why a [`Session`] could not be extracted. As a response it never shows
/// store details; the details go to a `tracing` error event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No [`SessionLayer<T>`](crate::SessionLayer) wraps this route (for
    /// this `T`): `500 Internal Server Error`. A setup mistake, named in the
    /// body so that it is found on the first try.
    #[error("SessionLayer<T> is not installed for this route")]
    MissingLayer,
    /// The store failed while loading: [`SessionError::status_code`] (`503`
    /// when the store is down) with [`SessionError::public_message`].
    #[error(transparent)]
    Store(#[from] SessionError),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        into_response(match self {
            // Logged where it is found, with the type name.
            SessionRejection::MissingLayer => Reply::missing_layer(LAYER.0),
            SessionRejection::Store(error) => Reply::error(&error, "load"),
        })
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

/// The rejection for a route without the layer, logged once with the type.
fn missing_layer<T>() -> SessionRejection {
    log_missing_layer::<T>(LAYER.0, LAYER.1);
    SessionRejection::MissingLayer
}
