//! Round trips per request, counted with MONITOR on a redis-server of this
//! test (so no other client's commands mix in), while the real request cycle
//! of session-core drives the store.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use common::{have, Monitor, Raw, RedisServer, Scratch};
use session_core::{
    store::{SessionStore, StoreError},
    Concurrency, IdleRefresh, SessionConfig, SessionId, SessionManager,
};
use session_store_redis::RedisStore;

/// How many reads Redis needed for what `action` sent (`total_reads_processed`
/// of `INFO stats`, less the reads of the two `INFO` calls themselves): the
/// round trips, when nothing else talks to the server.
async fn round_trips(address: &str, action: impl std::future::Future) -> i64 {
    let mut raw = Raw::connect(address).await.expect("info connection");
    let before = reads_processed(&mut raw).await;
    action.await;
    let after = reads_processed(&mut raw).await;
    // Redis counts the read that finds a closed socket too: if this
    // connection were just dropped, that read could land in the next
    // measurement. QUIT makes the server close it now, and the EOF that
    // follows shows it has.
    quit(&mut raw).await;
    after - before - 1
}

async fn quit(raw: &mut Raw) {
    raw.cmd(&["QUIT"]).await.expect("QUIT");
    assert!(raw.line().await.is_err(), "the server closes after QUIT");
}

async fn reads_processed(raw: &mut Raw) -> i64 {
    let info = raw.cmd(&["INFO", "stats"]).await.expect("INFO").text();
    info.lines()
        .find_map(|l| l.strip_prefix("total_reads_processed:"))
        .and_then(|n| n.trim().parse::<i64>().ok())
        .expect("total_reads_processed")
}

