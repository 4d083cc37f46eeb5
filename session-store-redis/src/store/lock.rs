//! Session locks ([`SessionLocks`]) for `Concurrency::Serialize`.
//!
//! A lease is the key `{prefix}lock:{<record key>}` (see `keys.rs`) holding
//! the holder's token, with the lease as its Redis expiry, so a crashed
//! holder's lock ends by itself. The key's hash tag is the record key, so
//! both live in one cluster slot and one script reaches both:
//!
//! - Acquire: `SET lock token PX lease NX` and the record's `GET` (with its
//!   `PEXPIRETIME` where the load would ask for it) written together, as
//!   fred's typed commands: one round trip, the load that a request makes
//!   anyway, and no script. Redis runs them back to back; whatever runs in
//!   between cannot be a locked write (its holder released after it), and
//!   a lock-free write is caught by the version check at save. One script
//!   doing both (the `lock` script with no touch) was measured against
//!   this: it saves the client about 4 000 instructions per request but
//!   costs Redis about 46 000 more, and fred flushes every script call on
//!   its own, so the two commands stay. A held lock
//!   answers `Held` after one more round trip, the `mark_waiting` script
//!   (the holder's lease left, see Waiting below) or with the wake-ups off
//!   its `PTTL` (the contended path only). A touching attempt runs the
//!   `lock` script, which reads the absolute expiry before it moves the
//!   key's, and marks a refused lease itself.
//! - Release: the `unlock` script compares the token before it deletes the
//!   key; a modified session's commit releases in its save instead, the
//!   `save_held` (or, when an owner may need indexing, `save_unlock`)
//!   script (see `write.rs`): one round trip for both. A commit relies on
//!   the lease, not on the version: it writes only while its token holds
//!   the lease, and a versioned save that holds none is refused while a
//!   lease is held (see [`SessionLocks::save_and_unlock`]).
//! - Renewal: the `extend` script, which compares the token likewise.
//! - Tokens: [`LockToken::unique`], which the request cycle takes, is a
//!   random prefix per process and a counter: unique without a system
//!   call per lease, which is all the token check needs (see its docs).
//! - Waiting: a refused attempt asks the holder's time left with the
//!   `mark_waiting` script, which also marks the lease as waited on when
//!   its holder runs in another process; [`SessionLocks::wait_for_release`]
//!   then waits for the release's message, at most the request cycle's
//!   backoff step (see `wakeups.rs`). The holder's own process hands the
//!   lease on by itself (session-core's hand-off).
//!   [`RedisStoreBuilder::lock_wakeups`](crate::RedisStoreBuilder::lock_wakeups)
//!   turns this off: then the holder's `PTTL` alone, and the trait's
//!   default wait. The subscription opens at the first wait, so nothing is
//!   added to a store that never waits.

use std::time::Duration;

