//! Lifecycle callbacks, as in the Crystal shard: started, loaded,
//! regenerated, deleted; and expired, when the library learns of it
//! (see [`ExpirySink`](crate::store::ExpirySink)).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::expiry::{ExpiredSession, ExpirySource};
use crate::id::SessionId;
use crate::telemetry;

/// Which lifecycle step happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A new session was written to the store for the first time.
    Started,
    /// An existing session was loaded for a request.
    Loaded,
    /// A session moved to a new token and id ([`Session::regenerate`](crate::Session::regenerate)).
    Regenerated,
    /// A session was deleted.
    Deleted,
    /// The library learned that a session expired: a load found it past its
    /// expiry, or the store's cleanup removed it (the event's
    /// [`source`](SessionEvent::source) says which). Such an event has no
    /// data.
    Expired,
}

/// What a callback is told.
///
/// ```
/// use session_core::{EventKind, SessionConfig};
/// # use session_store_memory::MemoryStore;
///
/// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
/// struct UserSession { user_id: Option<u64> }
///
/// let config = SessionConfig::builder()
///     .store(MemoryStore::new())
///     .on_regenerated(|event| {
///         assert_eq!(event.kind, EventKind::Regenerated);
///         let user = event.data::<UserSession>().and_then(|d| d.user_id);
///         tracing::info!(new_id = %event.id, ?user, "session rotated");
///     })
///     .build()?;
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[non_exhaustive]
pub struct SessionEvent<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The session's id (the new one, for [`EventKind::Regenerated`]).
    pub id: &'a SessionId,
    /// The id before rotation, for [`EventKind::Regenerated`].
    pub previous_id: Option<&'a SessionId>,
    /// The session's owner, when known.
    pub owner: Option<&'a str>,
    /// For [`EventKind::Expired`], where the expiry was found.
    pub source: Option<ExpirySource>,
    pub(crate) data: Option<&'a (dyn Any + Send + Sync)>,
}

impl<'a> SessionEvent<'a> {
    /// The session data, when the event has it and `T` is the session type.
    /// Deleting by id ([`SessionManager::delete`](crate::SessionManager::delete))
    /// does not load the data, so it has none.
    pub fn data<T: 'static>(&self) -> Option<&'a T> {
        self.data.and_then(|d| d.downcast_ref::<T>())
    }
}

impl fmt::Debug for SessionEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEvent")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("previous_id", &self.previous_id)
            .field("owner", &self.owner)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

type Callback = Arc<dyn Fn(&SessionEvent<'_>) + Send + Sync>;

/// The registered callbacks, at most one per kind.
#[derive(Clone, Default)]
pub(crate) struct Callbacks {
    pub(crate) started: Option<Callback>,
    pub(crate) loaded: Option<Callback>,
    pub(crate) regenerated: Option<Callback>,
    pub(crate) deleted: Option<Callback>,
    pub(crate) expired: Option<Callback>,
}

impl Callbacks {
    pub(crate) fn set(&mut self, kind: EventKind, callback: Callback) {
        *self.slot(kind) = Some(callback);
    }

    fn slot(&mut self, kind: EventKind) -> &mut Option<Callback> {
        match kind {
            EventKind::Started => &mut self.started,
            EventKind::Loaded => &mut self.loaded,
            EventKind::Regenerated => &mut self.regenerated,
            EventKind::Deleted => &mut self.deleted,
            EventKind::Expired => &mut self.expired,
        }
    }

    /// Runs the callback of `event.kind`, if any, and emits a tracing event.
    pub(crate) fn emit(&self, event: &SessionEvent<'_>) {
        tracing::debug!(kind = ?event.kind, id = %event.id, previous = ?event.previous_id.map(SessionId::as_str), source = event.source.map(ExpirySource::as_str), "session event");
        let callback = match event.kind {
            EventKind::Started => &self.started,
            EventKind::Loaded => &self.loaded,
            EventKind::Regenerated => &self.regenerated,
            EventKind::Deleted => &self.deleted,
            EventKind::Expired => &self.expired,
        };
        if let Some(callback) = callback {
            callback(event);
        }
    }

    /// Counts an expiry in `session_expired_total` and emits its event:
    /// what every source of expiries (a load, a store's report) ends in.
    pub(crate) fn expired(&self, expired: &ExpiredSession) {
        telemetry::expired(expired.source);
        self.emit(&SessionEvent {
            kind: EventKind::Expired,
            id: &expired.id,
            previous_id: None,
            owner: expired.owner.as_deref(),
            source: Some(expired.source),
            data: None,
        });
    }
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("on_started", &self.started.is_some())
            .field("on_loaded", &self.loaded.is_some())
            .field("on_regenerated", &self.regenerated.is_some())
            .field("on_deleted", &self.deleted.is_some())
            .field("on_expired", &self.expired.is_some())
            .finish()
    }
}
