//! Loads and touches.
//!
//! - A load without touch (the manager's load under every refresh mode, and
//!   `find`, `get`, `delete_where`): a lone `GET` for a session this process
//!   knows whose remembered expiry lies comfortably in the future (see
//!   `trusts`); else `GET` and `PEXPIRETIME` in one pipeline
//!   (one round trip), which reads the key's real expiry. The remembered
//!   expiry never declares a record expired: another process may have
//!   extended it, and only Redis knows.
//! - A touching load of a session this process knows: `GET` and
//!   `PEXPIREAT key min(touch, absolute)`, written together (one round
//!   trip), or a lone `GET` within the touch slack; of one it does not know
//!   yet, the `load` script, which reads the absolute expiry before moving
//!   the expiry.
//!
//! Why not `GETEX key PXAT`, one command: fred has no typed `GETEX`, and it
//! flushes every custom command on its own (one write and one Redis wakeup
//! per command), while typed commands share writes under load. Measured
//! side by side with the load benchmark, the two typed commands cost Redis
//! a third of what the one custom `GETEX` costs, and the server less too.
//! - A touch: `PEXPIREAT key min(touch, absolute)` if known, else the
//!   `touch` script. Always sent: its answer (whether the key exists) is
//!   what the request cycle relies on to never send a dead token back, so
//!   neither the touch slack nor anything this process remembers may stand
//!   in for it.

use fred::types::Value;
use session_core::time::OffsetDateTime;
use session_core::{
    store::{Record, StoreError},
    SessionId,
};

use super::{unexpected, RedisStore};
use crate::known::Facts;
use crate::layout;
use crate::scripts::SCRIPTS;

/// What a read found at a record key.
pub(super) enum Found {
    /// A value and the key's expiry after the read (ms; `i64::MAX` for a
    /// key without expiry).
    Value(Value, i64),
    Missing,
    /// Not a record of this format (the reason is for the log).
    Unreadable(&'static str),
}

impl RedisStore {
    pub(super) async fn load_record(
        &self,
        id: &SessionId,
        touch: Option<i64>,
    ) -> Result<Option<Record>, StoreError> {
        let key = self.inner.keys.record(id);
        let known = self.inner.known.get(id);
        let now = Record::millis(OffsetDateTime::now_utc());
        let found = match (touch, known) {
            // The GET proves the key is live; the remembered expiry, a lower
            // bound in practice, stands for the key's and saves the
            // PEXPIRETIME.
            (None, Some(facts)) if self.trusts(&facts, now) => {
                self.get_only(&key, facts.expiry).await?
            }
            // Unknown, or remembered as (nearly) past: only Redis can say
            // whether another process extended it.
            (None, _) => self.get_plain(&key).await?,
            (Some(at), Some(facts)) => {
                let at = layout::capped(at, facts.absolute);
                let slack = self.inner.touch_slack_ms;
                if self.trusts(&facts, now) && touch_is_negligible(at, facts.expiry, slack, now) {
                    self.get_only(&key, facts.expiry).await?
                } else {
                    self.get_touching(&key, at).await?
                }
            }
            (Some(at), None) => self.get_by_script(&key, at).await?,
        };
        self.conclude(id, &key, found, known).await
    }

    /// What a read found at the record key of `id`, as the load's answer:
    /// decoded and accepted, or absent (and forgotten).
    pub(super) async fn conclude(
        &self,
        id: &SessionId,
        key: &str,
        found: Found,
        known: Option<Facts>,
    ) -> Result<Option<Record>, StoreError> {
        let decoded = match found {
            Found::Value(value, expiry) => layout::bytes(&value)
                .ok_or("the value is not a string")
                .and_then(|bytes| layout::decode(id, bytes, expiry))
                .map(|record| (record, expiry)),
            Found::Unreadable(reason) => Err(reason),
            Found::Missing => {
                self.inner.known.forget(id);
                return Ok(None);
            }
        };
        match decoded {
            Ok((record, expiry)) => self.accept(key, record, expiry, known).await,
            Err(reason) => {
                self.inner.known.forget(id);
                tracing::warn!(%id, reason, "redis holds an unreadable session record; treating it as absent");
                Ok(None)
            }
        }
    }

    /// Whether a read may report the remembered expiry of `facts` instead
    /// of asking Redis for the key's: only while it lies comfortably in the
    /// future (beyond the command timeout and a second more), so that the
    /// record a lone `GET` returns is not taken for expired by its caller a
    /// moment later. A remembered expiry that has passed, or nearly, says
    /// nothing: another process may have extended the session since.
    pub(super) fn trusts(&self, facts: &Facts, now: i64) -> bool {
        let timeout = i64::try_from(self.inner.redis.timeout().as_millis()).unwrap_or(i64::MAX);
        facts.expiry > now.saturating_add(timeout).saturating_add(TRUST_MARGIN_MS)
    }

    /// A decoded record whose key expires at `expiry` (ms): that expiry
    /// checked against the absolute expiry, then the record remembered
    /// (unless `known` already says the same), or dropped if it has expired.
    async fn accept(
        &self,
        key: &str,
        mut record: Record,
        expiry: i64,
        known: Option<Facts>,
    ) -> Result<Option<Record>, StoreError> {
        let absolute = Record::millis(record.absolute_expires_at);
        if expiry > absolute {
            // A key that would outlive its absolute expiry: a value edited
            // by hand, a key without expiry, or a touch from stale facts.
            // Redis must not keep it longer, so this read corrects it.
            let at = absolute.max(1);
            self.inner.redis.pexpire_at(key, at).await?;
            record.idle_expires_at = Record::from_millis(at);
        }
        // Redis expires the key itself; this covers an application clock
        // ahead of the server's, and a touch past the absolute expiry.
        if record.is_expired(OffsetDateTime::now_utc()) {
            self.inner.known.forget(&record.id);
            return Ok(None);
        }
        self.remember(&record, expiry.min(absolute), known);
        Ok(Some(record))
    }