/// A store with the default settings (the touch slack included: it never
/// applies to the request cycle's touch at commit, which must reach Redis).
async fn default_store(url: &str) -> RedisStore {
    RedisStore::connect(url).await.unwrap()
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Cart {
    items: Vec<String>,
}

/// A manager on `store` with a concurrency policy and a refresh mode, and
/// no refresh slack: every read refreshes, so each request's commands are
/// those of an exact sliding expiry (the slack is checked on its own below).
fn manager(
    store: &RedisStore,
    concurrency: Concurrency,
    refresh: IdleRefresh,
) -> SessionManager<Cart> {
    SessionManager::new(
        SessionConfig::testing()
            .store(store.clone())
            .concurrency(concurrency)
            .idle_refresh(refresh)
            .refresh_fraction(0.0)
            .build()
            .unwrap(),
    )
}

/// One request that adds `item` to the cart of `cookie` (a new session
/// without one); answers the `Set-Cookie` pair it got, if any.
async fn add(manager: &SessionManager<Cart>, cookie: Option<&str>, item: &str) -> Option<String> {
    let lazy = manager.start_request();
    let session = lazy.load(cookie).await.unwrap();
    session.data_mut().items.push(item.into());
    let set_cookie = manager.finish_request(&lazy, 200).await.unwrap();
    set_cookie.map(|c| c.pair())
}

/// One request that reads the cart of `cookie`; answers it and whether a
/// `Set-Cookie` went out.
async fn read(manager: &SessionManager<Cart>, cookie: &str) -> (Vec<String>, bool) {
    let lazy = manager.start_request();
    let items = lazy.load(Some(cookie)).await.unwrap().data().items.clone();
    let set_cookie = manager.finish_request(&lazy, 200).await.unwrap();
    (items, set_cookie.is_some())
}

#[tokio::test]
async fn each_kind_of_request_costs_what_the_design_promises() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("round-trips");
    let server = RedisServer::start(&scratch).await;
    let store = default_store(&server.url()).await;
    let manager = manager(&store, Concurrency::LastWriteWins, IdleRefresh::Always);
    let mut monitor = Monitor::start(&server.address()).await;

    // A request whose handler never asks for the session: nothing.
    let (_, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            assert!(manager.finish_request(&lazy, 200).await.unwrap().is_none());
        })
        .await;
    assert_eq!(sent, Vec::<String>::new(), "untouched request");

    // A new session that gets data: one create.
    let (cookie, sent) = monitor.commands(add(&manager, None, "tea")).await;
    let cookie = cookie.unwrap();
    assert_eq!(sent, ["SET"], "new session");

    // A read with idle refresh: the load is a lone `GET` (the process
    // remembers the session's expiry, well ahead), and the refresh is the
    // `PEXPIREAT` at commit (capped at the absolute expiry the store learnt
    // when it wrote the session), whose answer proves that the session
    // still exists before the cookie goes out again: two round trips.
    let ((items, again), sent) = monitor.commands(read(&manager, &cookie)).await;
    assert!(again, "the cookie's Max-Age goes out again");
    assert_eq!(items, ["tea"]);
    assert_eq!(
        sent,
        ["GET", "PEXPIREAT"],
        "read-only request with idle refresh"
    );
    let reads = round_trips(&server.address(), read(&manager, &cookie)).await;
    assert_eq!(reads, 2, "read-only request: load, then touch at commit");

    // A modification: load, save (the save sets the expiry: no touch).
    let (_, sent) = monitor.commands(add(&manager, Some(&cookie), "milk")).await;
    assert_eq!(sent, ["GET", "SET"], "modifying request");
    let reads = round_trips(&server.address(), add(&manager, Some(&cookie), "sugar")).await;
    assert_eq!(reads, 2, "modifying request: load, then save");

    // A token the store does not know: one load (`GET` and `PEXPIRETIME`
    // pipelined, one round trip), then a fresh session that is not written
    // because it holds nothing.
    let unknown = || async {
        let lazy = manager.start_request();
        let unknown = format!("{}={}", manager.config().cookie_name(), "A".repeat(43));
        let session = lazy.load(Some(unknown.as_str())).await.unwrap();
        assert!(session.is_new());
        assert!(manager.finish_request(&lazy, 200).await.unwrap().is_none());
    };
    let (_, sent) = monitor.commands(unknown()).await;
    assert_eq!(sent, ["GET", "PEXPIRETIME"], "unknown token");
    let reads = round_trips(&server.address(), unknown()).await;
    assert_eq!(reads, 1, "unknown token");

    // Rotation on login: load, then the rotate script (new record, owner
    // index entry, old record deleted, in one atomic step).
    let (rotated, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            let session = lazy.load(Some(cookie.as_str())).await.unwrap();
            session.regenerate();
            session.set_owner(Some("alice"));
            manager
                .finish_request(&lazy, 200)
                .await
                .unwrap()
                .unwrap()
                .pair()
        })
        .await;
    assert_eq!(sent, ["GET", "EVALSHA"], "rotation");
    assert_ne!(rotated, cookie);
    // Once more, counting Redis's reads (the session moves on again).
    let again = std::cell::RefCell::new(None);
    let reads = round_trips(&server.address(), async {
        let lazy = manager.start_request();
        lazy.load(Some(rotated.as_str()))
            .await
            .unwrap()
            .regenerate();
        let set_cookie = manager.finish_request(&lazy, 200).await.unwrap();
        *again.borrow_mut() = set_cookie.map(|c| c.pair());
    })
    .await;
    assert_eq!(reads, 2, "rotation: load, then the rotate script");
    let rotated = again.into_inner().expect("the rotated cookie");

    // A logged-in user's modification: the owner is unchanged, so the save
    // is a plain `SET ... XX GET` (the replaced value confirms the owner).
    let (_, sent) = monitor.commands(add(&manager, Some(&rotated), "jam")).await;
    assert_eq!(sent, ["GET", "SET"], "modifying a logged-in session");

    // Logout: load, delete.
    let (_, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            lazy.load(Some(rotated.as_str())).await.unwrap().delete();
            manager.finish_request(&lazy, 200).await.unwrap();
        })
        .await;
    assert_eq!(sent, ["GET", "UNLINK"], "logout");
    assert_eq!(store.count().await.unwrap(), 0, "nothing left behind");
}

