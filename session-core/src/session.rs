//! The per-request session handle.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use session_crypto::{FieldError, KeyRing, Sealed};
use time::OffsetDateTime;

use crate::csrf::CsrfSecret;
use crate::envelope::Unknown;
use crate::flash::{FlashMessage, FlashState};
use crate::id::{SessionId, Token};
use crate::meta::{ClientInfo, Meta};
use crate::serialize::HeldLease;

/// The session of one request: cheap to clone, `Send + Sync`, one lock.
///
/// Read fields through [`data`](Self::data), write them through
/// [`data_mut`](Self::data_mut) or [`update`](Self::update) (either marks the
/// session modified, so it is saved at the end of the request). Do not hold
/// the guard across an `.await`: it is not `Send`, and the compiler says so.
///
/// ```
/// # use session_core::{SessionConfig, SessionManager};
/// # use session_store_memory::MemoryStore;
/// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
/// struct UserSession { username: Option<String>, visits: u32 }
///
/// # let manager = SessionManager::<UserSession>::new(
/// #     SessionConfig::testing().store(MemoryStore::new()).build().unwrap());
/// let session = manager.create();
/// session.data_mut().username = Some("alice".into());
/// session.update(|d| d.visits += 1);
/// assert_eq!(session.data().visits, 1);
/// assert!(session.is_modified());
/// ```
pub struct Session<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) struct Shared<T> {
    keys: KeyRing,
    state: Mutex<State<T>>,
    /// The session's lock under `Concurrency::Serialize`, until the commit
    /// gives it back (or the last handle is dropped).
    lease: Mutex<Option<HeldLease>>,
}

/// Everything the request cycle knows about one session.
pub(crate) struct State<T> {
    pub(crate) data: T,
    pub(crate) id: SessionId,
    /// The cookie token of a server-side session; `None` where the cookie
    /// is the sealed record itself.
    pub(crate) token: Option<Token>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) idle_expires_at: OffsetDateTime,
    pub(crate) absolute_expires_at: OffsetDateTime,
    pub(crate) version: u64,
    pub(crate) owner: Option<String>,
    /// The store holds this session (it was loaded or has been saved).
    pub(crate) persisted: bool,
    /// Something to write: data, flash, owner or id changed.
    pub(crate) modified: bool,
    /// Bumped by every change, so a commit clears `modified` only if nothing
    /// changed while it ran.
    pub(crate) generation: u64,
    /// The idle expiry is to be refreshed at commit (`IdleRefresh::Always`):
    /// a server store's record is touched, a sealed cookie sealed again, and
    /// the cookie sent again (its `Max-Age` is the absolute expiry's).
    pub(crate) refreshed: bool,
    /// The cookie must be sent again even if nothing changed (a sealed cookie
    /// opened with an old key).
    pub(crate) reissue: bool,
    /// The persisted id this session rotated away from; removed at commit.
    pub(crate) previous_id: Option<SessionId>,
    pub(crate) deleted: bool,
    pub(crate) flash: FlashState,
    /// Stored fields this release's type does not know, written back at
    /// the next save (see `envelope.rs`).
    pub(crate) unknown: Unknown,
    /// The secret of the session's CSRF tokens, once one was asked for.
    pub(crate) csrf: Option<CsrfSecret>,
    /// The library's metadata, as stored (see `meta.rs`).
    pub(crate) meta: Meta,
    /// This session's idle timeout and the bounds of `remember`.
    pub(crate) timeouts: Timeouts,
    /// The owner changed since the load (a login): the store bounds the
    /// owner's sessions at commit.
    pub(crate) owner_changed: bool,
    /// The client of the current request, for the metadata of a write.
    pub(crate) client: Option<ClientInfo>,
    /// Served while the store was unavailable
    /// ([`OutagePolicy::Degrade`](crate::OutagePolicy::Degrade)): never
    /// written, no `Set-Cookie`.
    pub(crate) degraded: bool,
}

/// A session's idle timeout, and what [`Session::remember`] and
/// [`Session::reset`] need to change it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// This session's idle timeout (the configured one unless remembered).
    pub(crate) idle: Duration,
    /// The configured idle timeout.
    pub(crate) default_idle: Duration,
    /// The configured absolute timeout.
    pub(crate) default_absolute: Duration,
    /// The longest `remember`.
    pub(crate) remember_max: Duration,
}

