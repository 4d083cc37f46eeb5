//! The serialize policy in the request cycle, on the memory store (the
//! checks every store runs are in session-store-conformance's `locks.rs`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

use session_core::store::{LockAttempt, LockToken, SessionStore};
use session_core::{
    Concurrency, ConfigError, SessionConfig, SessionError, SessionId, SessionManager,
};
use session_store_memory::MemoryStore;

mod common;
use common::Counting;

fn serial<S: SessionStore + Clone>(store: &S, wait: Duration) -> SessionManager<u32> {
    let config = SessionConfig::testing()
        .store(store.clone())
        .concurrency(Concurrency::Serialize)
        .lock_wait(wait)
        .build()
        .expect("the memory store locks");
    SessionManager::new(config)
}

/// A first request that stores `n` in a new session: its cookie pair and
/// its id.
async fn stored(manager: &SessionManager<u32>, n: u32) -> (String, SessionId) {
    let fresh = manager.start_request();
    fresh.load(None).await.unwrap().update(|v| *v = n);
    let cookie = manager.finish_request(&fresh, 200).await.unwrap().unwrap();
    (cookie.pair(), fresh.loaded().unwrap().id())
}

#[test]
fn the_lease_must_not_be_zero() {
    let refused = SessionConfig::testing()
        .store(MemoryStore::new())
        .concurrency(Concurrency::Serialize)
        .lock_lease(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        matches!(refused, ConfigError::ZeroTimeout("lock lease")),
        "{refused:?}"
    );
    // Other policies never use the lease: not checked.
    let other = SessionConfig::testing()
        .store(MemoryStore::new())
        .lock_lease(Duration::ZERO)
        .build();
    assert!(other.is_ok());
}

#[test]
fn the_defaults_are_a_few_seconds() {
    let config = SessionConfig::testing()
        .store(MemoryStore::new())
        .concurrency(Concurrency::Serialize)
        .build()
        .unwrap();
    assert_eq!(config.lock_wait(), session_core::DEFAULT_LOCK_WAIT);
    assert_eq!(config.lock_lease(), session_core::DEFAULT_LOCK_LEASE);
    assert!(config.lock_wait() < config.lock_lease());
}

/// A request with no cookie, or one that never loads, takes no lock; a
/// request whose cookie names no record gives its lock back at once.
#[tokio::test(flavor = "current_thread")]
async fn only_a_loaded_existing_session_is_locked() {
    let store = MemoryStore::new();
    let manager = serial(&store, Duration::ZERO);
    let (header, id) = stored(&manager, 1).await;

    // Never loaded: nothing held.
    let idle = manager.start_request();
    assert!(manager.finish_request(&idle, 200).await.unwrap().is_none());

    // Loaded and held until the commit: a second request cannot load.
    let first = manager.start_request();
    first.load([header.as_str()]).await.unwrap();
    let second = manager.start_request();
    let busy = second.load([header.as_str()]).await.unwrap_err();
    assert!(matches!(busy, SessionError::Busy { .. }), "{busy}");
    assert_eq!(busy.retry_after_header().as_deref(), Some("10"));
    manager.finish_request(&first, 200).await.unwrap();
    assert_eq!(*second.load([header.as_str()]).await.unwrap().data(), 1);
    manager.finish_request(&second, 200).await.unwrap();

    // A token with no record: a new session, and no lock left behind.
    let stranger = format!("{}={}", manager.config().cookie_name(), "A".repeat(43));
    let lost = manager.start_request();
    assert!(lost.load([stranger.as_str()]).await.unwrap().is_new());
    let locks = store.locks().unwrap();
    let probe = LockToken::random();
    let stranger_id = SessionId::from_token("A".repeat(43).as_str());
    assert!(matches!(
        locks
            .try_lock(&stranger_id, &probe, Duration::from_secs(60), None)
            .await
            .unwrap(),
        LockAttempt::Acquired(None)
    ));
    assert!(matches!(
        locks
            .try_lock(&id, &probe, Duration::from_secs(60), None)
            .await
            .unwrap(),
        LockAttempt::Acquired(Some(_))
    ));
}

