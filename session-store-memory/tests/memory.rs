//! What only the memory store does: sweeping expired records and capacity
//! limits. The contract it shares with the other stores is checked in
//! `conformance.rs`.

use std::time::Duration;

use session_core::time::{self, OffsetDateTime};
use session_core::{Record, SessionStore, StoreError};
use session_store_conformance::record;
use session_store_memory::{MemoryStore, Overflow};

#[tokio::test]
async fn sweep_removes_only_what_expired() {
    let store = MemoryStore::builder().no_sweeper().build();
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
    assert_eq!(store.sweep_expired(), 49);
    assert_eq!(store.len(), 51);
    assert!(store.load(&rescued.id, None).await.unwrap().is_some());
}

#[tokio::test]
async fn background_sweeper_runs_and_stops_with_the_store() {
    let store = MemoryStore::builder()
        .sweep_every(Duration::from_millis(100))
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
        .no_sweeper()
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
        .no_sweeper()
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