impl<T> State<T> {
    pub(crate) fn expires_at(&self) -> OffsetDateTime {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    fn changed(&mut self) {
        self.modified = true;
        self.generation += 1;
    }
}

impl<T> Clone for Session<T> {
    fn clone(&self) -> Self {
        Session {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Session")
            .field("id", &state.id)
            .field("persisted", &state.persisted)
            .field("modified", &state.modified)
            .field("deleted", &state.deleted)
            .field("expires_at", &state.expires_at())
            .finish_non_exhaustive()
    }
}

/// Read access to the session data; see [`Session::data`].
pub struct DataRef<'a, T> {
    guard: MutexGuard<'a, State<T>>,
}

impl<T> Deref for DataRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard.data
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for DataRef<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.guard.data.fmt(f)
    }
}

/// Write access to the session data; see [`Session::data_mut`].
pub struct DataMut<'a, T> {
    guard: MutexGuard<'a, State<T>>,
}

impl<T> Deref for DataMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard.data
    }
}

impl<T> DerefMut for DataMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard.data
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for DataMut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.guard.data.fmt(f)
    }
}

impl<T> Session<T> {
    pub(crate) fn from_state(keys: KeyRing, state: State<T>) -> Self {
        Session {
            shared: Arc::new(Shared {
                keys,
                state: Mutex::new(state),
                lease: Mutex::new(None),
            }),
        }
    }

    /// Keeps the lease this session was loaded under.
    pub(crate) fn hold_lease(&self, lease: Option<HeldLease>) {
        *self.lease_slot() = lease;
    }

    /// Takes the lease out, to give it back.
    pub(crate) fn take_lease(&self) -> Option<HeldLease> {
        self.lease_slot().take()
    }

    fn lease_slot(&self) -> MutexGuard<'_, Option<HeldLease>> {
        self.shared
            .lease
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The one lock. A handler that panicked while holding it leaves the data
    /// as it was; the session stays usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The session id: safe to log, never usable as a cookie.
    pub fn id(&self) -> SessionId {
        self.lock().id.clone()
    }

