//! For adapter authors: what a framework adapter (`session-axum`,
//! `session-actix`) needs to run the request cycle, and the behaviour every
//! adapter shares, written once here so that an adapter is framework glue
//! only.
//!
//! 1. Per request, [`SessionManager::start_request`](crate::SessionManager::start_request)
//!    gives a [`LazySession`]; keep it in the request's extensions.
//! 2. An extractor calls [`extract`] with every `Cookie` header, for a
//!    [`Handle`] ([`Session`](crate::Session) or
//!    [`ReadOnlySession`](crate::ReadOnlySession)); a failure is a
//!    [`Rejection`], whose [`reply`](Rejection::reply) is the answer.
//! 3. A login guard asks [`check_login`] whether the request may pass, a
//!    CSRF layer [`CsrfPolicy::guard`](crate::csrf::CsrfPolicy::guard);
//!    both are a [`Check`], which [`Check::run`] runs on a
//!    [`CheckedRequest`], so that one service of the adapter serves both.
//! 4. After the handler, [`LazySession::commit`] commits the session and
//!    appends its `Set-Cookie` and the caching headers ([`CacheHeaders`])
//!    through [`ResponseHeaders`], the adapter's view of its framework's
//!    header map. A failed commit answers a [`Reply`] that replaces the
//!    handler's response.
//!
//! What the adapter writes itself: one extractor newtype over a
//! [`Handle`] (the orphan rule wants a local type), its rejection newtype
//! over [`Rejection`], its middleware and layer types (one service for
//! the session cycle, one for every [`Check`]), one [`ResponseHeaders`]
//! impl, and the conversion of a [`Reply`] into its framework's response.

use std::borrow::Cow;
use std::future::Future;

pub use crate::check::{Check, CheckedRequest};
pub use crate::cookie_header::SetCookie;
pub use crate::cycle::{CacheHeaders, LazySession, ResponseFacts};
use crate::data::SessionData;
use crate::error::SessionError;
pub use crate::extract::{extract, Handle, Rejection};
use crate::guard::{LoginPolicy, Refusal};
pub use crate::meta::ClientInfo;
pub use crate::serialize::Access;
use crate::session::Session;

/// The `Content-Type` of every text body the adapters answer.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The header names this module reads and writes, lowercase.
pub mod header {
    /// `Set-Cookie`.
    pub const SET_COOKIE: &str = "set-cookie";
    /// `Cache-Control`.
    pub const CACHE_CONTROL: &str = "cache-control";
    /// `Vary`.
    pub const VARY: &str = "vary";
    /// `Content-Type`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// `Location`.
    pub const LOCATION: &str = "location";
    /// `Retry-After`.
    pub const RETRY_AFTER: &str = "retry-after";
    /// `User-Agent`, for [`ClientInfo`](super::ClientInfo).
    pub const USER_AGENT: &str = "user-agent";
    /// `Session-Degraded`: on a response served without the session store,
    /// under [`OutagePolicy::Degrade`](crate::OutagePolicy::Degrade), with
    /// the value [`DEGRADED_VALUE`].
    pub const DEGRADED: &str = "session-degraded";
    /// The value of [`DEGRADED`]: `1`.
    pub const DEGRADED_VALUE: &str = "1";
}

/// A response that the session layer answers in place of the handler's: a
/// failed load or commit, a missing layer, a login guard's refusal. The
/// adapter turns it into its framework's response, header lines in order;
/// a header value it cannot carry (an invalid sign-in path in `Location`)
/// makes that response a `500`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Header lines, lowercase names ([`header`]), in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body, [`TEXT_PLAIN`] when not empty.
    pub body: Cow<'static, str>,
}

impl Reply {
    pub(crate) fn text(status: u16, body: impl Into<Cow<'static, str>>) -> Self {
        Reply {
            status,
            headers: vec![(header::CONTENT_TYPE, TEXT_PLAIN.to_owned())],
            body: body.into(),
        }
    }

