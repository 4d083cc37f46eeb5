//! The owner index: listing (ids or records) and deleting every session of
//! one owner.
//!
//! Index entries are hints; each is checked against the owner in the
//! record's value.
//! Where every key shares one slot, one script does the whole job
//! atomically; on a cluster the records live on other slots than the index,
//! so each record is checked by its own call, all in parallel.

use fred::types::Value;
use futures_util::future::join_all;
use session_core::{
    store::{Record, StoreError},
    SessionId,
};

use super::RedisStore;
use crate::layout;
use crate::scripts::SCRIPTS;

impl RedisStore {
    pub(super) async fn owner_ids(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        let mut ids = if self.inner.one_slot {
            self.owner_sweep(owner, false).await?
        } else {
            self.owner_ids_across_slots(owner).await?
        };
        ids.sort();
        Ok(ids)
    }

    /// The owner's live records: the index's live ids (as
    /// [`owner_ids`](Self::owner_ids) checks them), then each record read
    /// by the store's own load, all in parallel; a record that changed owner
    /// or vanished in between is left out.
    pub(super) async fn owner_records(&self, owner: &str) -> Result<Vec<Record>, StoreError> {
        use session_core::store::SessionStore;
        let ids = self.owner_ids(owner).await?;
        let loads = ids.iter().map(|id| self.load(id, None));
        let mut records = Vec::with_capacity(ids.len());
        for loaded in join_all(loads).await {
            if let Some(record) = loaded? {
                if record.owner.as_deref() == Some(owner) {
                    records.push(record);
                }
            }
        }
        Ok(records)
    }

    pub(super) async fn delete_by_owner_here(&self, owner: &str) -> Result<u64, StoreError> {
        if self.inner.one_slot {
            Ok(self.owner_sweep(owner, true).await?.len() as u64)
        } else {
            self.delete_by_owner_across_slots(owner).await
        }
    }

    /// The owner's live ids, dropping stale entries, with one script; with
    /// `delete`, also deletes those sessions and the index.
    async fn owner_sweep(&self, owner: &str, delete: bool) -> Result<Vec<SessionId>, StoreError> {
        let key = self.inner.keys.owner(owner);
        let args = vec![
            self.prefix().into(),
            owner.into(),
            if delete { "1" } else { "0" }.into(),
        ];
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.owner_sweep, &[&key], args)
            .await?;
        Ok(ids_of(reply))
    }

    async fn owner_members(&self, owner_key: &str) -> Result<Vec<SessionId>, StoreError> {
        let reply = self
            .inner
            .redis
            .call("SMEMBERS", owner_key, vec![owner_key.into()])
            .await?;
        Ok(ids_of(reply))
    }

    async fn owner_ids_across_slots(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        let members = self.owner_members(&self.inner.keys.owner(owner)).await?;
        let checks = members.into_iter().map(|id| async move {
            // The header and the owner are enough: the data stays in Redis.
            let key = self.inner.keys.record(&id);
            let end = (layout::HEADER + owner.len()).saturating_sub(1);
            let args = vec![key.as_str().into(), 0.into(), end.to_string().into()];
            let reply = self.inner.redis.call_string("GETRANGE", &key, args).await?;
            let owned = reply.as_ref().and_then(layout::bytes).map(layout::owner_of)
                == Some(Ok(Some(owner.as_bytes())));
            Ok::<_, StoreError>(owned.then_some(id))
        });
        let mut ids = Vec::new();
        for checked in join_all(checks).await {
            ids.extend(checked?);
        }
        Ok(ids)
    }

    async fn delete_by_owner_across_slots(&self, owner: &str) -> Result<u64, StoreError> {
        let owner_key = self.inner.keys.owner(owner);
        let members = self.owner_members(&owner_key).await?;
        let deletions = members.into_iter().map(|id| async move {
            let key = self.inner.keys.record(&id);
            let args = vec![owner.into()];
            let reply = self
                .inner
                .redis
                .eval(&SCRIPTS.delete_if_owner, &[&key], args)
                .await?;
            Ok::<_, StoreError>((id, layout::integer(&reply).unwrap_or(0)))
        });
        let mut removed = 0;
        let mut settled: Vec<Value> = vec![owner_key.as_str().into()];
        for deletion in join_all(deletions).await {
            let (id, outcome) = deletion?;
            if outcome == 1 {
                removed += 1;
            }
            // Deleted, or owned by someone else: the entry is done with. An
            // absent record keeps its entry, since its create may be in
            // flight; the index expires with its last session anyway.
            if outcome != 0 {
                settled.push(id.as_str().into());
            }
        }
        if settled.len() > 1 {
            self.inner.redis.call("SREM", &owner_key, settled).await?;
        }
        Ok(removed)
    }
}

/// Session ids in an array reply; anything else in it is skipped.
pub(super) fn ids_of(reply: Value) -> Vec<SessionId> {
    match reply {
        Value::Array(items) => items
            .iter()
            .filter_map(layout::bytes)
            .filter_map(|b| std::str::from_utf8(b).ok())
            .filter_map(|s| SessionId::parse(s).ok())
            .collect(),
        _ => Vec::new(),
    }
}
