//! The request cycle that adapters drive.
//!
//! 1. When a request arrives, the adapter calls
//!    [`SessionManager::start_request`] (no I/O, no parsing) and keeps the
//!    [`LazySession`] with the request.
//! 2. A handler that wants the session calls [`LazySession::load`] with the
//!    request's `Cookie` headers: the first call loads, later calls share
//!    the same handle.
//! 3. After the handler, the adapter calls [`SessionManager::finish_request`]
//!    with the response status and adds the `Set-Cookie` it answers.
//!
//! 4. The adapter asks [`SessionConfig::cache_headers_for`] which caching
//!    headers the response needs (`Cache-Control: no-store`, `Vary: Cookie`)
//!    and adds them.
//!
//! A request whose handler never loads its session costs no store call and
//! gets no `Set-Cookie`.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::SessionConfig;
use crate::cookie_header::{find_cookie, SetCookie};
use crate::data::SessionData;
use crate::error::SessionError;
use crate::manager::{CookieValue, SessionManager};
use crate::meta::ClientInfo;
use crate::serialize::Access;
use crate::session::Session;

/// The session of one request, loaded on first use. Cheap to clone.
pub struct LazySession<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    manager: SessionManager<T>,
    cell: OnceCell<Session<T>>,
    /// The request's client, when the configuration keeps metadata of it.
    client: Option<ClientInfo>,
}

impl<T> Clone for LazySession<T> {
    fn clone(&self) -> Self {
        LazySession {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for LazySession<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySession")
            .field("loaded", &self.inner.cell.initialized())
            .finish()
    }
}

impl<T: SessionData> LazySession<T> {
    /// The session, loading it from the first session cookie in
    /// `cookie_headers` (every `Cookie` header of the request) on the first
    /// call. Garbage in the headers gives a fresh session; only a store
    /// failure is an error, and a later call tries again.
    pub fn load<'a, I>(
        &self,
        cookie_headers: I,
    ) -> impl Future<Output = Result<Session<T>, SessionError>> + Send + '_
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.load_with(cookie_headers, Access::ReadWrite)
    }

    /// Like [`load`](Self::load), for a handler that only reads the
    /// session: the first load takes no lock under any policy, so under
    /// [`Concurrency::Serialize`](crate::Concurrency::Serialize) it neither
    /// waits for a request that writes nor makes one wait, and sees the last
    /// committed state. The request shares one handle, so a later
    /// [`load`](Self::load) in the same request gets this unlocked one; a
    /// write through it is still checked by version at commit (a `409` if
    /// another request saved meanwhile, never a lost update).
    pub fn load_read_only<'a, I>(
        &self,
        cookie_headers: I,
    ) -> impl Future<Output = Result<Session<T>, SessionError>> + Send + '_
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.load_with(cookie_headers, Access::ReadOnly)
    }

    /// The first load decides `access`; the future owns a clone of this
    /// handle (cheap: one `Arc`), so it borrows neither the handle nor the
    /// headers and suits frameworks whose extractor futures are `'static`.
    pub(crate) fn load_with<'a, I>(
        &self,
        cookie_headers: I,
        access: Access,
    ) -> impl Future<Output = Result<Session<T>, SessionError>> + Send + 'static
    where
        I: IntoIterator<Item = &'a str>,
    {
        let value = self.cookie_value(cookie_headers);
        self.clone().load_parsed(value, access)
    }

    /// The session cookie's value among `cookie_headers`, checked; `None`
    /// once the session is loaded (the value is not needed any more).
    /// Parsed before the load's first await, so that its future does not
    /// hold the headers.
    pub(crate) fn cookie_value<'a, I>(&self, cookie_headers: I) -> Option<CookieValue>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let manager = &self.inner.manager;
        if self.inner.cell.initialized() {
            return None;
        }
        find_cookie(cookie_headers, manager.config().cookie_name(), |v| {
            manager.read_cookie(v)
        })
    }

    /// The load of [`load_with`](Self::load_with), from the value
    /// [`cookie_value`](Self::cookie_value) read. An `async fn` that
    /// builds the load's future inside itself: a future taken in and then
    /// awaited would be held twice in the state machine (once as taken,
    /// once as awaited), and this one is part of every handler's future.
    pub(crate) async fn load_parsed(
        self,
        value: Option<CookieValue>,
        access: Access,
    ) -> Result<Session<T>, SessionError> {
        let manager = &self.inner.manager;
        self.inner
            .cell
            .get_or_try_init(|| manager.load_value(value, access, self.inner.client.clone()))
            .await
            .cloned()
    }

    /// The session if a handler has loaded it.
    pub fn loaded(&self) -> Option<Session<T>> {
        self.inner.cell.get().cloned()
    }

    /// Whether a handler has loaded the session (the response may then
    /// depend on the cookie).
    pub fn is_loaded(&self) -> bool {
        self.inner.cell.initialized()
    }

    /// The manager this request belongs to.
    pub fn manager(&self) -> &SessionManager<T> {
        &self.inner.manager
    }
}

