//! The settings of a store's background cleanup, written once for every
//! store whose builder has them (`cleanup_every`, `no_cleanup`,
//! `cleanup_batch`).

use std::time::Duration;

/// How often a store's background cleanup runs unless its builder's
/// `cleanup_every` says otherwise.
pub const DEFAULT_CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// When a store's background cleanup runs and how many expired records one
/// of its batches removes at most: what a store builder's `cleanup_every`,
/// `no_cleanup` and `cleanup_batch` set.
///
/// The task a store spawns from it runs on the tokio runtime the store is
/// built on (none outside one), removes expired records batch by batch until
/// a batch comes back short, reports each removal to the store's
/// [`ExpirySink`](super::ExpirySink), and stops when the last clone of the
/// store is dropped. Without the task ([`disable`](Self::disable)) a
/// deployment runs the store's `remove_expired` from a scheduled job, and
/// expired records stay invisible either way.
///
/// ```
/// use std::time::Duration;
/// use session_core::store::{CleanupSchedule, DEFAULT_CLEANUP_EVERY};
///
/// let mut schedule = CleanupSchedule::new(100);
/// assert_eq!(schedule.every(), Some(DEFAULT_CLEANUP_EVERY));
/// schedule.set_batch(0);
/// assert_eq!(schedule.batch(), 1, "zero is taken as one");
/// schedule.disable();
/// assert_eq!(schedule.every(), None);
/// schedule.set_every(Duration::from_secs(5));
/// assert_eq!(schedule.every(), Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupSchedule {
    /// `None`: no background cleanup.
    every: Option<Duration>,
    batch: u32,
}

impl CleanupSchedule {
    /// Every [`DEFAULT_CLEANUP_EVERY`], in batches of `batch` records (the
    /// store's own default: what one batch may remove depends on its
    /// backend).
    pub const fn new(batch: u32) -> Self {
        CleanupSchedule {
            every: Some(DEFAULT_CLEANUP_EVERY),
            batch: at_least_one(batch),
        }
    }

    /// The cleanup runs every `period` (a builder's `cleanup_every`).
    pub fn set_every(&mut self, period: Duration) {
        self.every = Some(period);
    }

    /// No background cleanup (a builder's `no_cleanup`).
    pub fn disable(&mut self) {
        self.every = None;
    }

    /// One batch removes at most `records`; zero is taken as one, since a
    /// batch of none would never finish the backlog (a builder's
    /// `cleanup_batch`).
    pub fn set_batch(&mut self, records: u32) {
        self.batch = at_least_one(records);
    }

    /// The period of the background cleanup, or `None` for none.
    pub const fn every(&self) -> Option<Duration> {
        self.every
    }

    /// How many expired records one batch removes at most (at least one).
    pub const fn batch(&self) -> u32 {
        self.batch
    }
}

/// `n`, or one for zero (`max` is not `const`).
const fn at_least_one(n: u32) -> u32 {
    if n == 0 {
        1
    } else {
        n
    }
}
