//! The checks of session locks ([`SessionLocks`]) and of the serialize
//! policy built on them ([`Concurrency::Serialize`]).
//!
//! A store whose [`SessionStore::locks`] is `None` (it cannot serialize, and
//! a configuration asking for it is refused at build time) passes each of
//! these checks without running it.

use std::sync::Arc;
use std::time::Duration;

use session_core::store::{LockAttempt, LockToken, SessionLocks, SessionStore, StoreError};
use session_core::{Concurrency, SessionConfig, SessionError, SessionManager};

use crate::records::{record, Counter};
use crate::Fixture;

/// A lease for the checks that take one by hand: long enough never to end
/// while a check runs.
const LONG: Duration = Duration::from_secs(600);

/// A manager under `Serialize` that waits up to `wait` for a lock.
fn serial(store: Arc<dyn SessionStore>, wait: Duration) -> SessionManager<Counter> {
    let config = SessionConfig::testing()
        .shared_store(store)
        .concurrency(Concurrency::Serialize)
        .lock_wait(wait)
        .build()
        .expect("a store with locks builds under Serialize");
    SessionManager::new(config)
}

/// A committed session with `n = 1`: its cookie value (the token) and id.
async fn one_session(manager: &SessionManager<Counter>) -> (String, session_core::SessionId) {
    let session = manager.create();
    session.data_mut().n = 1;
    let cookie = manager.commit(&session).await.unwrap().expect("a cookie");
    let pair = cookie.pair();
    let value = pair.split_once('=').expect("name=value").1.to_owned();
    (value, session.id())
}

async fn acquired(
    locks: &dyn SessionLocks,
    id: &session_core::SessionId,
    token: &LockToken,
) -> bool {
    matches!(
        locks.try_lock(id, token, LONG, None).await.unwrap(),
        LockAttempt::Acquired(_)
    )
}