    /// The answer for a failed session step (`"load"` or `"save"`): the
    /// error's [status](SessionError::status_code) and
    /// [public message](SessionError::public_message). The detail goes to
    /// the log ([`SessionError::log`]), never into the body.
    ///
    /// ```
    /// use session_core::{adapter::Reply, store::StoreError, SessionError};
    ///
    /// let timeout = StoreError::Timeout(std::time::Duration::from_millis(300));
    /// let reply = Reply::error(&SessionError::Store(timeout), "load");
    /// assert_eq!(reply.status, 503);
    /// assert_eq!(reply.body, "session store unavailable, please retry");
    /// assert!(!reply.body.contains("300"), "no store detail in the body");
    /// ```
    pub fn error(error: &SessionError, step: &'static str) -> Self {
        error.log(step);
        let mut reply = Reply::text(error.status_code(), error.public_message());
        // A busy session (the serialize policy's wait ran out) says when to
        // come back.
        if let Some(seconds) = error.retry_after_header() {
            reply.headers.push((header::RETRY_AFTER, seconds));
        }
        reply
    }

    /// The answer where a session is asked for but the adapter's layer
    /// (named `layer`, such as `"SessionLayer"`) does not run around the
    /// route: a setup mistake, `500` with a body that names it (logged where
    /// it is found, by [`extract`]).
    pub fn missing_layer(layer: &str) -> Self {
        Reply::text(500, missing_layer_message(layer))
    }

    /// A login guard's answer to a refused request: `303 See Other` to the
    /// sign-in page, or `401 Unauthorized`.
    pub fn refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Redirect(location) => Reply {
                status: 303,
                headers: vec![(header::LOCATION, location)],
                body: Cow::Borrowed(""),
            },
            Refusal::Unauthorized => Reply::text(401, "authentication required"),
        }
    }
}

/// The body of [`Reply::missing_layer`] (also the message of
/// [`Rejection::MissingLayer`]): `"{layer}<T> is not installed for this route"`.
pub(crate) fn missing_layer_message(layer: &str) -> String {
    format!("{layer}<T> is not installed for this route")
}

/// Logs, once where it is found, that a session of type `T` was asked for
/// where the adapter's layer (named `layer`) does not run; `install` says
/// how to add it.
pub(crate) fn log_missing_layer<T>(layer: &str, install: &str) {
    tracing::error!(
        session_type = std::any::type_name::<T>(),
        "a session was asked for, but {layer}<T> is not installed for this route: {install}"
    );
}

/// Why every value [`ResponseHeaders::append`] gets is a valid header
/// value: the message of the adapters' `expect` when they convert it.
pub const VALID_HEADER_VALUE: &str = "core writes visible ASCII and spaces only: the configuration checks the cookie's name, Path and Domain, and core its value";

