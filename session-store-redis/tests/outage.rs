//! Redis in trouble: killed and restarted, or frozen. Each test runs its own
//! redis-server on a free loopback port.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::time::{Duration, Instant};

use common::{have, record, Monitor, RedisServer, Scratch};
use futures_util::future::join_all;
use session_core::{
    store::{SessionStore, StoreError},
    SessionConfig, SessionError, SessionManager,
};
use session_store_redis::RedisStore;

const TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Visits {
    n: u32,
}

async fn setup(name: &str) -> Option<(Scratch, RedisServer, RedisStore, SessionManager<Visits>)> {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return None;
    }
    let scratch = Scratch::new(name);
    let server = RedisServer::start(&scratch).await;
    let store = RedisStore::builder()
        .command_timeout(TIMEOUT)
        .max_reconnect_delay(Duration::from_millis(100))
        .connect(&server.url())
        .await
        .unwrap();
    let manager = SessionManager::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    Some((scratch, server, store, manager))
}

/// One request that reads and bumps the session named by `cookie`.
async fn visit(
    manager: &SessionManager<Visits>,
    cookie: Option<&str>,
) -> Result<String, SessionError> {
    let lazy = manager.start_request();
    lazy.load(cookie).await?.update(|v| v.n += 1);
    let set = manager.finish_request(&lazy, 200).await?;
    Ok(set.map(|s| s.pair()).unwrap_or_default())
}

/// Polls until the store answers again, without rebuilding anything.
async fn recovers(store: &RedisStore, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if store.ping().await.is_ok() {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the store did not recover within {within:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_fails_requests_fast_and_the_store_recovers_by_itself() {
    let Some((_scratch, mut server, store, manager)) = setup("kill").await else {
        return;
    };
    let cookie = visit(&manager, None).await.unwrap();

    server.kill();
    // 64 requests at once while Redis is down: each fails with a 503, and
    // together they take about nothing: none waits for a reconnection.
    let started = Instant::now();
    let results = join_all((0..64).map(|_| visit(&manager, Some(cookie.as_str())))).await;
    let elapsed = started.elapsed();
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert_eq!(error.status_code(), 503, "{error}");
    }
    assert!(elapsed < TIMEOUT * 2, "requests piled up: {elapsed:?}");
    let direct = store.load(&record(1).id, None).await.unwrap_err();
    assert!(direct.is_unavailable(), "{direct:?}");
    assert!(store.count().await.unwrap_err().is_unavailable());

    server.restart().await;
    let took = recovers(&store, Duration::from_secs(3)).await;
    eprintln!("recovered {took:?} after the restart");

    // The restarted server is empty: the old cookie gets a fresh session.
    let mut monitor = Monitor::start(&server.address()).await;
    let (fresh, sent) = monitor
        .commands(visit(&manager, Some(cookie.as_str())))
        .await;
    let fresh = fresh.unwrap();
    assert_ne!(fresh, cookie);
    // The load touches unless this process touched the key less than a
    // second ago (before the kill), which depends on how fast the restart was.
    let load = &sent[..sent.len() - 1];
    assert!(
        load == ["GET", "PEXPIREAT"] || load == ["GET"],
        "load finds nothing: {sent:?}"
    );
    assert_eq!(sent.last().map(String::as_str), Some("SET"), "create");
    let (again, sent) = monitor
        .commands(visit(&manager, Some(fresh.as_str())))
        .await;
    again.unwrap();
    // Written a moment ago: the touch is negligible and skipped.
    assert_eq!(sent, ["GET", "SET"], "load, save");

    // It has no scripts cached either: the first use of a script sends it
    // in full once, and by its hash again from then on.
    let unknown = record(60_000);
    let later = session_core::time::OffsetDateTime::now_utc();
    let (touched, sent) = monitor.commands(store.touch(&unknown.id, later)).await;
    assert!(!touched.unwrap());
    assert_eq!(sent, ["EVALSHA", "EVAL"], "script sent once in full");
    let (touched, sent) = monitor.commands(store.touch(&unknown.id, later)).await;
    assert!(!touched.unwrap());
    assert_eq!(sent, ["EVALSHA"], "cached again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_within_the_timeout_and_the_store_recovers() {
    let Some((_scratch, server, store, manager)) = setup("freeze").await else {
        return;
    };
    let cookie = visit(&manager, None).await.unwrap();

    server.freeze();
    let started = Instant::now();
    let error = store.load(&record(1).id, None).await.unwrap_err();
    let first = started.elapsed();
    assert!(
        matches!(error, StoreError::Timeout(t) if t == TIMEOUT),
        "{error:?}"
    );
    assert!(first < TIMEOUT + Duration::from_millis(200), "{first:?}");

    // While it stays frozen, no request waits longer than the timeout.
    let mut last = Duration::ZERO;
    for _ in 0..6 {
        let started = Instant::now();
        let error = visit(&manager, Some(cookie.as_str())).await.unwrap_err();
        last = started.elapsed();
        assert_eq!(error.status_code(), 503, "{error}");
        assert!(last < TIMEOUT + Duration::from_millis(200), "{last:?}");
    }
    eprintln!("last request while frozen failed after {last:?}");

    // After twice the timeout without an answer the connection is declared
    // unresponsive and closed: from then on requests fail at once.
    tokio::time::sleep(TIMEOUT * 3).await;
    let started = Instant::now();
    let error = visit(&manager, Some(cookie.as_str())).await.unwrap_err();
    let fast = started.elapsed();
    eprintln!("after the unresponsive check: {error} in {fast:?}");
    assert_eq!(error.status_code(), 503);
    assert!(fast < Duration::from_millis(50), "{fast:?}");

    server.thaw();
    recovers(&store, Duration::from_secs(3)).await;
    let lazy = manager.start_request();
    let session = lazy.load(Some(cookie.as_str())).await.unwrap();
    assert!(!session.is_new(), "the session survived the freeze");
    assert!(session.data().n >= 1);
}

/// The clients connected to `server`, this inspection connection excluded.
async fn connected_clients(server: &RedisServer) -> usize {
    let mut raw = common::Raw::connect(&server.address()).await.unwrap();
    let list = raw.cmd(&["CLIENT", "LIST"]).await.unwrap().text();
    list.lines().count() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_store_closes_the_connections_it_opened() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("drop");
    let server = RedisServer::start(&scratch).await;
    let store = RedisStore::builder()
        .pool_size(3)
        .connect(&server.url())
        .await
        .unwrap();
    let clone = store.clone();
    assert_eq!(connected_clients(&server).await, 3);
    drop(store);
    assert_eq!(
        connected_clients(&server).await,
        3,
        "a clone still uses them"
    );
    drop(clone);
    for _ in 0..100 {
        if connected_clients(&server).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the connections stayed open");
}
