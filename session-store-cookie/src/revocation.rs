//! The optional revocation hook: the one piece of server state a cookie
//! store can use to end a session before its cookie expires.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use session_core::time::OffsetDateTime;
use session_core::{store::StoreError, SessionId};

/// Where revoked session ids are kept until their cookies expire anyway.
///
/// A sealed cookie stays valid until the expiry sealed inside it, even after
/// logout: a copy taken earlier can be replayed. With a revocation hook,
/// [`CookieStore`](crate::CookieStore) records the id of every deleted
/// session (logout, and the old id at rotation) with [`revoke`](Self::revoke),
/// and asks [`is_revoked`](Self::is_revoked) before it accepts a cookie.
/// Back it with what the application already has (a Redis `SET key 1 EXAT`,
/// a SQL table with an expiry column); [`RevocationList`] keeps it in this
/// process.
///
/// An error from either method is a store outage: the request fails (a
/// `503` through the adapters) rather than accept a cookie that may be
/// revoked.
#[async_trait]
pub trait Revocation: Send + Sync + fmt::Debug + 'static {
    /// Records that `id` must no longer open. `until` is when every cookie
    /// that can carry it has expired (the session's absolute expiry, or
    /// later); the entry may be forgotten after it, never before.
    async fn revoke(&self, id: &SessionId, until: OffsetDateTime) -> Result<(), StoreError>;

    /// Whether `id` was revoked (and the revocation has not lapsed).
    async fn is_revoked(&self, id: &SessionId) -> Result<bool, StoreError>;
}

/// A [`Revocation`] kept in this process's memory: right for a single
/// process; several processes need a shared backing (Redis, SQL).
///
/// Lapsed entries are dropped as new ones arrive, so the list holds about
/// as many ids as sessions were deleted within the revocation period.
///
/// ```
/// use session_core::time::{Duration, OffsetDateTime};
/// use session_core::SessionId;
/// use session_store_cookie::{Revocation, RevocationList};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
/// let list = RevocationList::new();
/// let id = SessionId::random();
/// list.revoke(&id, OffsetDateTime::now_utc() + Duration::hours(1)).await?;
/// assert!(list.is_revoked(&id).await?);
/// assert!(!list.is_revoked(&SessionId::random()).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct RevocationList {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    until: HashMap<SessionId, OffsetDateTime>,
    /// Size after the last pruning: prune again once it has doubled, which
    /// keeps the cost per revocation constant on average.
    pruned_len: usize,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many revocations are held, lapsed ones included until pruned.
    pub fn len(&self) -> usize {
        self.lock().until.len()
    }

    /// Whether no revocation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Until when `id` is revoked, if it is listed (lapsed or not, until
    /// pruned).
    pub fn revoked_until(&self, id: &SessionId) -> Option<OffsetDateTime> {
        self.lock().until.get(id).copied()
    }

    /// Whether `id` is revoked at the instant `at`: what
    /// [`is_revoked`](Revocation::is_revoked) answers when `at` is now.
    pub fn is_revoked_at(&self, id: &SessionId, at: OffsetDateTime) -> bool {
        self.revoked_until(id).is_some_and(|until| until > at)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent after every statement: a panic elsewhere
        // while it was held leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Revocation for RevocationList {
    async fn revoke(&self, id: &SessionId, until: OffsetDateTime) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut entries = self.lock();
        let slot = entries.until.entry(id.clone()).or_insert(until);
        *slot = (*slot).max(until);
        if entries.until.len() >= 2 * entries.pruned_len.max(64) {
            entries.until.retain(|_, until| *until > now);
            entries.pruned_len = entries.until.len();
        }
        Ok(())
    }

    async fn is_revoked(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.is_revoked_at(id, OffsetDateTime::now_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lapsed_entries_stop_counting_and_are_pruned() {
        let list = RevocationList::new();
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let gone = SessionId::random();
        list.revoke(&gone, past).await.unwrap();
        assert!(!list.is_revoked(&gone).await.unwrap());
        for _ in 0..200 {
            list.revoke(&SessionId::random(), past).await.unwrap();
        }
        assert!(list.len() < 128, "{} entries", list.len());
    }

    #[tokio::test]
    async fn a_later_expiry_wins() {
        let list = RevocationList::new();
        let id = SessionId::random();
        let now = OffsetDateTime::now_utc();
        list.revoke(&id, now + time::Duration::hours(1))
            .await
            .unwrap();
        list.revoke(&id, now - time::Duration::hours(1))
            .await
            .unwrap();
        assert!(list.is_revoked(&id).await.unwrap());
    }
}
