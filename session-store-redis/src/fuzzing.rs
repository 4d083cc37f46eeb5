//! For the project's fuzz targets (`fuzz/`) and benchmarks (`session-bench`)
//! only, behind the off-by-default `fuzzing` feature: the value layout's
//! encoder and decoder, and the near cache's entry bookkeeping, made
//! reachable. No stability promise: this module changes whenever they do.

use std::time::Duration;

use session_core::{
    store::{Record, StoreError},
    SessionId,
};

/// Bytes before the owner in a value.
pub const HEADER: usize = crate::layout::HEADER;

/// The value stored for `record`.
pub fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    crate::layout::encode(record)
}

/// The record in `value` for `id`, whose key expires at `idle_ms`.
pub fn decode(id: &SessionId, value: &[u8], idle_ms: i64) -> Result<Record, &'static str> {
    crate::layout::decode(id, value, idle_ms)
}

/// The owner in `value`, as the owner index reads it.
pub fn owner_of(value: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    crate::layout::owner_of(value)
}

/// The near cache's entries alone, with no Redis and no listener, tracking
/// taken as live for ever: what the eviction benchmark drives.
#[derive(Debug)]
pub struct NearEntries(crate::near_cache::Entries);

impl NearEntries {
    /// A cache bounded like `NearCache::new(capacity)`, whose entries are
    /// served for at most `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        let capacity = crate::NearCache::new(capacity).capacity();
        let entries = crate::near_cache::Entries::new(capacity, max_age, Duration::MAX);
        entries.enable(Vec::new());
        NearEntries(entries)
    }

    /// The cached record of `key` (a hit, counted as the store counts it),
    /// if its key expires after `now` (ms).
    pub fn get(&self, key: &str, now: i64) -> Option<Record> {
        self.0.get(key, now).map(|(record, _)| record)
    }

    /// What a load that missed does with Redis's answer: a ticket, then the
    /// fill. Answers whether the record was stored.
    pub fn fill(&self, key: &str, record: Record, expiry: i64) -> bool {
        self.0
            .ticket(key)
            .is_some_and(|ticket| ticket.fill(record, expiry))
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
