//! The store itself.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::{DashMap, SharedValue};
use session_core::time::OffsetDateTime;
use session_core::{
    store::{
        ExpiredSession, ExpirySink, ExpirySource, OwnerLimit, OwnerLimited, Record,
        RecordPredicate, SessionStore, StoreError,
    },
    SessionId,
};

use crate::held::Held;
use crate::index::{bucket, ExpiryIndex};
use crate::lock::LockTable;
use crate::owners::OwnerSessions;

/// How many expired records one sweep step removes at most. A removal costs
/// about a microsecond in a store of a million sessions (cache misses), so a
/// step runs for tens of microseconds; each removal write-locks one record's
/// shard alone, for the removal itself (well under a microsecond), so a
/// request for another record of that shard waits no longer than that.
const SWEEP_BATCH: usize = 64;

/// How long one step of the background sweeper may run: on a slow or busy
/// machine a removal costs several times more, and a step ends after this
/// long even before [`SWEEP_BATCH`] removals, so that a step's share of the
/// CPU stays small whatever the machine.
const SWEEP_STEP_TIME: Duration = Duration::from_micros(100);

/// Index entries a step takes at a time, between two looks at the clock.
/// Also the least a step removes while the index has due entries, which
/// bounds a sweep's length (see `sweep_steps_at_most`).
const SWEEP_CHUNK: usize = 16;

/// The background sweeper's pause between two steps of one sweep: it takes
/// a step's time every pause, a small share of one core, so a backlog (100k
/// sessions expiring in the same second) is removed over a second or two
/// instead of in one burst that competes with the requests for the CPU.
/// Expired records are invisible meanwhile; only their memory waits.
const SWEEP_PAUSE: Duration = Duration::from_millis(1);

/// The most steps a background sweep of `due` due records takes: each step
/// but the last removes at least a chunk, and the last finds the index dry.
/// With [`SWEEP_PAUSE`] between steps, a sweep of 100,000 ends within
/// 6,251 steps and pauses (1,563 at [`SWEEP_BATCH`] per step, which is what
/// a step does unless the machine is slow: 3.5 to 7 s in all on a loaded
/// 2-core machine). A sweep takes only the seconds that had passed when it
/// started: records that expire meanwhile wait for the next one. What the
/// sweeper's test holds it to.
#[cfg(test)]
const fn sweep_steps_at_most(due: usize) -> usize {
    due.div_ceil(SWEEP_CHUNK) + 1
}

/// How often the sweeper removes expired records unless
/// [`MemoryStoreBuilder::cleanup_every`] says otherwise.
pub const DEFAULT_CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// What a full store does with a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Refuse it with [`StoreError::CapacityExceeded`] (a `503` through the
    /// adapters): existing users keep their sessions. Expired records that
    /// the sweeper has not reached yet are removed first: only live
    /// sessions fill the store.
    Refuse,
    /// Make room by removing the session that would expire first.
    EvictSoonestExpiring,
}

/// An in-memory session store. Cloning shares the same records.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// The records and their two indexes.
///
/// Invariant: every record in `records` has exactly one entry in `expiry`,
/// `(bucket(expires_at), id)`, and is in its owner's set, whose key is the
/// allocation the record's owner points to; both indexes are
/// changed only while the record's dashmap shard is write-locked, so that no
/// operation on one id (the sweeper's included) sees a record without its
/// index entries, or acts on index entries of a record that has moved on.
/// Locks are taken in one order: record shards (ascending, for a rotation),
/// then the expiry mutex or one owner shard, never the other way round.
#[derive(Debug)]
struct Inner {
    records: DashMap<SessionId, Held>,
    expiry: ExpiryIndex,
    owners: DashMap<Arc<str>, OwnerSessions>,
    capacity: Option<(usize, Overflow)>,
    /// The records held plus the creations that reserved room and have not
    /// inserted yet: what the capacity bounds. A compare-and-swap on it
    /// decides admission, so concurrent creations never overshoot.
    held: AtomicUsize,
    clock: Clock,
    /// The sessions' leases under `Concurrency::Serialize` (src/lock.rs).
    locks: LockTable,
    /// Held by `limit_owner` from reading an owner's sessions to removing
    /// the surplus, so that two logins' limits run one after the other and
    /// the later sees the earlier's record (taken after record shards are
    /// released, never while one is held).
    owner_limits: std::sync::Mutex<()>,
    /// Where the records removed because they expired are reported.
    expiry_sink: ExpirySink,
    /// The background sweeper's steps done, for this crate's tests (they
    /// run on another thread, so the store's length alone does not say
    /// whether one has ended).
    #[cfg(test)]
    steps: AtomicUsize,
}

