//! Configuration: cookie attributes, timeouts, secrets, policies, callbacks
//! and the store.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use session_crypto::{KeyError, KeyRing};
use zeroize::Zeroizing;

use crate::codec::Codec;
use crate::events::{Callbacks, EventKind, SessionEvent};
use crate::expiry::Listener;
use crate::meta::{Metadata, OwnerLimit, OwnerLimitPolicy};
use crate::store::SessionStore;

/// Browsers keep cookies up to 4096 bytes, counted over the whole
/// `Set-Cookie` value (name, value and attributes).
pub const MAX_COOKIE_BYTES: usize = 4096;

/// The longest idle or absolute timeout a configuration accepts: 100 years
/// (of 365.25 days).
///
/// Expiries are computed as `now + timeout` on every request, so a timeout
/// must keep that sum representable: `time::OffsetDateTime` ends at the
/// year 9999, which `now + 100 years` stays far below for the next
/// 78 centuries, and as the milliseconds since 1970 that stores keep
/// (`i64`), it is about 5·10¹² against a limit of 9·10¹⁸. Anything longer is
/// a mistake (`Duration::MAX` as "forever") and is refused by
/// [`SessionConfigBuilder::build`] rather than left to overflow at request
/// time. Browsers cap a cookie's `Max-Age` at 400 days anyway.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(36_525 * 24 * 3600);

/// The default bound on a session's encoded size:
/// [`SessionConfigBuilder::max_session_bytes`].
pub const DEFAULT_MAX_SESSION_BYTES: usize = 64 * 1024;

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations (the default):
    /// blocks most cross-site request forgery while links into the site keep
    /// their session.
    #[default]
    Lax,
    /// Sent only on same-site requests.
    Strict,
    /// Sent everywhere; browsers require `Secure` with it.
    None,
}

/// The attributes of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieOptions {
    /// Cookie name, without the `__Host-` prefix (default `_session`).
    pub name: String,
    /// `HttpOnly` (default true): scripts cannot read the cookie.
    pub http_only: bool,
    /// `Secure` (default true): sent over HTTPS only.
    pub secure: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: SameSite,
    /// `Path` (default `/`).
    pub path: String,
    /// `Domain` (default none: the exact host only).
    pub domain: Option<String>,
    /// Prefix the name with `__Host-`, which makes browsers insist on
    /// `Secure`, `Path=/` and no `Domain` (default false).
    pub host_prefix: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            name: "_session".into(),
            http_only: true,
            secure: true,
            same_site: SameSite::Lax,
            path: "/".into(),
            domain: None,
            host_prefix: false,
        }
    }
}