#[tokio::test]
async fn other_processes_policies_and_refresh_modes_cost_what_they_promise() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("round-trips-more");
    let server = RedisServer::start(&scratch).await;
    let first = default_store(&server.url()).await;
    let writer = manager(&first, Concurrency::LastWriteWins, IdleRefresh::Always);
    let cookie = add(&writer, None, "tea").await.unwrap();
    let mut monitor = Monitor::start(&server.address()).await;

    // Another process (its own store) has not seen the session: its first
    // load asks for the key's expiry too (pipelined, one round trip), and
    // from then on it knows the session.
    let second = default_store(&server.url()).await;
    let reader = manager(&second, Concurrency::LastWriteWins, IdleRefresh::Always);
    let ((items, _), sent) = monitor.commands(read(&reader, &cookie)).await;
    assert_eq!(items, ["tea"]);
    assert_eq!(
        sent,
        ["GET", "PEXPIRETIME", "PEXPIREAT"],
        "first read in another process"
    );
    let (_, sent) = monitor.commands(read(&reader, &cookie)).await;
    assert_eq!(sent, ["GET", "PEXPIREAT"], "later reads there");

    // Without idle refresh on reads: a lone `GET`, one round trip, and no
    // cookie (the expiry this process last saw stands for the key's).
    let on_write = manager(&first, Concurrency::LastWriteWins, IdleRefresh::OnWrite);
    let (_, sent) = monitor.commands(read(&on_write, &cookie)).await;
    assert_eq!(sent, ["GET"], "read without refresh");
    let reads = round_trips(&server.address(), read(&on_write, &cookie)).await;
    assert_eq!(reads, 1, "read without refresh");

    // Under Reject the save checks the version in a script.
    let reject = manager(&first, Concurrency::Reject, IdleRefresh::Always);
    let (_, sent) = monitor.commands(add(&reject, Some(&cookie), "milk")).await;
    assert_eq!(sent, ["GET", "EVALSHA"], "modification under Reject");
}

#[tokio::test]
async fn the_touch_slack_spares_touching_loads_never_the_touch_at_commit() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("touch-slack");
    let server = RedisServer::start(&scratch).await;
    // Default slacks (1 s), capped at 1% of this 10 s idle timeout: 100 ms,
    // both the request cycle's and the store's.
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let manager = SessionManager::<Cart>::new(
        SessionConfig::testing()
            .store(store.clone())
            .idle_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    let cookie = add(&manager, None, "tea").await.unwrap();
    let id = SessionId::from_token(cookie.split_once('=').unwrap().1);
    let key = store.record_key(&id);
    let mut monitor = Monitor::start(&server.address()).await;
    let mut raw = Raw::connect(&server.address()).await.unwrap();
    let written = pexpire_time(&mut raw, &key).await;

    // Right after the write, within the request cycle's refresh slack: the
    // read is a lone GET and sends no cookie (nothing to refresh).
    let ((items, again), sent) = monitor.commands(read(&manager, &cookie)).await;
    assert_eq!(items, ["tea"]);
    assert!(!again, "no Set-Cookie within the refresh slack");
    assert_eq!(sent, ["GET"], "a read within the slack");

    // With no refresh slack, the touch at commit goes to Redis even within
    // the store's touch slack: its answer proves that the session exists
    // before the cookie goes out again.
    let exact = SessionManager::<Cart>::new(
        SessionConfig::testing()
            .store(store.clone())
            .idle_timeout(std::time::Duration::from_secs(10))
            .refresh_fraction(0.0)
            .build()
            .unwrap(),
    );
    let ((_, again), sent) = monitor.commands(read(&exact, &cookie)).await;
    assert!(again, "the cookie's Max-Age goes out again");
    assert_eq!(sent, ["GET", "PEXPIREAT"], "an exact refresh");

    // A touching load (`load(id, Some(_))`) within the slack of that touch:
    // its GET proves the session exists, and the touch is skipped.
    let in_ten = || {
        session_core::time::OffsetDateTime::now_utc() + session_core::time::Duration::seconds(10)
    };
    let touched = pexpire_time(&mut raw, &key).await;
    assert!(touched >= written, "{touched} vs {written}");
    let (loaded, sent) = monitor.commands(store.load(&id, Some(in_ten()))).await;
    assert!(loaded.unwrap().is_some());
    assert_eq!(sent, ["GET"], "a touching load within the slack");
    assert_eq!(
        pexpire_time(&mut raw, &key).await,
        touched,
        "expiry left alone"
    );

    // Past the slack: the touching load touches, and the expiry moves on.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let (_, sent) = monitor.commands(store.load(&id, Some(in_ten()))).await;
    assert_eq!(sent, ["GET", "PEXPIREAT"], "a touching load past the slack");
    let moved = pexpire_time(&mut raw, &key).await;
    assert!(moved >= touched + 150, "{moved} vs {touched}");

    // Without idle refresh on reads, a known session's load is a lone GET:
    // the expiry this process last set stands for the key's.
    let on_write = crate::manager(&store, Concurrency::LastWriteWins, IdleRefresh::OnWrite);
    let (session, sent) = monitor
        .commands(async {
            let lazy = on_write.start_request();
            let session = lazy.load(Some(cookie.as_str())).await.unwrap();
            assert!(on_write.finish_request(&lazy, 200).await.unwrap().is_none());
            session
        })
        .await;
    assert_eq!(sent, ["GET"], "a known session's read without refresh");
    assert_eq!(session.data().items, ["tea"]);
    let expires = session_core::store::Record::millis(session.expires_at());
    assert!(expires <= moved, "a lower bound: {expires} vs {moved}");
    assert!(expires >= moved - 5, "{expires} vs {moved}");

    // Deleted behind this process's back while a request that read the
    // session runs (with no refresh slack, so the commit touches), just
    // after this process's own touch (well within the store's slack): the touch at commit learns from Redis that the session is
    // gone, and the response sends no cookie.
    let (answer, sent) = monitor
        .commands(async {
            let lazy = exact.start_request();
            assert_eq!(
                lazy.load(Some(cookie.as_str())).await.unwrap().data().items,
                ["tea"]
            );
            assert_eq!(raw.cmd(&["DEL", &key]).await.unwrap().int(), 1);
            exact.finish_request(&lazy, 200).await.unwrap()
        })
        .await;
    assert!(
        answer.is_none(),
        "a cookie for a deleted session: {answer:?}"
    );
    assert_eq!(sent, ["GET", "DEL", "PEXPIREAT"], "the touch asks Redis");
    assert_eq!(raw.cmd(&["EXISTS", &key]).await.unwrap().int(), 0);
    // The process has forgotten the session: a later touch is the touch
    // script, which answers the same.
    let (alive, sent) = monitor.commands(store.touch(&id, in_ten())).await;
    assert!(!alive.unwrap(), "a touch of a deleted session");
    assert_eq!(sent, ["EVALSHA"]);
}

