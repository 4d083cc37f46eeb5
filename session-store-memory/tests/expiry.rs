//! What `on_expired` hears from the memory store: its sweeper's removals
//! and a load that meets an expired record, each once, with the owner.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

use session_core::{ExpirySource, SessionConfig, SessionId, SessionManager};
use session_store_conformance::ExpiredRecorder;
use session_store_memory::MemoryStore;

/// A manager on `store` whose `on_expired` keeps what it hears, with a
/// 200 ms idle timeout.
fn manager(store: &MemoryStore) -> (SessionManager<u32>, ExpiredRecorder) {
    let heard = ExpiredRecorder::new();
    let config = SessionConfig::testing()
        .store(store.clone())
        .idle_timeout(Duration::from_millis(200))
        .on_expired(heard.hook())
        .build()
        .unwrap();
    (SessionManager::new(config), heard)
}

/// A committed session of `owner`; answers its id and cookie value.
async fn logged_in(manager: &SessionManager<u32>, owner: &str) -> (SessionId, String) {
    let session = manager.create();
    session.set_owner(Some(owner));
    let cookie = manager.commit(&session).await.unwrap().unwrap().pair();
    let value = cookie.split_once('=').unwrap().1.to_owned();
    (session.id(), value)
}

#[tokio::test]
async fn the_sweeper_reports_each_expired_session_once_with_its_owner() {
    let store = MemoryStore::builder()
        .cleanup_every(Duration::from_millis(100))
        .build();
    let (manager, heard) = manager(&store);
    let (id, cookie) = logged_in(&manager, "ada").await;
    for _ in 0..100 {
        if !heard.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More sweeps run meanwhile; none reports it again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.len(), 0);
    // Nor does a later request with the old cookie: the record is gone.
    let fresh = manager.load(Some(&cookie)).await.unwrap();
    assert_ne!(fresh.id(), id);
    assert_eq!(
        heard.heard_with_source(),
        [(id, Some("ada".to_owned()), Some(ExpirySource::Cleanup))]
    );
}

#[tokio::test]
async fn a_load_that_meets_an_expired_session_reports_it_and_the_cleanup_does_not() {
    let store = MemoryStore::builder().no_cleanup().build();
    let (manager, heard) = manager(&store);
    let (id, cookie) = logged_in(&manager, "ada").await;
    let (live, _) = logged_in(&manager, "bob").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let session = manager.load(Some(&cookie)).await.unwrap();
    assert_ne!(session.id(), id, "an expired session is never adopted");
    assert_eq!(
        heard.heard_with_source(),
        [(id.clone(), Some("ada".to_owned()), Some(ExpirySource::Load))]
    );
    // The load removed it; the cleanup finds only the other one.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(store.remove_expired(), 1);
    let heard = heard.heard_with_source();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(
        heard[1],
        (live, Some("bob".to_owned()), Some(ExpirySource::Cleanup))
    );
}

#[tokio::test]
async fn deleted_and_live_sessions_are_never_reported() {
    let store = MemoryStore::builder().no_cleanup().build();
    let (manager, heard) = manager(&store);
    let (gone, _) = logged_in(&manager, "ada").await;
    manager.delete(&gone).await.unwrap();
    let session = manager.create();
    manager.commit(&session).await.unwrap();
    assert_eq!(store.remove_expired(), 0);
    assert!(heard.is_empty());
}

#[tokio::test]
async fn every_configuration_on_the_store_hears_and_a_dropped_one_stops() {
    let store = MemoryStore::builder().no_cleanup().build();
    let (first, first_heard) = manager(&store);
    let (second, second_heard) = manager(&store);
    logged_in(&first, "ada").await;
    drop(second);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(store.remove_expired(), 1);
    assert_eq!(first_heard.len(), 1);
    assert!(second_heard.is_empty());
}

/// The sweeper's steps run on the runtime's blocking pool, not on the
/// worker that serves the requests (a request queued there would wait for
/// the step), and still inside the runtime, so that an `on_expired` callback
/// can spawn tasks.
#[tokio::test(flavor = "current_thread")]
async fn the_sweeper_removes_off_the_runtime_worker_and_inside_the_runtime() {
    let store = MemoryStore::builder()
        .cleanup_every(Duration::from_millis(100))
        .build();
    use std::sync::{Arc, Mutex};

    let heard: Arc<Mutex<Vec<(std::thread::ThreadId, bool)>>> = Arc::default();
    let seen = Arc::clone(&heard);
    let config = SessionConfig::testing()
        .store(store.clone())
        .idle_timeout(Duration::from_millis(200))
        .on_expired(move |_| {
            let in_runtime = tokio::runtime::Handle::try_current().is_ok();
            seen.lock()
                .unwrap()
                .push((std::thread::current().id(), in_runtime));
        })
        .build()
        .unwrap();
    let manager = SessionManager::new(config);
    logged_in(&manager, "ada").await;
    for _ in 0..100 {
        if !heard.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let heard = heard.lock().unwrap();
    let [(thread, in_runtime)] = heard[..] else {
        panic!("one report, not {heard:?}");
    };
    assert_ne!(
        thread,
        std::thread::current().id(),
        "not on the runtime's only worker"
    );
    assert!(in_runtime, "inside the runtime");
}
