//! How the library learns that a session expired, and hands it to the
//! application's [`on_expired`](crate::SessionConfigBuilder::on_expired).
//!
//! Expiry is found in two places. The request cycle finds it when a load
//! meets a record past its expiry ([`ExpirySource::Load`]). A store finds it
//! when it removes expired records itself: the memory store's sweeper, the
//! SQL store's cleanup ([`ExpirySource::Cleanup`]), or the backend telling
//! it that it removed a record ([`ExpirySource::Notification`]). A store
//! that reports expiries holds one [`ExpirySink`] (shared by its clones) and
//! answers it from [`SessionStore::expiry_sink`](crate::store::SessionStore::expiry_sink);
//! every configuration built on that store listens to it, and the store calls
//! [`ExpirySink::report`] for each record it removed because it expired.
//!
//! A store never reports a record it removed for another reason (a delete,
//! a rotation, an eviction from a full memory store, a cap per owner).

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, RwLock, Weak};

use crate::id::SessionId;

/// Where the library learned that a session expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExpirySource {
    /// A request's load found the record past its expiry.
    Load,
    /// The store's own cleanup removed it (a sweeper, a cleanup task,
    /// `remove_expired()`).
    Cleanup,
    /// The backend said it removed it (a store subscribed to its backend's
    /// expiry notifications).
    Notification,
}

impl ExpirySource {
    /// A short word for logs: `load`, `cleanup`, `notification`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpirySource::Load => "load",
            ExpirySource::Cleanup => "cleanup",
            ExpirySource::Notification => "notification",
        }
    }
}

/// A session that expired, as a store reports it: its id (the hash of the
/// token, never the token) and its owner, when the store still knew it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpiredSession {
    /// The session's id.
    pub id: SessionId,
    /// The session's owner, if it had one and the store knew it (a
    /// backend's notification may name only the key).
    pub owner: Option<String>,
    /// Where the expiry was found.
    pub source: ExpirySource,
}

impl ExpiredSession {
    /// An expired session found by `source`.
    pub fn new(id: SessionId, owner: Option<String>, source: ExpirySource) -> Self {
        ExpiredSession { id, owner, source }
    }
}

/// What hears a report: a configuration's handler of expiries.
pub(crate) type Listener = dyn Fn(&ExpiredSession) + Send + Sync;

/// Where a store reports the sessions it found expired. Cloning shares the
/// listeners, so a store keeps one in the state its clones share and
/// answers it from
/// [`SessionStore::expiry_sink`](crate::store::SessionStore::expiry_sink).
///
/// Listeners are the configurations built on the store
/// ([`SessionConfigBuilder::build`](crate::SessionConfigBuilder::build)
/// registers one); the sink holds them weakly, so a dropped configuration
/// stops hearing and is not kept alive by its store.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use session_core::{SessionConfig, SessionId, store::{ExpiredSession, ExpirySource, SessionStore}};
/// # use session_store_memory::MemoryStore;
///
/// let heard = Arc::new(Mutex::new(Vec::new()));
/// let seen = Arc::clone(&heard);
/// let store = MemoryStore::new();
/// let config = SessionConfig::testing()
///     .store(store.clone())
///     .on_expired(move |event| seen.lock().unwrap().push(event.owner.map(str::to_owned)))
///     .build()?;
/// // What the store's sweeper does for each record it removes:
/// let sink = store.expiry_sink().expect("the memory store reports expiries");
/// sink.report(&ExpiredSession::new(SessionId::random(), Some("ada".into()), ExpirySource::Cleanup));
/// assert_eq!(*heard.lock().unwrap(), [Some("ada".to_owned())]);
/// drop(config);
/// assert!(!sink.is_heard(), "a dropped configuration no longer listens");
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Clone, Default)]
pub struct ExpirySink {
    listeners: Arc<RwLock<Vec<Weak<Listener>>>>,
}

impl ExpirySink {
    /// A sink nobody listens to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells every live listener that `expired` expired.
    ///
    /// A listener that panics is logged and the others still hear: the
    /// report comes from the middle of a store's cleanup, which must go on
    /// (a sweep cut short would leave records it had already taken from
    /// its index unremoved for good). The panic is the application's; the
    /// store's state is not shared with the callback, so nothing of ours is
    /// left half-changed by it.
    pub fn report(&self, expired: &ExpiredSession) {
        for listener in self.live() {
            let heard = panic::catch_unwind(AssertUnwindSafe(|| listener(expired)));
            if heard.is_err() {
                tracing::error!(
                    source = ?expired.source,
                    "an on_expired callback panicked; the cleanup goes on"
                );
            }
        }
    }

    /// Whether any configuration listens: a store may skip work that only
    /// serves reports (a subscription) while nobody does.
    pub fn is_heard(&self) -> bool {
        !self.live().is_empty()
    }

    /// Adds a listener, dropping those whose configuration is gone.
    pub(crate) fn listen(&self, listener: &Arc<Listener>) {
        let mut listeners = self.listeners.write().unwrap_or_else(|p| p.into_inner());
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(Arc::downgrade(listener));
    }

    /// The listeners still alive. Copied out, so no lock is held while a
    /// listener (the application's callback) runs.
    fn live(&self) -> Vec<Arc<Listener>> {
        let listeners = self.listeners.read().unwrap_or_else(|p| p.into_inner());
        listeners.iter().filter_map(Weak::upgrade).collect()
    }
}

impl fmt::Debug for ExpirySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpirySink")
            .field("listeners", &self.live().len())
            .finish()
    }
}