    /// Reads the data.
    pub fn data(&self) -> DataRef<'_, T> {
        DataRef { guard: self.lock() }
    }

    /// Writes the data; marks the session modified.
    pub fn data_mut(&self) -> DataMut<'_, T> {
        let mut guard = self.lock();
        guard.changed();
        DataMut { guard }
    }

    /// Changes the data in a closure; marks the session modified.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.data_mut())
    }

    /// Whether this session is not yet in the store (no cookie, or an
    /// unknown one).
    pub fn is_new(&self) -> bool {
        !self.lock().persisted
    }

    /// Whether this is a stand-in served while the store is unavailable,
    /// under [`OutagePolicy::Degrade`](crate::OutagePolicy::Degrade): a
    /// fresh session that is never saved and sets no cookie, so the user's
    /// real session survives the outage. A handler whose answer would claim
    /// that something was stored (a login) answers `503` instead.
    pub fn is_degraded(&self) -> bool {
        self.lock().degraded
    }

    /// Whether anything will be written at the end of the request.
    pub fn is_modified(&self) -> bool {
        self.lock().modified
    }

    /// Whether the session is usable: not deleted and not expired.
    pub fn is_valid(&self) -> bool {
        let state = self.lock();
        !state.deleted && OffsetDateTime::now_utc() < state.expires_at()
    }

    /// When the session expires unless a request extends it: the earlier of
    /// the idle and the absolute expiry.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.lock().expires_at()
    }

    /// When the session was created.
    pub fn created_at(&self) -> OffsetDateTime {
        self.lock().created_at
    }

    /// The owner (user id) set with [`set_owner`](Self::set_owner).
    pub fn owner(&self) -> Option<String> {
        self.lock().owner.clone()
    }

    /// Ties the session to a user, so that
    /// [`SessionManager::delete_by_owner`](crate::SessionManager::delete_by_owner)
    /// ("log out everywhere") and
    /// [`SessionManager::sessions_of`](crate::SessionManager::sessions_of)
    /// find it. `None` unties it.
    ///
    /// A session that gains an owner this way is a login: its creation
    /// time restarts (what "your devices" shows, and how the cap per owner
    /// ranks sessions), and at commit the store enforces
    /// [`max_sessions_per_owner`](crate::SessionConfigBuilder::max_sessions_per_owner).
    pub fn set_owner(&self, owner: Option<impl Into<String>>) {
        let mut state = self.lock();
        let owner = owner.map(Into::into);
        if owner.is_some() && owner != state.owner {
            state.owner_changed = true;
            state.created_at = OffsetDateTime::now_utc();
        }
        state.owner = owner;
        state.changed();
    }

    /// "Remember me": gives this session its own idle and absolute timeouts
    /// of `lifetime` from now (cut to
    /// [`remember_max`](crate::SessionConfigBuilder::remember_max), at least
    /// one second), instead of the configured ones. They are stored with the
    /// session, so they hold on every later request and across
    /// [`regenerate`](Self::regenerate), and the cookie's `Max-Age` follows.
    /// [`reset`](Self::reset) returns to the configured timeouts.
    ///
    /// ```
    /// # use session_core::{SessionConfig, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// use std::time::Duration;
    /// # #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    /// # struct UserSession { username: Option<String> }
    /// # let manager = SessionManager::<UserSession>::new(
    /// #     SessionConfig::testing().store(MemoryStore::new()).build().unwrap());
    /// let session = manager.create();
    /// session.remember(Duration::from_secs(30 * 24 * 3600));
    /// assert!(session.is_remembered());
    /// assert!(session.expires_at() > session_core::time::OffsetDateTime::now_utc() + Duration::from_secs(29 * 24 * 3600));
    /// ```
    pub fn remember(&self, lifetime: Duration) {
        let mut state = self.lock();
        let lifetime = lifetime
            .min(state.timeouts.remember_max)
            .max(Duration::from_secs(1));
        let now = OffsetDateTime::now_utc();
        state.timeouts.idle = lifetime;
        state.meta.idle_secs = Some(lifetime.as_secs());
        state.idle_expires_at = now + lifetime;
        state.absolute_expires_at = now + lifetime;
        state.changed();
    }

    /// Whether [`remember`](Self::remember) gave this session its own
    /// timeouts.
    pub fn is_remembered(&self) -> bool {
        self.lock().meta.idle_secs.is_some()
    }

    /// This session's idle timeout: the configured one, or the one
    /// [`remember`](Self::remember) gave it.
    pub fn idle_timeout(&self) -> Duration {
        self.lock().timeouts.idle
    }

    /// Moves the session to a new token and id, keeping its data; the old
    /// record is removed when the request commits. Call it on login and on
    /// every change of privilege, so that a token planted or seen before
    /// login is worthless after it (session fixation).
    pub fn regenerate(&self) {
        let mut state = self.lock();
        if state.persisted && state.previous_id.is_none() {
            state.previous_id = Some(state.id.clone());
        }
        if state.token.is_some() {
            let token = Token::random();
            state.id = token.id();
            state.token = Some(token);
        } else {
            state.id = SessionId::random();
        }
        // Tokens handed out before the change of privilege are worthless
        // after it, like the old session token.
        if state.csrf.is_some() {
            state.csrf = Some(CsrfSecret::random());
        }
        state.changed();
    }

    /// Starts over: a new token and id (as [`regenerate`](Self::regenerate)),
    /// and the data, flash messages and owner of a new session. The old
    /// record is removed when the request commits. Call it when a different
    /// user logs in on a browser that holds another user's session, so that
    /// nothing of theirs carries over (what Rails calls `reset_session`);
    /// [`regenerate`](Self::regenerate) keeps the data, for a login over an
    /// anonymous session whose cart should survive.
    ///
    /// ```
    /// # use session_core::{SessionConfig, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    /// struct UserSession { username: Option<String>, note: String }
    ///
    /// # let manager = SessionManager::<UserSession>::new(
    /// #     SessionConfig::testing().store(MemoryStore::new()).build().unwrap());
    /// let session = manager.create();
    /// session.data_mut().note = "alice's".into();
    /// let before = session.id();
    /// session.reset();
    /// assert_ne!(session.id(), before);
    /// assert!(session.data().note.is_empty());
    /// ```
    pub fn reset(&self)
    where
        T: Default,
    {
        self.regenerate();
        let mut state = self.lock();
        state.data = T::default();
        state.flash = FlashState::default();
        state.owner = None;
        state.unknown = Unknown::default();
        state.csrf = None;
        if state.meta.idle_secs.take().is_some() {
            // Forget "remember me": the configured timeouts from now on
            // (the absolute expiry not later than a new session's).
            state.timeouts.idle = state.timeouts.default_idle;
            let now = OffsetDateTime::now_utc();
            let idle = now + state.timeouts.idle;
            state.idle_expires_at = state.idle_expires_at.min(idle);
            let absolute = now + state.timeouts.default_absolute;
            state.absolute_expires_at = state.absolute_expires_at.min(absolute);
        }
    }

    /// Ends the session: the record is removed and the cookie expired when
    /// the request commits.
    pub fn delete(&self) {
        let mut state = self.lock();
        state.deleted = true;
        state.generation += 1;
    }

    /// Whether [`delete`](Self::delete) was called.
    pub fn is_deleted(&self) -> bool {
        self.lock().deleted
    }

    /// Adds a flash message (level `info`) for a later request.
    pub fn flash(&self, text: impl Into<String>) {
        self.flash_message(FlashMessage::info(text));
    }

    /// Adds a flash message with a level for a later request.
    pub fn flash_message(&self, message: FlashMessage) {
        let mut state = self.lock();
        state.flash.new.push(message);
        state.changed();
    }

    /// Takes the flash messages set by earlier requests: each is shown once.
    /// Messages that no request reads stay until one does.
    pub fn take_flash(&self) -> Vec<FlashMessage> {
        let mut state = self.lock();
        let (messages, changed) = state.flash.take();
        if changed {
            state.changed();
        }
        messages
    }

    /// Keeps the messages taken during this request for one more request.
    pub fn keep_flash(&self) {
        let mut state = self.lock();
        if !state.flash.read.is_empty() {
            state.flash.keep = true;
            state.changed();
        }
    }

    /// Drops every flash message, read or not, including new ones.
    pub fn discard_flash(&self) {
        let mut state = self.lock();
        state.flash = FlashState::default();
        state.changed();
    }

    /// A token that proves a request comes from a page of this session
    /// (see [`csrf`](crate::csrf) for the threat model): put it in a hidden
    /// form field named `csrf_token` or send it in the `X-CSRF-Token`
    /// header. The session's secret is created on the first call (which
    /// marks the session modified, so it is saved) and replaced by
    /// [`regenerate`](Self::regenerate) and [`reset`](Self::reset). Each
    /// call answers another string (the secret under a fresh random
    /// mask); every one of them verifies until the secret is replaced.
    ///
    /// ```
    /// # use session_core::{SessionConfig, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # let manager = SessionManager::<()>::new(
    /// #     SessionConfig::testing().store(MemoryStore::new()).build().unwrap());
    /// let session = manager.create();
    /// let (a, b) = (session.csrf_token(), session.csrf_token());
    /// assert_ne!(a, b);
    /// assert!(session.verify_csrf_token(&a) && session.verify_csrf_token(&b));
    /// session.regenerate();
    /// assert!(!session.verify_csrf_token(&a), "replaced on rotation");
    /// assert!(!manager.create().verify_csrf_token(&b), "another session's");
    /// ```
    pub fn csrf_token(&self) -> String {
        let mut state = self.lock();
        let created = state.csrf.is_none();
        let token = state.csrf.get_or_insert_with(CsrfSecret::random).masked();
        if created {
            state.changed();
        }
        token
    }

    /// Whether `token` is a token of this session's current secret (in
    /// constant time); always `false` before [`csrf_token`](Self::csrf_token)
    /// was first called.
    pub fn verify_csrf_token(&self, token: &str) -> bool {
        self.lock().csrf.as_ref().is_some_and(|s| s.verifies(token))
    }

    /// Seals a value with the configured secret, for the [`Sealed`] field
    /// named `field` (bound in: it opens in no other field).
    pub fn seal<V: Serialize + DeserializeOwned>(
        &self,
        field: &str,
        value: &V,
    ) -> Result<Sealed<V>, FieldError> {
        Sealed::seal(&self.shared.keys, field, value)
    }

    /// Opens the [`Sealed`] field named `field` with the configured secrets.
    pub fn open<V: Serialize + DeserializeOwned>(
        &self,
        field: &str,
        sealed: &Sealed<V>,
    ) -> Result<V, FieldError> {
        sealed.open(&self.shared.keys, field)
    }
}
