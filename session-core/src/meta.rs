//! Session metadata kept by the library beside the application's data:
//! what the configuration asks to keep ([`Metadata`]), what a request tells
//! about its client ([`ClientInfo`]), and what is stored (`Meta`, in the
//! envelope's `meta` key; see `envelope.rs`).
//!
//! Why in the envelope and not in [`Record`](crate::store::Record) fields:
//! every store already keeps the envelope's bytes, so no store layout, SQL
//! migration or document format changes, and a process of an earlier
//! release keeps the key through its saves (it is an unknown field there).
//! Stores never read it; listing decodes it from the records of one owner.
//!
//! "Last seen" is not stored at all: it rides on the idle-expiry touch.
//! A request that uses a session slides its idle expiry (a touch, when it
//! moves by at least the refresh slack: a tenth of the idle timeout by
//! default, [`SessionConfigBuilder::refresh_fraction`](crate::SessionConfigBuilder::refresh_fraction)),
//! so `idle_expires_at` minus that session's idle timeout is when it was
//! last used, within the refresh slack, and a read-only request costs no
//! write for it.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::SessionId;

/// The longest user agent kept, in bytes (cut at a character boundary).
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// Which metadata a session keeps (default: none). Turn pieces on with the
/// methods, or take [`Metadata::all`].
///
/// ```
/// use session_core::{Metadata, SessionConfig};
/// # use session_store_memory::MemoryStore;
///
/// let config = SessionConfig::builder()
///     .store(MemoryStore::new())
///     .metadata(Metadata::none().created_at(true).last_seen(true).user_agent(true))
///     .build()?;
/// assert!(!config.metadata().keeps_client_ip());
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metadata {
    created_at: bool,
    last_seen: bool,
    client_ip: bool,
    user_agent: bool,
}

impl Metadata {
    /// Nothing kept (the default).
    pub const fn none() -> Self {
        Metadata {
            created_at: false,
            last_seen: false,
            client_ip: false,
            user_agent: false,
        }
    }

    /// Everything kept: created at, last seen, client address, user agent.
    pub const fn all() -> Self {
        Metadata {
            created_at: true,
            last_seen: true,
            client_ip: true,
            user_agent: true,
        }
    }

    /// Shows when each session was created (stored by every store anyway).
    pub const fn created_at(mut self, on: bool) -> Self {
        self.created_at = on;
        self
    }

    /// Shows when each session was last used: derived from its idle expiry,
    /// so it costs no write (precision: the refresh slack, a tenth of the
    /// idle timeout by default; with
    /// [`IdleRefresh::OnWrite`](crate::IdleRefresh::OnWrite), the last
    /// write).
    pub const fn last_seen(mut self, on: bool) -> Self {
        self.last_seen = on;
        self
    }

    /// Keeps the client's IP address, as the adapter saw it (the peer of the
    /// connection; a proxy's address unless the application tells the
    /// framework otherwise), updated whenever the session is written.
    pub const fn client_ip(mut self, on: bool) -> Self {
        self.client_ip = on;
        self
    }

    /// Keeps the client's `User-Agent`, cut to [`MAX_USER_AGENT_BYTES`],
    /// updated whenever the session is written.
    pub const fn user_agent(mut self, on: bool) -> Self {
        self.user_agent = on;
        self
    }

    /// Whether listings show when sessions were created.
    pub const fn shows_created_at(&self) -> bool {
        self.created_at
    }

    /// Whether listings show when sessions were last used.
    pub const fn shows_last_seen(&self) -> bool {
        self.last_seen
    }

    /// Whether the client address is kept.
    pub const fn keeps_client_ip(&self) -> bool {
        self.client_ip
    }

    /// Whether the user agent is kept.
    pub const fn keeps_user_agent(&self) -> bool {
        self.user_agent
    }

    /// Whether adapters need to pass a [`ClientInfo`] at all.
    pub const fn wants_client(&self) -> bool {
        self.client_ip || self.user_agent
    }
}

/// What a request tells about its client, passed by the adapter to
/// [`SessionManager::start_request_with`](crate::SessionManager::start_request_with).
///
/// ```
/// use session_core::adapter::ClientInfo;
///
/// let client = ClientInfo::new(Some("10.0.0.7".parse().unwrap()), Some(&"x".repeat(1000)));
/// assert_eq!(client.user_agent().map(str::len), Some(256));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    ip: Option<IpAddr>,
    user_agent: Option<String>,
}

impl ClientInfo {
    /// The client's address and `User-Agent` header (cut to
    /// [`MAX_USER_AGENT_BYTES`] at a character boundary).
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        ClientInfo {
            ip,
            user_agent: user_agent.map(|ua| truncate(ua, MAX_USER_AGENT_BYTES).to_owned()),
        }
    }

    /// Like [`new`](Self::new), from the `User-Agent` value's bytes as an
    /// adapter's framework holds them: a value that is not UTF-8 counts as
    /// none. Written here once for every adapter.
    pub fn from_header(ip: Option<IpAddr>, user_agent: Option<&[u8]>) -> Self {
        ClientInfo::new(ip, user_agent.and_then(|ua| std::str::from_utf8(ua).ok()))
    }

    /// The client's address.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The (cut) user agent.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The library's part of a stored session (the envelope's `meta` key), with