/// A handler error (a 5xx, nothing saved) still gives the lock back.
#[tokio::test(flavor = "current_thread")]
async fn a_server_error_gives_the_lock_back() {
    let store = MemoryStore::new();
    let manager = serial(&store, Duration::ZERO);
    let (header, _) = stored(&manager, 1).await;
    let failing = manager.start_request();
    failing
        .load([header.as_str()])
        .await
        .unwrap()
        .update(|n| *n = 99);
    manager.finish_request(&failing, 500).await.unwrap();
    let next = manager.start_request();
    assert_eq!(*next.load([header.as_str()]).await.unwrap().data(), 1);
}

/// A read-only load neither waits for the holder nor blocks it.
#[tokio::test(flavor = "current_thread")]
async fn a_read_only_load_takes_no_lock() {
    let store = MemoryStore::new();
    let manager = serial(&store, Duration::ZERO);
    let (header, _) = stored(&manager, 3).await;
    let writer = manager.start_request();
    writer.load([header.as_str()]).await.unwrap();
    let reader = manager.start_request();
    assert_eq!(
        *reader
            .load_read_only([header.as_str()])
            .await
            .unwrap()
            .data(),
        3
    );
    manager.finish_request(&reader, 200).await.unwrap();
    // The writer still holds the lock: the reader's commit did not free it.
    let other = manager.start_request();
    assert!(other.load([header.as_str()]).await.is_err());
    manager.finish_request(&writer, 200).await.unwrap();
}

/// `n` requests that each add one to the session of `header`, holding its
/// lease for `hold` before the commit: when each committed.
fn increments(
    manager: &SessionManager<u32>,
    header: &str,
    n: usize,
    hold: Duration,
) -> Vec<tokio::task::JoinHandle<tokio::time::Instant>> {
    (0..n)
        .map(|_| {
            let (manager, header) = (manager.clone(), header.to_owned());
            tokio::spawn(async move {
                let request = manager.start_request();
                let session = request.load([header.as_str()]).await.unwrap();
                session.update(|n| *n += 1);
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                manager.finish_request(&request, 200).await.unwrap();
                tokio::time::Instant::now()
            })
        })
        .collect()
}

/// Five requests wait for a session's lease while a sixth holds it: when
/// the holder commits, the first waiter takes the lease at once, and each
/// commit hands it to the next, all within the holder's release instant
/// (the clock is tokio's paused one: only sleeps move it). Left to their
/// backoff (up to 100 ms, jittered), they would take it at scattered later
/// instants.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_release_hands_the_lease_to_a_waiter_of_this_process_at_once() {
    let manager = serial(&Counting::new(), Duration::from_secs(5));
    let (header, _) = stored(&manager, 0).await;

    let holder = manager.start_request();
    holder
        .load([header.as_str()])
        .await
        .unwrap()
        .update(|n| *n += 1);
    let waiters = increments(&manager, &header, 5, Duration::ZERO);
    // The waiters are refused once and sleep their backoff meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    manager.finish_request(&holder, 200).await.unwrap();
    let released = tokio::time::Instant::now();

    for waiter in waiters {
        let done = waiter.await.unwrap();
        assert!(
            done - released < Duration::from_millis(1),
            "a waiter took the lease {:?} after its release",
            done - released
        );
    }
    let last = manager.start_request();
    assert_eq!(*last.load([header.as_str()]).await.unwrap().data(), 6);
}

/// While a request of this process that waited holds the lease, the other
/// waiters of the session do not poll the store: each asks it once more
/// after the mark appears at most, then only the one woken at a release
/// asks, and takes the lease. Four requests that hold the session for
/// 300 ms each, behind a first holder (paused clock).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn waiters_behind_a_holder_of_this_process_do_not_poll_the_store() {
    let store = Counting::new();
    let manager = serial(&store, Duration::from_secs(5));
    let (header, _) = stored(&manager, 0).await;
    let hold = Duration::from_millis(300);

    let first = manager.start_request();
    first.load([header.as_str()]).await.unwrap();
    let waiters = increments(&manager, &header, 4, hold);
    tokio::time::sleep(hold).await;
    manager.finish_request(&first, 200).await.unwrap();
    // The first waiter holds now; by then every other one has woken from
    // its backoff (100 ms at most), asked once and seen the mark.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before = store.calls.get(&store.calls.lock);
    for waiter in waiters {
        waiter.await.unwrap();
    }
    // Three hand-offs: each a single attempt, which takes the lease.
    assert_eq!(store.calls.get(&store.calls.lock) - before, 3);
    let last = manager.start_request();
    assert_eq!(*last.load([header.as_str()]).await.unwrap().data(), 4);
}