/// The headers of a response, as the adapter's framework holds them:
/// what [`LazySession::add_headers`] reads and writes. Names are lowercase
/// ([`header`]); the values written are always valid header values.
pub trait ResponseHeaders {
    /// Whether one of the lines named `name` passes `test`, which gets the
    /// line's value as text, or `None` for a value that is not.
    fn any_line(&self, name: &'static str, test: &mut dyn FnMut(Option<&str>) -> bool) -> bool;
    /// Whether the response has a line named `name`.
    fn contains(&self, name: &'static str) -> bool {
        self.any_line(name, &mut |_| true)
    }
    /// Adds a line after those already there.
    fn append(&mut self, name: &'static str, value: String);
    /// Replaces every line named `name` with this one.
    fn insert(&mut self, name: &'static str, value: &'static str);
}

impl ResponseHeaders for Reply {
    fn any_line(&self, name: &'static str, test: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| *n == name && test(Some(v)))
    }

    fn append(&mut self, name: &'static str, value: String) {
        self.headers.push((name, value));
    }

    fn insert(&mut self, name: &'static str, value: &'static str) {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
    }
}

impl<T: SessionData> LazySession<T> {
    /// Ends the request for a response with HTTP `status`: commits the
    /// session if a handler loaded it and answers its `Set-Cookie`, for
    /// [`add_headers`](Self::add_headers). A failed commit answers the
    /// [`Reply`] that replaces the response, caching headers included.
    pub async fn finish(&self, status: u16) -> Result<Option<SetCookie>, Reply> {
        match self.manager().finish_request(self, status).await {
            Ok(set_cookie) => Ok(set_cookie),
            Err(error) => {
                let mut reply = Reply::error(&error, "save");
                self.add_headers(None, &mut reply);
                Err(reply)
            }
        }
    }

    /// [`finish`](Self::finish) then [`add_headers`](Self::add_headers) on
    /// the handler's response: whether it now carries the session's
    /// `Set-Cookie`, or the [`Reply`] that replaces it.
    pub async fn commit(
        &self,
        status: u16,
        headers: &mut impl ResponseHeaders,
    ) -> Result<bool, Reply> {
        let set_cookie = self.finish(status).await?;
        let sets_cookie = set_cookie.is_some();
        self.add_headers(set_cookie, headers);
        Ok(sets_cookie)
    }

    /// Appends `set_cookie` (from [`finish`](Self::finish)) and, if a
    /// handler loaded the session, what
    /// [`SessionConfig::cache_headers_for`](crate::SessionConfig::cache_headers_for)
    /// asks for: `Cache-Control: no-store` unless the response has its own,
    /// and `Vary: Cookie` as a line of its own unless `Vary` covers it.
    pub fn add_headers(&self, set_cookie: Option<SetCookie>, headers: &mut impl ResponseHeaders) {
        let sets_cookie = set_cookie.is_some();
        if let Some(value) = set_cookie {
            headers.append(header::SET_COOKIE, value.into_string());
        }
        if self.loaded().is_some_and(|session| session.is_degraded()) {
            headers.append(header::DEGRADED, header::DEGRADED_VALUE.to_owned());
        }
        let config = self.manager().config();
        if !config.cache_headers_enabled() || !self.is_loaded() {
            return;
        }
        let mut covers = |v: Option<&str>| v.is_some_and(|v| CacheHeaders::vary_covers_cookie([v]));
        let add = config.cache_headers_for(ResponseFacts {
            sets_session_cookie: sets_cookie,
            session_loaded: true,
            has_cache_control: headers.contains(header::CACHE_CONTROL),
            varies_on_cookie: headers.any_line(header::VARY, &mut covers),
        });
        if add.no_store {
            headers.insert(header::CACHE_CONTROL, CacheHeaders::NO_STORE);
        }
        if add.vary_cookie {
            // A line of its own: the members already there stay as they are.
            headers.append(header::VARY, CacheHeaders::VARY_COOKIE.to_owned());
        }
    }
}

/// What a login guard knows of the request it checks.
pub struct GuardedRequest<'a, T> {
    /// The path as the router matches it, without the query string.
    pub path: &'a str,
    /// The path and query, for the sign-in page's `redirect_to`.
    pub target: &'a str,
    /// The request's session cycle, if the adapter's layer runs around it.
    pub session: Option<LazySession<T>>,
    /// The layer's name and how to install it, for [`Reply::missing_layer`].
    pub layer: (&'static str, &'static str),
}

impl<T> std::fmt::Debug for GuardedRequest<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedRequest")
            .field("path", &self.path)
            .field("target", &self.target)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// A login guard's decision: allow-listed paths pass; for the others the
/// session is loaded (shared with the handler: no second store call) and
/// must satisfy `policy`. Otherwise the [`Reply`] to answer: the refusal,
/// a missing layer (`500`) or a failed load (the error's status).
///
/// The cookie headers are read before the returned future first awaits,
/// so it does not borrow them.
pub fn check_login<'a, 'h, T: SessionData>(
    policy: &'a LoginPolicy<T>,
    request: GuardedRequest<'a, T>,
    cookie_headers: impl IntoIterator<Item = &'h str>,
) -> impl Future<Output = Result<(), Reply>> + Send + 'a {
    // Allow-listed paths never load the session.
    let load = (!policy.allows(request.path))
        .then(|| extract::<Session<T>>(request.session, request.layer, cookie_headers));
    async move {
        let Some(load) = load else {
            return Ok(());
        };
        let session = load.await.map_err(|rejection| rejection.reply())?;
        if policy.permits(&session.data()) {
            return Ok(());
        }
        Err(Reply::refusal(policy.refusal(request.target)))
    }
}
