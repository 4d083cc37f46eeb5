//! The records and the session type the checks use.

use session_core::time::{self, OffsetDateTime};
use session_core::{store::Record, SessionId};

/// Now, truncated to milliseconds: the precision every store keeps.
pub fn now_ms() -> OffsetDateTime {
    Record::from_millis(Record::millis(OffsetDateTime::now_utc()))
}

/// A record with a random id and `b"data"`, idle for `idle_ms` from now
/// (negative: already expired), absolutely expiring in an hour, version 1,
/// no owner.
pub fn record(idle_ms: i64) -> Record {
    let now = now_ms();
    Record::new(
        SessionId::random(),
        b"data".to_vec(),
        now,
        now + time::Duration::milliseconds(idle_ms),
        now + time::Duration::hours(1),
    )
    .with_version(1)
}

/// A record that expired a second ago.
pub fn expired() -> Record {
    record(-1000)
}

/// The session data of the checks that go through a
/// [`SessionManager`](session_core::SessionManager).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    /// Incremented by each request.
    pub n: u64,
}