/// Many tasks incrementing one session through the manager under
/// `Serialize` end at the exact count, and none of them gets an error.
pub async fn serialize_policy_loses_no_increment(fx: &dyn Fixture) {
    let store = fx.store();
    if store.locks().is_none() {
        return;
    }
    let manager = serial(store, Duration::from_secs(60));
    let (value, id) = one_session(&manager).await;
    let header = Arc::new(format!("{}={value}", manager.config().cookie_name()));
    let (tasks, each) = (32, 4);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (manager, header) = (manager.clone(), Arc::clone(&header));
            tokio::spawn(async move {
                for _ in 0..each {
                    let lazy = manager.start_request();
                    let session = lazy.load([header.as_str()]).await.unwrap();
                    session.update(|c| c.n += 1);
                    manager.finish_request(&lazy, 200).await.unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(manager.get(&id).await.unwrap().data.n, 1 + tasks * each);
}

/// A holder that never gives its lease back (a crashed process) blocks the
/// session only until the lease ends: a waiter then takes over, and the
/// old holder's token no longer unlocks or extends anything.
pub async fn an_unreleased_lease_is_overtaken_after_it_ends(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let manager = serial(Arc::clone(&store), Duration::from_secs(30));
    let (value, id) = one_session(&manager).await;
    let crashed = LockToken::random();
    let lease = Duration::from_millis(500);
    assert!(matches!(
        locks.try_lock(&id, &crashed, lease, None).await.unwrap(),
        LockAttempt::Acquired(Some(_))
    ));
    match locks
        .try_lock(&id, &LockToken::random(), LONG, None)
        .await
        .unwrap()
    {
        LockAttempt::Held { expires_in } => assert!(expires_in <= lease, "{expires_in:?}"),
        other => panic!("a second holder while the first lease runs: {other:?}"),
    }
    let session = manager.load(Some(&value)).await.unwrap();
    assert_eq!(session.data().n, 1);
    session.update(|c| c.n += 1);
    manager.commit(&session).await.unwrap();
    assert!(!locks.extend(&id, &crashed, LONG).await.unwrap());
    assert!(!locks.unlock(&id, &crashed).await.unwrap());
    assert_eq!(manager.get(&id).await.unwrap().data.n, 2);
}

/// A request that cannot get the lock within `lock_wait` fails with
/// [`SessionError::Busy`] (`503` with a `Retry-After`), and loads once the
/// holder is done.
pub async fn a_waiter_that_times_out_gets_busy(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let manager = serial(Arc::clone(&store), Duration::from_millis(200));
    let (value, id) = one_session(&manager).await;
    let holder = LockToken::random();
    assert!(acquired(locks, &id, &holder).await);
    let error = manager.load(Some(&value)).await.unwrap_err();
    assert!(matches!(error, SessionError::Busy { .. }), "{error}");
    assert_eq!(error.status_code(), 503);
    assert!(error
        .retry_after()
        .is_some_and(|d| d >= Duration::from_secs(1)));
    assert!(locks.unlock(&id, &holder).await.unwrap());
    assert_eq!(manager.load(Some(&value)).await.unwrap().data().n, 1);
}

/// `unlock` and `extend` with a token that does not hold the lease answer
/// `false` and change nothing; the holder's own do what they say.
pub async fn unlock_and_extend_need_the_holders_token(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let id = record(60_000).id;
    let (holder, other) = (LockToken::random(), LockToken::random());
    assert!(acquired(locks, &id, &holder).await);
    assert!(!locks.unlock(&id, &other).await.unwrap());
    assert!(!locks.extend(&id, &other, LONG).await.unwrap());
    assert!(
        !acquired(locks, &id, &other).await,
        "a wrong token released the lock"
    );
    assert!(locks.extend(&id, &holder, LONG).await.unwrap());
    assert!(locks.unlock(&id, &holder).await.unwrap());
    assert!(!locks.unlock(&id, &holder).await.unwrap(), "released twice");
    assert!(acquired(locks, &id, &other).await);
    assert!(locks.unlock(&id, &other).await.unwrap());
}

/// The lock is independent of the record: `try_lock` loads the live
/// record in the same step (`None` for an id with no record, which may be
/// locked all the same), and an expired record is not loaded.
pub async fn try_lock_loads_the_live_record(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let live = record(60_000);
    store.create(&live).await.unwrap();
    let token = LockToken::random();
    match locks.try_lock(&live.id, &token, LONG, None).await.unwrap() {
        LockAttempt::Acquired(Some(loaded)) => assert_eq!(loaded, live),
        other => panic!("{other:?}"),
    }
    let missing = record(60_000).id;
    assert!(matches!(
        locks.try_lock(&missing, &token, LONG, None).await.unwrap(),
        LockAttempt::Acquired(None)
    ));
    assert!(locks.unlock(&live.id, &token).await.unwrap());
    assert!(locks.unlock(&missing, &token).await.unwrap());
}

/// `save_and_unlock` saves as `save` does (never creating a record) and
/// releases the lease in every case, but only the lease of its own token:
/// a missing record is `NotFound` yet frees the lock, and a token that no
/// longer holds the lease, saving from a stale version, is a `Conflict`
/// that writes nothing and leaves the other holder's lease alone. (Under a
/// held lease a store may skip the version check; the lease checks
/// `a_save_under_a_lease_that_ran_out_loses_no_update` and
/// `a_save_without_the_lease_does_not_land_under_it` hold it to losing no
/// update all the same.)
pub async fn save_and_unlock_saves_then_releases_only_its_own_lease(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let mut live = record(60_000);
    store.create(&live).await.unwrap();
    let (holder, other) = (LockToken::random(), LockToken::random());

    assert!(acquired(locks, &live.id, &holder).await);
    live.data = b"saved".to_vec();
    live.version += 1;
    let done = locks
        .save_and_unlock(&live, Some(live.version - 1), &holder)
        .await;
    done.saved.unwrap();
    assert_eq!(done.released, Some(true));
    assert_eq!(
        store.load(&live.id, None).await.unwrap(),
        Some(live.clone())
    );
    assert!(acquired(locks, &live.id, &other).await, "not released");

    // `other` holds it now; `holder`'s save still checks the version and
    // must not release `other`'s lease.
    let mut stale = live.clone();
    stale.data = b"stale".to_vec();
    let done = locks.save_and_unlock(&stale, Some(0), &holder).await;
    assert!(
        matches!(done.saved, Err(StoreError::Conflict { .. })),
        "{:?}",
        done.saved
    );
    assert_eq!(done.released, Some(false));
    assert!(
        !acquired(locks, &live.id, &holder).await,
        "released another's lease"
    );
    assert_eq!(
        store.load(&live.id, None).await.unwrap(),
        Some(live.clone())
    );

    // The holder's own save releases its lease whatever it answers: here
    // a stale version, which a store that checks versions refuses and one
    // that relies on the held lease (the lease stands for the check) saves.
    let done = locks.save_and_unlock(&stale, Some(0), &other).await;
    assert_eq!(done.released, Some(true));
    let stored = store.load(&live.id, None).await.unwrap();
    match done.saved {
        Err(StoreError::Conflict { .. }) => assert_eq!(stored, Some(live.clone())),
        Ok(()) => assert_eq!(stored, Some(stale.clone())),
        other => panic!("{other:?}"),
    }

    // A missing record: nothing created, the lease released.
    let missing = record(60_000);
    assert!(acquired(locks, &missing.id, &holder).await);
    let done = locks.save_and_unlock(&missing, None, &holder).await;
    assert!(
        matches!(done.saved, Err(StoreError::NotFound)),
        "{:?}",
        done.saved
    );
    assert_eq!(done.released, Some(true));
    assert_eq!(store.load(&missing.id, None).await.unwrap(), None);
    assert!(acquired(locks, &missing.id, &other).await, "not released");
    assert!(locks.unlock(&missing.id, &other).await.unwrap());
    assert!(acquired(locks, &live.id, &holder).await, "not released");
    assert!(locks.unlock(&live.id, &holder).await.unwrap());
}

/// Rotation and deletion under `Serialize`: the lock is keyed by the id
/// loaded and given back after the commit, so the old id is free after a
/// rotation and the session's id after a deletion; the data moves, the
/// deleted record is gone.
pub async fn rotation_and_delete_under_serialize(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let manager = serial(Arc::clone(&store), Duration::ZERO);
    let (value, old_id) = one_session(&manager).await;
    let login = manager.load(Some(&value)).await.unwrap();
    login.regenerate();
    let cookie = manager.commit(&login).await.unwrap().expect("a new cookie");
    let probe = LockToken::random();
    assert!(
        acquired(locks, &old_id, &probe).await,
        "the old id stays locked"
    );
    assert!(locks.unlock(&old_id, &probe).await.unwrap());
    assert!(store.load(&old_id, None).await.unwrap().is_none());

    let pair = cookie.pair();
    let new_value = pair.split_once('=').expect("name=value").1;
    let again = manager.load(Some(new_value)).await.unwrap();
    assert_eq!(again.data().n, 1);
    again.delete();
    let removal = manager.commit(&again).await.unwrap().expect("a removal");
    assert!(removal.is_removal());
    let new_id = again.id();
    assert!(store.load(&new_id, None).await.unwrap().is_none());
    assert!(
        acquired(locks, &new_id, &probe).await,
        "a deleted session stays locked"
    );
    assert!(locks.unlock(&new_id, &probe).await.unwrap());
}

/// The lease is given back when the commit fails (here: a session over its
/// size limit) and when the handle is dropped without a commit (a handler
/// that panicked, a client that went away); a read-only load takes none.
pub async fn a_failed_or_missing_commit_gives_the_lock_back(fx: &dyn Fixture) {
    let store = fx.store();
    let Some(locks) = store.locks() else { return };
    let config = SessionConfig::testing()
        .shared_store(Arc::clone(&store))
        .concurrency(Concurrency::Serialize)
        .lock_wait(Duration::ZERO)
        .max_session_bytes(64)
        .build()
        .unwrap();
    let manager = SessionManager::<Vec<String>>::new(config);
    let session = manager.create();
    session.data_mut().push("a".into());
    let cookie = manager.commit(&session).await.unwrap().expect("a cookie");
    let pair = cookie.pair();
    let value = pair.split_once('=').expect("name=value").1;
    let id = session.id();

    let big = manager.load(Some(value)).await.unwrap();
    big.data_mut().push("x".repeat(100));
    assert!(matches!(
        manager.commit(&big).await,
        Err(SessionError::SessionTooLarge { .. })
    ));
    // `lock_wait` is zero: this load fails unless the lock is free.
    let dropped = manager.load(Some(value)).await.unwrap();
    drop(dropped);
    // The drop gives the lease back from a spawned task: wait for it.
    let mut free = false;
    for _ in 0..200 {
        match locks
            .try_lock(&id, &LockToken::random(), Duration::from_millis(1), None)
            .await
        {
            Ok(LockAttempt::Acquired(_)) => {
                free = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(free, "a dropped handle kept the lock");
    tokio::time::sleep(Duration::from_millis(5)).await;

    let holder = LockToken::random();
    assert!(acquired(locks, &id, &holder).await);
    let read = manager.load_read_only(Some(value)).await.unwrap();
    assert_eq!(*read.data(), ["a"]);
    assert!(locks.unlock(&id, &holder).await.unwrap());
}
