//! The `ReadOnlySession<T>` extractor: the session without its lock.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use session_core::{DataRef, SessionData, SessionId};

use crate::extract::{cookie_values, missing_middleware, SessionExt, SessionRejection};

/// The session of the current request for a handler that only reads it.
/// Under [`Concurrency::Serialize`](session_core::Concurrency::Serialize)
/// it takes no lock ([`LazySession::load_read_only`](session_core::adapter::LazySession::load_read_only)):
/// the handler neither waits for a request that writes the session nor
/// makes one wait, and sees the last committed state. Under the other
/// policies it is a [`Session`](crate::Session) that cannot write. The idle
/// refresh still happens at the end of the request.
///
/// Take it first, or alone: every extraction in a request shares one
/// handle, and whichever loads first decides whether it is locked.
pub struct ReadOnlySession<T>(session_core::Session<T>);

impl<T> ReadOnlySession<T> {
    /// Reads the data.
    pub fn data(&self) -> DataRef<'_, T> {
        self.0.data()
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.0.id()
    }

    /// Whether the request came without a live session.
    pub fn is_new(&self) -> bool {
        self.0.is_new()
    }
}

impl<T> std::fmt::Debug for ReadOnlySession<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: SessionData> FromRequest for ReadOnlySession<T> {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<'static, Result<Self, SessionRejection>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(lazy) = req.get_session::<T>() else {
            let rejection = missing_middleware::<T>();
            return Box::pin(async { Err(rejection) });
        };
        let req = req.clone();
        Box::pin(async move {
            let session = lazy.load_read_only(cookie_values(req.headers())).await?;
            Ok(ReadOnlySession(session))
        })
    }
}