impl<T: SessionData> SessionManager<T> {
    /// Begins a request: no I/O and no parsing until a handler asks for the
    /// session.
    pub fn start_request(&self) -> LazySession<T> {
        self.start(None)
    }

    /// [`start_request`](Self::start_request) for an adapter that can tell
    /// who the client is: `client` is called only if the configuration keeps
    /// the client's address or user agent ([`Metadata`](crate::Metadata)),
    /// so a request pays nothing for it otherwise.
    pub fn start_request_with(&self, client: impl FnOnce() -> ClientInfo) -> LazySession<T> {
        let wanted = self.config().metadata().wants_client();
        self.start(wanted.then(client))
    }

    fn start(&self, client: Option<ClientInfo>) -> LazySession<T> {
        LazySession {
            inner: Arc::new(Inner {
                manager: self.clone(),
                cell: OnceCell::new(),
                client,
            }),
        }
    }

    /// Ends a request: commits the session if a handler loaded it, for a
    /// response with HTTP `status`, and answers the `Set-Cookie` to add.
    pub async fn finish_request(
        &self,
        request: &LazySession<T>,
        status: u16,
    ) -> Result<Option<SetCookie>, SessionError> {
        match request.loaded() {
            Some(session) => self.commit_with_status(&session, status).await,
            None => Ok(None),
        }
    }
}

/// What one response carries, for [`SessionConfig::cache_headers_for`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// The response carries the session's `Set-Cookie` (a new cookie, a
    /// refreshed one or a removal).
    pub sets_session_cookie: bool,
    /// A handler loaded the session ([`LazySession::is_loaded`]), so the
    /// response may depend on the cookie.
    pub session_loaded: bool,
    /// The response already has a `Cache-Control` header (the
    /// application's own).
    pub has_cache_control: bool,
    /// The response's `Vary` already names `Cookie` or is `*`
    /// ([`CacheHeaders::vary_covers_cookie`]).
    pub varies_on_cookie: bool,
}

/// The caching headers an adapter adds to one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheHeaders {
    /// Add `Cache-Control: no-store` ([`CacheHeaders::NO_STORE`]).
    pub no_store: bool,
    /// Append `Cookie` to `Vary`, as a field line of its own so that the
    /// members already there stay as they are ([`CacheHeaders::VARY_COOKIE`]).
    pub vary_cookie: bool,
}

