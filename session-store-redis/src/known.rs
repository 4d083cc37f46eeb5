//! The sessions this process has recently read or written, with the two
//! facts that never change for a session id or that a save re-checks: its
//! absolute expiry and (a hash of) its owner.
//!
//! Why: a touch must never take the key's expiry past the absolute expiry,
//! which is inside the value. For a session it knows, the store can send
//! `PEXPIREAT key min(touch, absolute)` (with a `GET` for a load), plain
//! commands that cost Redis a fraction of a script; for one it does not
//! know (first sight in this process), it runs a script that reads the
//! absolute expiry first.
//! Knowing a session also tells the store that the key held a value of this
//! format, so a last-write-wins save can be a plain `SET ... XX`.
//!
//! The absolute expiry is fixed when a session is created (rotation makes a
//! new id), so an entry never goes stale; a load that finds another value
//! corrects it anyway. Memory is bounded: two generations of at most
//! [`GENERATION`] entries each; when the current one is full it becomes the
//! previous one and the old previous one is dropped, so recently used
//! sessions stay known (about 100 bytes per entry).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use session_core::SessionId;

/// Entries per generation.
pub(crate) const GENERATION: usize = 16_384;

/// What the store knows about one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The absolute expiry, in ms since the epoch.
    pub(crate) absolute: i64,
    /// The hash of the owner (see [`Known::owner_hash`]).
    pub(crate) owner: u64,
    /// The key expiry (ms) this process last set or read. In practice a
    /// lower bound of the real one (saves and touches, here or in another
    /// process, extend it; rotation makes a new id), so while it lies well
    /// in the future a read that finds the key may report it instead of
    /// asking Redis, and a touching load may skip a touch that would move
    /// it by almost nothing. Never evidence that a record expired: once it
    /// has passed (or nearly), reads ask Redis for the real expiry.
    pub(crate) expiry: i64,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<SessionId, Facts>,
    previous: HashMap<SessionId, Facts>,
}

/// The known sessions of one store (shared by its clones).
#[derive(Debug)]
pub(crate) struct Known {
    generations: Mutex<Generations>,
    /// Keyed per process, so owner hashes cannot be chosen to collide.
    hasher: RandomState,
    capacity: usize,
}

impl Known {
    pub(crate) fn new(capacity: usize) -> Self {
        Known {
            generations: Mutex::new(Generations::default()),
            hasher: RandomState::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        // The maps stay consistent even if a holder panicked: each change is
        // one insert or remove.
        self.generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The hash that [`Facts::owner`] holds for `owner`.
    pub(crate) fn owner_hash(&self, owner: Option<&[u8]>) -> u64 {
        self.hasher.hash_one(owner)
    }

    /// The facts of a session with this absolute expiry and owner.
    pub(crate) fn facts(&self, absolute: i64, owner: Option<&[u8]>, expiry: i64) -> Facts {
        Facts {
            absolute,
            owner: self.owner_hash(owner),
            expiry,
        }
    }

    /// What is known about `id`, if anything.
    pub(crate) fn get(&self, id: &SessionId) -> Option<Facts> {
        let mut generations = self.lock();
        if let Some(facts) = generations.current.get(id) {
            return Some(*facts);
        }
        let facts = generations.previous.remove(id)?;
        Self::insert(&mut generations, self.capacity, id, facts);
        Some(facts)
    }

    /// Records what a load or a write showed about `id`.
    pub(crate) fn remember(&self, id: &SessionId, facts: Facts) {
        let mut generations = self.lock();
        if let Some(known) = generations.current.get_mut(id) {
            *known = facts;
            return;
        }
        generations.previous.remove(id);
        Self::insert(&mut generations, self.capacity, id, facts);
    }

    fn insert(generations: &mut Generations, capacity: usize, id: &SessionId, facts: Facts) {
        if generations.current.len() >= capacity {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(id.clone(), facts);
    }

    /// Forgets `id` (deleted, expired, or not a record of this format).
    pub(crate) fn forget(&self, id: &SessionId) {
        let mut generations = self.lock();
        generations.current.remove(id);
        generations.previous.remove(id);
    }

    /// Forgets everything (after `clear`).
    pub(crate) fn clear(&self) {
        *self.lock() = Generations::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_updates_and_forgets() {
        let known = Known::new(8);
        let id = SessionId::random();
        assert_eq!(known.get(&id), None);
        known.remember(&id, known.facts(5, Some(b"alice"), 0));
        let facts = known.get(&id).unwrap();
        assert_eq!(facts.absolute, 5);
        assert_eq!(facts.owner, known.owner_hash(Some(b"alice")));
        assert_ne!(facts.owner, known.owner_hash(None));
        assert_ne!(known.owner_hash(None), known.owner_hash(Some(b"")));
        known.remember(&id, known.facts(7, None, 0));
        assert_eq!(known.get(&id).unwrap().absolute, 7);
        known.forget(&id);
        assert_eq!(known.get(&id), None);
        known.remember(&id, known.facts(1, None, 0));
        known.clear();
        assert_eq!(known.get(&id), None);
    }

    #[test]
    fn memory_is_bounded_and_recent_entries_survive() {
        let known = Known::new(4);
        let ids: Vec<SessionId> = (0..20).map(|_| SessionId::random()).collect();
        let first = &ids[0];
        known.remember(first, known.facts(0, None, 0));
        for id in &ids[1..] {
            known.remember(id, known.facts(1, None, 0));
            // Used on every round: promoted, never dropped.
            assert!(known.get(first).is_some());
            let generations = known.lock();
            assert!(generations.current.len() <= 4 && generations.previous.len() <= 4);
        }
        assert!(known.get(&ids[19]).is_some());
        assert!(known.get(&ids[1]).is_none(), "old entries go");
    }
}
