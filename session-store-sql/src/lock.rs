//! Session locks ([`SessionLocks`]) for `Concurrency::Serialize`: one lease
//! row per locked session in `{table}_locks` (statements in
//! `lock_queries.rs`), created by [`SqlStore::migrate`].
//!
//! - Acquire: an upsert that takes the row only if it is absent or its
//!   lease has ended (PostgreSQL and SQLite: `ON CONFLICT ... DO UPDATE ...
//!   WHERE expires_at <= now RETURNING id`; MySQL/MariaDB: `ON DUPLICATE KEY
//!   UPDATE` with conditional assignments, then the row read back to see
//!   whose it is), then the record's load (with its touch) as
//!   [`SessionStore::load`] does it. A held lock answers the time left on
//!   its lease, read from its row.
//! - Release and renewal: a `DELETE` or `UPDATE` that names the token and a
//!   live lease, so a request never releases another's lock.
//! - Time: the application's clock, as for the session rows' expiries;
//!   clocks of the application servers that share the database must agree
//!   (a skew shortens or lengthens a lease by as much).
//! - Waiting: on PostgreSQL a refused attempt marks a lease held by
//!   another process, whose release then announces itself with `NOTIFY`,
//!   and [`SessionLocks::wait_for_release`] waits for that, at most the
//!   request cycle's backoff step (see `wakeups.rs`;
//!   [`SqlStoreBuilder::lock_wakeups`](crate::SqlStoreBuilder::lock_wakeups)
//!   turns it off). MySQL/MariaDB and SQLite, or PostgreSQL with the
//!   wake-ups off: the request cycle sleeps with backoff and jitter and
//!   tries again.
//! - Ended leases of crashed holders are removed by the cleanup task and by
//!   [`SqlStore::remove_expired`].

use std::time::Duration;

use async_trait::async_trait;
use session_core::store::{LockAttempt, LockToken, SessionLocks, SessionStore, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use crate::dialect::SqlDialect;
use crate::pool::on_pool;
use crate::store::{now_millis, sql, Inner, SqlStore};

/// A lease in ms: at least 1, so that a lease always ends after it starts.
fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// What is left of a lease ending at `expires_at` (ms) at `now`.
fn time_left(expires_at: i64, now: i64) -> Duration {
    Duration::from_millis(u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0))
}

impl Inner {
    /// Takes the lease on `id` for `token` until `until` if nobody holds it
    /// at `now`: `None` when taken, else the time left on the holder's.
    async fn take_lease(
        &self,
        id: &str,
        token: &str,
        until: i64,
        now: i64,
    ) -> Result<Option<Duration>, StoreError> {
        let text = &self.lock_sql.acquire;
        if self.dialect == SqlDialect::MySql {
            self.run(|| async {
                on_pool!(&self.pool, p => sqlx::query(sql(text))
                    .bind(id)
                    .bind(token)
                    .bind(until)
                    .bind(now)
                    .bind(token)
                    .bind(now)
                    .bind(until)
                    .execute(p)
                    .await
                    .map(|_| ()))
            })
            .await?;
            // Ours only if this upsert wrote it: our token with our end (a
            // lease this token held already is not taken again).
            return Ok(match self.lease_holder(id).await? {
                Some((holder, ends)) if holder == token && ends == until => None,
                Some((_, ends)) => Some(time_left(ends, now)),
                // Released since: try again at once.
                None => Some(Duration::ZERO),
            });
        }
        // `(taken, expires_at)` when the upsert wrote the row (see
        // `lock_queries.rs`): taken, or (with the wake-ups) marked.
        let wrote: Option<(bool, i64)> = self
            .run(|| async {
                on_pool!(&self.pool, p => sqlx::query_as::<_, (bool, i64)>(sql(text))
                    .bind(id)
                    .bind(token)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(p)
                    .await)
            })
            .await?;
        match wrote {
            Some((true, _)) => return Ok(None),
            Some((false, ends)) => return Ok(Some(time_left(ends, now))),
            // Held, and left as it was: its end is read below.
            None => {}
        }
        Ok(Some(match self.lease_holder(id).await? {
            Some((_, ends)) => time_left(ends, now),
            None => Duration::ZERO,
        }))
    }