impl CookieOptions {
    /// The name as sent to the browser, with the `__Host-` prefix if set.
    pub fn full_name(&self) -> String {
        if self.host_prefix {
            format!("__Host-{}", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// The default [refresh fraction](SessionConfigBuilder::refresh_fraction):
/// a tenth of the idle timeout, so a session that is only read is touched
/// at most ten times per idle timeout.
pub const DEFAULT_REFRESH_FRACTION: f64 = 0.1;

/// When a request that only reads the session extends its idle expiry.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum IdleRefresh {
    /// Every request that loads the session extends it, within the
    /// [refresh fraction](SessionConfigBuilder::refresh_fraction): a read
    /// whose refresh would move the idle expiry by less than that fraction
    /// of the idle timeout (a tenth by default) writes nothing and sends no
    /// `Set-Cookie`; past it, at commit, a server store's record is touched
    /// (whose answer also proves that the record still exists) and the
    /// cookie goes out again with the same `Max-Age` (the absolute expiry);
    /// a sealed cookie is sealed again. The default.
    Always,
    /// Extend only once less than this fraction of the idle timeout remains
    /// (for example `0.5`): fewer store writes (one touch per half timeout
    /// instead of one per request) and fewer `Set-Cookie` headers, at the
    /// price of a session that may end up to that fraction earlier than
    /// with [`IdleRefresh::Always`]. The touch is a separate store call.
    WhenRemainingBelow(f64),
    /// Only writes extend the session.
    OnWrite,
}

/// What to do when two requests save the same session concurrently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Concurrency {
    /// The later save replaces the earlier one (the default; what most
    /// session libraries do).
    #[default]
    LastWriteWins,
    /// A save based on a stale version is refused with
    /// [`StoreError::Conflict`](crate::store::StoreError::Conflict), which adapters
    /// answer with `409 Conflict`: no acknowledged write is ever lost.
    Reject,
    /// The requests that load one session run their load-to-commit section
    /// one at a time, across every process that shares the store: nothing is
    /// lost and nobody gets a spurious error. A request takes a lease on the
    /// session when it loads it and releases it after the commit; the others
    /// wait (at most [`lock_wait`](SessionConfigBuilder::lock_wait), then
    /// [`SessionError::Busy`](crate::SessionError::Busy), a `503` with
    /// `Retry-After`). Needs a store that can lock
    /// ([`SessionStore::locks`](crate::store::SessionStore::locks)): the memory,
    /// Redis and SQL stores; [`build`](SessionConfigBuilder::build) refuses
    /// it for the cookie store, which keeps no server state to lock. Saves
    /// also carry the expected version, as under [`Reject`](Self::Reject),
    /// so a request that outlived its lease gets a `409`, never a lost
    /// update. See the README's concurrency section for the trade-offs.
    Serialize,
}

/// What a request gets when the store is unavailable (down, timing out,
/// or full) as its session is loaded.
///
/// A store that fails *after* the load (at the commit) is a `503` under
/// either policy: the handler's changes cannot be stored, and a response
/// that looks successful (a login) must not claim they were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutagePolicy {
    /// The request fails: adapters answer `503 Service Unavailable` (the
    /// default).
    #[default]
    Fail,
    /// The site keeps working without its sessions: the handler gets a fresh
    /// session ([`Session::is_degraded`](crate::Session::is_degraded) is
    /// `true`) that is never saved, the response carries no `Set-Cookie`
    /// (the user's real session survives the outage untouched) and carries
    /// `Session-Degraded: 1` ([`header::DEGRADED`](crate::adapter::header::DEGRADED)). Each
    /// such request counts in `session_degraded_total` and
    /// `session_store_errors_total`; a warning is logged at most every ten
    /// seconds. A handler that must not pretend to succeed without a stored
    /// session (a login) checks `is_degraded()` and answers `503` itself.
    ///
    /// Under [`Concurrency::Serialize`], a lock that cannot be taken because
    /// the store is down is such an outage too; a lock held by another
    /// request is not (that is still [`SessionError::Busy`](crate::SessionError::Busy)).
    Degrade,
}

/// The configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No store was given.
    #[error("no session store configured: call .store(...) (for example MemoryStore::new())")]
    MissingStore,
    /// The preset requires secrets and none were given.
    #[error("no session secret configured: production needs .secret(...) with 32 bytes or more")]
    MissingSecret,
    /// A secret was refused.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A timeout is zero.
    #[error("the {0} timeout must be longer than zero")]
    ZeroTimeout(&'static str),
    /// A timeout is longer than [`MAX_TIMEOUT`], so that expiries could
    /// overflow at request time.
    #[error("the {which} timeout of {given:?} is longer than the maximum of {max:?} (100 years)")]
    TimeoutTooLong {
        /// `"idle"` or `"absolute"`.
        which: &'static str,
        /// The timeout given.
        given: Duration,
        /// [`MAX_TIMEOUT`].
        max: Duration,
    },
    /// The fraction of [`IdleRefresh::WhenRemainingBelow`] is not strictly
    /// between 0 and 1 (or is NaN).
    #[error("the idle refresh fraction must be strictly between 0 and 1, not {0}")]
    InvalidRefreshFraction(f64),
    /// The [refresh fraction](SessionConfigBuilder::refresh_fraction) is not
    /// at least 0 and below 1 (or is NaN).
    #[error("the refresh fraction must be at least 0 and below 1, not {0}")]
    InvalidRefreshSlack(f64),
    /// The cookie `Path` does not start with `/`, or holds a `;`, a space, a
    /// control character or a non-ASCII character.
    #[error("invalid cookie path {0:?}: it must start with '/' and hold visible ASCII characters other than ';'")]
    InvalidCookiePath(String),
    /// The cookie `Domain` is not a host name (ASCII letters, digits, `-`,
    /// `_` and `.`, with an optional leading `.`; an internationalized name
    /// goes in its `xn--` form).
    #[error(
        "invalid cookie domain {0:?}: use a host name of ASCII letters, digits, '-', '_' and '.'"
    )]
    InvalidCookieDomain(String),
    /// [`max_session_bytes`](SessionConfigBuilder::max_session_bytes) is zero.
    #[error("the maximum session size must be larger than zero")]
    ZeroSessionLimit,
    /// The cookie name is empty or not a valid cookie name.
    #[error("invalid cookie name {0:?}: use letters, digits, '-' and '_'")]
    InvalidCookieName(String),
    /// `__Host-` cookies must be `Secure`, have `Path=/` and no `Domain`.
    #[error("the __Host- prefix requires Secure, Path=/ and no Domain")]
    HostPrefixConflict,
    /// `SameSite=None` cookies must be `Secure`, or browsers drop them.
    #[error("SameSite=None requires the Secure attribute")]
    SameSiteNoneNeedsSecure,
    /// [`max_sessions_per_owner`](SessionConfigBuilder::max_sessions_per_owner)
    /// is zero.
    #[error("the maximum of sessions per owner must be at least 1")]
    ZeroOwnerLimit,
    /// A cap per owner was asked for with a store that cannot enforce it
    /// ([`SessionStore::limits_owners`] is `false`), such as the cookie
    /// store, which cannot see an owner's other sessions.
    #[error("max_sessions_per_owner needs a store that limits sessions per owner; the {store} store does not")]
    OwnerLimitUnsupported {
        /// The store's [`name`](SessionStore::name).
        store: &'static str,
    },
    /// [`Concurrency::Serialize`] was asked for with a store that cannot
    /// lock sessions ([`SessionStore::locks`] is `None`).
    #[error("Concurrency::Serialize needs a store that can lock sessions, and the {store} store cannot: {reason}")]
    SerializeUnsupported {
        /// The store's [`name`](SessionStore::name).
        store: &'static str,
        /// Why, in a few words.
        reason: &'static str,
    },
}

