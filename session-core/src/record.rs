//! The unit a store keeps.

use std::fmt;

use time::OffsetDateTime;

use crate::id::SessionId;

/// One session as a store sees it: encoded data plus the metadata every
/// store needs to expire, version and index it. Stores never see the
/// application's type.
///
/// The fields are public to read and update; outside this crate a record is
/// built with [`Record::new`] and the `with_` methods, so that a field added
/// later (the struct is `#[non_exhaustive]`) breaks no store.
///
/// ```
/// use session_core::{time::{Duration, OffsetDateTime}, SessionId, store::Record};
///
/// let now = OffsetDateTime::now_utc();
/// let record = Record::new(SessionId::random(), b"{}".to_vec(), now, now + Duration::minutes(30), now + Duration::days(1))
///     .with_version(3)
///     .with_owner(Some("ada".to_owned()));
/// assert_eq!((record.version, record.owner.as_deref()), (3, Some("ada")));
/// assert_eq!(record.expires_at(), now + Duration::minutes(30));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The session id (for server stores, the hash of the cookie token).
    pub id: SessionId,
    /// The session data, encoded by the configured [`Codec`](crate::Codec).
    pub data: Vec<u8>,
    /// When the session was created.
    pub created_at: OffsetDateTime,
    /// Sliding expiry: moved forward by requests that use the session.
    pub idle_expires_at: OffsetDateTime,
    /// Fixed expiry: `created_at` plus the absolute timeout.
    pub absolute_expires_at: OffsetDateTime,
    /// Incremented by every save; the concurrency check compares it.
    pub version: u64,
    /// The user the session belongs to, for "log out everywhere".
    pub owner: Option<String>,
}

impl Record {
    /// A record of version 0 with no owner.
    pub fn new(
        id: SessionId,
        data: Vec<u8>,
        created_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
        absolute_expires_at: OffsetDateTime,
    ) -> Self {
        Record {
            id,
            data,
            created_at,
            idle_expires_at,
            absolute_expires_at,
            version: 0,
            owner: None,
        }
    }

    /// The same record at `version`.
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// The same record belonging to `owner`.
    #[must_use]
    pub fn with_owner(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// When the record expires: the earlier of its two expiries.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the record has expired at `now`. Expired records are
    /// invisible to loads in every store.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at()
    }

    /// The idle expiry that a touch at `wanted` may set: never past the
    /// absolute expiry.
    pub fn capped_idle(&self, wanted: OffsetDateTime) -> OffsetDateTime {
        wanted.min(self.absolute_expires_at)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The data may hold personal information: show only its size.
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("created_at", &self.created_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .field("version", &self.version)
            .field("owner", &self.owner)
            .finish()
    }
}

impl Record {
    /// Milliseconds since the Unix epoch: how stores that keep integers
    /// (Redis, SQL) represent the timestamps of a record.
    ///
    /// ```
    /// use session_core::{time::OffsetDateTime, store::Record};
    ///
    /// let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    /// assert_eq!(Record::millis(at), 1_700_000_000_000);
    /// assert_eq!(Record::from_millis(1_700_000_000_000), at);
    /// ```
    pub fn millis(at: OffsetDateTime) -> i64 {
        // Seconds and milliseconds rather than `i128` nanoseconds: stores
        // convert several timestamps per request. Before 1970 the two
        // differ in rounding, so those keep the exact formula.
        let secs = at.unix_timestamp();
        if secs >= 0 {
            secs * 1000 + i64::from(at.millisecond())
        } else {
            (at.unix_timestamp_nanos() / 1_000_000) as i64
        }
    }

    /// The inverse of [`millis`](Self::millis); out-of-range values clamp to
    /// the Unix epoch, which is always expired.
    pub fn from_millis(millis: i64) -> OffsetDateTime {
        // The same instant as `from_unix_timestamp_nanos(millis * 10^6)`,
        // with the same range, without `i128` arithmetic.
        let (secs, rest) = (millis.div_euclid(1000), millis.rem_euclid(1000));
        OffsetDateTime::from_unix_timestamp(secs)
            .and_then(|at| at.replace_millisecond(rest as u16))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_agree_with_the_nanosecond_formulas() {
        let old_millis = |at: OffsetDateTime| (at.unix_timestamp_nanos() / 1_000_000) as i64;
        let old_from = |ms: i64| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let mut values = vec![0i64, 1, -1, 999, -999, 1000, -1000, 1_700_000_000_123];
        values.extend([i64::MIN, i64::MAX, i64::MIN / 1000, i64::MAX / 1000]);
        let max = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX);
        let min = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT);
        values.extend([
            old_millis(max),
            old_millis(max) + 1,
            old_millis(min),
            old_millis(min) - 1,
        ]);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push((state as i64) % 400_000_000_000_000);
        }
        for ms in values {
            assert_eq!(Record::from_millis(ms), old_from(ms), "{ms}");
            let at = old_from(ms);
            assert_eq!(Record::millis(at), old_millis(at), "{ms}");
            // and with sub-millisecond parts, either side of 1970
            for nanos in [1i64, 499_999, 999_999] {
                let at = at + time::Duration::nanoseconds(nanos);
                assert_eq!(Record::millis(at), old_millis(at), "{ms} + {nanos} ns");
            }
        }
    }
}
