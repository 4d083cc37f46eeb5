//! Rotation: moving a live record to a new id (on login), never resurrecting
//! a session that was deleted meanwhile.
//!
//! - Where every key of the store shares one slot (a single node, Sentinel,
//!   or a cluster with a hash-tagged prefix): the `rotate` script, one
//!   round trip and one atomic step. It checks that the old key holds a live
//!   record of this format (at the expected version, if any) and that the
//!   new key is free, then writes the new record (`PXAT` its idle expiry,
//!   capped at the absolute one), deletes the old one and moves the owner
//!   index entry. On refusal nothing was changed.
//! - On a cluster without a hash-tagged prefix the two record keys hash to
//!   different slots (a key is found by its id alone, and the new id is the
//!   hash of a fresh random token, so no key scheme can put both ids in one
//!   slot), and no script may span them. Then the move is split so that the
//!   deciding step is still atomic: first `SET new NX` (alongside the new
//!   owner's index entry), then the `rotate_away` script on the old key,
//!   which deletes it only if it is live (at the expected version): the
//!   single point where the rotation wins or loses. A refused rotation then
//!   deletes the new record it wrote. Nobody holds the new id's token yet,
//!   so only a scan (`count`, `ids`, `delete_where`) can see the new record
//!   before the old one goes. Of many rotations from one id exactly one
//!   wins, and a session deleted meanwhile is never carried over. Two round
//!   trips, and a third to drop the old id from its owner's index.

use fred::types::{SetOptions, Value};
use futures_util::future::join;
use session_core::{
    store::{Record, StoreError},
    SessionId,
};

use super::{unexpected, RedisStore};
use crate::layout;
use crate::scripts::SCRIPTS;

/// How a rotation ended, as the scripts answer it.
enum Outcome {
    Moved,
    NotFound,
    Conflict,
    Taken,
}

impl RedisStore {
    pub(super) async fn rotate_record(
        &self,
        from: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        if *from == record.id {
            // Moving a record onto its own id would delete it.
            return Err(StoreError::AlreadyExists);
        }
        let outcome = if self.inner.one_slot {
            self.rotate_by_script(from, record, expected).await?
        } else {
            self.rotate_across_slots(from, record, expected).await?
        };
        match outcome {
            Outcome::Moved => {
                self.inner.known.forget(from);
                self.remember(record, layout::expire_at(record), None);
                Ok(())
            }
            Outcome::NotFound => {
                self.inner.known.forget(from);
                Err(StoreError::NotFound)
            }
            Outcome::Conflict => Err(StoreError::Conflict {
                expected: expected.unwrap_or_default(),
            }),
            Outcome::Taken => Err(StoreError::AlreadyExists),
        }
    }

    /// The `rotate` script: every key in one slot, one atomic step.
    async fn rotate_by_script(
        &self,
        from: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<Outcome, StoreError> {
        let keys = &self.inner.keys;
        let (old, new) = (keys.record(from), keys.record(&record.id));
        let index = record.owner.as_deref().map(|owner| keys.owner(owner));
        let mut script_keys = vec![old.as_str(), new.as_str()];
        script_keys.extend(index.as_deref());
        let args = vec![
            Value::Bytes(layout::encode(record)?.into()),
            layout::expire_at(record).into(),
            expected.map_or_else(|| "".into(), layout::version_bytes),
            from.as_str().into(),
            record.id.as_str().into(),
            self.prefix().into(),
        ];
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.rotate, &script_keys, args)
            .await?;
        match layout::integer(&reply) {
            Some(1) => Ok(Outcome::Moved),
            Some(0) => Ok(Outcome::NotFound),
            Some(-1) => Ok(Outcome::Conflict),
            Some(-2) => Ok(Outcome::Taken),
            _ => Err(unexpected("rotate", &reply)),
        }
    }