/// Everything a [`SessionManager`](crate::SessionManager) needs. Build it
/// with [`SessionConfig::builder`] (or a preset) and [`SessionConfigBuilder::build`].
#[derive(Clone)]
pub struct SessionConfig {
    pub(crate) cookie: CookieOptions,
    pub(crate) cookie_name: String,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) keys: KeyRing,
    pub(crate) codec: Codec,
    pub(crate) save_on_server_error: bool,
    pub(crate) idle_refresh: IdleRefresh,
    pub(crate) concurrency: Concurrency,
    pub(crate) outage: OutagePolicy,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) callbacks: Callbacks,
    /// What the store's [`ExpirySink`](crate::store::ExpirySink) calls. The
    /// sink holds it weakly: this keeps it alive as long as the
    /// configuration (and its clones) are.
    pub(crate) expiry_listener: Arc<Listener>,
    pub(crate) max_session_bytes: usize,
    pub(crate) cache_headers: bool,
    pub(crate) refresh_fraction: f64,
    pub(crate) store_slack: Duration,
    pub(crate) locking: crate::serialize::LockTimes,
    /// The waiters for a lease among this configuration's requests, woken
    /// when one of them gives it back (shared by the clones).
    pub(crate) handoff: Arc<crate::handoff::Handoff>,
    pub(crate) accounts: Accounts,
}

/// The per-user settings: metadata, remember-me bound, cap per owner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accounts {
    pub(crate) metadata: Metadata,
    pub(crate) remember_max: Duration,
    pub(crate) owner_limit: Option<OwnerLimit>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            metadata: Metadata::none(),
            remember_max: DEFAULT_REMEMBER_MAX,
            owner_limit: None,
        }
    }
}

/// The longest [`Session::remember`](crate::Session::remember) by default:
/// 30 days ([`SessionConfigBuilder::remember_max`]).
pub const DEFAULT_REMEMBER_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

impl SessionConfig {
    /// A builder with the defaults: cookie `_session` (`HttpOnly`, `Secure`,
    /// `SameSite=Lax`, `Path=/`), idle timeout 1 hour, absolute timeout 24
    /// hours, bincode, [`IdleRefresh::Always`], [`Concurrency::LastWriteWins`],
    /// no save on `5xx`, sessions of at most 64 KiB encoded, cache headers
    /// on, and a random secret (with a warning) unless one is given.
    pub fn builder() -> SessionConfigBuilder {
        SessionConfigBuilder::default()
    }

    /// Development preset: like [`builder`](Self::builder) but without
    /// `Secure`, so plain `http://localhost` works.
    pub fn development() -> SessionConfigBuilder {
        Self::builder().secure(false)
    }

    /// Production preset: `Secure`, the `__Host-` prefix, and a secret is
    /// required (building without one fails instead of drawing a random one).
    pub fn production() -> SessionConfigBuilder {
        let mut builder = Self::builder().secure(true).host_prefix(true);
        builder.require_secret = true;
        builder
    }

    /// Testing preset: no `Secure`, JSON data (readable in assertions), and a
    /// random secret without a warning.
    pub fn testing() -> SessionConfigBuilder {
        let mut builder = Self::builder().secure(false).codec(Codec::Json);
        builder.warn_random_secret = false;
        builder
    }