/// Where the store reads the time: the system clock, or, in this crate's
/// tests, a clock moved by hand (sub-second expiries without sleeping).
#[derive(Debug, Clone, Default)]
struct Clock {
    #[cfg(test)]
    manual: Option<Arc<std::sync::Mutex<OffsetDateTime>>>,
}

impl Clock {
    fn now(&self) -> OffsetDateTime {
        #[cfg(test)]
        if let Some(manual) = &self.manual {
            return *manual.lock().unwrap_or_else(|p| p.into_inner());
        }
        OffsetDateTime::now_utc()
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug)]
#[must_use]
pub struct MemoryStoreBuilder {
    capacity: Option<(usize, Overflow)>,
    cleanup_every: Option<Duration>,
    clock: Clock,
}

impl MemoryStoreBuilder {
    /// Bounds the number of sessions (default: unbounded).
    pub fn capacity(mut self, max_sessions: usize, overflow: Overflow) -> Self {
        self.capacity = Some((max_sessions, overflow));
        self
    }

    /// How often the sweeper removes expired records (default
    /// [`DEFAULT_CLEANUP_EVERY`]).
    pub fn cleanup_every(mut self, period: Duration) -> Self {
        self.cleanup_every = Some(period);
        self
    }

    /// No background sweeper: expired records stay invisible, and are
    /// removed by [`MemoryStore::remove_expired`], when their id is used
    /// again, or when a full store makes room.
    pub fn no_cleanup(mut self) -> Self {
        self.cleanup_every = None;
        self
    }

    /// A clock moved by hand, for this crate's tests.
    #[cfg(test)]
    pub(crate) fn manual_clock(mut self, clock: Arc<std::sync::Mutex<OffsetDateTime>>) -> Self {
        self.clock = Clock {
            manual: Some(clock),
        };
        self
    }

    /// Builds the store. The sweeper is spawned on the current tokio runtime
    /// (its removals run on that runtime's blocking pool, where the
    /// `on_expired` callbacks of the sessions it removes run too); outside
    /// a runtime there is none (and a debug event says so).
    pub fn build(self) -> MemoryStore {
        let store = MemoryStore {
            inner: Arc::new(Inner {
                records: DashMap::new(),
                expiry: ExpiryIndex::default(),
                owners: DashMap::new(),
                capacity: self.capacity,
                held: AtomicUsize::new(0),
                clock: self.clock,
                locks: LockTable::default(),
                owner_limits: std::sync::Mutex::new(()),
                expiry_sink: ExpirySink::new(),
                #[cfg(test)]
                steps: AtomicUsize::new(0),
            }),
        };
        if let Some(period) = self.cleanup_every {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(sweeper(Arc::downgrade(&store.inner), period));
                }
                Err(_) => {
                    tracing::debug!("no tokio runtime: the memory store runs without a sweeper")
                }
            }
        }
        store
    }
}

/// Runs until the store is dropped (the weak reference no longer upgrades).
///
/// Only the timing runs on the runtime: each step runs on tokio's blocking
/// pool (`spawn_blocking`), so the requests queued on a worker never wait
/// behind a step, and the removed records' memory is freed there too, after
/// their shard's lock is released.
async fn sweeper(store: Weak<Inner>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(now) = store.upgrade().map(|inner| inner.clock.now()) else {
            return;
        };
        // The records due at `now` only: later ones wait for the next tick,
        // so the sweep ends within a step per chunk of what was due.
        // A step at a time, the store held only during a step: dropping
        // the store ends a sweep in the middle.
        loop {
            let Some(inner) = store.upgrade() else { return };
            let step = tokio::task::spawn_blocking(move || {
                let step = inner.sweep_step(now, SWEEP_STEP_TIME);
                if step.is_done() {
                    inner.locks.sweep();
                }
                #[cfg(test)]
                inner.steps.fetch_add(1, Ordering::AcqRel);
                step
            });
            match step.await {
                Ok(step) if step.is_done() => break,
                Ok(_) => {}
                Err(error) => {
                    // A listener that panicked, or a runtime shutting down:
                    // the next tick starts over from the index.
                    tracing::warn!(%error, "a memory store sweep step failed");
                    break;
                }
            }
            tokio::time::sleep(SWEEP_PAUSE).await;
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// The leases of this store's sessions.
    pub(crate) fn lock_table(&self) -> &LockTable {
        &self.inner.locks
    }

    /// A store with no capacity bound and a sweeper every
    /// [`DEFAULT_CLEANUP_EVERY`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, with the defaults of [`new`](Self::new).
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            capacity: None,
            cleanup_every: Some(DEFAULT_CLEANUP_EVERY),
            clock: Clock::default(),
        }
    }

    /// Removes every expired record now, without the background sweeper's
    /// pauses; answers how many.
    ///
    /// ```
    /// use session_core::{time::{Duration, OffsetDateTime}, SessionId, store::{Record, SessionStore}};
    /// use session_store_memory::MemoryStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = MemoryStore::builder().no_cleanup().build();
    /// let now = OffsetDateTime::now_utc();
    /// let gone = Record::new(
    ///     SessionId::random(),
    ///     Vec::new(),
    ///     now - Duration::minutes(31),
    ///     now - Duration::minutes(1),
    ///     now + Duration::hours(1),
    /// )
    /// .with_version(1);
    /// store.create(&gone).await.unwrap();
    /// assert_eq!(store.len(), 1, "invisible, but held until swept");
    /// assert_eq!(store.remove_expired(), 1);
    /// assert!(store.is_empty());
    /// # }
    /// ```
    pub fn remove_expired(&self) -> u64 {
        let now = self.inner.clock.now();
        let mut total = 0;
        loop {
            let sweep = self.inner.sweep_batch(now, SWEEP_BATCH);
            total += sweep.removed;
            if sweep.is_done() {
                // Leases that ran out go too (not counted: they are no records).
                self.inner.locks.sweep();
                return u64::try_from(total).unwrap_or(u64::MAX);
            }
        }
    }

    /// How many records are held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.inner.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.inner.records.is_empty()
    }

    /// Whether the background sweeper would still find this store: false
    /// once every clone is dropped. A test hook (the sweeper's lifetime),
    /// hidden from the documentation: not part of the store's API.
    #[doc(hidden)]
    pub fn downgrade(&self) -> Weak<impl Sized + Send + Sync> {
        Arc::downgrade(&self.inner)
    }
}