async fn pexpire_time(raw: &mut Raw, key: &str) -> i64 {
    raw.cmd(&["PEXPIRETIME", key]).await.unwrap().int()
}

#[tokio::test]
async fn a_rotation_is_one_script_in_one_round_trip() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("rotation");
    let server = RedisServer::start(&scratch).await;
    let store = default_store(&server.url()).await;
    let mut old = common::record(60_000);
    old.owner = Some("alice".into());
    store.create(&old).await.unwrap();
    let mut new = common::record(60_000);
    new.owner = old.owner.clone();
    new.version = 2;
    let mut monitor = Monitor::start(&server.address()).await;

    let (moved, sent) = monitor.commands(store.rotate(&old.id, &new, Some(1))).await;
    moved.unwrap();
    assert_eq!(sent, ["EVALSHA"], "a rotation is one script");
    assert!(store.load(&old.id, None).await.unwrap().is_none());
    assert_eq!(store.load(&new.id, None).await.unwrap(), Some(new.clone()));

    // One read by Redis: one round trip.
    let mut newer = common::record(60_000);
    newer.owner = new.owner.clone();
    let reads = round_trips(&server.address(), async {
        store.rotate(&new.id, &newer, None).await.unwrap();
    })
    .await;
    assert_eq!(reads, 1, "rotation");

    // The process knows the new id (a touch is a plain PEXPIREAT) and has
    // forgotten the old one (a read of it asks for the real expiry).
    let later =
        session_core::time::OffsetDateTime::now_utc() + session_core::time::Duration::minutes(2);
    let (touched, sent) = monitor.commands(store.touch(&newer.id, later)).await;
    assert!(touched.unwrap());
    assert_eq!(sent, ["PEXPIREAT"], "the new id is known");
    let (gone, sent) = monitor.commands(store.load(&new.id, None)).await;
    assert!(gone.unwrap().is_none());
    assert_eq!(sent, ["GET", "PEXPIRETIME"], "the old id is forgotten");

    // A refused rotation is one round trip too, and changes nothing.
    let (refused, sent) = monitor.commands(store.rotate(&new.id, &old, None)).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    assert_eq!(sent, ["EVALSHA"], "a refused rotation");
    assert_eq!(store.count().await.unwrap(), 1);
}

