//! Behaviour of the memory store under concurrency, expiry, sweeping and
//! capacity limits.

use std::sync::Arc;
use std::time::Duration;

use session_core::time::{self, OffsetDateTime};
use session_core::{
    Concurrency, Record, SessionConfig, SessionId, SessionManager, SessionStore, StoreError,
};
use session_store_memory::{MemoryStore, Overflow};

fn record(idle_ms: i64) -> Record {
    let now = OffsetDateTime::now_utc();
    Record {
        id: SessionId::random(),
        data: b"data".to_vec(),
        created_at: now,
        idle_expires_at: now + time::Duration::milliseconds(idle_ms),
        absolute_expires_at: now + time::Duration::hours(1),
        version: 1,
        owner: None,
    }
}

#[tokio::test]
async fn create_never_overwrites_and_save_never_creates() {
    let store = MemoryStore::builder().no_sweeper().build();
    let r = record(60_000);
    store.create(&r).await.unwrap();
    assert!(matches!(
        store.create(&r).await,
        Err(StoreError::AlreadyExists)
    ));
    let other = record(60_000);
    assert!(matches!(
        store.save(&other, None).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn versioned_save_refuses_stale_versions() {
    let store = MemoryStore::builder().no_sweeper().build();
    let mut r = record(60_000);
    store.create(&r).await.unwrap();
    r.version = 2;
    store.save(&r, Some(1)).await.unwrap();
    r.version = 3;
    assert!(matches!(
        store.save(&r, Some(1)).await,
        Err(StoreError::Conflict { expected: 1 })
    ));
    store.save(&r, None).await.unwrap();
    assert_eq!(store.load(&r.id, None).await.unwrap().unwrap().version, 3);
}

#[tokio::test]
async fn expired_records_are_invisible_before_any_sweep() {
    let store = MemoryStore::builder().no_sweeper().build();
    let r = record(100);
    store.create(&r).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.load(&r.id, None).await.unwrap().is_none());
    assert!(store
        .load(
            &r.id,
            Some(OffsetDateTime::now_utc() + time::Duration::hours(1))
        )
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .touch(&r.id, OffsetDateTime::now_utc() + time::Duration::hours(1))
        .await
        .unwrap());
    assert!(matches!(
        store.save(&r, None).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.count().await.unwrap(), 0);
    // an expired id may be taken again by a new record
    store.create(&r).await.unwrap();
}

#[tokio::test]
async fn touch_never_passes_the_absolute_expiry() {
    let store = MemoryStore::builder().no_sweeper().build();
    let mut r = record(100);
    r.absolute_expires_at = r.created_at + time::Duration::milliseconds(300);
    store.create(&r).await.unwrap();
    let far = OffsetDateTime::now_utc() + time::Duration::hours(5);
    let loaded = store.load(&r.id, Some(far)).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, r.absolute_expires_at);
}

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

#[tokio::test]
async fn owner_index_follows_saves_and_deletes() {
    let store = MemoryStore::builder().no_sweeper().build();
    let mut a = record(60_000);
    a.owner = Some("alice".into());
    let mut b = record(60_000);
    b.owner = Some("alice".into());
    store.create(&a).await.unwrap();
    store.create(&b).await.unwrap();
    // b changes hands
    b.owner = Some("bob".into());
    b.version = 2;
    store.save(&b, None).await.unwrap();
    assert_eq!(
        store.ids_by_owner("alice").await.unwrap(),
        vec![a.id.clone()]
    );
    assert_eq!(store.delete_by_owner("alice").await.unwrap(), 1);
    assert_eq!(store.delete_by_owner("alice").await.unwrap(), 0);
    assert_eq!(store.ids_by_owner("bob").await.unwrap(), vec![b.id.clone()]);
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_many_sessions() {
    let store = MemoryStore::new();
    let m = SessionManager::<Counter>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
                let mut cookie: Option<String> = None;
                for _ in 0..50 {
                    let lazy = m.start_request();
                    lazy.load(cookie.as_deref())
                        .await
                        .unwrap()
                        .update(|c| c.n += 1);
                    let set = m.finish_request(&lazy, 200).await.unwrap().unwrap();
                    cookie = Some(set.pair());
                }
                let lazy = m.start_request();
                let n = lazy.load(cookie.as_deref()).await.unwrap().data().n;
                n
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 50);
    }
    assert_eq!(store.len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_one_session_lose_no_acknowledged_write() {
    let store = MemoryStore::new();
    let m = SessionManager::<Counter>::new(
        SessionConfig::testing()
            .store(store.clone())
            .concurrency(Concurrency::Reject)
            .build()
            .unwrap(),
    );
    let first = m.start_request();
    first.load(None).await.unwrap().update(|c| c.n = 0);
    let cookie = Arc::new(m.finish_request(&first, 200).await.unwrap().unwrap().pair());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (m, cookie) = (m.clone(), cookie.clone());
            tokio::spawn(async move {
                let mut acknowledged = 0u64;
                for _ in 0..40 {
                    let lazy = m.start_request();
                    lazy.load(Some(cookie.as_str()))
                        .await
                        .unwrap()
                        .update(|c| c.n += 1);
                    match m.finish_request(&lazy, 200).await {
                        Ok(_) => acknowledged += 1,
                        Err(e) => assert_eq!(e.status_code(), 409, "{e}"),
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = 0;
    for t in tasks {
        acknowledged += t.await.unwrap();
    }
    let lazy = m.start_request();
    let n = lazy.load(Some(cookie.as_str())).await.unwrap().data().n;
    assert_eq!(
        n, acknowledged,
        "every acknowledged increment is in the store, nothing more"
    );
    assert!(acknowledged > 0);
}
