//! The request-cycle half of [`Concurrency::Serialize`]: taking the
//! session's lease when a request loads it, waiting for it (bounded, with
//! backoff and jitter, or woken when a request of this process gives it
//! back: `handoff.rs`), and giving it back after the commit, or when the
//! handle is dropped without one.
//!
//! Why a lease that is the handler's time budget rather than one renewed
//! while the handler runs: renewing needs a task per request and a store
//! round trip per renewal, and a renewing holder that hangs (a deadlocked
//! handler) would block the session for ever, which is what a lease is there
//! to prevent. A handler that overruns its lease is still safe: under
//! `Serialize` saves carry the expected version, so its save is a `409` if
//! another request saved meanwhile, never a lost update; a store that relies
//! on the lease instead of the version
//! ([`SessionLocks::save_and_unlock`](crate::store::SessionLocks::save_and_unlock))
//! answers that `409` whenever the lease ran out.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::{Concurrency, ConfigError, SessionConfig, MAX_TIMEOUT};
use crate::data::SessionData;
use crate::error::SessionError;
use crate::expiry::{ExpiredSession, ExpirySource};
use crate::handoff::{Handoff, Waiting};
use crate::id::SessionId;
use crate::lock::{LockAttempt, LockToken};
use crate::manager::SessionManager;
use crate::record::Record;
use crate::session::Session;
use crate::store::{SessionLocks, SessionStore, StoreError};
use crate::telemetry::{self, LoadOutcome, Operation};

/// How long a request waits for its session's lock by default:
/// [`SessionConfigBuilder::lock_wait`](crate::SessionConfigBuilder::lock_wait).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The default lease, the handler's time budget:
/// [`SessionConfigBuilder::lock_lease`](crate::SessionConfigBuilder::lock_lease).
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(10);

/// The first backoff step of a waiter; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);

/// The longest single wait between two attempts. Stores that wake waiters
/// on release ([`SessionLocks::wait_for_release`](crate::store::SessionLocks::wait_for_release))
/// return earlier.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// The shortest wait, so that a lease about to end is not polled in a
/// tight loop.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// The two durations of the serialize policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockTimes {
    pub(crate) wait: Duration,
    pub(crate) lease: Duration,
}

impl Default for LockTimes {
    fn default() -> Self {
        LockTimes {
            wait: DEFAULT_LOCK_WAIT,
            lease: DEFAULT_LOCK_LEASE,
        }
    }
}

/// What [`SessionConfigBuilder::build`](crate::SessionConfigBuilder::build)
/// checks for the policy: a store that can lock, and a usable lease.
pub(crate) fn check(
    policy: Concurrency,
    times: &LockTimes,
    store: &dyn SessionStore,
) -> Result<(), ConfigError> {
    if policy != Concurrency::Serialize {
        return Ok(());
    }
    if store.locks().is_none() {
        let reason = if store.cookie_sealing().is_some() {
            "it keeps the session in the cookie and no server state to lock; use a server-side store, or Concurrency::Reject"
        } else {
            "it does not implement SessionLocks; use another store, or Concurrency::Reject"
        };
        return Err(ConfigError::SerializeUnsupported {
            store: store.name(),
            reason,
        });
    }
    if times.lease.is_zero() {
        return Err(ConfigError::ZeroTimeout("lock lease"));
    }
    for (which, given) in [("lock lease", times.lease), ("lock wait", times.wait)] {
        if given > MAX_TIMEOUT {
            return Err(ConfigError::TimeoutTooLong {
                which,
                given,
                max: MAX_TIMEOUT,
            });
        }
    }
    Ok(())
}

impl SessionConfig {
    /// Under [`Concurrency::Serialize`], how long a request waits for its
    /// session's lock; see
    /// [`SessionConfigBuilder::lock_wait`](crate::SessionConfigBuilder::lock_wait).
    pub fn lock_wait(&self) -> Duration {
        self.locking.wait
    }

    /// Under [`Concurrency::Serialize`], the lease of a request on its
    /// session; see
    /// [`SessionConfigBuilder::lock_lease`](crate::SessionConfigBuilder::lock_lease).
    pub fn lock_lease(&self) -> Duration {
        self.locking.lease
    }
}

impl Concurrency {
    /// Whether saves carry the version they replace: under `Reject`, and
    /// under `Serialize` in case a lease ran out.
    pub(crate) fn versioned_saves(self) -> bool {
        matches!(self, Concurrency::Reject | Concurrency::Serialize)
    }
}

/// How a request means to use its session: what an extractor's
/// [`Handle::ACCESS`](crate::adapter::Handle::ACCESS) asks of the first load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// It may write: under `Serialize` the load takes the lock.
    ReadWrite,
    /// It only reads: no lock under any policy.
    ReadOnly,
}