/// The store's half of a modifying request under the serialize policy, as
/// the request cycle runs it (take the lock and load, then save and release
/// in one call), against the same request under last-write-wins (load,
/// save): the lock rides on the load and the release on the save, so both
/// cost two round trips.
#[tokio::test]
async fn a_locked_modification_costs_the_round_trips_of_last_write_wins() {
    use session_core::store::{LockAttempt, LockToken};

    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("lock-round-trips");
    let server = RedisServer::start(&scratch).await;
    let store = default_store(&server.url()).await;
    let record = common::record(600_000);
    store.create(&record).await.unwrap();
    let locks = store.locks().expect("locks");
    let lease = std::time::Duration::from_secs(10);
    let modify = |loaded: session_core::store::Record| {
        let mut next = loaded;
        next.data.push(b'+');
        next.version += 1;
        next
    };
    let unlocked = || async {
        let loaded = store.load(&record.id, None).await.unwrap().unwrap();
        store.save(&modify(loaded), None).await.unwrap();
    };
    let locked = || async {
        let token = LockToken::random();
        let attempt = locks.try_lock(&record.id, &token, lease, None).await;
        let Ok(LockAttempt::Acquired(Some(loaded))) = attempt else {
            panic!("uncontended: {attempt:?}");
        };
        let version = loaded.version;
        let done = locks
            .save_and_unlock(&modify(loaded), Some(version), &token)
            .await;
        done.saved.unwrap();
        assert_eq!(done.released, Some(true));
    };
    let mut monitor = Monitor::start(&server.address()).await;

    let (_, sent) = monitor.commands(unlocked()).await;
    assert_eq!(sent, ["GET", "SET"], "last-write-wins");
    let (_, sent) = monitor.commands(locked()).await;
    assert_eq!(sent, ["SET", "GET", "EVALSHA"], "serialize");

    let plain = round_trips(&server.address(), unlocked()).await;
    let serialized = round_trips(&server.address(), locked()).await;
    assert_eq!(plain, 2, "last-write-wins: load, save");
    assert_eq!(
        serialized, plain,
        "serialize: lock with load, save with release"
    );

    // A first sight in this process (another process's store): the key's
    // expiry is asked in the same write, so it is one round trip still.
    let other = default_store(&server.url()).await;
    let token = LockToken::random();
    let attempt = round_trips(&server.address(), async {
        let answer = other
            .locks()
            .unwrap()
            .try_lock(&record.id, &token, lease, None);
        assert!(matches!(answer.await, Ok(LockAttempt::Acquired(Some(_)))));
    })
    .await;
    assert_eq!(attempt, 1, "try_lock is one round trip");
    // A held lock's answer asks the holder's lease after: the contended
    // path's one more round trip. With the lock wake-ups (the default) it
    // is the `mark_waiting` script, which also marks the lease as waited
    // on (the holder's token is of another process); without, `PTTL`.
    let waiter = LockToken::random();
    let without_wakeups = RedisStore::builder()
        .lock_wakeups(false)
        .connect(&server.url())
        .await
        .unwrap();
    // (The second store has never seen the session: its load asks the
    // expiry in the same write.)
    let with = ["SET", "GET", "EVALSHA"].as_slice();
    let without = ["SET", "GET", "PEXPIRETIME", "PTTL"].as_slice();
    for (store, expected) in [(&store, with), (&without_wakeups, without)] {
        let locks = store.locks().unwrap();
        let refused = round_trips(&server.address(), async {
            let held = locks.try_lock(&record.id, &waiter, lease, None).await;
            let Ok(LockAttempt::Held { expires_in }) = held else {
                panic!("held: {held:?}");
            };
            assert!(expires_in > std::time::Duration::ZERO && expires_in <= lease);
        })
        .await;
        assert_eq!(
            refused, 2,
            "a refused attempt: lock with load, then {expected:?}"
        );
        let (_, sent) = monitor
            .commands(locks.try_lock(&record.id, &waiter, lease, None))
            .await;
        assert_eq!(sent, expected, "a refused attempt");
    }
}

