//! The store itself.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use session_core::time::OffsetDateTime;
use session_core::{Record, RecordPredicate, SessionId, SessionStore, StoreError};

use crate::index::{bucket, ExpiryIndex};

/// How many expired records one sweep step removes before yielding, so a
/// large backlog never stalls the runtime.
const SWEEP_BATCH: usize = 1024;

/// What a full store does with a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Refuse it with [`StoreError::CapacityExceeded`] (a `503` through the
    /// adapters): existing users keep their sessions.
    Refuse,
    /// Make room by removing the session that would expire first.
    EvictSoonestExpiring,
}

/// An in-memory session store. Cloning shares the same records.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    records: DashMap<SessionId, Record>,
    expiry: ExpiryIndex,
    owners: DashMap<String, HashSet<SessionId>>,
    capacity: Option<(usize, Overflow)>,
}

/// Builds a [`MemoryStore`].
#[derive(Debug)]
#[must_use]
pub struct MemoryStoreBuilder {
    capacity: Option<(usize, Overflow)>,
    sweep_every: Option<Duration>,
}

impl MemoryStoreBuilder {
    /// Bounds the number of sessions (default: unbounded).
    pub fn capacity(mut self, max_sessions: usize, overflow: Overflow) -> Self {
        self.capacity = Some((max_sessions, overflow));
        self
    }

    /// How often the sweeper runs (default every 60 seconds).
    pub fn sweep_every(mut self, period: Duration) -> Self {
        self.sweep_every = Some(period);
        self
    }

    /// No background sweeper: expired records stay invisible, and are
    /// removed by [`MemoryStore::sweep_expired`] or when touched.
    pub fn no_sweeper(mut self) -> Self {
        self.sweep_every = None;
        self
    }

    /// Builds the store. The sweeper is spawned on the current tokio runtime;
    /// outside a runtime there is none (and a debug event says so).
    pub fn build(self) -> MemoryStore {
        let store = MemoryStore {
            inner: Arc::new(Inner {
                records: DashMap::new(),
                expiry: ExpiryIndex::default(),
                owners: DashMap::new(),
                capacity: self.capacity,
            }),
        };
        if let Some(period) = self.sweep_every {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(sweeper(Arc::downgrade(&store.inner), period));
                }
                Err(_) => {
                    tracing::debug!("no tokio runtime: the memory store runs without a sweeper")
                }
            }
        }
        store
    }
}

/// Runs until the store is dropped (the weak reference no longer upgrades).
async fn sweeper(store: Weak<Inner>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = store.upgrade() else { return };
        loop {
            let removed = inner.sweep_batch(OffsetDateTime::now_utc());
            if removed < SWEEP_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with no capacity bound and a sweeper every 60 seconds.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, with the defaults of [`new`](Self::new).
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            capacity: None,
            sweep_every: Some(Duration::from_secs(60)),
        }
    }

    /// Removes every expired record now; answers how many. The sweeper
    /// calls this periodically.
    pub fn sweep_expired(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        let mut total = 0;
        loop {
            let removed = self.inner.sweep_batch(now);
            total += removed;
            if removed < SWEEP_BATCH {
                return total;
            }
        }
    }

    /// How many records are held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.inner.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.inner.records.is_empty()
    }

    /// Whether the background sweeper would still find this store: false
    /// once every clone is dropped. For tests of the sweeper's lifetime.
    pub fn downgrade(&self) -> Weak<impl Sized + Send + Sync> {
        Arc::downgrade(&self.inner)
    }
}

impl Inner {
    fn sweep_batch(&self, now: OffsetDateTime) -> usize {
        let due = self.expiry.take_due(bucket(now), SWEEP_BATCH);
        let count = due.len();
        for id in due {
            // The entry may have moved since it was indexed; only an expired
            // record goes, a touched one was re-indexed under a later second.
            if let Some((_, record)) = self.records.remove_if(&id, |_, r| r.is_expired(now)) {
                self.forget_owner(&record);
            }
        }
        count
    }

    fn forget_owner(&self, record: &Record) {
        if let Some(owner) = &record.owner {
            self.unlink_owner(owner, &record.id);
        }
    }

    fn unlink_owner(&self, owner: &str, id: &SessionId) {
        if let Some(mut ids) = self.owners.get_mut(owner) {
            ids.remove(id);
        }
        self.owners.remove_if(owner, |_, ids| ids.is_empty());
    }

    fn link_owner(&self, owner: &str, id: &SessionId) {
        self.owners
            .entry(owner.to_owned())
            .or_default()
            .insert(id.clone());
    }

    /// Keeps the owner index in step when a record's owner changes.
    fn reowner(&self, old: Option<&str>, new: Option<&str>, id: &SessionId) {
        if old != new {
            if let Some(old) = old {
                self.unlink_owner(old, id);
            }
            if let Some(new) = new {
                self.link_owner(new, id);
            }
        }
    }

    fn remove(&self, id: &SessionId) -> Option<Record> {
        let (_, record) = self.records.remove(id)?;
        self.expiry.remove(bucket(record.expires_at()), id);
        self.forget_owner(&record);
        Some(record)
    }

