//! The cached records and the bookkeeping that keeps them coherent.
//!
//! Three things decide whether an entry may be stored or served:
//!
//! - *Liveness*: the listener (see `listener.rs`) has tracking on, its
//!   connections report no error since it was set up (`guards`), and it
//!   proved them alive recently (`proven_at`). Otherwise nothing is served
//!   or stored.
//! - *The epoch*: bumped by every flush and every loss of tracking. A fill
//!   started in an earlier epoch is refused: its reply may predate an
//!   invalidation that was never delivered.
//! - *The key's generation*: a read or write that will fill an entry takes a
//!   ticket first; every invalidation of the key (another process's write
//!   reported by tracking, or a write of this process) bumps the key's
//!   generation, and a fill whose ticket is older is refused. Replies and
//!   invalidations travel on different connections, so an invalidation may
//!   be handled before or after the reply it follows: before, it refuses the
//!   fill; after, it removes the entry. Both orders end without a stale entry.
//!
//! Memory: two generations of at most half the capacity each (like the
//! known sessions in `known.rs`); a full current generation becomes the
//! previous one and the old previous one is dropped, and a hit in the
//! previous generation promotes the entry, so recently used sessions stay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use session_core::store::Record;

/// Something that can tell whether an event (a connection error, a topology
/// change) happened since it was created: a broadcast receiver of fred's
/// events that nobody drains.
pub(crate) trait Guard: Send + Sync {
    /// Whether nothing happened.
    fn is_quiet(&self) -> bool;
}

impl<T: Clone + Send> Guard for tokio::sync::broadcast::Receiver<T> {
    fn is_quiet(&self) -> bool {
        self.is_empty()
    }
}

/// One cached record.
#[derive(Debug)]
struct Entry {
    record: Record,
    /// The key's expiry (ms) as read or set.
    expiry: i64,
    stored: Instant,
}

/// The fills under way for one key.
#[derive(Debug, Default)]
struct Pending {
    generation: u64,
    fills: usize,
}

/// What is true while tracking works.
struct Live {
    guards: Vec<Box<dyn Guard>>,
    proven_at: Instant,
}

#[derive(Default)]
struct State {
    live: Option<Live>,
    epoch: u64,
    current: HashMap<String, Entry>,
    previous: HashMap<String, Entry>,
    pending: HashMap<String, Pending>,
}

impl State {
    fn remove(&mut self, key: &str) -> bool {
        let current = self.current.remove(key).is_some();
        self.previous.remove(key).is_some() || current
    }

    fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
        self.epoch += 1;
    }
}

/// Counters for operators, tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) flushes: AtomicU64,
}

/// The cache of one store (shared by its clones and its listener).
pub(crate) struct Entries {
    state: Mutex<State>,
    /// Entries per generation.
    generation_size: usize,
    max_age: Duration,
    /// How long a proof of the listener's connections stands.
    liveness: Duration,
    pub(crate) counters: Counters,
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("generation_size", &self.generation_size)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// Permission to fill the entry of one key with what a command in flight
/// returns; see the module documentation. Dropping it without filling is
/// fine (the command failed, or found nothing).
pub(crate) struct Ticket<'a> {
    entries: &'a Entries,
    key: String,
    generation: u64,
    epoch: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut state = self.entries.lock();
        if let Some(pending) = state.pending.get_mut(&self.key) {
            pending.fills -= 1;
            if pending.fills == 0 {
                state.pending.remove(&self.key);
            }
        }
    }
}

impl Ticket<'_> {
    /// Stores `record`, whose key expires at `expiry` (ms), unless the key
    /// was invalidated, the cache flushed or tracking lost since the ticket
    /// was taken. Answers whether it was stored.
    pub(crate) fn fill(&self, record: Record, expiry: i64) -> bool {
        let entries = self.entries;
        let mut state = entries.lock();
        if state.epoch != self.epoch || !entries.is_live(&state) {
            return false;
        }
        let Some(pending) = state.pending.get_mut(&self.key) else {
            return false;
        };
        if pending.generation != self.generation {
            return false;
        }
        // Another fill in flight read earlier or later: only the first
        // to land is kept, the others are refused.
        pending.generation += 1;
        let entry = Entry {
            record,
            expiry,
            stored: Instant::now(),
        };
        state.previous.remove(&self.key);
        entries.insert(&mut state, self.key.clone(), entry);
        true
    }
}