/// With every piece of metadata on and a remembered session, a read-only
/// request costs what it costs without them: "last seen" rides on the
/// idle-expiry touch, and the client address and user agent are written
/// only with a write the request makes anyway. Both managers run in one
/// test, against one server, on the same kind of session.
#[tokio::test]
async fn metadata_costs_a_read_only_request_no_round_trip() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("round-trips-metadata");
    let server = RedisServer::start(&scratch).await;
    let store = default_store(&server.url()).await;
    let plain = manager(&store, Concurrency::LastWriteWins, IdleRefresh::Always);
    let with_metadata = SessionManager::<Cart>::new(
        SessionConfig::testing()
            .store(store.clone())
            .idle_refresh(IdleRefresh::Always)
            .refresh_fraction(0.0)
            .metadata(session_core::Metadata::all())
            .build()
            .unwrap(),
    );
    let mut monitor = Monitor::start(&server.address()).await;
    let client = || {
        session_core::adapter::ClientInfo::new(Some("192.0.2.1".parse().unwrap()), Some("bench/1"))
    };
    let mut costs = Vec::new();
    for (name, manager) in [("plain", &plain), ("metadata", &with_metadata)] {
        // A login with remember-me: the metadata is written with it.
        let lazy = manager.start_request_with(client);
        let session = lazy.load(None).await.unwrap();
        session.data_mut().items.push("tea".into());
        session.remember(std::time::Duration::from_secs(7 * 24 * 3600));
        let cookie = manager
            .finish_request(&lazy, 200)
            .await
            .unwrap()
            .unwrap()
            .pair();

        let read_only = || async {
            let lazy = manager.start_request_with(client);
            assert_eq!(
                lazy.load(Some(cookie.as_str())).await.unwrap().data().items,
                ["tea"]
            );
            assert!(manager.finish_request(&lazy, 200).await.unwrap().is_some());
        };
        let (_, sent) = monitor.commands(read_only()).await;
        assert_eq!(sent, ["GET", "PEXPIREAT"], "{name}: read-only request");
        costs.push(round_trips(&server.address(), read_only()).await);
    }
    assert_eq!(
        costs,
        [2, 2],
        "round trips of a read-only request, plain and with metadata"
    );
}

/// Whole requests through the manager under `Serialize`, as an application
/// sees them: a modification costs the two round trips it costs under
/// last-write-wins (the lease taken with the load, released with the
/// save), a read through a read-write handle one more than the lone load
/// (the release), and a read-only handle takes no lease at all.
#[tokio::test]
async fn serialized_requests_cost_what_the_design_promises() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("round-trips-serialize");
    let server = RedisServer::start(&scratch).await;
    let store = default_store(&server.url()).await;
    let manager = manager(&store, Concurrency::Serialize, IdleRefresh::OnWrite);
    let mut monitor = Monitor::start(&server.address()).await;
    let cookie = add(&manager, None, "tea").await.unwrap();

    let (_, sent) = monitor.commands(add(&manager, Some(&cookie), "milk")).await;
    assert_eq!(sent, ["SET", "GET", "EVALSHA"], "modifying request");
    let trips = round_trips(&server.address(), add(&manager, Some(&cookie), "sugar")).await;
    assert_eq!(
        trips, 2,
        "modifying request: lock with load, save with release"
    );

    let ((items, _), sent) = monitor.commands(read(&manager, &cookie)).await;
    assert_eq!(items, ["tea", "milk", "sugar"]);
    assert_eq!(sent, ["SET", "GET", "EVALSHA"], "read through Session<T>");
    let trips = round_trips(&server.address(), read(&manager, &cookie)).await;
    assert_eq!(trips, 2, "locked read: lock with load, release");

    let value = cookie.split_once('=').unwrap().1;
    let read_only = || async {
        let session = manager.load_read_only(Some(value)).await.unwrap();
        assert_eq!(session.data().items.len(), 3);
        manager.commit(&session).await.unwrap();
    };
    let (_, sent) = monitor.commands(read_only()).await;
    assert_eq!(sent, ["GET"], "read-only handle: no lease");

    // Nothing is left locked: another request takes the lease at once.
    let lazy = manager.start_request();
    let started = std::time::Instant::now();
    lazy.load(Some(cookie.as_str())).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    manager.finish_request(&lazy, 200).await.unwrap();
}