/// What one sweep step did.
#[derive(Debug, Clone, Copy)]
struct Sweep {
    /// Index entries taken (a full batch means there may be more).
    taken: usize,
    /// Records removed.
    removed: usize,
}

impl Sweep {
    /// Whether the index had no more due entries: fewer were there than
    /// asked for.
    fn is_done(&self) -> bool {
        self.taken < SWEEP_BATCH
    }
}

impl Inner {
    /// One step of the background sweeper: due entries a chunk at a time
    /// until [`SWEEP_BATCH`] are taken, the index has no more, or `budget`
    /// has passed. A step cut short by the budget counts as a full one (the
    /// sweep goes on after the pause).
    fn sweep_step(&self, now: OffsetDateTime, budget: Duration) -> Sweep {
        let started = std::time::Instant::now();
        let mut step = Sweep {
            taken: 0,
            removed: 0,
        };
        while step.taken < SWEEP_BATCH {
            let limit = SWEEP_CHUNK.min(SWEEP_BATCH - step.taken);
            let chunk = self.sweep_batch(now, limit);
            step.taken += chunk.taken;
            step.removed += chunk.removed;
            if chunk.taken < limit {
                return step;
            }
            if started.elapsed() >= budget {
                step.taken = SWEEP_BATCH;
                return step;
            }
        }
        step
    }

    /// Removes the expired records of up to `limit` due index entries, and
    /// reports each to the expiry sink if anyone listens (after its shard is
    /// unlocked: the application's callback never runs under a store lock).
    fn sweep_batch(&self, now: OffsetDateTime, limit: usize) -> Sweep {
        // Only entries whose whole second has passed: a record in them has
        // expired for certain, so no entry of a live record is taken (one
        // expiring later in the current second keeps its entry for the next
        // sweep).
        let due = self.expiry.take_due(now, limit);
        // Asked once per batch: without a listener a removal builds no
        // report (a copy of the id and owner, a look at the listeners).
        let heard = self.expiry_sink.is_heard();
        let mut removed = 0;
        for id in &due {
            let Entry::Occupied(slot) = self.records.entry(id.clone()) else {
                continue;
            };
            if slot.get().is_expired(now) {
                // Its expiry entry is the one just taken.
                if let Some(owner) = slot.get().owner() {
                    self.unlink_owner(owner, id);
                }
                let held = slot.remove();
                self.held.fetch_sub(1, Ordering::AcqRel);
                removed += 1;
                if heard {
                    self.report_expired(id, &held, ExpirySource::Cleanup);
                }
            } else {
                // Replaced by a new record since the entry was taken: it
                // must stay indexed (a set: a no-op if it already is).
                self.expiry.insert(bucket(slot.get().expires_at()), id);
            }
        }
        Sweep {
            taken: due.len(),
            removed,
        }
    }

    /// Tells the expiry sink that the record `held` at `id`, removed, had
    /// expired.
    fn report_expired(&self, id: &SessionId, held: &Held, source: ExpirySource) {
        let owner = held.owner().map(str::to_owned);
        let expired = ExpiredSession::new(id.clone(), owner, source);
        self.expiry_sink.report(&expired);
    }

