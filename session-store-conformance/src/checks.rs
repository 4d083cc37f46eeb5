//! The checks, one public async function each, named after what they hold.
//! Each gets a fresh fixture and may leave records behind: the fixture's
//! owner removes them (a key prefix, a table, a process).

use std::sync::Arc;
use std::time::Duration;

use session_core::time;
use session_core::{
    store::{Record, StoreError},
    Concurrency, SessionConfig, SessionId, SessionManager,
};

use crate::records::{expired, now_ms, record, Counter};
use crate::Fixture;

/// `create` never replaces a live record, and `save` never makes one.
pub async fn create_never_overwrites_and_save_never_creates(fx: &dyn Fixture) {
    let store = fx.store();
    let r = record(60_000);
    store.create(&r).await.unwrap();
    let mut again = r.clone();
    again.data = b"other".to_vec();
    assert!(matches!(
        store.create(&again).await,
        Err(StoreError::AlreadyExists)
    ));
    let kept = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(kept.data, b"data");
    let other = record(60_000);
    for expected in [None, Some(1)] {
        assert!(matches!(
            store.save(&other, expected).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(store.load(&other.id, None).await.unwrap().is_none());
    assert_eq!(store.count().await.unwrap(), 1);
}

/// Every field comes back as stored: large binary data, a non-ASCII owner,
/// the version and both expiries; an empty record too.
pub async fn records_round_trip_exactly(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = record(60_000);
    r.data = (0..=255u8).cycle().take(100_000).collect();
    r.owner = Some("Zoë ☃ 42".into());
    r.version = 7;
    r.absolute_expires_at = r.created_at + time::Duration::minutes(30);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id, None).await.unwrap(), Some(r.clone()));
    let mut empty = record(60_000);
    empty.data.clear();
    store.create(&empty).await.unwrap();
    assert_eq!(store.load(&empty.id, None).await.unwrap(), Some(empty));
}

/// A save with an expected version replaces only that version and reports
/// the conflict otherwise; a save without one always wins.
pub async fn versioned_save_refuses_stale_versions(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = record(60_000);
    store.create(&r).await.unwrap();
    r.version = 2;
    r.data = b"v2".to_vec();
    store.save(&r, Some(1)).await.unwrap();
    let mut stale = r.clone();
    stale.version = 3;
    stale.data = b"stale".to_vec();
    assert!(matches!(
        store.save(&stale, Some(1)).await,
        Err(StoreError::Conflict { expected: 1 })
    ));
    assert_eq!(store.load(&r.id, None).await.unwrap().unwrap().data, b"v2");
    // An impossible expected version is a conflict too, not an error.
    assert!(matches!(
        store.save(&stale, Some(u64::MAX)).await,
        Err(StoreError::Conflict { .. })
    ));
    stale.data = b"forced".to_vec();
    store.save(&stale, None).await.unwrap();
    let loaded = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.data), (3, b"forced".to_vec()));
}

/// A load with a touch moves the idle expiry, stores it, and never past the
/// absolute expiry; an unknown id is simply absent.
pub async fn load_with_touch_moves_the_idle_expiry_capped_at_absolute(fx: &dyn Fixture) {
    let store = fx.store();
    let r = record(60_000);
    store.create(&r).await.unwrap();
    let later = now_ms() + time::Duration::minutes(10);
    let loaded = store.load(&r.id, Some(later)).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, later);
    assert_eq!((loaded.version, &loaded.data), (r.version, &r.data));
    let stored = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(stored.idle_expires_at, later, "the touch was stored");
    let far = now_ms() + time::Duration::hours(5);
    let capped = store.load(&r.id, Some(far)).await.unwrap().unwrap();
    assert_eq!(capped.idle_expires_at, r.absolute_expires_at);
    let unknown = store.load(&SessionId::random(), Some(far)).await.unwrap();
    assert!(unknown.is_none());
}

/// `touch` moves the idle expiry only (capped at the absolute expiry) and
/// answers whether the record exists.
pub async fn touch_writes_only_the_expiry(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = record(60_000);
    r.absolute_expires_at = r.created_at + time::Duration::minutes(2);
    store.create(&r).await.unwrap();
    let later = now_ms() + time::Duration::minutes(1);
    assert!(store.touch(&r.id, later).await.unwrap());
    // Touching twice to the same instant still finds the record.
    assert!(store.touch(&r.id, later).await.unwrap());
    let loaded = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, later);
    let mut unchanged = loaded;
    unchanged.idle_expires_at = r.idle_expires_at;
    assert_eq!(unchanged, r, "nothing but the idle expiry changed");
    let far = now_ms() + time::Duration::hours(3);
    assert!(store.touch(&r.id, far).await.unwrap());
    let loaded = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, r.absolute_expires_at, "capped");
    assert!(!store.touch(&SessionId::random(), later).await.unwrap());
}