    /// Makes room for one more record, or refuses.
    fn reserve(&self) -> Result<(), StoreError> {
        let Some((capacity, overflow)) = self.capacity else {
            return Ok(());
        };
        while self.records.len() >= capacity {
            match overflow {
                Overflow::Refuse => return Err(StoreError::CapacityExceeded { capacity }),
                Overflow::EvictSoonestExpiring => match self.expiry.first() {
                    Some((at, id)) => {
                        tracing::debug!(%id, "memory store full: evicting the session closest to expiry");
                        if self.remove(&id).is_none() {
                            // An index entry whose record is gone: drop it and go on.
                            self.expiry.remove(at, &id);
                        }
                    }
                    None => return Err(StoreError::CapacityExceeded { capacity }),
                },
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let inner = &self.inner;
        let now = OffsetDateTime::now_utc();
        inner.reserve()?;
        match inner.records.entry(record.id.clone()) {
            Entry::Occupied(mut slot) => {
                if !slot.get().is_expired(now) {
                    return Err(StoreError::AlreadyExists);
                }
                let old = slot.insert(record.clone());
                inner.expiry.moved(
                    bucket(old.expires_at()),
                    bucket(record.expires_at()),
                    &record.id,
                );
                inner.reowner(old.owner.as_deref(), record.owner.as_deref(), &record.id);
            }
            Entry::Vacant(slot) => {
                slot.insert(record.clone());
                inner.expiry.insert(bucket(record.expires_at()), &record.id);
                if let Some(owner) = &record.owner {
                    inner.link_owner(owner, &record.id);
                }
            }
        }
        Ok(())
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        let inner = &self.inner;
        let now = OffsetDateTime::now_utc();
        let mut slot = inner
            .records
            .get_mut(&record.id)
            .ok_or(StoreError::NotFound)?;
        if slot.is_expired(now) {
            return Err(StoreError::NotFound);
        }
        if let Some(expected) = expected_version {
            if slot.version != expected {
                return Err(StoreError::Conflict { expected });
            }
        }
        let old = std::mem::replace(&mut *slot, record.clone());
        inner.expiry.moved(
            bucket(old.expires_at()),
            bucket(record.expires_at()),
            &record.id,
        );
        inner.reowner(old.owner.as_deref(), record.owner.as_deref(), &record.id);
        Ok(())
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let Some(touch) = touch else {
            return Ok(self
                .inner
                .records
                .get(id)
                .filter(|r| !r.is_expired(now))
                .map(|r| r.clone()));
        };
        let Some(mut slot) = self.inner.records.get_mut(id) else {
            return Ok(None);
        };
        if slot.is_expired(now) {
            return Ok(None);
        }
        let before = bucket(slot.expires_at());
        slot.idle_expires_at = slot.capped_idle(touch);
        self.inner
            .expiry
            .moved(before, bucket(slot.expires_at()), id);
        Ok(Some(slot.clone()))
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let Some(mut slot) = self.inner.records.get_mut(id) else {
            return Ok(false);
        };
        if slot.is_expired(now) {
            return Ok(false);
        }
        let before = bucket(slot.expires_at());
        slot.idle_expires_at = slot.capped_idle(idle_expires_at);
        self.inner
            .expiry
            .moved(before, bucket(slot.expires_at()), id);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self.inner.remove(id).is_some_and(|r| !r.is_expired(now)))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.inner.records.clear();
        self.inner.expiry.clear();
        self.inner.owners.clear();
        Ok(())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .inner
            .records
            .iter()
            .filter(|r| !r.is_expired(now))
            .count() as u64)
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .inner
            .records
            .iter()
            .filter(|r| !r.is_expired(now))
            .map(|r| r.key().clone())
            .collect())
    }

    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let ids: Vec<SessionId> = self
            .inner
            .owners
            .get(owner)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        Ok(ids
            .into_iter()
            .filter(|id| {
                self.inner
                    .records
                    .get(id)
                    .is_some_and(|r| !r.is_expired(now))
            })
            .collect())
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        // Collect first: removing while iterating a dashmap shard deadlocks.
        let doomed: Vec<SessionId> = self
            .inner
            .records
            .iter()
            .filter(|r| !r.is_expired(now) && predicate(r.value()))
            .map(|r| r.key().clone())
            .collect();
        Ok(doomed
            .iter()
            .filter(|id| self.inner.remove(id).is_some())
            .count() as u64)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        let Some((_, ids)) = self.inner.owners.remove(owner) else {
            return Ok(0);
        };
        let mut removed = 0;
        for id in ids {
            if self.inner.remove(&id).is_some_and(|r| !r.is_expired(now)) {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &SessionId, idle_ms: i64) -> Record {
        let now = OffsetDateTime::now_utc();
        Record {
            id: id.clone(),
            data: vec![1, 2, 3],
            created_at: now,
            idle_expires_at: now + time::Duration::milliseconds(idle_ms),
            absolute_expires_at: now + time::Duration::hours(1),
            version: 1,
            owner: None,
        }
    }

    use session_core::time;

    #[tokio::test]
    async fn index_follows_records() {
        let store = MemoryStore::builder().no_sweeper().build();
        let id = SessionId::random();
        store.create(&record(&id, 60_000)).await.unwrap();
        assert_eq!(store.inner.expiry.len(), 1);
        store
            .load(
                &id,
                Some(OffsetDateTime::now_utc() + time::Duration::minutes(5)),
            )
            .await
            .unwrap();
        assert_eq!(
            store.inner.expiry.len(),
            1,
            "a touch moves the entry, never duplicates it"
        );
        store.delete(&id).await.unwrap();
        assert_eq!(store.inner.expiry.len(), 0);
    }
}