    /// The cookie attributes.
    pub fn cookie(&self) -> &CookieOptions {
        &self.cookie
    }
    /// The cookie name as sent (with the `__Host-` prefix if set).
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
    /// The absolute timeout.
    pub fn absolute_timeout(&self) -> Duration {
        self.absolute_timeout
    }
    /// The key ring (for sealing fields with [`Sealed`](crate::Sealed)).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }
    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }
    /// Whether sessions are saved when the response is a `5xx`.
    pub fn save_on_server_error(&self) -> bool {
        self.save_on_server_error
    }
    /// The idle refresh policy.
    pub fn idle_refresh(&self) -> IdleRefresh {
        self.idle_refresh
    }
    /// The concurrency policy.
    pub fn concurrency(&self) -> Concurrency {
        self.concurrency
    }
    /// What a request gets while the store is unavailable; see
    /// [`SessionConfigBuilder::outage_policy`].
    pub fn outage_policy(&self) -> OutagePolicy {
        self.outage
    }
    /// The refresh slack in force for a session with the configured idle
    /// timeout: the [refresh fraction](SessionConfigBuilder::refresh_fraction)
    /// of it, or the store's slack ([`SessionStore::refresh_slack`], at most
    /// 5% of it), whichever is larger. A remembered session's slack is the
    /// same fraction of its own idle timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_core::SessionConfig;
    /// use session_store_memory::MemoryStore;
    ///
    /// let config = SessionConfig::builder().store(MemoryStore::new()).build()?;
    /// // a tenth of the hour of idle time
    /// assert_eq!(config.refresh_slack(), Duration::from_secs(360));
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn refresh_slack(&self) -> Duration {
        self.refresh_slack_for(self.idle_timeout)
    }

    /// The refresh slack for a session whose idle timeout is `idle`.
    pub(crate) fn refresh_slack_for(&self, idle: Duration) -> Duration {
        // `refresh_fraction` is in [0, 1) (checked at build), so this never
        // overflows.
        let own = idle.mul_f64(self.refresh_fraction);
        own.max(self.store_slack.min(idle / 20))
    }
    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }
    /// The largest encoded session a commit writes; see
    /// [`SessionConfigBuilder::max_session_bytes`].
    pub fn max_session_bytes(&self) -> usize {
        self.max_session_bytes
    }
    /// Which metadata sessions keep; see [`SessionConfigBuilder::metadata`].
    pub fn metadata(&self) -> Metadata {
        self.accounts.metadata
    }

    /// The longest [`Session::remember`](crate::Session::remember).
    pub fn remember_max(&self) -> Duration {
        self.accounts.remember_max
    }

    /// The cap on sessions per owner, if any.
    pub fn owner_limit(&self) -> Option<OwnerLimit> {
        self.accounts.owner_limit
    }

    /// Whether the adapters add `Cache-Control` and `Vary`; see
    /// [`SessionConfigBuilder::cache_headers`].
    pub fn cache_headers_enabled(&self) -> bool {
        self.cache_headers
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("cookie", &self.cookie)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("keys", &self.keys)
            .field("codec", &self.codec)
            .field("save_on_server_error", &self.save_on_server_error)
            .field("idle_refresh", &self.idle_refresh)
            .field("concurrency", &self.concurrency)
            .field("outage", &self.outage)
            .field("store", &self.store)
            .field("callbacks", &self.callbacks)
            .field("max_session_bytes", &self.max_session_bytes)
            .field("cache_headers", &self.cache_headers)
            .field("locking", &self.locking)
            .finish()
    }
}

/// Builds a [`SessionConfig`]. Every setter states its default.
///
/// The secrets it holds until [`build`](Self::build) are wiped from memory
/// when the builder is dropped (built or not).
#[must_use]
pub struct SessionConfigBuilder {
    cookie: CookieOptions,
    idle_timeout: Duration,
    absolute_timeout: Duration,
    secrets: Vec<Zeroizing<Vec<u8>>>,
    keys: Option<KeyRing>,
    codec: Codec,
    save_on_server_error: bool,
    idle_refresh: IdleRefresh,
    concurrency: Concurrency,
    outage: OutagePolicy,
    store: Option<Arc<dyn SessionStore>>,
    callbacks: Callbacks,
    require_secret: bool,
    warn_random_secret: bool,
    max_session_bytes: usize,
    cache_headers: bool,
    refresh_fraction: f64,
    locking: crate::serialize::LockTimes,
    accounts: Accounts,
    owner_max: Option<u32>,
    owner_policy: OwnerLimitPolicy,
}

impl Default for SessionConfigBuilder {
    fn default() -> Self {
        SessionConfigBuilder {
            cookie: CookieOptions::default(),
            idle_timeout: Duration::from_secs(3600),
            absolute_timeout: Duration::from_secs(24 * 3600),
            secrets: Vec::new(),
            keys: None,
            codec: Codec::default(),
            save_on_server_error: false,
            idle_refresh: IdleRefresh::Always,
            concurrency: Concurrency::default(),
            outage: OutagePolicy::default(),
            store: None,
            callbacks: Callbacks::default(),
            require_secret: false,
            warn_random_secret: true,
            max_session_bytes: DEFAULT_MAX_SESSION_BYTES,
            refresh_fraction: DEFAULT_REFRESH_FRACTION,
            cache_headers: true,
            locking: crate::serialize::LockTimes::default(),
            accounts: Accounts::default(),
            owner_max: None,
            owner_policy: OwnerLimitPolicy::default(),
        }
    }
}

