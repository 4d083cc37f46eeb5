//! What only the memory store does: sweeping expired records and capacity
//! limits. The contract it shares with the other stores is checked in
//! `conformance.rs`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

use session_core::store::{Record, SessionStore, StoreError};
use session_core::time::{self, OffsetDateTime};
use session_store_conformance::record;
use session_store_scratch::{MemoryStore, Overflow};

#[tokio::test]
async fn sweep_removes_only_what_expired() {
    let store = MemoryStore::builder().no_cleanup().build();
    let short: Vec<Record> = (0..50).map(|_| record(50)).collect();
    let long: Vec<Record> = (0..50).map(|_| record(60_000)).collect();
    for r in short.iter().chain(&long) {
        store.create(r).await.unwrap();
    }
    // one short-lived record gets touched far into the future: it must stay
    let rescued = &short[0];
    store
        .touch(
            &rescued.id,
            OffsetDateTime::now_utc() + time::Duration::minutes(10),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.remove_expired(), 49);
    assert_eq!(store.len(), 51);
    assert!(store.load(&rescued.id, None).await.unwrap().is_some());
}

#[tokio::test]
async fn background_sweeper_runs_and_stops_with_the_store() {
    let store = MemoryStore::builder()
        .cleanup_every(Duration::from_millis(100))
        .build();
    for _ in 0..10 {
        store.create(&record(10)).await.unwrap();
    }
    // the index is kept per second: wait past the next second boundary
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(store.len(), 0, "the sweeper removed expired records");
    let weak = store.downgrade();
    drop(store);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        weak.upgrade().is_none(),
        "the sweeper holds no strong reference"
    );
}

#[tokio::test]
async fn capacity_refuses_new_sessions() {
    let store = MemoryStore::builder()
        .no_cleanup()
        .capacity(3, Overflow::Refuse)
        .build();
    for _ in 0..3 {
        store.create(&record(60_000)).await.unwrap();
    }
    let err = store.create(&record(60_000)).await.unwrap_err();
    assert!(matches!(err, StoreError::CapacityExceeded { capacity: 3 }));
    assert!(err.is_unavailable());
    assert_eq!(store.len(), 3);
}

#[tokio::test]
async fn capacity_evicts_the_session_closest_to_expiry() {
    let store = MemoryStore::builder()
        .no_cleanup()
        .capacity(2, Overflow::EvictSoonestExpiring)
        .build();
    let soon = record(5_000);
    let later = record(60_000);
    store.create(&later).await.unwrap();
    store.create(&soon).await.unwrap();
    let newest = record(30_000);
    store.create(&newest).await.unwrap();
    assert_eq!(store.len(), 2);
    assert!(
        store.load(&soon.id, None).await.unwrap().is_none(),
        "evicted"
    );
    assert!(store.load(&later.id, None).await.unwrap().is_some());
    assert!(store.load(&newest.id, None).await.unwrap().is_some());
}

/// A rotation needs no room: one record leaves as one arrives. A full
/// store rotates, and stays exactly as full.
#[tokio::test]
async fn rotation_in_a_full_store_neither_needs_nor_frees_room() {
    let store = MemoryStore::builder()
        .no_cleanup()
        .capacity(2, Overflow::Refuse)
        .build();
    let a = record(60_000);
    store.create(&a).await.unwrap();
    store.create(&record(60_000)).await.unwrap();
    let mut moved = record(60_000);
    moved.version = 2;
    store.rotate(&a.id, &moved, Some(1)).await.unwrap();
    assert_eq!(store.len(), 2);
    assert!(store.load(&a.id, None).await.unwrap().is_none());
    assert_eq!(store.load(&moved.id, None).await.unwrap(), Some(moved));
    let err = store.create(&record(60_000)).await.unwrap_err();
    assert!(matches!(err, StoreError::CapacityExceeded { capacity: 2 }));
}

/// Runs `op(i)` for `i` in `0..threads`, each on its own OS thread, all
/// released at once by a spinning start line (a sleeping barrier wakes its
/// waiters microseconds apart: longer than a memory store operation takes,
/// so they would hardly ever overlap). Answers the results in order.
fn race<T: Send>(threads: usize, op: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let ready = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (ready, op) = (&ready, &op);
                scope.spawn(move || {
                    ready.fetch_add(1, Ordering::AcqRel);
                    let mut spins = 0u32;
                    while ready.load(Ordering::Acquire) < threads {
                        // Spin while the others are on their way; yield if
                        // they wait for a core (a loaded machine).
                        spins += 1;
                        if spins < 10_000 {
                            std::hint::spin_loop();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                    op(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Many requests rotate one session at once (a double-submitted login):
/// exactly one wins, every other one finds the old id gone, and one record
/// is left. The load-create-delete fallback lets several win, each leaving
/// a live session behind.
#[test]
fn racing_rotations_of_one_session_have_exactly_one_winner() {
    let rt = runtime();
    let store = MemoryStore::builder().no_cleanup().build();
    for round in 0..400 {
        let old = record(60_000);
        rt.block_on(store.create(&old)).unwrap();
        let results = race(3, |_| {
            let mut next = record(60_000);
            next.version = 2;
            let result = rt.handle().block_on(store.rotate(&old.id, &next, Some(1)));
            (next.id, result)
        });
        let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, result) in &results {
            assert!(
                matches!(result, Ok(()) | Err(StoreError::NotFound)),
                "round {round}: {result:?}"
            );
        }
        assert_eq!(store.len(), 1, "round {round}");
        assert!(rt
            .block_on(store.load(&winners[0].0, None))
            .unwrap()
            .is_some());
        rt.block_on(store.clear()).unwrap();
    }
}

/// A rotation racing a delete of the same session (a login in one tab, a
/// logout in another): either the delete removed the old record and the
/// rotation created nothing, or the rotation moved it first and the delete
/// found nothing. Never both: that would resurrect a logged-out session.
#[test]
fn a_rotation_racing_a_delete_never_resurrects_the_session() {
    let rt = runtime();
    let store = MemoryStore::builder().no_cleanup().build();
    for round in 0..3000 {
        let old = record(60_000);
        rt.block_on(store.create(&old)).unwrap();
        let results = race(2, |i| {
            let handle = rt.handle();
            if i == 0 {
                handle
                    .block_on(store.rotate(&old.id, &record(60_000), None))
                    .is_ok()
            } else {
                handle.block_on(store.delete(&old.id)).unwrap()
            }
        });
        let (rotated, deleted) = (results[0], results[1]);
        assert!(
            rotated != deleted,
            "round {round}: rotated {rotated}, deleted {deleted}"
        );
        assert_eq!(store.len(), usize::from(rotated), "round {round}");
        rt.block_on(store.clear()).unwrap();
    }
}