    /// Removes the record at `id` if it expired, and reports it as found by
    /// a load: so the sweeper does not report it a second time.
    fn remove_expired_at(&self, id: &SessionId, now: OffsetDateTime) {
        if let Some(held) = self.remove_if(id, |r| r.is_expired(now)) {
            self.report_expired(id, &held, ExpirySource::Load);
        }
    }

    /// Adds a record's index entries; answers what the map keeps for it.
    /// Under its shard's lock.
    fn index(&self, record: &Record) -> Held {
        self.expiry.insert(bucket(record.expires_at()), &record.id);
        let owner = record
            .owner
            .as_deref()
            .map(|owner| self.link_owner(owner, &record.id));
        Held::new(record, owner)
    }

    /// Removes the index entries of the record held at `id`. Under its
    /// shard's lock.
    fn unindex(&self, id: &SessionId, held: &Held) {
        self.expiry.remove(bucket(held.expires_at()), id);
        if let Some(owner) = held.owner() {
            self.unlink_owner(owner, id);
        }
    }

    fn unlink_owner(&self, owner: &str, id: &SessionId) {
        if let Some(mut ids) = self.owners.get_mut(owner) {
            ids.remove(id);
        }
        self.owners.remove_if(owner, |_, ids| ids.is_empty());
    }

    /// Links `id` to `owner`; answers the index's name for the owner, which
    /// the record shares (one allocation per owner, not per session).
    fn link_owner(&self, owner: &str, id: &SessionId) -> Arc<str> {
        if let Some(mut ids) = self.owners.get_mut(owner) {
            ids.insert(id);
            return Arc::clone(ids.key());
        }
        let mut ids = self.owners.entry(Arc::from(owner)).or_default();
        ids.insert(id);
        Arc::clone(ids.key())
    }

    /// Keeps the owner index in step when a record's owner changes; answers
    /// the index's name for the new owner.
    fn reowner(
        &self,
        old: Option<&Arc<str>>,
        new: Option<&str>,
        id: &SessionId,
    ) -> Option<Arc<str>> {
        match (old, new) {
            (Some(old), Some(new)) if **old == *new => Some(Arc::clone(old)),
            _ => {
                if let Some(old) = old {
                    self.unlink_owner(old, id);
                }
                new.map(|new| self.link_owner(new, id))
            }
        }
    }

    /// Removes the record at `id` if `doomed` selects it, together with its
    /// index entries, in one critical section.
    fn remove_if(&self, id: &SessionId, doomed: impl FnOnce(&Held) -> bool) -> Option<Held> {
        let Entry::Occupied(slot) = self.records.entry(id.clone()) else {
            return None;
        };
        if !doomed(slot.get()) {
            return None;
        }
        self.unindex(id, slot.get());
        let record = slot.remove();
        self.held.fetch_sub(1, Ordering::AcqRel);
        Some(record)
    }

    /// Removes the record at `id` if `owner` owns it; else drops the link
    /// from `owner` to `id`, which then is stale. Both under the id's lock.
    fn remove_owned(&self, owner: &str, id: &SessionId) -> Option<Held> {
        match self.records.entry(id.clone()) {
            Entry::Occupied(slot) if slot.get().owner() == Some(owner) => {
                self.unindex(id, slot.get());
                let record = slot.remove();
                self.held.fetch_sub(1, Ordering::AcqRel);
                Some(record)
            }
            _ => {
                self.unlink_owner(owner, id);
                None
            }
        }
    }

