//! Session locks ([`SessionLocks`]) for `Concurrency::Serialize`.
//!
//! A lease is the key `{prefix}lock:{<record key>}` (see `keys.rs`) holding
//! the holder's token, with the lease as its Redis expiry, so a crashed
//! holder's lock ends by itself. The key's hash tag is the record key, so
//! both live in one cluster slot and one script reaches both:
//!
//! - Acquire: the `lock` script, `SET lock token PX lease NX` and, if that
//!   took it, the record's load (its touch, or its `PEXPIRETIME`) in the
//!   same step: one round trip, the load that a request makes anyway. A
//!   held lock answers the holder's `PTTL`.
//! - Release and renewal: the `unlock` and `extend` scripts compare the
//!   token before they delete or `PEXPIRE` the key.
//! - Waiting: the default of [`SessionLocks::wait_for_release`] (the request
//!   cycle sleeps with backoff and jitter and tries again); no pub/sub
//!   subscriber, so nothing is added to a store that never locks.

use std::time::Duration;

use async_trait::async_trait;
use fred::types::Value;
use session_core::store::{LockAttempt, LockToken, Record, SessionLocks, StoreError};
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
    /// One round trip: the `lock` script takes the lease and loads the
    /// record in one step.
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        let attempt = self.lock_record(id, token, lease, touch.map(Record::millis));
        match touch {
            // A touching lock moves the record's expiry: a write, so the
            // near cache's copy goes (see `cached.rs`).
            Some(_) => self.changing(&[id], attempt).await,
            None => attempt.await,
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