impl fmt::Debug for SessionConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfigBuilder")
            .field("cookie", &self.cookie)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("secrets", &self.secrets.len())
            .field("store", &self.store)
            .field("max_session_bytes", &self.max_session_bytes)
            .field("cache_headers", &self.cache_headers)
            .finish_non_exhaustive()
    }
}

impl SessionConfigBuilder {
    /// The store (required). Swapping stores is this one line.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The store, already shared (for example with a background task).
    pub fn shared_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds a secret (32 bytes or more). The first secret added seals; later
    /// ones only open, which is how secrets rotate. Default: a random secret
    /// per process, with a warning, so sessions do not survive a restart.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        // Copied once, straight into memory that is wiped on drop.
        self.secrets.push(Zeroizing::new(secret.as_ref().to_vec()));
        self
    }

    /// Uses an existing key ring instead of secrets.
    pub fn keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The cookie name, without prefix (default `_session`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// The `Secure` attribute (default true).
    pub fn secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// The `HttpOnly` attribute (default true).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// The `SameSite` attribute (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// The `Path` attribute (default `/`). It must start with `/` and hold
    /// visible ASCII characters other than `;` (percent-encode the others),
    /// or [`build`](Self::build) refuses it.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// The `Domain` attribute (default none). It must be a host name of
    /// ASCII letters, digits, `-`, `_` and `.` (an internationalized name in
    /// its `xn--` form), optionally with a leading `.`, or
    /// [`build`](Self::build) refuses it.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie.domain = Some(domain.into());
        self
    }

    /// The `__Host-` name prefix (default false).
    pub fn host_prefix(mut self, on: bool) -> Self {
        self.cookie.host_prefix = on;
        self
    }

    /// The idle timeout (default 1 hour; at most [`MAX_TIMEOUT`]).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The absolute timeout (default 24 hours; at most [`MAX_TIMEOUT`]).
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.absolute_timeout = timeout;
        self
    }

    /// The codec (default [`Codec::MessagePack`]; see [`Codec`] for the others).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Save sessions even when the response is a `5xx` (default false: a
    /// failed request does not persist half-done changes).
    pub fn save_on_server_error(mut self, on: bool) -> Self {
        self.save_on_server_error = on;
        self
    }

    /// Under [`IdleRefresh::Always`], the fraction of the idle timeout a
    /// read-only request must move the idle expiry by for it to refresh at
    /// all (default [`DEFAULT_REFRESH_FRACTION`], a tenth; at least 0 and
    /// below 1). A session that is only read is then touched (server
    /// stores) or resealed (the cookie store) at most once per that
    /// fraction of its idle timeout, and the reads in between cost one
    /// store read each (or one cookie opening) and send no `Set-Cookie`.
    ///
    /// The trade: the idle expiry is the one last written, so a session
    /// may end up to that fraction of the idle timeout *earlier* than an
    /// exact sliding expiry would end it, never later (with an hour of
    /// idle time and the default, after 54 to 60 minutes without a
    /// request). The server side enforces the expiry it wrote exactly. The
    /// "last seen" metadata is the touched idle expiry, so it has the same
    /// precision and costs no write of its own. `0.0` refreshes on every
    /// read. A store may ask for a larger slack
    /// ([`SessionStore::refresh_slack`], at most 5% of the idle timeout),
    /// which then applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_core::SessionConfig;
    /// use session_store_memory::MemoryStore;
    ///
    /// let config = SessionConfig::builder()
    ///     .store(MemoryStore::new())
    ///     .idle_timeout(Duration::from_secs(600))
    ///     .refresh_fraction(0.05)
    ///     .build()?;
    /// assert_eq!(config.refresh_slack(), Duration::from_secs(30));
    ///
    /// let bad = SessionConfig::builder()
    ///     .store(MemoryStore::new())
    ///     .refresh_fraction(1.5)
    ///     .build();
    /// assert!(bad.is_err());
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn refresh_fraction(mut self, fraction: f64) -> Self {
        self.refresh_fraction = fraction;
        self
    }

    /// The idle refresh policy (default [`IdleRefresh::Always`]). The
    /// fraction of [`IdleRefresh::WhenRemainingBelow`] must be strictly
    /// between 0 and 1.
    pub fn idle_refresh(mut self, policy: IdleRefresh) -> Self {
        self.idle_refresh = policy;
        self
    }

    /// The largest session a commit writes, in bytes of encoded data (the
    /// application's data and its pending flash messages, as the codec
    /// writes them; default 64 KiB, [`DEFAULT_MAX_SESSION_BYTES`]; must not
    /// be zero).
    ///
    /// A commit over it fails with
    /// [`SessionError::SessionTooLarge`](crate::SessionError::SessionTooLarge)
    /// before any store call, whatever the store: nothing is written, the
    /// store keeps the previous version, the error is logged and the
    /// adapters answer `500`. It keeps one client from growing its record
    /// without bound (a cart that only grows, a form that appends). Flash
    /// messages are capped apart ([`MAX_FLASH_MESSAGES`](crate::MAX_FLASH_MESSAGES)).
    /// The cookie store is bounded by the cookie limit,
    /// [`MAX_COOKIE_BYTES`], long before.
    ///
    /// ```
    /// use session_core::{SessionConfig, SessionError, SessionManager};
    /// # use session_store_memory::MemoryStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let config = SessionConfig::testing()
    ///     .store(MemoryStore::new())
    ///     .max_session_bytes(1024)
    ///     .build()
    ///     .unwrap();
    /// let manager = SessionManager::<Vec<String>>::new(config);
    /// let session = manager.create();
    /// session.data_mut().push("x".repeat(2000));
    /// let error = manager.commit(&session).await.unwrap_err();
    /// assert!(matches!(error, SessionError::SessionTooLarge { limit: 1024, .. }));
    /// assert_eq!(error.status_code(), 500);
    /// # }
    /// ```
    pub fn max_session_bytes(mut self, limit: usize) -> Self {
        self.max_session_bytes = limit;
        self
    }

    /// Whether the adapters add caching headers to responses (default
    /// true): `Cache-Control: no-store` on a response that sets or removes
    /// the session cookie and has no `Cache-Control` of its own, and
    /// `Vary: Cookie` on every response whose handler loaded the session.
    /// See [`SessionConfig::cache_headers_for`] for the rules and why
    /// `no-store`.
    ///
    /// Turn it off only where something else sets these headers (a proxy
    /// that never caches, a handler that always sets both): otherwise a
    /// shared cache may store one user's session cookie or page and serve
    /// it to others.
    pub fn cache_headers(mut self, on: bool) -> Self {
        self.cache_headers = on;
        self
    }

    /// The concurrency policy (default [`Concurrency::LastWriteWins`]).
    pub fn concurrency(mut self, policy: Concurrency) -> Self {
        self.concurrency = policy;
        self
    }

    /// What a request gets while the store is unavailable (default
    /// [`OutagePolicy::Fail`], a `503`); [`OutagePolicy::Degrade`] serves it
    /// with a fresh session that is never saved.
    ///
    /// ```
    /// use session_core::{OutagePolicy, SessionConfig};
    /// # use session_store_memory::MemoryStore;
    ///
    /// let config = SessionConfig::testing()
    ///     .store(MemoryStore::new())
    ///     .outage_policy(OutagePolicy::Degrade)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.outage_policy(), OutagePolicy::Degrade);
    /// ```
    pub fn outage_policy(mut self, policy: OutagePolicy) -> Self {
        self.outage = policy;
        self
    }

    /// Under [`Concurrency::Serialize`], how long a request waits for the
    /// session's lock before it fails with
    /// [`SessionError::Busy`](crate::SessionError::Busy) (default
    /// [`DEFAULT_LOCK_WAIT`](crate::DEFAULT_LOCK_WAIT), 5 s; zero tries once). Keep it below the
    /// client's and the proxy's timeouts.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.locking.wait = wait;
        self
    }

    /// Under [`Concurrency::Serialize`], the lease a request holds on its
    /// session (default [`DEFAULT_LOCK_LEASE`](crate::DEFAULT_LOCK_LEASE), 10 s; not zero): the
    /// handler's time budget from load to commit. A holder that crashed or
    /// hangs blocks the session for at most this long; a handler that runs
    /// longer loses the lock, and its save, checked by version, is then a
    /// `409` if another request saved meanwhile (never a lost update).
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.locking.lease = lease;
        self
    }

    /// Which metadata sessions keep beside their data (default
    /// [`Metadata::none`]); see [`SessionManager::sessions_of`](crate::SessionManager::sessions_of).
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.accounts.metadata = metadata;
        self
    }

    /// The longest timeout [`Session::remember`](crate::Session::remember)
    /// may give a session (default [`DEFAULT_REMEMBER_MAX`], 30 days; not
    /// zero, at most [`MAX_TIMEOUT`]); longer asks are cut to it.
    pub fn remember_max(mut self, max: Duration) -> Self {
        self.accounts.remember_max = max;
        self
    }

    /// At most `max` live sessions per owner (default: no limit; not zero),
    /// enforced by the store when a session gains its owner (a login); what
    /// a login over it does is [`owner_limit_policy`](Self::owner_limit_policy).
    /// The store must support [`SessionStore::limit_owner`] (every server
    /// store of the workspace does, Redis on a cluster only with a
    /// hash-tagged prefix; the cookie store cannot); `build()` refuses a
    /// store that does not ([`SessionStore::limits_owners`]).
    pub fn max_sessions_per_owner(mut self, max: u32) -> Self {
        self.owner_max = Some(max);
        self
    }

    /// What a login over [`max_sessions_per_owner`](Self::max_sessions_per_owner)
    /// does (default [`OwnerLimitPolicy::EvictOldest`]).
    pub fn owner_limit_policy(mut self, policy: OwnerLimitPolicy) -> Self {
        self.owner_policy = policy;
        self
    }

    /// Called when a new session is first written.
    pub fn on_started(self, f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on(EventKind::Started, f)
    }

    /// Called when a session is loaded for a request.
    pub fn on_loaded(self, f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on(EventKind::Loaded, f)
    }

    /// Called when a session moves to a new id.
    pub fn on_regenerated(self, f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on(EventKind::Regenerated, f)
    }

    /// Called when a session is deleted.
    pub fn on_deleted(self, f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on(EventKind::Deleted, f)
    }

    /// Called when the library learns that a session expired: a request's
    /// load met it past its expiry, or the store's cleanup removed it
    /// (the memory store's sweeper, the SQL and MongoDB stores' cleanup;
    /// see each store's docs, and [`SessionStore::expiry_sink`]; the Redis
    /// store, whose server removes expired sessions, reports none yet). The
    /// event carries the session's id (the hash of the token, never the
    /// token), its owner when the store still knew it, and its
    /// [`source`](SessionEvent::source); never the data. Every expiry is also
    /// counted in `session_expired_total` and logged as a `debug` event,
    /// with or without this callback.
    ///
    /// The callback runs on the task that found the expiry (a request, or
    /// the store's cleanup task): keep it short, and hand longer work to a
    /// channel. Each source reports an expiry once, but one expiry can reach
    /// it from two sources: a load that meets an expired record the store
    /// still holds reports it, and the cleanup that removes the record later
    /// reports it again. A callback that panics is caught and logged as an
    /// `error` event: the cleanup that called it goes on.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use session_core::{ExpirySource, SessionConfig, SessionManager};
    /// use session_store_memory::MemoryStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let expired = Arc::new(Mutex::new(Vec::new()));
    /// let heard = Arc::clone(&expired);
    /// let store = MemoryStore::builder().no_cleanup().build();
    /// let config = SessionConfig::testing()
    ///     .store(store.clone())
    ///     .idle_timeout(Duration::from_millis(50))
    ///     .on_expired(move |event| {
    ///         assert_eq!(event.source, Some(ExpirySource::Cleanup));
    ///         heard.lock().unwrap().push((event.id.clone(), event.owner.map(str::to_owned)));
    ///     })
    ///     .build()?;
    /// let manager = SessionManager::<u32>::new(config);
    /// let session = manager.create();
    /// session.set_owner(Some("ada"));
    /// manager.commit(&session).await?;
    ///
    /// tokio::time::sleep(Duration::from_millis(1100)).await;
    /// assert_eq!(store.remove_expired(), 1); // what the sweeper does
    /// assert_eq!(*expired.lock().unwrap(), [(session.id(), Some("ada".to_owned()))]);
    /// # Ok(()) }
    /// ```
    pub fn on_expired(self, f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on(EventKind::Expired, f)
    }

    fn on(
        mut self,
        kind: EventKind,
        f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.set(kind, Arc::new(f));
        self
    }

    /// Checks everything and builds the configuration.
    ///
    /// ```
    /// use session_core::{ConfigError, SessionConfig};
    /// # use session_store_memory::MemoryStore;
    ///
    /// let err = SessionConfig::builder().store(MemoryStore::new()).secret("short").build();
    /// assert!(matches!(err, Err(ConfigError::Key(_))));
    /// let err = SessionConfig::production().store(MemoryStore::new()).build();
    /// assert!(matches!(err, Err(ConfigError::MissingSecret)));
    /// ```
    pub fn build(self) -> Result<SessionConfig, ConfigError> {
        let store = self.store.ok_or(ConfigError::MissingStore)?;
        check_cookie(&self.cookie)?;
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("idle"));
        }
        if self.absolute_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("absolute"));
        }
        for (which, given) in [
            ("idle", self.idle_timeout),
            ("absolute", self.absolute_timeout),
        ] {
            if given > MAX_TIMEOUT {
                return Err(ConfigError::TimeoutTooLong {
                    which,
                    given,
                    max: MAX_TIMEOUT,
                });
            }
        }
        if let IdleRefresh::WhenRemainingBelow(fraction) = self.idle_refresh {
            // Written so that NaN fails too.
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(ConfigError::InvalidRefreshFraction(fraction));
            }
        }
        // Written so that NaN fails too.
        if !(self.refresh_fraction >= 0.0 && self.refresh_fraction < 1.0) {
            return Err(ConfigError::InvalidRefreshSlack(self.refresh_fraction));
        }
        if self.max_session_bytes == 0 {
            return Err(ConfigError::ZeroSessionLimit);
        }
        crate::serialize::check(self.concurrency, &self.locking, store.as_ref())?;
        let mut accounts = self.accounts;
        accounts.owner_limit =
            check_accounts(&accounts, self.owner_max, self.owner_policy, store.as_ref())?;
        let keys = match (self.keys, self.secrets.is_empty()) {
            (Some(keys), _) => keys,
            (None, false) => KeyRing::new(&self.secrets)?,
            (None, true) if self.require_secret => return Err(ConfigError::MissingSecret),
            (None, true) => {
                if self.warn_random_secret {
                    tracing::warn!("no session secret configured: using a random one, so sealed data does not survive a restart");
                }
                KeyRing::generate()
            }
        };
        let store_slack = store.refresh_slack();
        let expiry_listener = listen_for_expiries(&self.callbacks, store.as_ref());
        Ok(SessionConfig {
            cookie_name: self.cookie.full_name(),
            cookie: self.cookie,
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            keys,
            codec: self.codec,
            save_on_server_error: self.save_on_server_error,
            idle_refresh: self.idle_refresh,
            concurrency: self.concurrency,
            outage: self.outage,
            store,
            callbacks: self.callbacks,
            expiry_listener,
            max_session_bytes: self.max_session_bytes,
            cache_headers: self.cache_headers,
            refresh_fraction: self.refresh_fraction,
            store_slack,
            locking: self.locking,
            handoff: Arc::default(),
            accounts,
        })
    }
}

