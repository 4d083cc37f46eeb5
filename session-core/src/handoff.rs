//! In-process hand-offs of a session's lease under
//! [`Concurrency::Serialize`](crate::Concurrency::Serialize): a request that
//! gives a lease back wakes, at once, one request of the same configuration
//! waiting for that session, instead of leaving it to its backoff.
//!
//! Why: the tabs of one browser usually reach one process (sticky load
//! balancing, or a single instance), and there a waiter that sleeps its
//! backoff (up to 100 ms) after a release that took a millisecond is pure
//! latency, and every attempt it makes meanwhile is a store round trip. A
//! waiter of another process still waits with backoff and jitter, or with
//! its store's own wake-ups
//! ([`SessionLocks::wait_for_release`](crate::store::SessionLocks::wait_for_release)).
//!
//! A waiter that took the lease after waiting marks its session as held
//! here; until that holder gives it back, the session's other waiters of
//! this process do not poll the store at all: they wait for the hand-off,
//! or for the holder's lease to run out (a holder that hung), whichever
//! comes first. Only a holder that waited marks: the uncontended path
//! writes nothing here.
//!
//! The wake-up is a hint, never a guarantee: a woken waiter tries the store
//! again, and may find the lease taken by another process; a wake-up that
//! finds nobody polling is kept for the next waiter of the session (tokio's
//! [`Notify`] permit). A waiter's backoff stays its fallback, so a missed
//! wake-up costs what waiting cost before; behind a holder of this process
//! the fallback is the end of that holder's lease, which a release always
//! precedes unless the holder hung.
//!
//! Fairness: within a process, each release wakes one waiter. Across
//! processes none is promised, as before: a waiter of
//! another process takes the lease when its backoff lands on a moment it is
//! free, so a burst of one process's requests on a session is mostly served
//! before it; `lock_wait` bounds how long it waits in any case.
//!
//! The cost where nobody waits: one atomic load per release.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::id::SessionId;

/// The waiters of this configuration's requests, by session.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// How many requests wait: a release with none reads only this.
    waiting: AtomicUsize,
    queues: Mutex<HashMap<SessionId, Queue>>,
}

/// The waiters of one session: one [`Notify`] they share, how many they
/// are (the entry goes with the last one), and whether a request of this
/// process that waited holds the lease now.
#[derive(Debug)]
struct Queue {
    notify: Arc<Notify>,
    waiters: usize,
    held_here: bool,
}

impl Handoff {
    /// Registers a waiter for `id` until the returned guard is dropped.
    pub(crate) fn wait(self: &Arc<Self>, id: &SessionId) -> Waiting {
        let notify = {
            let mut queues = self.queues();
            let queue = queues.entry(id.clone()).or_insert_with(|| Queue {
                notify: Arc::new(Notify::new()),
                waiters: 0,
                held_here: false,
            });
            queue.waiters += 1;
            Arc::clone(&queue.notify)
        };
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting {
            handoff: Arc::clone(self),
            id: id.clone(),
            notify,
        }
    }

    /// A lease on `id` was given back: wakes one waiter of it, if any.
    pub(crate) fn released(&self, id: &SessionId) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Some(queue) = self.queues().get_mut(id) {
            queue.held_here = false;
            queue.notify.notify_one();
        }
    }

    fn mark_held_here(&self, id: &SessionId) {
        if let Some(queue) = self.queues().get_mut(id) {
            queue.held_here = true;
        }
    }

    fn held_here(&self, id: &SessionId) -> bool {
        self.queues().get(id).is_some_and(|queue| queue.held_here)
    }

    fn leave(&self, id: &SessionId) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut queues = self.queues();
        if let Some(queue) = queues.get_mut(id) {
            queue.waiters -= 1;
            if queue.waiters == 0 {
                queues.remove(id);
            }
        }
    }

    /// The map; a panic elsewhere while it was held left it consistent
    /// (every change is one step), so a poisoned lock is used as it is.
    fn queues(&self) -> MutexGuard<'_, HashMap<SessionId, Queue>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A registered waiter; dropping it (the lease taken, the wait given up or
/// the request gone) takes it off its session's queue.
#[derive(Debug)]
pub(crate) struct Waiting {
    handoff: Arc<Handoff>,
    id: SessionId,
    notify: Arc<Notify>,
}

impl Waiting {
    /// Returns when a request of this configuration gave the session's lease
    /// back since this waiter registered (or since the last wake-up it
    /// took), or never: the caller races it with its backoff.
    pub(crate) async fn released(&self) {
        self.notify.notified().await;
    }

    /// Whether a request of this process that waited holds the lease: it
    /// wakes this waiter when it gives the lease back.
    pub(crate) fn held_here(&self) -> bool {
        self.handoff.held_here(&self.id)
    }

    /// This waiter took the lease: the session is held here until the
    /// release (see [`Handoff::released`]).
    pub(crate) fn took_lease(&self) {
        self.handoff.mark_held_here(&self.id);
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.handoff.leave(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> SessionId {
        SessionId::from_token(&format!("{:A<43}", n))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_release_wakes_a_waiter_of_that_session_only() {
        let handoff = Arc::new(Handoff::default());
        let waiter = handoff.wait(&id(1));
        let other = handoff.wait(&id(2));
        handoff.released(&id(1));
        // Kept as a permit until the waiter polls.
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter.released())
            .await
            .expect("woken by the release of its session");
        let woken = tokio::select! {
            biased;
            () = other.released() => true,
            () = std::future::ready(()) => false,
        };
        assert!(!woken, "a release of another session woke it");
    }

    #[test]
    fn a_holder_that_waited_marks_its_session_until_the_release() {
        let handoff = Arc::new(Handoff::default());
        let holder = handoff.wait(&id(1));
        let other = handoff.wait(&id(1));
        assert!(!other.held_here());
        holder.took_lease();
        drop(holder);
        assert!(other.held_here(), "held until the release");
        handoff.released(&id(1));
        assert!(!other.held_here(), "the release ends the mark");
    }

    #[test]
    fn the_last_waiter_takes_its_queue_along() {
        let handoff = Arc::new(Handoff::default());
        let first = handoff.wait(&id(1));
        let second = handoff.wait(&id(1));
        assert_eq!(handoff.queues().len(), 1);
        drop(first);
        assert_eq!(handoff.queues().get(&id(1)).map(|q| q.waiters), Some(1));
        drop(second);
        assert!(handoff.queues().is_empty());
        assert_eq!(handoff.waiting.load(Ordering::SeqCst), 0);
        // Nobody waits: a release changes nothing, and no mark is kept.
        handoff.released(&id(1));
        assert!(handoff.queues().is_empty());
    }
}
