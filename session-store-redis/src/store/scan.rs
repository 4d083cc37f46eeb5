//! Walking the keyspace: `clear`, `ids` and `delete_where` scan the prefix
//! with `SCAN` (never `KEYS` or `FLUSHDB`) and touch only keys under it.

use std::collections::BTreeMap;

use fred::types::Value;
use fred::util::redis_keyslot;
use futures_util::future::join_all;
use session_core::{
    store::{RecordPredicate, SessionStore, StoreError},
    SessionId,
};

use super::RedisStore;
use crate::layout;
use crate::scripts::SCRIPTS;

/// How often `delete_where` tests a record again that changed between its
/// test and its deletion before giving up with a conflict.
const DELETE_ATTEMPTS: usize = 5;

impl RedisStore {
    /// Calls `each` with every page of keys under the prefix; answers the
    /// sum of what it answered.
    async fn each_page<F, Fut>(&self, mut each: F) -> Result<u64, StoreError>
    where
        F: FnMut(Vec<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = Result<u64, StoreError>>,
    {
        let keys = &self.inner.keys;
        let mut scan = self.inner.redis.scan(&keys.scan_pattern())?;
        let mut total = 0;
        while let Some(page) = scan.next_page().await? {
            // The pattern already selects the prefix; checking again means
            // nothing outside it is ever acted on.
            total += each(page.into_iter().filter(|k| keys.owns(k)).collect()).await?;
        }
        Ok(total)
    }

    pub(super) async fn clear_prefix(&self) -> Result<(), StoreError> {
        self.each_page(|keys| async move {
            if keys.is_empty() {
                Ok(0)
            } else {
                self.unlink(keys).await
            }
        })
        .await?;
        Ok(())
    }

    pub(super) async fn scan_ids(&self) -> Result<Vec<SessionId>, StoreError> {
        let mut ids = Vec::new();
        self.each_page(|keys| {
            ids.extend(keys.iter().filter_map(|k| self.inner.keys.record_id(k)));
            async { Ok(0) }
        })
        .await?;
        // A scan may return a key twice (when the keyspace is rehashed).
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    pub(super) async fn delete_matching(
        &self,
        predicate: &RecordPredicate<'_>,
    ) -> Result<u64, StoreError> {
        self.each_page(|keys| async move {
            let ids = keys.iter().filter_map(|k| self.inner.keys.record_id(k));
            let deletions = ids.map(|id| async move { self.delete_if(&id, predicate).await });
            let mut removed = 0;
            for deleted in join_all(deletions).await {
                removed += u64::from(deleted?);
            }
            Ok(removed)
        })
        .await
    }

    /// Deletes the record `id` if `predicate` selects it, testing the very
    /// version that is deleted: a record saved between test and delete is
    /// tested again, so a concurrent save can neither rescue a record that
    /// still matches nor get one deleted that no longer does.
    async fn delete_if(
        &self,
        id: &SessionId,
        predicate: &RecordPredicate<'_>,
    ) -> Result<bool, StoreError> {
        let key = self.inner.keys.record(id);
        let mut version = 0;
        for _ in 0..DELETE_ATTEMPTS {
            let Some(record) = self.load(id, None).await? else {
                return Ok(false);
            };
            if !predicate(&record) {
                return Ok(false);
            }
            version = record.version;
            let args = vec![layout::version_bytes(version)];
            let reply = self
                .inner
                .redis
                .eval(&SCRIPTS.delete_if_version, &[&key], args)
                .await?;
            match layout::integer(&reply) {
                Some(1) => return Ok(true),
                Some(0) => return Ok(false),
                _ => continue,
            }
        }
        Err(StoreError::Conflict { expected: version })
    }

    /// `UNLINK`s keys: one command, or on a cluster one per slot (a
    /// multi-key command must stay within a slot).
    async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64, StoreError> {
        let clustered = self.inner.redis.is_clustered();
        let mut groups: BTreeMap<u16, Vec<Value>> = BTreeMap::new();
        for key in keys {
            let group = if clustered { redis_keyslot(&key) } else { 0 };
            groups
                .entry(group)
                .or_default()
                .push(Value::from(key.as_slice()));
        }
        let calls = groups
            .into_iter()
            .map(|(slot, keys)| self.inner.redis.call_on("UNLINK", slot, keys));
        let mut removed = 0;
        for reply in join_all(calls).await {
            removed += layout::integer(&reply?).unwrap_or(0).max(0) as u64;
        }
        Ok(removed)
    }
}
