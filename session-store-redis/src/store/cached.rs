//! The store's operations through the near cache (see `near_cache.rs`).
//!
//! - A load without touch of a cached session is answered from memory; a
//!   miss loads as usual and fills the entry (with a ticket taken before
//!   the command, so that an invalidation meanwhile refuses the fill).
//! - A touch, and a touching load, always go to Redis: their answer (does
//!   the session still exist?) is what a write and the response's cookie
//!   rely on, and a cached copy cannot prove it, as another process's
//!   delete may be on its way. They drop the entry (tracking reports this
//!   process's own touch too). Touches stay rare on a hot session because
//!   the store asks the request cycle for a refresh slack as long as the
//!   touch deferral (`SessionStore::refresh_slack`).
//! - Every write drops the entries of the keys it changes, before it is
//!   sent (which also refuses fills under way) and after it returns (fills
//!   that started meanwhile): read-your-writes within the process.

use std::future::Future;
use std::time::Duration;

use session_core::store::{Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use super::RedisStore;
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
        if touch.is_some() {
            // A touch is a write whose answer only Redis can give.
            return self.changing(&[id], self.load_record(id, touch)).await;
        }
        let key = self.inner.keys.record(id);
        let now = Record::millis(OffsetDateTime::now_utc());
        if let Some((record, _)) = near.entries.get(&key, now) {
            return Ok(Some(record));
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
        self.changing(&[id], self.touch_record(id, at)).await
    }

    /// The refresh slack the store asks of the request cycle: the near
    /// cache's touch deferral, or none without a cache.
    pub(super) fn asked_refresh_slack(&self) -> Duration {
        self.near().map_or(Duration::ZERO, Near::touch_deferral)
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