/// short names: it is in every record that has any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<String>,
    #[serde(default, rename = "ua", skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
    /// The idle timeout of a remembered session, in seconds.
    #[serde(default, rename = "idle", skip_serializing_if = "Option::is_none")]
    pub(crate) idle_secs: Option<u64>,
}

impl Meta {
    pub(crate) fn is_empty(&self) -> bool {
        self.ip.is_none() && self.user_agent.is_none() && self.idle_secs.is_none()
    }

    /// This session's idle timeout: its own, if remembered, else `default`.
    pub(crate) fn idle_timeout(&self, default: Duration) -> Duration {
        self.idle_secs.map_or(default, Duration::from_secs)
    }

    /// Takes what `options` keeps from the request's client.
    pub(crate) fn record_client(&mut self, options: Metadata, client: Option<&ClientInfo>) {
        let Some(client) = client else { return };
        if options.client_ip {
            self.ip = client.ip.map(|ip| ip.to_string());
        }
        if options.user_agent {
            self.user_agent = client.user_agent.clone();
        }
    }
}

/// One session of an owner, as
/// [`SessionManager::sessions_of`](crate::SessionManager::sessions_of)
/// lists it ("your devices"). Fields the configuration does not keep
/// ([`Metadata`]) are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEntry {
    /// The session's id: safe to show and to send back to revoke it, never
    /// usable as a cookie.
    pub id: SessionId,
    /// When it was created (or last logged in: gaining an owner restarts
    /// it).
    pub created_at: Option<OffsetDateTime>,
    /// When a request last used it, within the refresh slack.
    pub last_seen_at: Option<OffsetDateTime>,
    /// The client address of its last write.
    pub ip: Option<String>,
    /// The user agent of its last write.
    pub user_agent: Option<String>,
    /// When it expires unless used.
    pub expires_at: OffsetDateTime,
    /// Whether it is the session of the request that asked.
    pub current: bool,
    /// Whether it was given its own timeouts by
    /// [`Session::remember`](crate::Session::remember).
    pub remembered: bool,
}

/// What a login that would give an owner more than
/// [`max_sessions_per_owner`](crate::SessionConfigBuilder::max_sessions_per_owner)
/// sessions does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnerLimitPolicy {
    /// The owner's oldest sessions end (default): the new login wins.
    #[default]
    EvictOldest,
    /// The new login is refused with
    /// [`SessionError::OwnerLimitReached`](crate::SessionError::OwnerLimitReached)
    /// and its session removed: the sessions already there stay.
    Refuse,
}

/// The bound on one owner's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerLimit {
    /// At most this many live sessions per owner (at least 1).
    pub max: u32,
    /// What a login over the limit does.
    pub policy: OwnerLimitPolicy,
}

/// What [`SessionStore::limit_owner`](crate::store::SessionStore::limit_owner)
/// did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnerLimited {
    /// The sessions it removed (under [`OwnerLimitPolicy::EvictOldest`]).
    pub evicted: Vec<SessionId>,
    /// Whether the newest session was refused, and removed (under
    /// [`OwnerLimitPolicy::Refuse`]).
    pub refused: bool,
}

impl OwnerLimited {
    /// What to do with one owner's live sessions, `(id, created_at)` in any
    /// order, after `newest` gained that owner: the rule every store applies
    /// in one atomic step (those that decide in process call this; scripts
    /// and SQL do the same). `newest` always stays under
    /// [`OwnerLimitPolicy::EvictOldest`]: the owner's other sessions, oldest
    /// first by creation time (then id), go until `max` are left. Under
    /// [`OwnerLimitPolicy::Refuse`], `newest` goes if the owner has `max`
    /// other live sessions. Since the step removes what it decides before
    /// the next one looks, two logins racing never leave the owner over the
    /// limit, and under `Refuse` not both are refused.
    ///
    /// ```
    /// use session_core::{store::OwnerLimited, time::OffsetDateTime, OwnerLimit, OwnerLimitPolicy, SessionId};
    ///
    /// let at = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
    /// let (a, b, c) = (SessionId::random(), SessionId::random(), SessionId::random());
    /// let live = [(a.clone(), at(1)), (b.clone(), at(2)), (c.clone(), at(3))];
    /// let evict = OwnerLimit { max: 2, policy: OwnerLimitPolicy::EvictOldest };
    /// assert_eq!(OwnerLimited::decide(&live, &c, evict).evicted, vec![a]);
    /// let refuse = OwnerLimit { max: 2, policy: OwnerLimitPolicy::Refuse };
    /// assert!(OwnerLimited::decide(&live, &c, refuse).refused);
    /// ```
    pub fn decide(
        live: &[(SessionId, OffsetDateTime)],
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> OwnerLimited {
        let max = limit.max.max(1) as usize;
        let present = live.iter().any(|(id, _)| id == newest);
        let mut others: Vec<&(SessionId, OffsetDateTime)> =
            live.iter().filter(|(id, _)| id != newest).collect();
        match limit.policy {
            OwnerLimitPolicy::EvictOldest => {
                let keep = max - usize::from(present);
                others.sort_by(|a, b| (b.1, b.0.as_str()).cmp(&(a.1, a.0.as_str())));
                OwnerLimited {
                    evicted: others.iter().skip(keep).map(|(id, _)| id.clone()).collect(),
                    refused: false,
                }
            }
            OwnerLimitPolicy::Refuse => OwnerLimited {
                evicted: Vec::new(),
                refused: present && others.len() >= max,
            },
        }
    }
}