/// The listener that turns the store's expiry reports into this
/// configuration's events, registered with the store's sink if it has one.
fn listen_for_expiries(callbacks: &Callbacks, store: &dyn SessionStore) -> Arc<Listener> {
    let callbacks = callbacks.clone();
    let listener: Arc<Listener> = Arc::new(move |expired| callbacks.expired(expired));
    if let Some(sink) = store.expiry_sink() {
        sink.listen(&listener);
    }
    listener
}

/// Checks the remember-me bound and the cap per owner; answers the cap.
fn check_accounts(
    accounts: &Accounts,
    owner_max: Option<u32>,
    policy: OwnerLimitPolicy,
    store: &dyn SessionStore,
) -> Result<Option<OwnerLimit>, ConfigError> {
    if accounts.remember_max.is_zero() {
        return Err(ConfigError::ZeroTimeout("remember"));
    }
    if accounts.remember_max > MAX_TIMEOUT {
        return Err(ConfigError::TimeoutTooLong {
            which: "remember",
            given: accounts.remember_max,
            max: MAX_TIMEOUT,
        });
    }
    let Some(max) = owner_max else {
        return Ok(None);
    };
    if max == 0 {
        return Err(ConfigError::ZeroOwnerLimit);
    }
    if !store.limits_owners() {
        return Err(ConfigError::OwnerLimitUnsupported {
            store: store.name(),
        });
    }
    Ok(Some(OwnerLimit { max, policy }))
}

