//! What an adapter's extractors share: the handles they give a handler
//! ([`Session`], [`ReadOnlySession`]), the load behind both, and why it
//! can fail ([`Rejection`]). An adapter wraps these in one newtype of its
//! own, because the orphan rule wants a local type to implement its
//! framework's extractor trait for.

use std::future::Future;

use crate::adapter::{log_missing_layer, Reply};
use crate::cycle::LazySession;
use crate::data::SessionData;
use crate::error::SessionError;
use crate::id::SessionId;
use crate::serialize::Access;
use crate::session::{DataRef, Session};

/// The session of a request for a handler that only reads it: under
/// [`Concurrency::Serialize`](crate::Concurrency::Serialize) its load takes
/// no lock ([`LazySession::load_read_only`]), so the handler neither waits
/// for a request that writes the session nor makes one wait, and sees the
/// last committed state. The idle refresh still happens at the end of the
/// request.
///
/// Every load in a request shares one handle, and whichever loads first
/// decides whether it is locked: take it first, or alone.
#[derive(Clone)]
pub struct ReadOnlySession<T>(Session<T>);

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

/// A handle an extractor can give a handler: what the first load of the
/// request asks for, and how the loaded session becomes the handle.
pub trait Handle: Sized {
    /// The session data.
    type Data: SessionData;
    /// Whether the first load takes the session's lock.
    const ACCESS: Access;
    /// The handle over the request's loaded session.
    fn from_session(session: Session<Self::Data>) -> Self;
}

impl<T: SessionData> Handle for Session<T> {
    type Data = T;
    const ACCESS: Access = Access::ReadWrite;
    fn from_session(session: Session<T>) -> Self {
        session
    }
}

impl<T: SessionData> Handle for ReadOnlySession<T> {
    type Data = T;
    const ACCESS: Access = Access::ReadOnly;
    fn from_session(session: Session<T>) -> Self {
        ReadOnlySession(session)
    }
}

/// Why an extractor could not give the session. As a response
/// ([`reply`](Self::reply)) it never shows store details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No session layer (the adapter's layer or middleware, named here)
    /// runs around this route for this `T`: a setup mistake, `500`, named
    /// in the body so that it is found on the first try.
    #[error("{0}<T> is not installed for this route")]
    MissingLayer(&'static str),
    /// The store failed while loading: [`SessionError::status_code`]
    /// (`503` when the store is down).
    #[error(transparent)]
    Store(#[from] SessionError),
}

impl Rejection {
    /// The HTTP status of the answer.
    pub fn status_code(&self) -> u16 {
        match self {
            Rejection::MissingLayer(_) => 500,
            Rejection::Store(error) => error.status_code(),
        }
    }

    /// The answer: [`Reply::missing_layer`] (logged where it was found) or
    /// [`Reply::error`] for the load (which logs the detail).
    ///
    /// ```
    /// use session_core::{adapter::Rejection, store::StoreError, SessionError};
    ///
    /// let timeout = StoreError::Timeout(std::time::Duration::from_millis(300));
    /// let rejection = Rejection::from(SessionError::Store(timeout));
    /// assert_eq!(rejection.status_code(), 503);
    /// assert_eq!(rejection.reply().body, "session store unavailable, please retry");
    /// let missing = Rejection::MissingLayer("SessionLayer").reply();
    /// assert_eq!((missing.status, missing.body.as_ref()),
    ///     (500, "SessionLayer<T> is not installed for this route"));
    /// ```
    pub fn reply(&self) -> Reply {
        match self {
            Rejection::MissingLayer(layer) => Reply::missing_layer(layer),
            Rejection::Store(error) => Reply::error(error, "load"),
        }
    }
}

/// An extractor's work: the handle `H` over the request's session, loaded
/// on first use from `cookie_headers` (every `Cookie` header of the
/// request), or the [`Rejection`]. `lazy` is `None` where the adapter's
/// layer (named `layer.0`, installed as `layer.1` says) does not run; that
/// is logged here, once, with the session type.
///
/// The headers are read before the future first awaits, and the future
/// owns what it needs: it is `Send + 'static`.
pub fn extract<'h, H: Handle>(
    lazy: Option<LazySession<H::Data>>,
    layer: (&'static str, &'static str),
    cookie_headers: impl IntoIterator<Item = &'h str>,
) -> impl Future<Output = Result<H, Rejection>> + Send + 'static {
    let value = lazy.as_ref().map(|lazy| lazy.cookie_value(cookie_headers));
    if lazy.is_none() {
        log_missing_layer::<H::Data>(layer.0, layer.1);
    }
    // The load's future is made inside this one, not taken in: a future
    // captured and then awaited would take its space twice here.
    async move {
        let (Some(lazy), Some(value)) = (lazy, value) else {
            return Err(Rejection::MissingLayer(layer.0));
        };
        Ok(H::from_session(lazy.load_parsed(value, H::ACCESS).await?))
    }
}

/// The two local types an adapter's extractors need, which the orphan rule
/// makes every adapter declare (the framework's extractor and response
/// traits are foreign, and so are core's types): `Extract<H>` over a
/// [`Handle`] (with `into_inner` and `Deref`), and `SessionRejection`
/// over [`Rejection`] (from a [`Rejection`] or a [`SessionError`], an
/// `Error` that shows the rejection). Written once here so that the
/// adapters' differ only in the framework traits they implement; each
/// type takes the doc comments given before it.
#[doc(hidden)]
#[macro_export]
macro_rules! extractor_types {
    ($(#[$extract:meta])* Extract; $(#[$rejection:meta])* SessionRejection;) => {
        $(#[$extract])*
        #[derive(Clone, Debug)]
        pub struct Extract<H>(H);

        impl<H> Extract<H> {
            /// The core handle.
            pub fn into_inner(self) -> H {
                self.0
            }
        }

        impl<H> std::ops::Deref for Extract<H> {
            type Target = H;
            fn deref(&self) -> &H {
                &self.0
            }
        }

        $(#[$rejection])*
        #[derive(Debug)]
        pub struct SessionRejection(pub $crate::adapter::Rejection);

        impl From<$crate::adapter::Rejection> for SessionRejection {
            fn from(rejection: $crate::adapter::Rejection) -> Self {
                SessionRejection(rejection)
            }
        }

        impl From<$crate::SessionError> for SessionRejection {
            fn from(error: $crate::SessionError) -> Self {
                SessionRejection(error.into())
            }
        }

        impl std::fmt::Display for SessionRejection {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::error::Error for SessionRejection {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                std::error::Error::source(&self.0)
            }
        }
    };
}
