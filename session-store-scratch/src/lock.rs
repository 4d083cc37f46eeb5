//! Session locks for [`Concurrency::Serialize`](session_core::Concurrency):
//! one lease per session id in a [`DashMap`] of its own (per-shard locks,
//! no global lock), each with a [`Notify`] that wakes the waiters when the
//! holder gives it back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use session_core::store::{LockAttempt, LockToken, SessionLocks, SessionStore, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;
use tokio::sync::Notify;

use crate::MemoryStore;

/// One holder's lease on one session.
#[derive(Debug)]
struct Lease {
    token: LockToken,
    expires: Instant,
    /// Woken when this lease is given back; waiters subscribe while the
    /// lease is still in the table, so no release slips between their look
    /// and their wait.
    released: Arc<Notify>,
}

impl Lease {
    fn new(token: &LockToken, lease: Duration, now: Instant) -> Self {
        Lease {
            token: token.clone(),
            expires: now + lease,
            released: Arc::new(Notify::new()),
        }
    }

    fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires
    }
}

/// The leases of one store. Expired leases are replaced by the next attempt
/// and removed by the store's sweeper ([`LockTable::sweep`]).
#[derive(Debug, Default)]
pub(crate) struct LockTable {
    leases: DashMap<SessionId, Lease>,
}

impl LockTable {
    /// Takes the lease if it is free, expired or already `token`'s.
    fn attempt(&self, id: &SessionId, token: &LockToken, lease: Duration) -> Result<(), Duration> {
        let now = Instant::now();
        match self.leases.entry(id.clone()) {
            Entry::Occupied(mut slot) => {
                let held = slot.get();
                if held.token != *token && !held.is_expired(now) {
                    return Err(held.expires - now);
                }
                // An expired lease's waiters retry on their own (their waits
                // are capped by the lease); the new holder gets a new Notify.
                slot.insert(Lease::new(token, lease, now));
            }
            Entry::Vacant(slot) => {
                slot.insert(Lease::new(token, lease, now));
            }
        }
        Ok(())
    }

    fn extend(&self, id: &SessionId, token: &LockToken, lease: Duration) -> bool {
        let now = Instant::now();
        match self.leases.get_mut(id) {
            Some(mut held) if held.token == *token && !held.is_expired(now) => {
                held.expires = now + lease;
                true
            }
            _ => false,
        }
    }

    fn unlock(&self, id: &SessionId, token: &LockToken) -> bool {
        let now = Instant::now();
        let Some((_, lease)) = self.leases.remove_if(id, |_, held| held.token == *token) else {
            return false;
        };
        lease.released.notify_waiters();
        // A lease that had run out was no longer ours (another attempt could
        // have taken it), so the answer is `false` even though it was removed.
        !lease.is_expired(now)
    }

    /// Waits until the lease on `id` is given back, at most `max`; returns
    /// at once if the lock is free (or its lease ran out).
    async fn wait(&self, id: &SessionId, max: Duration) {
        let released = match self.leases.get(id) {
            Some(held) if !held.is_expired(Instant::now()) => Arc::clone(&held.released),
            _ => return,
        };
        // `notified()` is armed for `notify_waiters` from its creation; the
        // shard lock was released above, so a release between the look and
        // here is caught by checking again after arming.
        let notified = released.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let still_held = self
            .leases
            .get(id)
            .is_some_and(|held| Arc::ptr_eq(&held.released, &released));
        if still_held {
            let _ = tokio::time::timeout(max, notified).await;
        }
    }

    /// Removes the leases that ran out; answers how many.
    pub(crate) fn sweep(&self) -> usize {
        let now = Instant::now();
        let before = self.leases.len();
        self.leases.retain(|_, lease| !lease.is_expired(now));
        before.saturating_sub(self.leases.len())
    }

    /// How many leases the table holds, expired ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.leases.len()
    }
}

/// Leases live in this process, like the records: the memory store is one
/// process's store.
#[async_trait]
impl SessionLocks for MemoryStore {
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        if let Err(expires_in) = self.lock_table().attempt(id, token, lease) {
            return Ok(LockAttempt::Held { expires_in });
        }
        // Loaded after the lease is ours: no other serialized request can
        // change the record in between.
        Ok(LockAttempt::Acquired(self.load(id, touch).await?))
    }

    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        Ok(self.lock_table().extend(id, token, lease))
    }

    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        Ok(self.lock_table().unlock(id, token))
    }

    async fn wait_for_release(&self, id: &SessionId, max: Duration) -> Result<(), StoreError> {
        self.lock_table().wait(id, max).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SessionId {
        SessionId::random()
    }

    #[test]
    fn a_lease_is_exclusive_until_given_back() {
        let table = LockTable::default();
        let (a, b) = (LockToken::random(), LockToken::random());
        let id = id();
        assert!(table.attempt(&id, &a, Duration::from_secs(60)).is_ok());
        let left = table.attempt(&id, &b, Duration::from_secs(60)).unwrap_err();
        assert!(left <= Duration::from_secs(60));
        assert!(!table.unlock(&id, &b));
        assert!(!table.extend(&id, &b, Duration::from_secs(60)));
        assert!(table.attempt(&id, &b, Duration::from_secs(60)).is_err());
        assert!(table.unlock(&id, &a));
        assert!(table.attempt(&id, &b, Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn expired_leases_are_swept_and_live_ones_kept() {
        let table = LockTable::default();
        let token = LockToken::random();
        table.attempt(&id(), &token, Duration::ZERO).unwrap();
        table
            .attempt(&id(), &token, Duration::from_secs(60))
            .unwrap();
        assert_eq!(table.sweep(), 1);
        assert_eq!(table.len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_release_wakes_a_waiter_before_its_wait_ends() {
        let table = Arc::new(LockTable::default());
        let (holder, id) = (LockToken::random(), id());
        table
            .attempt(&id, &holder, Duration::from_secs(600))
            .unwrap();
        let waiter = {
            let (table, id) = (Arc::clone(&table), id.clone());
            // A wait far longer than the test: it only ends by a wake-up.
            tokio::spawn(async move { table.wait(&id, Duration::from_secs(3600)).await })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(table.unlock(&id, &holder));
        // Not a speed check: without the wake-up the waiter sleeps an hour.
        tokio::time::timeout(Duration::from_secs(60), waiter)
            .await
            .expect("the release woke the waiter")
            .unwrap();
    }
}