impl CacheHeaders {
    /// The `Cache-Control` value for a response that sets the session
    /// cookie.
    pub const NO_STORE: &'static str = "no-store";
    /// The `Vary` member for a response that depends on the session.
    pub const VARY_COOKIE: &'static str = "Cookie";

    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        !self.no_store && !self.vary_cookie
    }

    /// Whether `Vary` field values (every `Vary` line of a response) already
    /// cover `Cookie`: one member is `Cookie` (in any case) or `*` (which
    /// varies on everything, and must stay alone).
    ///
    /// ```
    /// use session_core::adapter::CacheHeaders;
    ///
    /// assert!(CacheHeaders::vary_covers_cookie(["Accept-Encoding, cookie"]));
    /// assert!(CacheHeaders::vary_covers_cookie(["Origin", "*"]));
    /// assert!(!CacheHeaders::vary_covers_cookie(["Accept-Encoding", "Cookies"]));
    /// assert!(!CacheHeaders::vary_covers_cookie([]));
    /// ```
    pub fn vary_covers_cookie<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
        values.into_iter().flat_map(|v| v.split(',')).any(|member| {
            let member = member.trim_matches([' ', '\t']);
            member == "*" || member.eq_ignore_ascii_case("cookie")
        })
    }
}

impl SessionConfig {
    /// The caching headers to add to a response, so that no shared cache
    /// (a CDN, a corporate proxy) stores a session cookie or serves one
    /// user's page to another. The adapters call this for every response;
    /// [`cache_headers(false)`](crate::SessionConfigBuilder::cache_headers)
    /// turns it off.
    ///
    /// - `Cache-Control: no-store` when the response sets the session cookie
    ///   (or removes it) and the application set no `Cache-Control` of its
    ///   own (which is left alone: it is the application's decision).
    /// - `Vary: Cookie` when the session was loaded (the page may depend on
    ///   it) and `Vary` does not name `Cookie` or `*` already.
    ///
    /// Why `no-store` and not `private, no-cache="Set-Cookie"`: `no-store`
    /// is the one directive that every cache honours alike. The field-name
    /// forms of `private` and `no-cache` are optional for caches (RFC 9111
    /// lets a cache treat them as the unqualified directives, and many
    /// ignore the field names), so whether the `Set-Cookie` is kept out of a
    /// shared cache would depend on that cache. And a response that hands
    /// out a session token is usually personal (a login, a cart) and worth
    /// keeping out of the browser's disk cache too. A response that only
    /// reads the session gets no `Cache-Control` from here, only
    /// `Vary: Cookie` (with [`IdleRefresh::Always`](crate::IdleRefresh::Always)
    /// such a response sends a cookie, and so gets `no-store`, only when it
    /// refreshes the idle expiry: at most once per refresh fraction of the
    /// idle timeout; an application that wants its pages kept out of every
    /// cache sets its own `Cache-Control`).
    ///
    /// ```
    /// use session_core::{SessionConfig, adapter::{CacheHeaders, ResponseFacts}};
    /// # use session_store_memory::MemoryStore;
    ///
    /// let config = SessionConfig::testing().store(MemoryStore::new()).build().unwrap();
    /// let login = config.cache_headers_for(ResponseFacts {
    ///     sets_session_cookie: true,
    ///     session_loaded: true,
    ///     ..ResponseFacts::default()
    /// });
    /// assert!(login.no_store && login.vary_cookie);
    /// let page = config.cache_headers_for(ResponseFacts {
    ///     session_loaded: true,
    ///     varies_on_cookie: CacheHeaders::vary_covers_cookie(["Accept-Encoding"]),
    ///     ..ResponseFacts::default()
    /// });
    /// assert!(!page.no_store && page.vary_cookie);
    /// ```
    pub fn cache_headers_for(&self, response: ResponseFacts) -> CacheHeaders {
        if !self.cache_headers {
            return CacheHeaders::default();
        }
        // A `Set-Cookie` only ever goes out for a loaded session; counting
        // it as loaded keeps a caller that says otherwise on the safe side.
        let loaded = response.session_loaded || response.sets_session_cookie;
        CacheHeaders {
            no_store: response.sets_session_cookie && !response.has_cache_control,
            vary_cookie: loaded && !response.varies_on_cookie,
        }
    }
}