impl Entries {
    pub(crate) fn new(capacity: usize, max_age: Duration, liveness: Duration) -> Self {
        Entries {
            state: Mutex::new(State::default()),
            generation_size: (capacity / 2).max(1),
            max_age,
            liveness,
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change keeps the maps consistent, even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_live(&self, state: &State) -> bool {
        state.live.as_ref().is_some_and(|live| {
            live.proven_at.elapsed() < self.liveness && live.guards.iter().all(|g| g.is_quiet())
        })
    }

    fn insert(&self, state: &mut State, key: String, entry: Entry) {
        if state.current.len() >= self.generation_size && !state.current.contains_key(&key) {
            state.previous = std::mem::take(&mut state.current);
        }
        state.current.insert(key, entry);
    }

    /// The cached record of `key`, if one may be served now: tracking is
    /// live, the entry is younger than the maximum age and its key has not
    /// expired (`now` in ms). A miss is counted.
    pub(crate) fn get(&self, key: &str, now: i64) -> Option<(Record, i64)> {
        let found = self.peek(key, now);
        let counter = match found {
            Some(_) => &self.counters.hits,
            None => &self.counters.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Like [`get`](Self::get), without counting.
    pub(crate) fn peek(&self, key: &str, now: i64) -> Option<(Record, i64)> {
        let mut state = self.lock();
        if !self.is_live(&state) {
            return None;
        }
        let fresh = |entry: &Entry| entry.stored.elapsed() < self.max_age && entry.expiry > now;
        if let Some(entry) = state.current.get(key) {
            return fresh(entry).then(|| (entry.record.clone(), entry.expiry));
        }
        let entry = state.previous.remove(key)?;
        if !fresh(&entry) {
            return None;
        }
        let found = (entry.record.clone(), entry.expiry);
        self.insert(&mut state, key.to_owned(), entry);
        Some(found)
    }

    /// A ticket to fill `key`, or `None` while tracking is down.
    pub(crate) fn ticket(&self, key: &str) -> Option<Ticket<'_>> {
        let mut state = self.lock();
        if !self.is_live(&state) {
            return None;
        }
        let epoch = state.epoch;
        let pending = state.pending.entry(key.to_owned()).or_default();
        pending.fills += 1;
        Some(Ticket {
            entries: self,
            key: key.to_owned(),
            generation: pending.generation,
            epoch,
        })
    }

    /// Drops the entry of `key` and refuses the fills under way for it: the
    /// key changed (tracking said so), or this process is about to change it.
    pub(crate) fn invalidate(&self, key: &str) {
        let mut state = self.lock();
        if let Some(pending) = state.pending.get_mut(key) {
            pending.generation += 1;
        }
        if state.remove(key) {
            self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops every entry and refuses every fill under way (`FLUSHDB`, lost
    /// invalidations, this store's `clear`); tracking stays as it is.
    pub(crate) fn flush(&self) {
        self.lock().clear();
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Tracking is lost or being set up: drops everything, serves and
    /// stores nothing until [`enable`](Self::enable).
    pub(crate) fn disable(&self) {
        let mut state = self.lock();
        let was_live = state.live.take().is_some();
        state.clear();
        drop(state);
        if was_live {
            self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Tracking is on; `guards` report any event that ends it.
    pub(crate) fn enable(&self, guards: Vec<Box<dyn Guard>>) {
        let mut state = self.lock();
        state.clear();
        state.live = Some(Live {
            guards,
            proven_at: Instant::now(),
        });
    }

    /// The listener's connections answered just now.
    pub(crate) fn proven(&self) {
        if let Some(live) = self.lock().live.as_mut() {
            live.proven_at = Instant::now();
        }
    }

    /// Whether entries may be served now.
    pub(crate) fn is_enabled(&self) -> bool {
        self.is_live(&self.lock())
    }

    /// How many entries are held.
    pub(crate) fn len(&self) -> usize {
        let state = self.lock();
        state.current.len() + state.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::OffsetDateTime;
    use session_core::SessionId;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    struct Flag(Arc<AtomicBool>);
    impl Guard for Flag {
        fn is_quiet(&self) -> bool {
            !self.0.load(Ordering::SeqCst)
        }
    }

    fn record() -> Record {
        let now = OffsetDateTime::now_utc();
        Record::new(
            SessionId::random(),
            b"data".to_vec(),
            now,
            now + session_core::time::Duration::hours(1),
            now + session_core::time::Duration::hours(2),
        )
    }

    fn now() -> i64 {
        Record::millis(OffsetDateTime::now_utc())
    }

    fn live(capacity: usize) -> (Entries, Arc<AtomicBool>) {
        let entries = Entries::new(capacity, Duration::from_secs(60), Duration::from_secs(60));
        let flag = Arc::new(AtomicBool::new(false));
        entries.enable(vec![Box::new(Flag(flag.clone()))]);
        (entries, flag)
    }

    #[test]
    fn nothing_is_stored_or_served_while_tracking_is_down() {
        let entries = Entries::new(8, Duration::from_secs(60), Duration::from_secs(60));
        assert!(entries.ticket("k").is_none());
        let (entries, flag) = live(8);
        let ticket = entries.ticket("k").expect("live");
        assert!(ticket.fill(record(), now() + 60_000));
        drop(ticket);
        assert!(entries.get("k", now()).is_some());
        flag.store(true, Ordering::SeqCst);
        assert!(
            entries.get("k", now()).is_none(),
            "an error event stops serving"
        );
        assert!(entries.ticket("k").is_none());
    }

    #[test]
    fn an_invalidation_refuses_a_fill_under_way_and_removes_a_stored_one() {
        let (entries, _flag) = live(8);
        let ticket = entries.ticket("k").expect("live");
        entries.invalidate("k");
        assert!(!ticket.fill(record(), now() + 60_000));
        drop(ticket);
        assert!(entries.get("k", now()).is_none());
        let ticket = entries.ticket("k").expect("live");
        assert!(ticket.fill(record(), now() + 60_000));
        entries.invalidate("k");
        assert!(entries.get("k", now()).is_none());
        drop(ticket);
        assert!(entries.lock().pending.is_empty(), "tickets clean up");
    }

    #[test]
    fn flush_and_loss_of_tracking_refuse_older_fills() {
        let (entries, _flag) = live(8);
        let ticket = entries.ticket("k").expect("live");
        entries.flush();
        assert!(!ticket.fill(record(), now() + 60_000));
        let ticket = entries.ticket("k").expect("live");
        entries.disable();
        entries.enable(Vec::new());
        assert!(!ticket.fill(record(), now() + 60_000), "an epoch later");
    }

    #[test]
    fn of_two_fills_in_flight_only_the_first_lands() {
        let (entries, _flag) = live(8);
        let first = entries.ticket("k").expect("live");
        let second = entries.ticket("k").expect("live");
        assert!(second.fill(record(), now() + 60_000));
        assert!(!first.fill(record(), now() + 60_000));
    }

    #[test]
    fn expired_and_aged_entries_are_not_served() {
        let (entries, _flag) = live(8);
        let ticket = entries.ticket("k").expect("live");
        assert!(ticket.fill(record(), now() - 1));
        assert!(entries.get("k", now()).is_none(), "the key has expired");
        let aged = Entries::new(8, Duration::ZERO, Duration::from_secs(60));
        aged.enable(Vec::new());
        let ticket = aged.ticket("k").expect("live");
        assert!(ticket.fill(record(), now() + 60_000));
        assert!(aged.get("k", now()).is_none(), "older than the maximum age");
    }

    #[test]
    fn memory_is_bounded_and_recent_entries_survive() {
        let (entries, _flag) = live(8);
        let hot = "hot".to_owned();
        assert!(entries
            .ticket(&hot)
            .expect("live")
            .fill(record(), now() + 60_000));
        for i in 0..100 {
            let key = format!("k{i}");
            assert!(entries
                .ticket(&key)
                .expect("live")
                .fill(record(), now() + 60_000));
            assert!(entries.get(&hot, now()).is_some(), "used on every round");
            assert!(entries.len() <= 8);
        }
        assert!(entries.get("k0", now()).is_none(), "old entries go");
    }
}