    /// The token and end of the lease row of `id`, if there is one.
    async fn lease_holder(&self, id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let text = &self.lock_sql.holder;
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_as::<_, (String, i64)>(sql(text))
                .bind(id)
                .fetch_optional(p)
                .await)
        })
        .await
    }

    /// Removes ended leases (their holders crashed or overran); a failure
    /// is logged, and the next round tries again.
    pub(crate) async fn delete_ended_leases(&self, now: i64) {
        let text = &self.lock_sql.delete_expired;
        let removed = self
            .run(|| async {
                on_pool!(&self.pool, p => sqlx::query(sql(text))
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
            })
            .await;
        match removed {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "ended session leases removed"),
            Err(error) => tracing::warn!(%error, "removing ended session leases failed"),
        }
    }
}

#[async_trait]
impl SessionLocks for SqlStore {
    /// The upsert of the lease row, then (if taken) the record's load:
    /// two statements (three on MySQL/MariaDB, which reads the lease row
    /// back; one more for a touch there, which has no `UPDATE ...
    /// RETURNING`).
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        let now = now_millis();
        let until = now.saturating_add(lease_ms(lease));
        let token = token.to_hex();
        if let Some(expires_in) = self
            .inner
            .take_lease(id.as_str(), &token, until, now)
            .await?
        {
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
        let inner = &self.inner;
        let (text, token, now) = (&inner.lock_sql.extend, token.to_hex(), now_millis());
        let until = now.saturating_add(lease_ms(lease));
        let renewed: u64 = inner
            .run(|| async {
                on_pool!(&inner.pool, p => sqlx::query(sql(text))
                    .bind(until)
                    .bind(id.as_str())
                    .bind(&token)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
            })
            .await?;
        Ok(renewed > 0)
    }

    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let (text, token, now) = (&inner.lock_sql.unlock, token.to_hex(), now_millis());
        if inner.lock_sql.marks {
            // `(released, announced)`: see `lock_queries.rs`.
            let (released, _): (i64, i64) = inner
                .run(|| async {
                    on_pool!(&inner.pool, p => sqlx::query_as::<_, (i64, i64)>(sql(text))
                        .bind(id.as_str())
                        .bind(&token)
                        .bind(now)
                        .fetch_one(p)
                        .await)
                })
                .await?;
            return Ok(released > 0);
        }
        let released: u64 = inner
            .run(|| async {
                on_pool!(&inner.pool, p => sqlx::query(sql(text))
                    .bind(id.as_str())
                    .bind(&token)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
            })
            .await?;
        Ok(released > 0)
    }

    /// Woken by the release of a holder in another process on PostgreSQL
    /// (see `wakeups.rs`; the refused attempt marked the lease), and at
    /// the latest after `max`; elsewhere, or with the wake-ups off, sleeps
    /// `max`.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    async fn wait_for_release(&self, id: &SessionId, max: Duration) -> Result<(), StoreError> {
        #[cfg(feature = "postgres")]
        if let Some(wakeups) = &self.inner.wakeups {
            wakeups.wait(id.as_str(), max).await;
            return Ok(());
        }
        tokio::time::sleep(max).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_and_their_remains_convert_without_surprises() {
        assert_eq!(lease_ms(Duration::ZERO), 1);
        assert_eq!(lease_ms(Duration::MAX), i64::MAX);
        assert_eq!(time_left(1_500, 1_000), Duration::from_millis(500));
        assert_eq!(time_left(1_000, 1_500), Duration::ZERO);
        assert_eq!(time_left(i64::MIN, i64::MAX), Duration::ZERO);
    }
}
