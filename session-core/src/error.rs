//! Errors of the session layer, and how adapters should answer them.

use std::time::Duration;

use session_crypto::FieldError;

use crate::codec::CodecError;
use crate::id::SessionId;
use crate::store::StoreError;

/// A session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed; see [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session data could not be encoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The `Set-Cookie` header would exceed what browsers keep. Nothing was
    /// sent: a truncated cookie would silently lose the session.
    #[error("the session cookie would be {size} bytes, over the browser limit of {limit}")]
    CookieTooLarge {
        /// Size of the whole `Set-Cookie` value in bytes.
        size: usize,
        /// The limit ([`MAX_COOKIE_BYTES`](crate::MAX_COOKIE_BYTES)).
        limit: usize,
    },
    /// The session's encoded data is over
    /// [`max_session_bytes`](crate::SessionConfigBuilder::max_session_bytes).
    /// Nothing was written: the store keeps the previous version.
    #[error("the session would be {size} bytes encoded, over the configured limit of {limit}")]
    SessionTooLarge {
        /// Size of the encoded data (application data and flash messages).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The store's [`CookieSealing`](crate::store::CookieSealing) made a cookie
    /// value with characters a cookie cannot carry (a bug in that store).
    /// Nothing was sent.
    #[error("the sealed cookie value holds characters that a cookie cannot carry")]
    InvalidCookieValue,
    /// No live session has this id ([`SessionManager::get`](crate::SessionManager::get)).
    #[error("no session with id {0}")]
    NotFound(SessionId),
    /// A sealed field could not be sealed or opened.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// Under [`Concurrency::Serialize`](crate::Concurrency::Serialize),
    /// other requests held the session's lock for the whole
    /// [`lock_wait`](crate::SessionConfigBuilder::lock_wait). Nothing was
    /// loaded or written; adapters answer `503` with a `Retry-After` of
    /// [`retry_after`](Self::retry_after).
    #[error("the session was locked by other requests for {waited:?}")]
    Busy {
        /// How long this request waited.
        waited: Duration,
        /// When trying again may work: the time left on the holder's lease
        /// when the wait ended.
        retry_after: Duration,
    },
    /// A login would give the owner more sessions than
    /// [`max_sessions_per_owner`](crate::SessionConfigBuilder::max_sessions_per_owner)
    /// allows, under [`OwnerLimitPolicy::Refuse`](crate::OwnerLimitPolicy::Refuse).
    /// The new session was removed (the response sends no cookie for it);
    /// the owner's other sessions are unchanged. Adapters answer `409`; an
    /// application that wants another answer matches this variant.
    #[error("the owner already has the maximum of {max} sessions")]
    OwnerLimitReached {
        /// The configured maximum.
        max: u32,
    },
}

/// The broad class of a [`SessionError`], which fixes the HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The store is down, slow or full: `503 Service Unavailable`; retrying
    /// later may work.
    Unavailable,
    /// Another request changed or ended the session meanwhile: `409 Conflict`.
    Conflict,
    /// No such session: `404 Not Found`.
    NotFound,
    /// A bug or a misconfiguration: `500 Internal Server Error`.
    Internal,
}

impl SessionError {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            SessionError::Store(e) if e.is_unavailable() => ErrorClass::Unavailable,
            SessionError::Store(StoreError::Conflict { .. } | StoreError::NotFound) => {
                ErrorClass::Conflict
            }
            SessionError::NotFound(_) => ErrorClass::NotFound,
            SessionError::Busy { .. } => ErrorClass::Unavailable,
            SessionError::OwnerLimitReached { .. } => ErrorClass::Conflict,
            _ => ErrorClass::Internal,
        }
    }

    /// The HTTP status an adapter should answer with.
    pub fn status_code(&self) -> u16 {
        match self.class() {
            ErrorClass::Unavailable => 503,
            ErrorClass::Conflict => 409,
            ErrorClass::NotFound => 404,
            ErrorClass::Internal => 500,
        }
    }

    /// How long a client should wait before it retries, for the answer's
    /// `Retry-After` header; `None` when there is nothing to say. Only
    /// [`SessionError::Busy`] has one: the holder's lease left, at least one
    /// second.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_core::SessionError;
    ///
    /// let busy = SessionError::Busy { waited: Duration::from_secs(5), retry_after: Duration::from_millis(200) };
    /// assert_eq!(busy.status_code(), 503);
    /// assert_eq!(busy.retry_after(), Some(Duration::from_secs(1)));
    /// assert_eq!(busy.retry_after_header().as_deref(), Some("1"));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SessionError::Busy { retry_after, .. } => {
                // `Retry-After` counts whole seconds: rounded up, so a client
                // that obeys it does not come back before the lease ends.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(Duration::from_secs(secs.max(1)))
            }
            _ => None,
        }
    }

    /// [`retry_after`](Self::retry_after) as a `Retry-After` header value
    /// (whole seconds).
    pub fn retry_after_header(&self) -> Option<String> {
        self.retry_after().map(|d| d.as_secs().to_string())
    }

    /// A short body for that answer that reveals nothing about the store.
    pub fn public_message(&self) -> &'static str {
        if let SessionError::Busy { .. } = self {
            return "the session is busy with another request, please retry";
        }
        match self.class() {
            ErrorClass::Unavailable => "session store unavailable, please retry",
            ErrorClass::Conflict => "the session was changed by another request, please retry",
            ErrorClass::NotFound => "no such session",
            ErrorClass::Internal => "internal server error",
        }
    }

    /// Records this error as a `tracing` error event for the request step
    /// that failed (`"load"` or `"save"`), with the detail that
    /// [`public_message`](Self::public_message) keeps out of the response.
    /// Adapters call it once per failed step, so every framework logs alike.
    pub fn log(&self, step: &'static str) {
        if let SessionError::CookieTooLarge { .. } = self {
            tracing::error!(error = %self, step, "the session does not fit in a cookie: keep less data in it or use a server-side store");
        } else if let SessionError::Busy { .. } = self {
            // Load, not a fault: the client is told to retry.
            tracing::warn!(error = %self, step, status = self.status_code(), "session {step} gave up waiting for the session's lock");
        } else if let SessionError::SessionTooLarge { .. } = self {
            tracing::error!(error = %self, step, "the session is over its size limit and was not saved: keep less data in it or raise max_session_bytes");
        } else {
            tracing::error!(error = %self, step, status = self.status_code(), "session {step} failed");
        }
    }
}
