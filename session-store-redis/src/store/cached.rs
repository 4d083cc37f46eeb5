//! The store's operations through the near cache (see `near_cache.rs`).
//!
//! - A load without touch of a cached session is answered from memory; a
//!   miss loads as usual and fills the entry (with a ticket taken before
//!   the command, so that an invalidation meanwhile refuses the fill).
//! - A touch, or a touching load, of a cached session whose expiry it would
//!   move by less than the touch deferral is answered from the cache: the
//!   entry is the proof that the session exists, as tracking would have
//!   dropped it otherwise. Any other touch goes to Redis and drops the
//!   entry (tracking reports this process's own touch too).
//! - Every write drops the entries of the keys it changes, before it is
//!   sent (which also refuses fills under way) and after it returns (fills
//!   that started meanwhile): read-your-writes within the process.

use std::future::Future;
use std::sync::atomic::Ordering;

use session_core::store::{Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use super::RedisStore;
use crate::layout;
use crate::near_cache::{Near, NearCacheStats};

impl RedisStore {
    fn near(&self) -> Option<&Near> {
        self.inner.near.as_ref()
    }

    /// What the near cache has done, or `None` without one (see
    /// [`RedisStoreBuilder::near_cache`](crate::RedisStoreBuilder::near_cache)).
    pub fn near_cache_stats(&self) -> Option<NearCacheStats> {
        self.near().map(Near::stats)
    }

    pub(super) async fn load_cached(
        &self,
        id: &SessionId,
        touch: Option<i64>,
    ) -> Result<Option<Record>, StoreError> {
        let Some(near) = self.near() else {
            return self.load_record(id, touch).await;
        };
        let key = self.inner.keys.record(id);
        let now = Record::millis(OffsetDateTime::now_utc());
        if let Some((record, expiry)) = near.entries.get(&key, now) {
            match touch {
                None => return Ok(Some(record)),
                Some(at) if near.defers(capped(at, &record), expiry, now) => {
                    near.entries
                        .counters
                        .deferred_touches
                        .fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(record));
                }
                Some(_) => {}
            }
        }
        if touch.is_some() {
            // A touch is a write: tracking reports it, the entry goes.
            return self.changing(&[id], self.load_record(id, touch)).await;
        }
        let ticket = near.entries.ticket(&key);
        let found = self.load_record(id, None).await?;
        if let (Some(ticket), Some(record)) = (ticket, &found) {
            let expiry = Record::millis(record.idle_expires_at);
            ticket.fill(record.clone(), expiry);
        }
        Ok(found)
    }

    pub(super) async fn touch_cached(&self, id: &SessionId, at: i64) -> Result<bool, StoreError> {
        let Some(near) = self.near() else {
            return self.touch_record(id, at).await;
        };
        let key = self.inner.keys.record(id);
        let now = Record::millis(OffsetDateTime::now_utc());
        if let Some((record, expiry)) = near.entries.peek(&key, now) {
            if near.defers(capped(at, &record), expiry, now) {
                near.entries
                    .counters
                    .deferred_touches
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
        }
        self.changing(&[id], self.touch_record(id, at)).await
    }

    /// Runs `write`, which changes the records of `ids`, dropping their
    /// cached copies before and after.
    pub(super) async fn changing<T>(
        &self,
        ids: &[&SessionId],
        write: impl Future<Output = T>,
    ) -> T {
        let Some(near) = self.near() else {
            return write.await;
        };
        let keys: Vec<String> = ids.iter().map(|id| self.inner.keys.record(id)).collect();
        keys.iter().for_each(|key| near.entries.invalidate(key));
        let result = write.await;
        keys.iter().for_each(|key| near.entries.invalidate(key));
        result
    }

    /// Runs `write`, which may change any record, flushing the cache before
    /// and after.
    pub(super) async fn changing_all<T>(&self, write: impl Future<Output = T>) -> T {
        let Some(near) = self.near() else {
            return write.await;
        };
        near.entries.flush();
        let result = write.await;
        near.entries.flush();
        result
    }
}

/// A touch to `at` capped at the absolute expiry of `record`.
fn capped(at: i64, record: &Record) -> i64 {
    layout::capped(at, Record::millis(record.absolute_expires_at))
}