/// A lease this request holds. Given back by [`release`] after the commit;
/// if the handle is dropped first (a handler that panicked, a client that
/// went away), `Drop` gives it back from a spawned task where a tokio
/// runtime runs, and otherwise the lease runs out by itself.
pub(crate) struct HeldLease {
    held: Option<(Arc<dyn SessionStore>, SessionId, LockToken)>,
    /// Told of the release, to wake a waiter of this process.
    handoff: Arc<Handoff>,
}

impl HeldLease {
    async fn release(mut self) {
        if let Some((store, id, token)) = self.held.take() {
            unlock(store.as_ref(), &id, &token).await;
            self.handoff.released(&id);
        }
    }

    /// The token, for a store call that gives the lease back itself.
    fn token(&self) -> Option<&LockToken> {
        self.held.as_ref().map(|(_, _, token)| token)
    }

    /// Forgets the lease once a store call has given it back, so that
    /// `Drop` does not release it again. Until then, a call that is dropped
    /// half-way (a client that went away) leaves `Drop` to release it.
    fn given_back(mut self) {
        self.held = None;
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        let Some((store, id, token)) = self.held.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let handoff = Arc::clone(&self.handoff);
                runtime.spawn(async move {
                    unlock(store.as_ref(), &id, &token).await;
                    handoff.released(&id);
                });
            }
            Err(_) => {
                tracing::debug!(%id, "no tokio runtime to release the session's lock: its lease runs out")
            }
        }
    }
}

impl std::fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.held.as_ref().map(|(_, id, _)| id);
        f.debug_struct("HeldLease").field("id", &id).finish()
    }
}

/// Gives the lease back; a failure only logs (the lease runs out).
async fn unlock(store: &dyn SessionStore, id: &SessionId, token: &LockToken) {
    let Some(locks) = store.locks() else { return };
    let call = locks.unlock(id, token);
    match telemetry::store_call(store.name(), Operation::Unlock, Some(id), call).await {
        Ok(held) => released(id, held),
        Err(error) => {
            tracing::warn!(%id, %error, "could not release the session's lock: it ends with its lease")
        }
    }
}

/// Logs a release that found the lease taken over already.
fn released(id: &SessionId, held: bool) {
    if !held {
        tracing::warn!(%id, "the session's lease ran out before the request ended: raise lock_lease or shorten the handler")
    }
}

/// Saves a modified session's record. Where the session holds a lease, the
/// save gives it back in the same store call
/// ([`SessionLocks::save_and_unlock`](crate::store::SessionLocks::save_and_unlock)):
/// one round trip instead of a save and an unlock.
pub(crate) async fn save<T>(
    config: &SessionConfig,
    session: &Session<T>,
    record: &Record,
    expected: Option<u64>,
) -> Result<(), StoreError> {
    let store = config.store.name();
    let id = Some(&record.id);
    let lease = session.take_lease();
    let (Some(locks), Some(lease)) = (config.store.locks(), lease) else {
        let save = config.store.save(record, expected);
        return telemetry::store_call(store, Operation::Save, id, save).await;
    };
    let call = async {
        let Some(token) = lease.token() else {
            return config.store.save(record, expected).await;
        };
        let done = locks.save_and_unlock(record, expected, token).await;
        lease.given_back();
        if let Some(held) = done.released {
            released(&record.id, held);
        }
        // After a failed call too: this holder is done (its lease given
        // back or running out), and a woken waiter asks the store.
        config.handoff.released(&record.id);
        done.saved
    };
    telemetry::store_call(store, Operation::SaveAndUnlock, id, call).await
}

/// A record loaded under the session's lock (or without one where the
/// policy or the access takes none).
pub(crate) struct Loaded {
    pub(crate) record: Option<Record>,
    pub(crate) lease: Option<HeldLease>,
}

/// Loads the live record `id` for a request: under `Serialize` with
/// `ReadWrite` access, taking its lease first (waiting for it), in the same
/// store operation. A lease on an id with no live record is given back at
/// once: the request then starts a new session under a new id.
pub(crate) async fn load(
    config: &SessionConfig,
    id: &SessionId,
    access: Access,
    now: OffsetDateTime,
) -> Result<Loaded, SessionError> {
    let locks = config.store.locks();
    let store = config.store.name();
    let (Some(locks), Concurrency::Serialize, Access::ReadWrite) =
        (locks, config.concurrency, access)
    else {
        let load = config.store.load(id, None);
        let record = telemetry::store_call(store, Operation::Load, Some(id), load).await?;
        return Ok(Loaded {
            record: live(config, record, id, now),
            lease: None,
        });
    };
    // Boxed: the lock loop's state (the lock, wait and release calls) is
    // several times the plain load's, and this future is part of every
    // handler's; only requests that take the lock pay for the box.
    Box::pin(load_locked(config, locks, id, now)).await
}