fn check_cookie(cookie: &CookieOptions) -> Result<(), ConfigError> {
    let name_ok = !cookie.name.is_empty()
        && cookie
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !name_ok {
        return Err(ConfigError::InvalidCookieName(cookie.name.clone()));
    }
    // These end up in the `Set-Cookie` header as they are: a `;` would add
    // an attribute, a control character or a space would break the header
    // (or, with CR LF, add one), and the adapters rely on every `SetCookie`
    // being a valid header value.
    let path_ok = cookie.path.starts_with('/')
        && cookie
            .path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';');
    if !path_ok {
        return Err(ConfigError::InvalidCookiePath(cookie.path.clone()));
    }
    if let Some(domain) = &cookie.domain {
        // A host name: dot-separated labels, none empty (`..` would be
        // rendered as `Domain=.`, which parsers read as no domain at all).
        let host = domain.strip_prefix('.').unwrap_or(domain);
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let domain_ok = host.len() <= 253 && host.split('.').all(label_ok);
        if !domain_ok {
            return Err(ConfigError::InvalidCookieDomain(domain.clone()));
        }
    }
    if cookie.host_prefix && (!cookie.secure || cookie.path != "/" || cookie.domain.is_some()) {
        return Err(ConfigError::HostPrefixConflict);
    }
    if cookie.same_site == SameSite::None && !cookie.secure {
        return Err(ConfigError::SameSiteNoneNeedsSecure);
    }
    Ok(())
}