    /// What `read` makes of each live entry of `owner`, each read under its
    /// own shard's lock: a caller that needs a field or two reads them from
    /// the [`Held`] entry, without building the whole record.
    fn owned<T>(
        &self,
        owner: &str,
        now: OffsetDateTime,
        read: impl Fn(&SessionId, &Held) -> T,
    ) -> Vec<T> {
        let ids: Vec<SessionId> = self
            .owners
            .get(owner)
            .map(|ids| ids.to_vec())
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| {
                self.records
                    .get(id)
                    .filter(|r| !r.is_expired(now) && r.owner() == Some(owner))
                    .map(|r| read(id, &r))
            })
            .collect()
    }

    fn remove(&self, id: &SessionId) -> Option<Held> {
        self.remove_if(id, |_| true)
    }

    /// Makes room for one more record and reserves it in `held`, or refuses.
    fn reserve(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        let Some((capacity, overflow)) = self.capacity else {
            self.held.fetch_add(1, Ordering::AcqRel);
            return Ok(());
        };
        loop {
            let admitted = self
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    (held < capacity).then_some(held + 1)
                });
            if admitted.is_ok() {
                return Ok(());
            }
            // Full. Expired records go first, under either policy: they are
            // no one's session any more.
            if self.sweep_batch(now, SWEEP_BATCH).removed > 0 {
                continue;
            }
            match overflow {
                Overflow::Refuse => return Err(StoreError::CapacityExceeded { capacity }),
                Overflow::EvictSoonestExpiring => match self.expiry.first() {
                    Some((at, id)) => {
                        tracing::debug!(%id, "memory store full: evicting the session closest to expiry");
                        if self.remove(&id).is_none() {
                            // Taken by the sweeper or deleted meanwhile; drop
                            // a stale entry, if it is one, and look again.
                            self.expiry.remove(at, &id);
                        }
                    }
                    None => return Err(StoreError::CapacityExceeded { capacity }),
                },
            }
        }
    }

    /// Gives back a reservation that inserted no record.
    fn release(&self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }

    /// [`SessionStore::rotate`] as one critical section: both ids' shards
    /// are write-locked for the whole move, so no other operation on either
    /// id (a load, a save, a delete, the sweeper, an owner-wide delete)
    /// sees the record at both ids, at neither, or the old one half moved.
    ///
    /// dashmap locks a shard, not an entry, and two ids may share a shard:
    /// holding one entry's guard while asking for the other's could wait on
    /// itself. So this takes the shard locks directly (dashmap's `raw-api`),
    /// once if both ids share a shard, else both in ascending shard order;
    /// every other operation holds at most one record shard at a time.
    fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let map = &self.records;
        let hasher = map.hasher();
        // The hash and shard dashmap itself gives each key.
        let from_hash = hasher.hash_one(from);
        let to_hash = hasher.hash_one(&record.id);
        let from_shard = map.determine_shard(from_hash as usize);
        let to_shard = map.determine_shard(to_hash as usize);
        let low = from_shard.min(to_shard);
        let shards = map.shards();
        let mut first = shards[low].write();
        let mut second = (from_shard != to_shard).then(|| shards[from_shard.max(to_shard)].write());
        // The locked table that holds `shard`.
        macro_rules! table {
            ($shard:expr) => {
                match second.as_mut() {
                    Some(guard) if $shard != low => &mut **guard,
                    _ => &mut *first,
                }
            };
        }
        let is_from = |entry: &(SessionId, SharedValue<Held>)| entry.0 == *from;
        let is_to = |entry: &(SessionId, SharedValue<Held>)| entry.0 == record.id;

        let version = table!(from_shard)
            .get(from_hash, is_from)
            .map(|(_, slot)| slot.get())
            .filter(|current| !current.is_expired(now))
            .map(Held::version)
            .ok_or(StoreError::NotFound)?;
        if let Some(expected) = expected {
            if version != expected {
                return Err(StoreError::Conflict { expected });
            }
        }
        match table!(to_shard)
            .get(to_hash, is_to)
            .map(|(_, slot)| slot.get())
        {
            // `from` itself when both ids are one: live, so taken.
            Some(taken) if !taken.is_expired(now) => return Err(StoreError::AlreadyExists),
            Some(_) => {
                // An expired record in the way is replaced, as by create.
                if let Some((_, stale)) = table!(to_shard).remove_entry(to_hash, is_to) {
                    self.unindex(&record.id, stale.get());
                    self.held.fetch_sub(1, Ordering::AcqRel);
                }
            }
            None => {}
        }
        // One record leaves and one arrives: `held` does not change, so a
        // rotation never needs room, and never makes any.
        if let Some((_, old)) = table!(from_shard).remove_entry(from_hash, is_from) {
            self.unindex(from, old.get());
        }
        let held = self.index(record);
        table!(to_shard).insert(
            to_hash,
            (record.id.clone(), SharedValue::new(held)),
            |entry| hasher.hash_one(&entry.0),
        );
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn locks(&self) -> Option<&dyn session_core::store::SessionLocks> {
        Some(self)
    }

    /// The sweeper, [`MemoryStore::remove_expired`], a full store making
    /// room and a load that meets an expired record report here, each
    /// record once (whichever removes it).
    fn expiry_sink(&self) -> Option<&ExpirySink> {
        Some(&self.inner.expiry_sink)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        inner.reserve(now)?;
        match inner.records.entry(record.id.clone()) {
            Entry::Occupied(mut slot) => {
                // Not a new record: either refused or a replacement.
                inner.release();
                if !slot.get().is_expired(now) {
                    return Err(StoreError::AlreadyExists);
                }
                inner.unindex(&record.id, slot.get());
                slot.insert(inner.index(record));
            }
            Entry::Vacant(slot) => {
                slot.insert(inner.index(record));
            }
        }
        Ok(())
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let mut slot = inner
            .records
            .get_mut(&record.id)
            .ok_or(StoreError::NotFound)?;
        if slot.is_expired(now) {
            return Err(StoreError::NotFound);
        }
        if let Some(expected) = expected_version {
            if slot.version() != expected {
                return Err(StoreError::Conflict { expected });
            }
        }
        let owner = inner.reowner(slot.shared_owner(), record.owner.as_deref(), &record.id);
        inner.expiry.moved(
            bucket(slot.expires_at()),
            bucket(record.expires_at()),
            &record.id,
        );
        *slot = Held::new(record, owner);
        Ok(())
    }

    /// One atomic move under the locks of both ids (see the store's
    /// documentation of [`SessionStore::rotate`] for the contract).
    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.rotate(from, record, expected_version, inner.clock.now())
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let now = self.inner.clock.now();
        let Some(touch) = touch else {
            let found =
                (self.inner.records.get(id)).map(|r| (!r.is_expired(now)).then(|| r.to_record(id)));
            return Ok(match found {
                Some(None) => {
                    self.inner.remove_expired_at(id, now);
                    None
                }
                found => found.flatten(),
            });
        };
        let Some(mut slot) = self.inner.records.get_mut(id) else {
            return Ok(None);
        };
        if slot.is_expired(now) {
            drop(slot);
            self.inner.remove_expired_at(id, now);
            return Ok(None);
        }
        let before = bucket(slot.expires_at());
        slot.touch(touch);
        self.inner
            .expiry
            .moved(before, bucket(slot.expires_at()), id);
        Ok(Some(slot.to_record(id)))
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let Some(mut slot) = self.inner.records.get_mut(id) else {
            return Ok(false);
        };
        if slot.is_expired(now) {
            return Ok(false);
        }
        let before = bucket(slot.expires_at());
        slot.touch(idle_expires_at);
        self.inner
            .expiry
            .moved(before, bucket(slot.expires_at()), id);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        Ok(self.inner.remove(id).is_some_and(|r| !r.is_expired(now)))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        // Record by record under its shard's lock, like every removal, so a
        // create racing the clear keeps its index entries.
        inner.records.retain(|id, held| {
            inner.unindex(id, held);
            inner.held.fetch_sub(1, Ordering::AcqRel);
            false
        });
        Ok(())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        Ok(self
            .inner
            .records
            .iter()
            .filter(|r| !r.is_expired(now))
            .count() as u64)
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        let now = self.inner.clock.now();
        Ok(self
            .inner
            .records
            .iter()
            .filter(|r| !r.is_expired(now))
            .map(|r| r.key().clone())
            .collect())
    }

    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        let now = self.inner.clock.now();
        let ids: Vec<SessionId> = self
            .inner
            .owners
            .get(owner)
            .map(|ids| ids.to_vec())
            .unwrap_or_default();
        Ok(ids
            .into_iter()
            .filter(|id| {
                self.inner
                    .records
                    .get(id)
                    .is_some_and(|r| !r.is_expired(now))
            })
            .collect())
    }

    async fn records_by_owner(&self, owner: &str) -> Result<Vec<Record>, StoreError> {
        let now = self.inner.clock.now();
        Ok(self.inner.owned(owner, now, |id, held| held.to_record(id)))
    }

    fn limits_owners(&self) -> bool {
        true
    }

    /// Under one mutex for every owner's limit: a login is rare next to
    /// the requests that never take it.
    async fn limit_owner(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        let inner = &self.inner;
        let _serial = inner
            .owner_limits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = inner.clock.now();
        let live = inner.owned(owner, now, |id, held| (id.clone(), held.created_at()));
        let outcome = OwnerLimited::decide(&live, newest, limit);
        for id in &outcome.evicted {
            inner.remove_owned(owner, id);
        }
        if outcome.refused {
            inner.remove_owned(owner, newest);
        }
        Ok(outcome)
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        // The expiry is read from the entry; only a live one becomes the
        // record the predicate judges.
        let doomed =
            |id: &SessionId, held: &Held| !held.is_expired(now) && predicate(&held.to_record(id));
        // Collect first: removing while iterating a dashmap shard deadlocks.
        let candidates: Vec<SessionId> = self
            .inner
            .records
            .iter()
            .filter(|r| doomed(r.key(), r.value()))
            .map(|r| r.key().clone())
            .collect();
        // Asked again under the lock: a record saved in between is judged
        // as it is now.
        Ok(candidates
            .iter()
            .filter(|id| self.inner.remove_if(id, |r| doomed(id, r)).is_some())
            .count() as u64)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let mut removed = 0;
        // Until the owner has no session left: a session rotated to a new id
        // while this ran is linked under its new id, and goes in the next
        // pass (a login racing "log out everywhere" does not survive it).
        loop {
            let ids: Vec<SessionId> = match inner.owners.get(owner) {
                Some(ids) => ids.to_vec(),
                None => return Ok(removed),
            };
            for id in ids {
                if inner
                    .remove_owned(owner, &id)
                    .is_some_and(|r| !r.is_expired(now))
                {
                    removed += 1;
                }
            }
        }
    }
}