    /// `GET` and `PEXPIRETIME`, one round trip.
    async fn get_plain(&self, key: &str) -> Result<Found, StoreError> {
        Ok(match self.inner.redis.get_with_expiry(key).await? {
            (None, _) => Found::Unreadable("the key is not a string"),
            (Some(Value::Null), _) | (_, -2) => Found::Missing,
            (Some(value), -1) => Found::Value(value, i64::MAX),
            (Some(value), at) => Found::Value(value, at),
        })
    }

    /// `GET` alone, for a session whose key this process remembers to
    /// expire at `expiry` (see [`Self::trusts`]).
    async fn get_only(&self, key: &str, expiry: i64) -> Result<Found, StoreError> {
        Ok(match self.inner.redis.get(key).await? {
            None => Found::Unreadable("the key is not a string"),
            Some(Value::Null) => Found::Missing,
            Some(value) => Found::Value(value, expiry),
        })
    }

    /// `GET` and `PEXPIREAT key at`, one round trip: the value, with the
    /// expiry moved.
    async fn get_touching(&self, key: &str, at: i64) -> Result<Found, StoreError> {
        Ok(match self.inner.redis.get_and_expire(key, at).await? {
            (None, _) => Found::Unreadable("the key is not a string"),
            // Deleted between the two commands, or never there.
            (Some(Value::Null), _) | (Some(_), false) => Found::Missing,
            (Some(value), true) => Found::Value(value, at),
        })
    }

    /// The `load` script, for a session this process does not know.
    async fn get_by_script(&self, key: &str, at: i64) -> Result<Found, StoreError> {
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.load, &[key], vec![at.into()])
            .await?;
        let Value::Array(mut items) = reply else {
            return Err(unexpected("load", &reply));
        };
        match (items.len(), items.first().and_then(layout::integer)) {
            (1, Some(0)) => Ok(Found::Missing),
            (1, Some(2)) => Ok(Found::Unreadable("not a record of this format")),
            (3, Some(1)) => match layout::integer(&items[2]) {
                Some(at) => Ok(Found::Value(items.swap_remove(1), at)),
                None => Err(unexpected("load", &items[2])),
            },
            _ => Err(StoreError::Malformed("unexpected reply to load".into())),
        }
    }

    pub(super) async fn touch_record(&self, id: &SessionId, at: i64) -> Result<bool, StoreError> {
        let key = self.inner.keys.record(id);
        let touched = match self.inner.known.get(id) {
            Some(facts) => {
                let at = layout::capped(at, facts.absolute);
                let touched = self.inner.redis.pexpire_at(&key, at).await?;
                if touched {
                    self.inner.known.remember(
                        id,
                        Facts {
                            expiry: at,
                            ..facts
                        },
                    );
                }
                touched
            }
            None => {
                let args = vec![at.into()];
                let reply = self.inner.redis.eval(&SCRIPTS.touch, &[&key], args).await?;
                layout::integer(&reply) == Some(1)
            }
        };
        if !touched {
            self.inner.known.forget(id);
        }
        Ok(touched)
    }
}

/// Beyond the command timeout, how far in the future a remembered expiry
/// must lie for a read to report it (see `RedisStore::trusts`).
const TRUST_MARGIN_MS: i64 = 1_000;

/// Whether moving the key's expiry from `known` (this process's own last
/// touch, write or read of it) to `at` changes so little (less than
/// `slack_ms`, and less than 1% of the idle timeout) that a touching load
/// can skip its touch; see [`RedisStoreBuilder::touch_slack`](crate::RedisStoreBuilder::touch_slack).
/// Never for a touch into the past, which must reach Redis.
fn touch_is_negligible(at: i64, known: i64, slack_ms: i64, now: i64) -> bool {
    if slack_ms <= 0 || at <= now {
        return false; // touch on every read, as configured
    }
    // `at - now` is the idle timeout (less near the absolute expiry).
    let slack = ((at - now) / 100).clamp(0, slack_ms);
    known >= at - slack
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: i64 = 1_000;

    fn now() -> i64 {
        Record::millis(OffsetDateTime::now_utc())
    }

    #[test]
    fn a_touch_is_skipped_only_when_it_moves_the_expiry_by_little() {
        let hour = 3_600_000;
        let now = now();
        let at = now + hour;
        assert!(touch_is_negligible(at, at, SLACK, now));
        assert!(touch_is_negligible(at, at - 900, SLACK, now));
        assert!(
            !touch_is_negligible(at, at - 1_100, SLACK, now),
            "more than a second"
        );
        // Short idle timeouts: 1% of 2 s is 20 ms.
        let at = now + 2_000;
        assert!(touch_is_negligible(at, at - 10, SLACK, now));
        assert!(!touch_is_negligible(at, at - 100, SLACK, now));
        // A zero slack touches every time.
        let at = now + hour;
        assert!(!touch_is_negligible(at, at, 0, now));
        // Never skipped for an expiry in the past, even one remembered.
        let at = now - 10;
        assert!(!touch_is_negligible(at, at - 1, SLACK, now));
        assert!(!touch_is_negligible(at, at, SLACK, now));
    }
}
