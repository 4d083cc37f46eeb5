use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use session_core::store::{
    ExpiredSession, ExpirySink, ExpirySource, Record, RecordPredicate, SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

/// Records in a `HashMap` behind one lock. Cloning shares the records and
/// the expiry sink.
#[derive(Debug, Clone, Default)]
pub struct GuideStore {
    records: Arc<Mutex<HashMap<SessionId, Record>>>,
    /// Where the records it removes because they expired are reported
    /// (optional: a store without one answers `None` from `expiry_sink`).
    expiry_sink: ExpirySink,
}

impl GuideStore {
    /// The records, expired ones removed first: from here on every record
    /// is live, which is what every method must see. A real store would
    /// also remove them in the background (a sweeper, key expiry, a TTL
    /// index); the lock is never held across an `.await`, nor while the
    /// application's `on_expired` runs.
    fn live(&self) -> MutexGuard<'_, HashMap<SessionId, Record>> {
        let lock = || self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut records = lock();
        let expired = Self::take_expired(&mut records);
        if expired.is_empty() {
            return records;
        }
        drop(records);
        self.report(expired);
        let mut records = lock();
        // What expired meanwhile goes unreported, but never seen.
        let now = OffsetDateTime::now_utc();
        records.retain(|_, record| !record.is_expired(now));
        records
    }

    fn take_expired(records: &mut HashMap<SessionId, Record>) -> Vec<Record> {
        let now = OffsetDateTime::now_utc();
        let ids: Vec<SessionId> = records
            .values()
            .filter(|record| record.is_expired(now))
            .map(|record| record.id.clone())
            .collect();
        ids.iter().filter_map(|id| records.remove(id)).collect()
    }

    /// Tells the sink about records removed because they expired.
    fn report(&self, expired: Vec<Record>) {
        for record in expired {
            let expired = ExpiredSession::new(record.id, record.owner, ExpirySource::Cleanup);
            self.expiry_sink.report(&expired);
        }
    }

    /// Removes the expired records now, reporting each; answers how many.
    pub fn remove_expired(&self) -> u64 {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let expired = Self::take_expired(&mut records);
        drop(records);
        let removed = expired.len() as u64;
        self.report(expired);
        removed
    }
}

#[async_trait]
impl SessionStore for GuideStore {
    fn name(&self) -> &'static str {
        "guide"
    }

    /// Every record it removes because it expired is reported here, once.
    fn expiry_sink(&self) -> Option<&ExpirySink> {
        Some(&self.expiry_sink)
    }

    /// Never overwrites a live record (an expired one is gone already).
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let mut records = self.live();
        if records.contains_key(&record.id) {
            return Err(StoreError::AlreadyExists);
        }
        records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    /// Never creates: a missing record is `NotFound`; a stale expected
    /// version is `Conflict` and changes nothing.
    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        let mut records = self.live();
        let current = records.get_mut(&record.id).ok_or(StoreError::NotFound)?;
        if let Some(expected) = expected_version {
            if current.version != expected {
                return Err(StoreError::Conflict { expected });
            }
        }
        *current = record.clone();
        Ok(())
    }

    /// One step under the lock: the old record must be live (at the
    /// expected version), the new id free; otherwise nothing changes.
    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut records = self.live();
        let current = records.get(from).ok_or(StoreError::NotFound)?;
        if let Some(expected) = expected_version {
            if current.version != expected {
                return Err(StoreError::Conflict { expected });
            }
        }
        if records.contains_key(&record.id) {
            return Err(StoreError::AlreadyExists);
        }
        records.remove(from);
        records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    /// A touching load moves the idle expiry in the same step, capped at
    /// the absolute expiry.
    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let mut records = self.live();
        let Some(record) = records.get_mut(id) else {
            return Ok(None);
        };
        if let Some(at) = touch {
            record.idle_expires_at = record.capped_idle(at);
        }
        Ok(Some(record.clone()))
    }

    /// Moves only the idle expiry, and answers whether a live record was
    /// there.
    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut records = self.live();
        let Some(record) = records.get_mut(id) else {
            return Ok(false);
        };
        record.idle_expires_at = record.capped_idle(idle_expires_at);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.live().remove(id).is_some())
    }

    /// This store's records only: another `GuideStore` keeps its own.
    async fn clear(&self) -> Result<(), StoreError> {
        self.live().clear();
        Ok(())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.live().len() as u64)
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        Ok(self.live().keys().cloned().collect())
    }

    /// Owners compare exactly, case included.
    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        let records = self.live();
        let owned = records.values().filter(|r| r.owner.as_deref() == Some(owner));
        Ok(owned.map(|r| r.id.clone()).collect())
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let mut records = self.live();
        let before = records.len();
        records.retain(|_, r| r.owner.as_deref() != Some(owner));
        Ok((before - records.len()) as u64)
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        let mut records = self.live();
        let before = records.len();
        records.retain(|_, r| !predicate(r));
        Ok((before - records.len()) as u64)
    }
}