use async_trait::async_trait;
use fred::types::Value;
use session_core::store::{
    LockAttempt, LockToken, Record, SavedAndUnlocked, SessionLocks, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use super::read::Found;
use super::{unexpected, RedisStore};
use crate::layout;
use crate::scripts::SCRIPTS;

/// A lease in ms as Redis takes it: at least 1 (`PX 0` is an error).
fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// The time left on a lease from its `PTTL`: none for a key that vanished
/// (-2) or carries no expiry (-1, never written by this store), so that the
/// caller tries again soon rather than trusting it.
fn time_left(pttl: i64) -> Duration {
    Duration::from_millis(u64::try_from(pttl).unwrap_or(0))
}

impl RedisStore {
    /// Whether this store can lock: always on one node; on a cluster only
    /// when every lock key shares its record key's slot (see
    /// `Keys::locks_share_slot`).
    pub(super) fn can_lock(&self) -> bool {
        !self.inner.redis.is_clustered() || self.inner.keys.locks_share_slot()
    }

    /// A lock attempt without touch: typed commands, see the module docs.
    async fn lock_and_load(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<LockAttempt, StoreError> {
        let lock = self.inner.keys.lock(id);
        let key = self.inner.keys.record(id);
        let known = self.inner.known.get(id);
        let now = Record::millis(OffsetDateTime::now_utc());
        // As a load does: a remembered expiry stands for the key's while
        // it lies comfortably ahead.
        let trusted = known.filter(|facts| self.trusts(facts, now));
        let (taken, value, expiry) = self
            .inner
            .redis
            .lock_and_get(
                &lock,
                token.to_hex(),
                lease_ms(lease),
                &key,
                trusted.is_none(),
            )
            .await?;
        if !taken {
            return Ok(LockAttempt::Held {
                expires_in: self.held_for(&lock, token).await?,
            });
        }
        let found = match (value, trusted, expiry) {
            (None, _, _) => Found::Unreadable("the key is not a string"),
            (Some(Value::Null), _, _) | (Some(_), None, -2) => Found::Missing,
            (Some(value), Some(facts), _) => Found::Value(value, facts.expiry),
            (Some(value), None, -1) => Found::Value(value, i64::MAX),
            (Some(value), None, at) => Found::Value(value, at),
        };
        let record = self.conclude(id, &key, found, known).await?;
        Ok(LockAttempt::Acquired(record))
    }

    async fn lock_record(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<i64>,
    ) -> Result<LockAttempt, StoreError> {
        let lock = self.inner.keys.lock(id);
        let key = self.inner.keys.record(id);
        let args = vec![
            Value::from(token.to_hex()),
            lease_ms(lease).into(),
            touch.map_or_else(|| Value::from(""), Value::from),
            Value::from(if self.inner.wakeups.is_some() {
                "1"
            } else {
                ""
            }),
        ];
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.lock, &[&lock, &key], args)
            .await?;
        let Value::Array(mut items) = reply else {
            return Err(unexpected("lock", &reply));
        };
        let flags: Vec<Option<i64>> = items.iter().take(2).map(layout::integer).collect();
        let found = match (items.len(), flags.as_slice()) {
            (2, [Some(0), Some(pttl)]) => {
                return Ok(LockAttempt::Held {
                    expires_in: time_left(*pttl),
                })
            }
            (2, [Some(1), Some(0)]) => Found::Missing,
            (2, [Some(1), Some(2)]) => Found::Unreadable("not a record of this format"),
            (4, [Some(1), Some(1)]) => match layout::integer(&items[3]) {
                Some(-1) => Found::Value(items.swap_remove(2), i64::MAX),
                Some(at) => Found::Value(items.swap_remove(2), at),
                None => return Err(unexpected("lock", &items[3])),
            },
            _ => return Err(StoreError::Malformed("unexpected reply to lock".into())),
        };
        let known = self.inner.known.get(id);
        let record = self.conclude(id, &key, found, known).await?;
        Ok(LockAttempt::Acquired(record))
    }

    /// The time left on the lease `lock` that `token` was refused (none
    /// when it is gone): with wake-ups, the `mark_waiting` script, after
    /// which its release announces itself to other processes; without,
    /// its `PTTL`.
    async fn held_for(&self, lock: &str, token: &LockToken) -> Result<Duration, StoreError> {
        if self.inner.wakeups.is_none() {
            return Ok(time_left(self.inner.redis.pttl(lock).await?));
        }
        let args = vec![Value::from(token.to_hex())];
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.mark_waiting, &[lock], args)
            .await?;
        match layout::integer(&reply) {
            Some(pttl) => Ok(time_left(pttl)),
            None => Err(unexpected("mark_waiting", &reply)),
        }
    }

    /// Runs the `unlock` or `extend` script: whether `token` held the lease.
    async fn if_holder(
        &self,
        script: &crate::scripts::Script,
        id: &SessionId,
        token: &LockToken,
        lease: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let lock = self.inner.keys.lock(id);
        let mut args = vec![Value::from(token.to_hex())];
        args.extend(lease.map(|l| Value::from(lease_ms(l))));
        let reply = self.inner.redis.eval(script, &[&lock], args).await?;
        match layout::integer(&reply) {
            Some(done) => Ok(done == 1),
            None => Err(unexpected(script.name, &reply)),
        }
    }
}

#[async_trait]
impl SessionLocks for RedisStore {
    /// One round trip: the lease and the record's load in one write.
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        match touch {
            // A touching lock moves the record's expiry: a write, so the
            // near cache's copy goes (see `cached.rs`).
            Some(at) => {
                let attempt = self.lock_record(id, token, lease, Some(Record::millis(at)));
                self.changing(&[id], attempt).await
            }
            None => self.lock_and_load(id, token, lease).await,
        }
    }

    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.if_holder(&SCRIPTS.extend, id, token, Some(lease))
            .await
    }

    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        self.if_holder(&SCRIPTS.unlock, id, token, None).await
    }

    /// Woken by the release of a holder in another process (see
    /// `wakeups.rs`; the refused attempt marked the lease), and at the
    /// latest after `max`.
    async fn wait_for_release(&self, id: &SessionId, max: Duration) -> Result<(), StoreError> {
        let Some(wakeups) = &self.inner.wakeups else {
            tokio::time::sleep(max).await;
            return Ok(());
        };
        wakeups.wait(&self.inner.keys.lock(id), max).await;
        Ok(())
    }

    /// One round trip: the `save_held` or `save_unlock` script.
    async fn save_and_unlock(
        &self,
        record: &Record,
        expected_version: Option<u64>,
        token: &LockToken,
    ) -> SavedAndUnlocked {
        let saved = self.save_releasing(record, expected_version, token);
        match self.changing(&[&record.id], saved).await {
            Ok((saved, held)) => SavedAndUnlocked {
                saved,
                released: Some(held),
            },
            Err(error) => SavedAndUnlocked {
                saved: Err(error),
                released: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_and_their_remains_convert_without_surprises() {
        assert_eq!(lease_ms(Duration::ZERO), 1);
        assert_eq!(lease_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(lease_ms(Duration::MAX), i64::MAX);
        assert_eq!(time_left(250), Duration::from_millis(250));
        assert_eq!(time_left(-1), Duration::ZERO);
        assert_eq!(time_left(-2), Duration::ZERO);
    }
}
