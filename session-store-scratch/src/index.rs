//! The expiry index: which ids expire in which second.

use std::collections::BTreeSet;
use std::sync::Mutex;

use session_core::time::OffsetDateTime;
use session_core::SessionId;

/// The second (rounded up) in which a record expires. Indexing by second
/// instead of by exact instant means a record used many times within one
/// second moves in the index at most once.
pub(crate) fn bucket(expires_at: OffsetDateTime) -> i64 {
    let secs = expires_at.unix_timestamp();
    if expires_at.nanosecond() > 0 {
        secs + 1
    } else {
        secs
    }
}

/// `(bucket, id)` pairs in time order. One mutex: it is taken only when a
/// record is created, removed, or moves to another second.
#[derive(Debug, Default)]
pub(crate) struct ExpiryIndex {
    entries: Mutex<BTreeSet<(i64, SessionId)>>,
}

impl ExpiryIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<(i64, SessionId)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, at: i64, id: &SessionId) {
        self.lock().insert((at, id.clone()));
    }

    pub(crate) fn remove(&self, at: i64, id: &SessionId) {
        self.lock().remove(&(at, id.clone()));
    }

    pub(crate) fn moved(&self, from: i64, to: i64, id: &SessionId) {
        if from != to {
            let mut entries = self.lock();
            entries.remove(&(from, id.clone()));
            entries.insert((to, id.clone()));
        }
    }

    /// Takes up to `limit` entries whose second has wholly passed at `now`.
    ///
    /// A bucket is a rounded-up second, so only an entry of a bucket at or
    /// before the current whole second holds records that have expired for
    /// certain. The current second's bucket can hold a record that expires
    /// later in it: taking its entry now would leave the record unindexed,
    /// never swept, and counted against the capacity for ever.
    pub(crate) fn take_due(&self, now: OffsetDateTime, limit: usize) -> Vec<SessionId> {
        // `unix_timestamp` rounds down (the nanoseconds are never negative).
        let now_bucket = now.unix_timestamp();
        let mut entries = self.lock();
        let mut due = Vec::new();
        while due.len() < limit {
            match entries.first() {
                Some((at, _)) if *at <= now_bucket => {
                    if let Some((_, id)) = entries.pop_first() {
                        due.push(id);
                    }
                }
                _ => break,
            }
        }
        due
    }

    /// The id that expires first.
    pub(crate) fn first(&self) -> Option<(i64, SessionId)> {
        self.lock().first().cloned()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> BTreeSet<(i64, SessionId)> {
        self.lock().clone()
    }
}