/// Looks under the store, for this crate's tests.
#[cfg(test)]
impl MemoryStore {
    /// Panics unless the indexes and the count of held records match the
    /// records exactly (the invariant of `Inner`). Only when quiescent.
    pub(crate) fn assert_consistent(&self) {
        use std::collections::BTreeSet;

        let inner = &self.inner;
        let indexed: BTreeSet<(i64, SessionId)> = inner
            .records
            .iter()
            .map(|r| (bucket(r.expires_at()), r.key().clone()))
            .collect();
        assert_eq!(inner.expiry.entries(), indexed, "the expiry index");
        let owned: BTreeSet<(String, SessionId)> = inner
            .records
            .iter()
            .filter_map(|r| Some((r.owner()?.to_owned(), r.key().clone())))
            .collect();
        let linked: BTreeSet<(String, SessionId)> = inner
            .owners
            .iter()
            .flat_map(|ids| {
                let owner = ids.key().to_string();
                ids.to_vec()
                    .into_iter()
                    .map(move |id| (owner.clone(), id))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(linked, owned, "the owner index");
        for held in inner.records.iter() {
            if let Some(name) = held.shared_owner() {
                let key = inner.owners.get(&**name).map(|ids| Arc::clone(ids.key()));
                assert!(
                    key.is_some_and(|key| Arc::ptr_eq(&key, name)),
                    "a record shares its owner's name with the index"
                );
            }
        }
        assert!(
            inner.owners.iter().all(|ids| !ids.is_empty()),
            "no empty owner set"
        );
        assert_eq!(
            inner.held.load(Ordering::Acquire),
            inner.records.len(),
            "the held count"
        );
    }

    /// Panics if a record that expired in a second wholly before `now` is
    /// still held: what a sweep at `now` must have removed.
    pub(crate) fn assert_swept_until(&self, now: OffsetDateTime) {
        let overdue = self
            .inner
            .records
            .iter()
            .filter(|r| bucket(r.expires_at()) <= now.unix_timestamp())
            .count();
        assert_eq!(overdue, 0, "records left by a sweep at {now}");
    }

    /// How many entries the expiry index holds.
    pub(crate) fn indexed(&self) -> usize {
        self.inner.expiry.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &SessionId, idle_ms: i64) -> Record {
        let now = OffsetDateTime::now_utc();
        Record::new(
            id.clone(),
            vec![1, 2, 3],
            now,
            now + time::Duration::milliseconds(idle_ms),
            now + time::Duration::hours(1),
        )
        .with_version(1)
    }

    use session_core::time;

    #[tokio::test]
    async fn index_follows_records() {
        let store = MemoryStore::builder().no_cleanup().build();
        let id = SessionId::random();
        store.create(&record(&id, 60_000)).await.unwrap();
        assert_eq!(store.inner.expiry.len(), 1);
        store
            .load(
                &id,
                Some(OffsetDateTime::now_utc() + time::Duration::minutes(5)),
            )
            .await
            .unwrap();
        assert_eq!(
            store.inner.expiry.len(),
            1,
            "a touch moves the entry, never duplicates it"
        );
        store.delete(&id).await.unwrap();
        assert_eq!(store.inner.expiry.len(), 0);
    }

    /// A whole second `secs` seconds from now (negative: ago).
    fn whole_second(secs: i64) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        OffsetDateTime::from_unix_timestamp(now + secs).unwrap()
    }

    fn expiring_at(at: OffsetDateTime) -> Record {
        let mut r = record(&SessionId::random(), 0);
        r.idle_expires_at = at;
        r
    }

    #[tokio::test]
    async fn a_sweep_early_in_a_second_keeps_a_record_that_expires_later_in_it() {
        let store = MemoryStore::builder().no_cleanup().build();
        // Far enough ahead that the store's own clock sees the record live.
        let second = whole_second(30);
        let r = expiring_at(second + time::Duration::milliseconds(700));
        store.create(&r).await.unwrap();
        store
            .inner
            .sweep_batch(second + time::Duration::milliseconds(300), SWEEP_BATCH);
        assert_eq!(store.len(), 1, "not expired yet at .300");
        assert_eq!(store.inner.expiry.len(), 1, "still indexed");
        store
            .inner
            .sweep_batch(second + time::Duration::milliseconds(1500), SWEEP_BATCH);
        assert_eq!(store.len(), 0, "expired at .700: removed by the next sweep");
        assert_eq!(store.inner.expiry.len(), 0);
    }

    /// Waits, in real time, until the sweeper (whose steps run on the
    /// blocking pool) has ended its step `step` (counted from 1); answers
    /// the store's length then.
    async fn stepped(store: &MemoryStore, step: usize) -> usize {
        let started = std::time::Instant::now();
        while store.inner.steps.load(Ordering::Acquire) < step {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the sweep goes on"
            );
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_micros(100));
        }
        store.len()
    }

    /// The background sweeper removes a backlog a step at a time and sleeps
    /// between steps: without time passing it does not go on, however
    /// often the runtime is free (a sweep that only yielded would take the
    /// whole backlog here, and the CPU from the requests meanwhile). And it
    /// ends within the bound of `sweep_steps_at_most`.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_sweeper_pauses_between_the_steps_of_a_backlog() {
        let period = Duration::from_secs(60);
        let store = MemoryStore::builder().cleanup_every(period).build();
        let steps = 5;
        for _ in 0..steps * SWEEP_BATCH {
            store.create(&expiring_at(whole_second(-60))).await.unwrap();
        }
        let total = store.len();
        // Real time for a step on the blocking pool to run, were one due.
        let idle = || async {
            for _ in 0..100 {
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_micros(50));
            }
        };
        idle().await;
        assert_eq!(store.len(), total, "nothing before the first tick");
        tokio::time::advance(period).await;
        // A step ends after SWEEP_BATCH removals, or sooner once its time
        // is spent (real time, which a slow test machine may spend first),
        // but never before one chunk.
        let one_step = SWEEP_CHUNK..=SWEEP_BATCH;
        let mut left = stepped(&store, 1).await;
        assert!(one_step.contains(&(total - left)), "one step, then a pause");
        let mut pauses = 0;
        while left > 0 {
            idle().await;
            assert_eq!(store.len(), left, "nothing more until the pause ends");
            tokio::time::advance(SWEEP_PAUSE).await;
            let now_left = stepped(&store, pauses + 2).await;
            assert!(
                now_left == 0 || one_step.contains(&(left - now_left)),
                "one step per pause: {left} -> {now_left}"
            );
            left = now_left;
            pauses += 1;
            assert!(
                pauses < sweep_steps_at_most(total),
                "the sweep ends within its bound"
            );
        }
        assert!(store.is_empty());
        store.assert_consistent();
    }

    #[test]
    fn the_bound_on_a_sweep_counts_a_chunk_per_step_and_a_last_look() {
        assert_eq!(sweep_steps_at_most(0), 1);
        assert_eq!(sweep_steps_at_most(1), 2);
        assert_eq!(sweep_steps_at_most(SWEEP_CHUNK), 2);
        assert_eq!(sweep_steps_at_most(100_000), 6_251);
    }

    /// A step ends once its time is spent, after whole chunks: with no time
    /// at all it takes one chunk and says the sweep is not done; with time
    /// enough, a whole batch.
    #[tokio::test]
    async fn a_sweep_step_is_bounded_by_time_as_well_as_by_count() {
        let store = MemoryStore::builder().no_cleanup().build();
        for _ in 0..3 * SWEEP_BATCH {
            store.create(&expiring_at(whole_second(-60))).await.unwrap();
        }
        let now = OffsetDateTime::now_utc();
        let step = store.inner.sweep_step(now, Duration::ZERO);
        assert_eq!(step.removed, SWEEP_CHUNK);
        assert!(!step.is_done(), "cut short by time: the sweep goes on");
        let step = store.inner.sweep_step(now, Duration::from_secs(3600));
        assert_eq!(step.removed, SWEEP_BATCH);
        assert!(!step.is_done());
        let left = 2 * SWEEP_BATCH - SWEEP_CHUNK;
        let step = store.inner.sweep_step(now, Duration::from_secs(3600));
        assert_eq!(step.removed, SWEEP_BATCH);
        let step = store.inner.sweep_step(now, Duration::from_secs(3600));
        assert_eq!(step.removed, left - SWEEP_BATCH);
        assert!(step.is_done(), "the index ran dry");
        assert!(store.is_empty());
        store.assert_consistent();
    }

    #[tokio::test]
    async fn a_full_refusing_store_admits_sessions_again_once_the_old_ones_expired() {
        let store = MemoryStore::builder()
            .no_cleanup()
            .capacity(1, Overflow::Refuse)
            .build();
        let second = whole_second(-3);
        let old = expiring_at(second + time::Duration::milliseconds(700));
        store.create(&old).await.unwrap();
        // The sweeper's tick happened to fall early in the second the
        // record expired in.
        store
            .inner
            .sweep_batch(second + time::Duration::milliseconds(200), SWEEP_BATCH);
        store.remove_expired();
        store
            .create(&record(&SessionId::random(), 60_000))
            .await
            .expect("a store full of sessions that expired seconds ago refuses no one");
        assert_eq!(store.len(), 1, "the expired one is gone");
        store.assert_consistent();
    }
}