/// Records past either expiry are absent to every method at once (before
/// any cleanup), a late save does not bring them back, and their id may be
/// taken by a new record.
pub async fn expired_records_are_invisible_and_replaceable(fx: &dyn Fixture) {
    let store = fx.store();
    let idle = record(150);
    store.create(&idle).await.unwrap();
    let mut absolute = record(60_000);
    absolute.absolute_expires_at = absolute.created_at + time::Duration::milliseconds(150);
    store.create(&absolute).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let far = now_ms() + time::Duration::hours(1);
    for id in [&idle.id, &absolute.id] {
        assert!(store.load(id, None).await.unwrap().is_none());
        assert!(store.load(id, Some(far)).await.unwrap().is_none());
        assert!(!store.touch(id, far).await.unwrap());
    }
    for expected in [None, Some(1)] {
        assert!(matches!(
            store.save(&idle, expected).await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(store.ids().await.unwrap().is_empty());
    let mut fresh = record(60_000);
    fresh.id = idle.id.clone();
    fresh.data = b"fresh".to_vec();
    store.create(&fresh).await.unwrap();
    let loaded = store.load(&idle.id, None).await.unwrap().unwrap();
    assert_eq!(loaded.data, b"fresh");
}

/// `delete` answers whether a live record existed; an expired one did not.
pub async fn delete_answers_whether_a_live_record_existed(fx: &dyn Fixture) {
    let store = fx.store();
    let r = record(60_000);
    store.create(&r).await.unwrap();
    assert!(store.delete(&r.id).await.unwrap());
    assert!(!store.delete(&r.id).await.unwrap());
    assert!(store.load(&r.id, None).await.unwrap().is_none());
    let gone = expired();
    store.create(&gone).await.unwrap();
    assert!(!store.delete(&gone.id).await.unwrap());
}

/// `clear` removes this store's records and nothing of its neighbour's.
pub async fn clear_empties_only_this_store(fx: &dyn Fixture) {
    let store = fx.store();
    let neighbour = fx.neighbour().await;
    for _ in 0..3 {
        store.create(&record(60_000)).await.unwrap();
    }
    let kept = record(60_000);
    neighbour.create(&kept).await.unwrap();
    store.clear().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(store.ids().await.unwrap().is_empty());
    assert_eq!(neighbour.count().await.unwrap(), 1);
    assert!(neighbour.load(&kept.id, None).await.unwrap().is_some());
}

/// `count` and `ids` see the live records, not the expired ones.
pub async fn count_and_listing(fx: &dyn Fixture) {
    let store = fx.store();
    let mut live: Vec<SessionId> = Vec::new();
    for _ in 0..5 {
        let r = record(60_000);
        store.create(&r).await.unwrap();
        live.push(r.id);
    }
    store.create(&expired()).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 5);
    let mut ids = store.ids().await.unwrap();
    ids.sort();
    live.sort();
    assert_eq!(ids, live);
}

/// Owners compare exactly (case included), ids are case-sensitive, an owner
/// change moves the session, and deleting by owner removes the live ones.
pub async fn owners_are_exact_and_ids_are_case_sensitive(fx: &dyn Fixture) {
    let store = fx.store();
    // Two ids that differ only in case are two sessions (base64url).
    let upper = SessionId::parse(&"A".repeat(43)).unwrap();
    let lower = SessionId::parse(&"a".repeat(43)).unwrap();
    let mut a = record(60_000);
    a.id = upper.clone();
    a.owner = Some("Alice".into());
    let mut b = record(60_000);
    b.id = lower.clone();
    b.owner = Some("alice".into());
    let mut c = record(60_000);
    c.owner = Some("Alice".into());
    let mut old = expired();
    old.owner = Some("Alice".into());
    for r in [&a, &b, &c, &old] {
        store.create(r).await.unwrap();
    }
    let mut alice = store.ids_by_owner("Alice").await.unwrap();
    alice.sort();
    let mut want = vec![upper, c.id.clone()];
    want.sort();
    assert_eq!(alice, want);
    assert_eq!(
        store.ids_by_owner("alice").await.unwrap(),
        vec![lower.clone()]
    );
    b.owner = Some("bob".into());
    b.version = 2;
    store.save(&b, Some(1)).await.unwrap();
    assert!(store.ids_by_owner("alice").await.unwrap().is_empty());
    assert_eq!(
        store.ids_by_owner("bob").await.unwrap(),
        vec![lower.clone()]
    );
    assert_eq!(store.delete_by_owner("Alice").await.unwrap(), 2);
    assert_eq!(store.delete_by_owner("Alice").await.unwrap(), 0);
    assert_eq!(store.ids().await.unwrap(), vec![lower]);
}

/// `delete_where` removes the live records its predicate selects, across
/// more than one page of a scan, and counts them.
pub async fn delete_where_removes_what_the_predicate_selects(fx: &dyn Fixture) {
    let store = fx.store();
    let mut marked = 0;
    for i in 0..620u32 {
        let mut r = record(60_000);
        r.data = if i % 3 == 0 {
            marked += 1;
            b"acme".to_vec()
        } else {
            b"initech".to_vec()
        };
        store.create(&r).await.unwrap();
    }
    let mut old = expired();
    old.data = b"acme".to_vec();
    store.create(&old).await.unwrap();
    let removed = store
        .delete_where(&|r: &Record| r.data == b"acme")
        .await
        .unwrap();
    assert_eq!(removed, marked);
    assert_eq!(store.count().await.unwrap(), 620 - marked);
}

/// Three requests through a [`SessionManager`] count to three in one
/// stored session.
pub async fn manager_round_trip(fx: &dyn Fixture) {
    let store = fx.store();
    let manager = manager(store.clone(), Concurrency::LastWriteWins);
    assert_eq!(counts(manager, 3).await, 3);
    assert_eq!(store.count().await.unwrap(), 1);
}

/// `requests` increments by one new user, each request carrying the cookie
/// the one before got; answers the count the session then holds.
async fn counts(manager: SessionManager<Counter>, requests: u32) -> u64 {
    let mut cookie: Option<String> = None;
    for _ in 0..requests {
        let lazy = manager.start_request();
        let session = lazy.load(cookie.as_deref()).await.unwrap();
        session.update(|c| c.n += 1);
        let set_cookie = manager.finish_request(&lazy, 200).await.unwrap();
        cookie = Some(set_cookie.expect("a cookie").pair());
    }
    let lazy = manager.start_request();
    let session = lazy.load(cookie.as_deref()).await.unwrap();
    let n = session.data().n;
    n
}

/// Many users at once, each on a session of their own: every session
/// counts its own requests, and the store holds one record per user.
pub async fn many_sessions_at_once_keep_their_own_counts(fx: &dyn Fixture) {
    let store = fx.store();
    let manager = manager(store.clone(), Concurrency::LastWriteWins);
    let users: Vec<_> = (0..32)
        .map(|_| tokio::spawn(counts(manager.clone(), 20)))
        .collect();
    for user in users {
        assert_eq!(user.await.unwrap(), 20);
    }
    assert_eq!(store.count().await.unwrap(), 32);
}

/// Many requests at once on one session under [`Concurrency::Reject`]:
/// every acknowledged increment is in the store, and nothing more.
pub async fn reject_policy_loses_no_acknowledged_write(fx: &dyn Fixture) {
    let manager = manager(fx.store(), Concurrency::Reject);
    let first = manager.start_request();
    first.load(None).await.unwrap().update(|c| c.n = 0);
    let set_cookie = manager.finish_request(&first, 200).await.unwrap();
    let cookie = Arc::new(set_cookie.expect("a cookie").pair());
    let tasks: Vec<_> = (0..12)
        .map(|_| tokio::spawn(increments(manager.clone(), cookie.clone(), 25)))
        .collect();
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += task.await.unwrap();
    }
    let lazy = manager.start_request();
    let n = lazy.load(Some(cookie.as_str())).await.unwrap().data().n;
    assert_eq!(
        n, acknowledged,
        "every acknowledged increment, nothing more"
    );
    assert!(acknowledged > 0);
}

/// `requests` increments of the session behind `cookie`; answers how many
/// were acknowledged (the others must be `409 Conflict`).
async fn increments(manager: SessionManager<Counter>, cookie: Arc<String>, requests: u32) -> u64 {
    let mut acknowledged = 0;
    for _ in 0..requests {
        let lazy = manager.start_request();
        let session = lazy.load(Some(cookie.as_str())).await.unwrap();
        session.update(|c| c.n += 1);
        match manager.finish_request(&lazy, 200).await {
            Ok(_) => acknowledged += 1,
            Err(e) => assert_eq!(e.status_code(), 409, "{e}"),
        }
    }
    acknowledged
}

/// The same at the store level: tasks increment a counter with
/// compare-and-set saves and retry on conflict; the final value is the
/// number of successful saves.
pub async fn versioned_saves_serialise_increments(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = record(60_000);
    r.data = 0u64.to_be_bytes().to_vec();
    store.create(&r).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), r.id.clone());
            tokio::spawn(async move {
                let mut done = 0;
                while done < 20 {
                    let mut current = store.load(&id, None).await.unwrap().unwrap();
                    let n = u64::from_be_bytes(current.data[..8].try_into().unwrap());
                    let expected = current.version;
                    current.data = (n + 1).to_be_bytes().to_vec();
                    current.version += 1;
                    match store.save(&current, Some(expected)).await {
                        Ok(()) => done += 1,
                        Err(StoreError::Conflict { expected: e }) => assert_eq!(e, expected),
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let last = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(last.data[..8].try_into().unwrap()), 160);
    assert_eq!(last.version, 161);
}

fn manager(
    store: Arc<dyn session_core::store::SessionStore>,
    concurrency: Concurrency,
) -> SessionManager<Counter> {
    let config = SessionConfig::testing()
        .shared_store(store)
        .concurrency(concurrency)
        .build()
        .unwrap();
    SessionManager::new(config)
}

/// `rotate` moves a live record to its new id in one step: the new id holds
/// the new record, the old id holds nothing, the owner index follows, and a
/// stale expected version or a taken new id changes nothing.
pub async fn rotation_moves_the_record_atomically(fx: &dyn Fixture) {
    let store = fx.store();
    let mut old = record(60_000);
    old.owner = Some("rotating-owner".into());
    store.create(&old).await.unwrap();
    let mut moved = record(60_000);
    moved.created_at = old.created_at;
    moved.owner = old.owner.clone();
    moved.data = b"moved".to_vec();
    moved.version = 2;

    // A stale version: refused, nothing changes.
    assert!(matches!(
        store.rotate(&old.id, &moved, Some(7)).await,
        Err(StoreError::Conflict { expected: 7 })
    ));
    assert_eq!(store.load(&old.id, None).await.unwrap(), Some(old.clone()));
    assert!(store.load(&moved.id, None).await.unwrap().is_none());

    // A new id that is taken: refused, nothing changes.
    let taken = record(60_000);
    store.create(&taken).await.unwrap();
    let mut onto_taken = moved.clone();
    onto_taken.id = taken.id.clone();
    assert!(matches!(
        store.rotate(&old.id, &onto_taken, Some(1)).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(store.load(&old.id, None).await.unwrap(), Some(old.clone()));
    assert_eq!(store.load(&taken.id, None).await.unwrap(), Some(taken));

    // At the loaded version: moved.
    store.rotate(&old.id, &moved, Some(1)).await.unwrap();
    assert!(store.load(&old.id, None).await.unwrap().is_none());
    assert_eq!(
        store.load(&moved.id, None).await.unwrap(),
        Some(moved.clone())
    );
    assert_eq!(
        store.ids_by_owner("rotating-owner").await.unwrap(),
        vec![moved.id.clone()]
    );

    // Without an expected version (last write wins) any live version moves.
    let mut again = record(60_000);
    again.version = 9;
    store.rotate(&moved.id, &again, None).await.unwrap();
    assert!(store.load(&moved.id, None).await.unwrap().is_none());
    assert_eq!(store.load(&again.id, None).await.unwrap(), Some(again));
}

/// A rotation from a record that was deleted, or has expired, creates
/// nothing: a session logged out meanwhile is never resurrected under a new
/// id, whatever the concurrency policy.
pub async fn rotation_after_delete_creates_nothing(fx: &dyn Fixture) {
    let store = fx.store();
    let old = record(60_000);
    store.create(&old).await.unwrap();
    assert!(store.delete(&old.id).await.unwrap());
    let gone = store.count().await.unwrap();
    for expected in [None, Some(1)] {
        let target = record(60_000);
        assert!(matches!(
            store.rotate(&old.id, &target, expected).await,
            Err(StoreError::NotFound)
        ));
        assert!(store.load(&target.id, None).await.unwrap().is_none());
    }
    let dead = expired();
    store.create(&dead).await.unwrap();
    let target = record(60_000);
    assert!(matches!(
        store.rotate(&dead.id, &target, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.load(&target.id, None).await.unwrap().is_none());
    assert_eq!(store.count().await.unwrap(), gone);
}

/// Through the manager: a session deleted by another request (logout in
/// another tab, "log out everywhere") while this request rotated it is not
/// resurrected, and this response expires the cookie; under `Reject`, a
/// save that landed between this request's load and its rotation is
/// reported as a conflict, not overwritten.
pub async fn manager_rotation_never_resurrects_or_loses_a_save(fx: &dyn Fixture) {
    for concurrency in [Concurrency::LastWriteWins, Concurrency::Reject] {
        let config = SessionConfig::testing()
            .shared_store(fx.store())
            .concurrency(concurrency)
            .build()
            .unwrap();
        let manager = SessionManager::<Counter>::new(config);
        let first = manager.create();
        first.data_mut().n = 1;
        first.set_owner(Some("resurrection-owner"));
        let cookie = manager.commit(&first).await.unwrap().unwrap().pair();
        let value = cookie.split_once('=').unwrap().1;

        // Logged in on this request while another logged everyone out.
        let login = manager.load(Some(value)).await.unwrap();
        assert_eq!(
            manager.delete_by_owner("resurrection-owner").await.unwrap(),
            1
        );
        login.regenerate();
        let answer = manager.commit(&login).await.unwrap();
        assert!(
            answer.as_ref().is_none_or(|c| c.is_removal()),
            "{concurrency:?}: a cookie for a resurrected session: {answer:?}"
        );
        assert_eq!(manager.count().await.unwrap(), 0, "{concurrency:?}");
    }

    let config = SessionConfig::testing()
        .shared_store(fx.store())
        .concurrency(Concurrency::Reject)
        .build()
        .unwrap();
    let manager = SessionManager::<Counter>::new(config);
    let first = manager.create();
    first.data_mut().n = 1;
    let cookie = manager.commit(&first).await.unwrap().unwrap().pair();
    let value = cookie.split_once('=').unwrap().1;
    let rotating = manager.load(Some(value)).await.unwrap();
    let saving = manager.load(Some(value)).await.unwrap();
    saving.data_mut().n = 2;
    manager.commit(&saving).await.unwrap();
    rotating.regenerate();
    assert!(matches!(
        manager.commit(&rotating).await,
        Err(session_core::SessionError::Store(
            StoreError::Conflict { .. }
        ))
    ));
    assert_eq!(manager.get(&saving.id()).await.unwrap().data.n, 2);
}

/// A read-only request that loaded before another request rotated or
/// deleted the session answers no `Set-Cookie`: re-sending its old token
/// would overwrite the cookie the other response set (a login undone by a
/// parallel read). Its touch finds the record gone and writes nothing.
pub async fn a_read_that_raced_a_rotation_or_delete_sends_no_cookie(fx: &dyn Fixture) {
    // No refresh slack: the read refreshes, so its commit asks the store.
    let config = SessionConfig::testing()
        .shared_store(fx.store())
        .refresh_fraction(0.0)
        .build()
        .unwrap();
    let manager = SessionManager::<Counter>::new(config);
    for delete in [false, true] {
        let first = manager.create();
        first.data_mut().n = 1;
        let cookie = manager.commit(&first).await.unwrap().unwrap().pair();
        let value = cookie.split_once('=').unwrap().1;
        let changing = manager.load(Some(value)).await.unwrap();
        let reading = manager.load(Some(value)).await.unwrap();
        assert_eq!(reading.data().n, 1);
        if delete {
            changing.delete();
        } else {
            changing.regenerate();
        }
        manager.commit(&changing).await.unwrap();
        let answer = manager.commit(&reading).await.unwrap();
        assert!(answer.is_none(), "delete {delete}: {answer:?}");
        let expected = u64::from(!delete);
        assert_eq!(manager.count().await.unwrap(), expected, "delete {delete}");
        manager.clear().await.unwrap();
    }
}