/// [`load`] under `Serialize` with `ReadWrite` access: takes the lease,
/// waiting for it.
async fn load_locked(
    config: &SessionConfig,
    locks: &dyn SessionLocks,
    id: &SessionId,
    now: OffsetDateTime,
) -> Result<Loaded, SessionError> {
    let store = config.store.name();
    let token = LockToken::unique();
    let started = Instant::now();
    let deadline = started + config.locking.wait;
    let mut backoff = FIRST_BACKOFF;
    // Registered at the first refusal: a release by a request of this
    // process then ends the wait at once (see `handoff.rs`).
    let mut waiting: Option<Waiting> = None;
    loop {
        let attempt = locks.try_lock(id, &token, config.locking.lease, None);
        match telemetry::store_call(store, Operation::Lock, Some(id), attempt).await? {
            LockAttempt::Acquired(record) => {
                if let Some(waited) = &waiting {
                    waited.took_lease();
                }
                let lease = HeldLease {
                    held: Some((Arc::clone(&config.store), id.clone(), token)),
                    handoff: Arc::clone(&config.handoff),
                };
                let record = live(config, record, id, now);
                if record.is_none() {
                    lease.release().await;
                    return Ok(Loaded {
                        record,
                        lease: None,
                    });
                }
                return Ok(Loaded {
                    record,
                    lease: Some(lease),
                });
            }
            LockAttempt::Held { expires_in } => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(SessionError::Busy {
                        waited: now - started,
                        retry_after: expires_in,
                    });
                }
                let handed = waiting.get_or_insert_with(|| config.handoff.wait(id));
                if handed.held_here() {
                    // The holder wakes us at its release; the store is
                    // asked again only if its lease runs out first.
                    let lease_left = expires_in.max(MIN_WAIT).min(deadline - now);
                    tokio::select! {
                        () = tokio::time::sleep(lease_left) => {}
                        () = handed.released() => {}
                    }
                    continue;
                }
                let cap = backoff.min(expires_in).min(deadline - now);
                let wait = locks.wait_for_release(id, full_jitter(cap));
                let wait = telemetry::store_call(store, Operation::WaitForRelease, Some(id), wait);
                tokio::select! {
                    waited = wait => waited?,
                    () = handed.released() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The record if it is live and really the one asked for; a missing or
/// expired one is counted here (a found one once it decodes), and an
/// expired one reported to the configuration's `on_expired`.
fn live(
    config: &SessionConfig,
    record: Option<Record>,
    id: &SessionId,
    now: OffsetDateTime,
) -> Option<Record> {
    match record {
        Some(record) if record.id == *id && !record.is_expired(now) => Some(record),
        Some(record) if record.id == *id => {
            telemetry::loaded(LoadOutcome::Expired);
            let expired = ExpiredSession::new(record.id, record.owner, ExpirySource::Load);
            // The path a store's report takes too.
            (config.expiry_listener)(&expired);
            None
        }
        _ => {
            telemetry::loaded(LoadOutcome::Absent);
            None
        }
    }
}

/// A wait drawn uniformly from `[MIN_WAIT, cap]` ("full jitter"), so that
/// waiters woken together do not retry together.
fn full_jitter(cap: Duration) -> Duration {
    let cap = cap.max(MIN_WAIT);
    let span = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    let draw = u64::from_le_bytes(session_crypto::token::random_bytes::<8>());
    Duration::from_micros(draw % (span + 1)).max(MIN_WAIT)
}

/// Gives back the lease a session's handle holds, if any: called after
/// every commit, whether it succeeded or not.
pub(crate) async fn release<T>(session: &Session<T>) {
    if let Some(lease) = session.take_lease() {
        lease.release().await;
    }
}

impl<T: SessionData> SessionManager<T> {
    /// Loads the session named by a cookie value without taking its lock,
    /// under any concurrency policy: for requests that only read it. Under
    /// [`Concurrency::Serialize`] such a request neither waits for a writer
    /// nor makes one wait; it sees the last committed state. If it writes
    /// after all, its save is checked by version (a `409` if another request
    /// saved meanwhile). See
    /// [`LazySession::load_read_only`](crate::adapter::LazySession::load_read_only).
    pub async fn load_read_only(
        &self,
        cookie_value: Option<&str>,
    ) -> Result<Session<T>, SessionError> {
        self.load_value(
            cookie_value.and_then(|v| self.read_cookie(v)),
            Access::ReadOnly,
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_cap() {
        for cap in [
            Duration::ZERO,
            MIN_WAIT,
            Duration::from_millis(7),
            MAX_BACKOFF,
        ] {
            for _ in 0..200 {
                let wait = full_jitter(cap);
                assert!(
                    wait >= MIN_WAIT && wait <= cap.max(MIN_WAIT),
                    "{wait:?} for {cap:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_its_draws() {
        let draws: std::collections::HashSet<_> =
            (0..50).map(|_| full_jitter(MAX_BACKOFF)).collect();
        assert!(draws.len() > 10, "{} distinct waits of 50", draws.len());
    }
}