    /// The split rotation of a cluster without a hash-tagged prefix (see
    /// the module documentation).
    async fn rotate_across_slots(
        &self,
        from: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<Outcome, StoreError> {
        let keys = &self.inner.keys;
        let new = keys.record(&record.id);
        let value = layout::encode(record)?;
        let at = layout::expire_at(record);
        let set = Box::pin(self.inner.redis.set(&new, value, at, SetOptions::NX, false));
        // The index entry is written before the old record can go, so that a
        // "log out everywhere" never misses the session in between.
        let written = match record.owner.as_deref() {
            Some(owner) => join(set, Box::pin(self.index(owner, record))).await,
            None => (set.await, Ok(false)),
        };
        let (created, indexed) = match written {
            (Ok(created), Ok(indexed)) => (created, indexed),
            (Ok(created), Err(error)) => {
                // Without its index entry the new record must not stand.
                if created.is_some_and(|reply| !reply.is_null()) {
                    self.undo_new(record).await;
                }
                return Err(error);
            }
            // Unknown whether the key was written: a record only this call
            // could name (nobody holds its token), which expires by itself.
            (Err(error), _) => return Err(error),
        };
        if created.is_none_or(|reply| reply.is_null()) {
            // The new id is taken: the entry this call added goes again (an
            // entry that was there before belongs to the record there).
            if indexed {
                self.unindex(record).await;
            }
            return Ok(Outcome::Taken);
        }
        let old = keys.record(from);
        let args = vec![expected.map_or_else(|| "".into(), layout::version_bytes)];
        let away = self
            .inner
            .redis
            .eval(&SCRIPTS.rotate_away, &[&old], args)
            .await;
        let (outcome, old_owner) = match away {
            Ok(Value::Array(items)) => match items.first().and_then(layout::integer) {
                Some(1) => (
                    Outcome::Moved,
                    items.get(1).and_then(layout::bytes).map(<[u8]>::to_vec),
                ),
                Some(0) => (Outcome::NotFound, None),
                Some(-1) => (Outcome::Conflict, None),
                _ => {
                    self.undo_new(record).await;
                    return Err(StoreError::Malformed(
                        "unexpected reply to rotate_away".into(),
                    ));
                }
            },
            Ok(other) => {
                self.undo_new(record).await;
                return Err(unexpected("rotate_away", &other));
            }
            Err(error) => {
                // Unknown whether the old record went. Dropping the new one
                // errs on the safe side: at worst the user is logged out,
                // never left with two live sessions or a resurrected one.
                self.undo_new(record).await;
                return Err(error);
            }
        };
        match outcome {
            Outcome::Moved => {
                if let Some(owner) = old_owner.and_then(|o| String::from_utf8(o).ok()) {
                    // Best effort: the rotation has happened, and a stale
                    // entry is a hint that is checked against the record.
                    let index = keys.owner(&owner);
                    let args = vec![index.as_str().into(), from.as_str().into()];
                    if let Err(error) = self.inner.redis.call("SREM", &index, args).await {
                        tracing::warn!(id = %from, %error, "a rotation could not drop the old id from its owner's index");
                    }
                }
            }
            _ => self.undo_new(record).await,
        }
        Ok(outcome)
    }

    /// Deletes the new record of a refused split rotation, and its index
    /// entry (best effort: a failure leaves a record nobody holds a token
    /// for, which expires by itself, and a stale index hint).
    async fn undo_new(&self, record: &Record) {
        let new = self.inner.keys.record(&record.id);
        let (unlinked, ()) = join(self.inner.redis.unlink(&new), self.unindex(record)).await;
        if let Err(error) = unlinked {
            tracing::warn!(id = %record.id, %error, "a refused rotation could not remove the record it wrote");
        }
    }

    /// Removes the index entry of `record` under its owner (best effort: a
    /// stale entry is a hint that listing and deleting by owner check
    /// against the record, and it expires with the index).
    async fn unindex(&self, record: &Record) {
        let Some(owner) = record.owner.as_deref() else {
            return;
        };
        let index = self.inner.keys.owner(owner);
        let args = vec![index.as_str().into(), record.id.as_str().into()];
        if let Err(error) = self.inner.redis.call("SREM", &index, args).await {
            tracing::warn!(id = %record.id, %error, "a refused rotation could not remove its index entry");
        }
    }
}
