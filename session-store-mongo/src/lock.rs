//! Session locks ([`SessionLocks`]) for `Concurrency::Serialize`: one lease
//! document per locked session in the lease collection `{collection}_locks`
//! (its TTL index made by [`MongoStore::migrate`]).
//!
//! ```text
//! { _id: "<SessionId>", token: BinData(0, <16 bytes>), expires_at: Date }
//! ```
//!
//! - Acquire: an `update_one` with `upsert` whose filter matches only an
//!   *ended* lease with this `_id` (`expires_at <= now`). An ended lease is
//!   taken over, an absent one inserted, and a live one makes the upsert
//!   collide on `_id` (duplicate key): the lock is held, and one `find_one`
//!   of the lease reads how long it has left. Once taken, the record is
//!   loaded (with its touch) as [`SessionStore::load`] does it: one round
//!   trip more, since a standalone server has no transactions to span two
//!   collections.
//! - Release and renewal: a `delete_one` or `update_one` that names the
//!   token and a live lease, so a request never releases another's lock and
//!   an ended lease is held by nobody.
//! - Time: the application's clock, as for the sessions' expiries; the
//!   clocks of the application servers that share the database must agree
//!   (a skew shortens or lengthens a lease by as much).
//! - Waiting: the default of [`SessionLocks::wait_for_release`] (the request
//!   cycle sleeps with backoff and jitter and tries again); change streams
//!   would need a replica set.
//! - Ended leases of crashed holders are removed by the TTL index, and by
//!   [`SessionStore::clear`] with the sessions.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, DateTime, Document};
use session_core::store::{LockAttempt, LockToken, Record, SessionLocks, SessionStore, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use crate::document::{date, field};
use crate::error::{from_driver, is_duplicate_key};
use crate::store::MongoStore;

/// The field names of a lease document.
mod lease_field {
    /// The token of the holder, binary.
    pub(super) const TOKEN: &str = "token";
}

/// The token as BSON binary (subtype 0).
fn token_bson(token: &LockToken) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: token.as_bytes().to_vec(),
    }
}

/// The end of a lease of `lease` taken at `now`: at least 1 ms later, so
/// that a lease always ends after it starts.
fn lease_end(now: OffsetDateTime, lease: Duration) -> DateTime {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1);
    DateTime::from_millis(Record::millis(now).saturating_add(lease_ms))
}

/// What is left at `now` of a lease ending at `ends`.
fn time_left(ends: DateTime, now: OffsetDateTime) -> Duration {
    let left = ends.timestamp_millis().saturating_sub(Record::millis(now));
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// The filter of the live lease of `token` on `id`.
fn held_by(id: &SessionId, token: &LockToken, now: OffsetDateTime) -> Document {
    doc! {
        field::ID: id.as_str(),
        lease_field::TOKEN: token_bson(token),
        field::EXPIRES_AT: { "$gt": date(now) },
    }
}

impl MongoStore {
    /// Takes the lease on `id` for `token` until `until` unless a live one
    /// is there at `now`: `None` when taken, else the time left on the
    /// holder's.
    async fn take_lease(
        &self,
        id: &SessionId,
        token: &LockToken,
        until: DateTime,
        now: OffsetDateTime,
    ) -> Result<Option<Duration>, StoreError> {
        let ended = doc! { field::ID: id.as_str(), field::EXPIRES_AT: { "$lte": date(now) } };
        let take = doc! {
            "$set": { lease_field::TOKEN: token_bson(token), field::EXPIRES_AT: until },
        };
        let upsert = self.leases().update_one(ended, take).upsert(true);
        match self.timed_raw(upsert).await? {
            Ok(_) => Ok(None),
            Err(error) if is_duplicate_key(&error) => self.lease_left(id, now).await.map(Some),
            Err(error) => Err(from_driver(error)),
        }
    }

    /// The time left at `now` on the lease of `id`, read from its document;
    /// zero if it was released in the meantime (the caller tries again at
    /// once).
    async fn lease_left(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Duration, StoreError> {
        let lease = self
            .timed(
                self.leases()
                    .find_one(doc! { field::ID: id.as_str() })
                    .projection(doc! { field::EXPIRES_AT: 1 }),
            )
            .await?;
        let Some(lease) = lease else {
            return Ok(Duration::ZERO);
        };
        let ends = lease.get_datetime(field::EXPIRES_AT).map_err(|_| {
            StoreError::Malformed(format!(
                "session lease document field `{}`: not a date",
                field::EXPIRES_AT
            ))
        })?;
        Ok(time_left(*ends, now))
    }
}

#[async_trait]
impl SessionLocks for MongoStore {
    /// The upsert of the lease, then (if taken) the record's load: two
    /// commands (a held lock: the upsert and a read of the lease).
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        let now = OffsetDateTime::now_utc();
        if let Some(expires_in) = self
            .take_lease(id, token, lease_end(now, lease), now)
            .await?
        {
            tracing::trace!(expires_in = ?expires_in, "session lock held");
            return Ok(LockAttempt::Held { expires_in });
        }
        Ok(LockAttempt::Acquired(self.load(id, touch).await?))
    }

    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let renew = doc! { "$set": { field::EXPIRES_AT: lease_end(now, lease) } };
        let renewed = self
            .timed(self.leases().update_one(held_by(id, token, now), renew))
            .await?;
        Ok(renewed.matched_count > 0)
    }

    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        let filter = held_by(id, token, OffsetDateTime::now_utc());
        let released = self.timed(self.leases().delete_one(filter)).await?;
        Ok(released.deleted_count > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_and_their_remains_convert_without_surprises() {
        let now = Record::from_millis(1_000);
        assert_eq!(lease_end(now, Duration::ZERO).timestamp_millis(), 1_001);
        assert_eq!(
            lease_end(now, Duration::from_millis(1_500)).timestamp_millis(),
            2_500
        );
        assert_eq!(lease_end(now, Duration::MAX).timestamp_millis(), i64::MAX);
        assert_eq!(
            time_left(DateTime::from_millis(1_500), now),
            Duration::from_millis(500)
        );
        assert_eq!(time_left(DateTime::from_millis(500), now), Duration::ZERO);
        assert_eq!(time_left(DateTime::MIN, now), Duration::ZERO);
    }

    #[test]
    fn the_token_is_stored_as_its_sixteen_bytes() {
        let token = LockToken::from_bytes([7; 16]);
        let stored = token_bson(&token);
        assert_eq!(stored.subtype, BinarySubtype::Generic);
        assert_eq!(stored.bytes, [7; 16]);
    }
}
