//! The near cache: coherence between two stores with their own connections
//! and tracking (two processes, as Redis sees them) on the shared Redis, and
//! flushes, restarts and round trips on a redis-server of the test's own.

mod common;

use common::{have, record, redis_url, unique_prefix, until, Monitor, Raw, RedisServer, Scratch};
use session_core::store::{Record, SessionStore};
use session_core::time::OffsetDateTime;
use session_core::{SessionConfig, SessionId, SessionManager};
use session_store_redis::{NearCache, NearCacheStats, RedisStore};
use std::time::{Duration, Instant};

async fn cached_store(url: &str, prefix: &str) -> RedisStore {
    common::near_cached_store(url, prefix).await
}

fn stats(store: &RedisStore) -> NearCacheStats {
    store.near_cache_stats().expect("the near cache is on")
}

/// Two stores on one prefix of the shared Redis, each with its own cache.
async fn two(test: &str) -> (RedisStore, RedisStore) {
    two_on(&redis_url(), &unique_prefix(test)).await
}

/// Two stores on `prefix` of the Redis at `url`, each with its own cache:
/// two processes, as Redis sees them.
async fn two_on(url: &str, prefix: &str) -> (RedisStore, RedisStore) {
    let a = cached_store(url, prefix).await;
    let b = cached_store(url, prefix).await;
    (a, b)
}

async fn data(store: &RedisStore, id: &SessionId) -> Option<Vec<u8>> {
    store.load(id, None).await.expect("load").map(|r| r.data)
}

/// Loads until a load is a hit. (The invalidation of the write that made
/// the session may arrive after the first load filled the entry and drop
/// it again: a late invalidation of an older change only costs a read.)
async fn cache_in(store: &RedisStore, id: &SessionId) {
    until("a load is a hit", || async {
        let before = stats(store).hits;
        assert!(data(store, id).await.is_some());
        stats(store).hits == before + 1
    })
    .await;
}

#[tokio::test]
async fn a_cached_session_is_served_without_redis_and_a_write_elsewhere_is_seen() {
    let (a, b) = two("near-save").await;
    let mut rec = record(60_000);
    a.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    rec.data = b"changed by a".to_vec();
    a.save(&rec, None).await.unwrap();
    let id = rec.id.clone();
    until("b sees a's save", || async {
        data(&b, &id).await.as_deref() == Some(&b"changed by a"[..])
    })
    .await;
    assert!(stats(&b).invalidations >= 1);
}

#[tokio::test]
async fn a_logout_elsewhere_is_a_logout_here() {
    let (a, b) = two("near-delete").await;
    let rec = record(60_000);
    a.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    assert!(a.delete(&rec.id).await.unwrap());
    until("b sees the delete", || async {
        data(&b, &rec.id).await.is_none()
    })
    .await;
    // And a touch from b's cache cannot keep it alive.
    assert!(!b.touch(&rec.id, OffsetDateTime::now_utc()).await.unwrap());
}

#[test]
fn a_touch_never_reports_alive_a_session_deleted_elsewhere() {
    // b runs on a runtime of its own, which runs b's tasks (its tracking
    // listener among them) only while b is asked something: a's delete has
    // returned, and its invalidation waits in b's socket, when b's touch
    // begins. The widest invalidation delay, every time. Whatever b's
    // tracking has delivered, its cached copy must not answer for the
    // session's existence: the request cycle would send the dead token
    // back, over the logout's removal cookie.
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let (ra, rb) = (runtime(), runtime());
    let prefix = unique_prefix("near-touch-deleted");
    let a = ra.block_on(cached_store(&redis_url(), &prefix));
    let b = rb.block_on(cached_store(&redis_url(), &prefix));
    for round in 0..5 {
        let rec = record(60_000);
        ra.block_on(a.create(&rec)).unwrap();
        rb.block_on(cache_in(&b, &rec.id));
        assert!(ra.block_on(a.delete(&rec.id)).unwrap());
        let touched = rb.block_on(b.touch(&rec.id, rec.idle_expires_at));
        assert!(
            !touched.unwrap(),
            "round {round}: the touch reported the deleted session alive"
        );
        let other = record(60_000);
        ra.block_on(a.create(&other)).unwrap();
        rb.block_on(cache_in(&b, &other.id));
        assert!(ra.block_on(a.delete(&other.id)).unwrap());
        let loaded = rb.block_on(b.load(&other.id, Some(other.idle_expires_at)));
        assert!(
            loaded.unwrap().is_none(),
            "round {round}: the touching load found the deleted session"
        );
        for id in [&rec.id, &other.id] {
            assert!(ra.block_on(data(&a, id)).is_none(), "nothing resurrected");
        }
    }
    rb.block_on(async move { drop(b) });
    ra.block_on(async move { drop(a) });
}

#[tokio::test]
async fn a_rotation_elsewhere_retires_the_old_id_here() {
    let (a, b) = two("near-rotate").await;
    let rec = record(60_000);
    a.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    let mut moved = rec.clone();
    moved.id = SessionId::random();
    a.rotate(&rec.id, &moved, None).await.unwrap();
    until("b sees the rotation", || async {
        data(&b, &rec.id).await.is_none()
    })
    .await;
    assert!(data(&b, &moved.id).await.is_some());
}

#[tokio::test]
async fn a_touch_elsewhere_drops_the_copy_here() {
    let (a, b) = two("near-touch").await;
    let rec = record(60_000);
    a.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    let later = rec.idle_expires_at + session_core::time::Duration::minutes(5);
    let invalidations = stats(&b).invalidations;
    // a has no copy of its own that could defer the touch: it goes out.
    assert!(a.touch(&rec.id, later).await.unwrap());
    until("the touch drops b's copy", || async {
        stats(&b).invalidations > invalidations
    })
    .await;
    let misses = stats(&b).misses;
    assert!(data(&b, &rec.id).await.is_some());
    assert_eq!(stats(&b).misses, misses + 1, "read again from Redis");
}

#[tokio::test]
async fn an_expired_session_is_not_served() {
    let (a, b) = two("near-expiry").await;
    let rec = record(400);
    a.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    until("the session expires for b", || async {
        data(&b, &rec.id).await.is_none()
    })
    .await;
}

#[tokio::test]
async fn writes_here_are_read_back_here_at_once() {
    let (a, _b) = two("near-own-writes").await;
    let mut rec = record(60_000);
    a.create(&rec).await.unwrap();
    cache_in(&a, &rec.id).await;
    for round in 0..20u8 {
        rec.data = vec![round];
        a.save(&rec, None).await.unwrap();
        assert_eq!(data(&a, &rec.id).await, Some(vec![round]), "no wait");
    }
    assert!(a.delete(&rec.id).await.unwrap());
    assert_eq!(data(&a, &rec.id).await, None);
}

#[tokio::test]
async fn a_write_by_another_client_in_a_burst_of_reads_is_seen() {
    // Reads on b race with a's saves: whichever order the reply and the
    // invalidation arrive in, b ends on the last value.
    let (a, b) = two("near-race").await;
    let mut rec = record(60_000);
    a.create(&rec).await.unwrap();
    for round in 0..50u8 {
        rec.data = vec![round];
        let (saved, _) = tokio::join!(a.save(&rec, None), data(&b, &rec.id));
        saved.unwrap();
        let id = rec.id.clone();
        until("b ends on the last save", || async {
            data(&b, &id).await == Some(vec![round])
        })
        .await;
    }
}

fn private() -> Option<Scratch> {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return None;
    }
    Some(Scratch::new("near-cache"))
}

/// A redis-server of the test's own with one cached store holding a
/// session, and a raw connection to the server. A test binds every field:
/// the server and its directory must live as long as the test.
struct Holding {
    raw: Raw,
    store: RedisStore,
    rec: Record,
    /// The store's flush count once the session is cached.
    flushes: u64,
    server: RedisServer,
    scratch: Scratch,
}

/// `None` (the test skips) without redis-server.
async fn holding() -> Option<Holding> {
    let scratch = private()?;
    let server = RedisServer::start(&scratch).await;
    let store = cached_store(&server.url(), "session:").await;
    let rec = record(60_000);
    store.create(&rec).await.expect("create");
    cache_in(&store, &rec.id).await;
    let flushes = stats(&store).flushes;
    let raw = Raw::connect(&server.address())
        .await
        .expect("the server is up");
    Some(Holding {
        raw,
        store,
        rec,
        flushes,
        server,
        scratch,
    })
}

#[tokio::test]
async fn flushdb_empties_the_cache() {
    let Some(Holding {
        mut raw,
        store: b,
        rec,
        flushes,
        server: _server,
        scratch: _scratch,
    }) = holding().await
    else {
        return;
    };
    raw.cmd(&["FLUSHDB"]).await.unwrap();
    until("the flush reaches b", || async {
        stats(&b).flushes > flushes
    })
    .await;
    assert_eq!(data(&b, &rec.id).await, None);
}

#[tokio::test]
async fn a_redis_restart_serves_nothing_stale() {
    let Some(scratch) = private() else { return };
    let mut server = RedisServer::start(&scratch).await;
    // Two processes, as Redis sees them, both holding the session.
    let (a, b) = two_on(&server.url(), "session:").await;
    let rec = record(60_000);
    b.create(&rec).await.unwrap();
    cache_in(&a, &rec.id).await;
    cache_in(&b, &rec.id).await;
    server.kill();
    until("both caches go off", || async {
        !stats(&a).enabled && !stats(&b).enabled
    })
    .await;
    assert_eq!(stats(&a).entries + stats(&b).entries, 0, "flushed");
    assert!(
        b.load(&rec.id, None).await.is_err(),
        "Redis is down: no cached answer"
    );
    server.restart().await;
    // Redis came back without the session (no persistence), and another
    // client writes the key with other data before b's tracking is back.
    let mut other = rec.clone();
    other.data = b"written after the restart".to_vec();
    let mut raw = Raw::connect(&server.address()).await.unwrap();
    let key = b.record_key(&rec.id);
    raw.cmd_bytes(&[b"SET", key.as_bytes(), &common::encode(&other)])
        .await
        .unwrap();
    until("b answers again", || async {
        b.load(&rec.id, None).await.is_ok()
    })
    .await;
    assert_eq!(
        data(&b, &rec.id).await.as_deref(),
        Some(&b"written after the restart"[..])
    );
    until("tracking is back", || async { stats(&b).enabled }).await;
    cache_in(&b, &rec.id).await;
    until("a's tracking is back", || async { stats(&a).enabled }).await;
    assert_eq!(
        data(&a, &rec.id).await.as_deref(),
        Some(&b"written after the restart"[..]),
        "nothing from before the restart is served in the other process either"
    );
}

#[tokio::test]
async fn a_lost_invalidation_connection_flushes_the_cache_and_tracking_comes_back() {
    let Some(Holding {
        mut raw,
        store: b,
        rec,
        flushes,
        server: _server,
        scratch: _scratch,
    }) = holding().await
    else {
        return;
    };
    // Redis stays up; only the connection that receives the invalidations
    // goes, so the next write's invalidation reaches nobody.
    raw.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .await
        .unwrap();
    let mut other = rec.clone();
    other.data = b"written while the invalidations were lost".to_vec();
    let key = b.record_key(&rec.id);
    raw.cmd_bytes(&[b"SET", key.as_bytes(), &common::encode(&other)])
        .await
        .unwrap();
    until("the loss is noticed", || async {
        stats(&b).flushes > flushes
    })
    .await;
    until("tracking is back", || async { stats(&b).enabled }).await;
    assert_eq!(
        data(&b, &rec.id).await.as_deref(),
        Some(&b"written while the invalidations were lost"[..]),
        "the copy from before the loss is never served after it"
    );
    cache_in(&b, &rec.id).await;
    // The new connections receive the invalidations again.
    let mut third = rec.clone();
    third.data = b"written once tracking was back".to_vec();
    raw.cmd_bytes(&[b"SET", key.as_bytes(), &common::encode(&third)])
        .await
        .unwrap();
    until("the write is seen", || async {
        data(&b, &rec.id).await.as_deref() == Some(&b"written once tracking was back"[..])
    })
    .await;
}

#[tokio::test]
async fn cached_loads_cost_no_command_and_every_touch_reaches_redis() {
    let Some(scratch) = private() else { return };
    let server = RedisServer::start(&scratch).await;
    let store = cached_store(&server.url(), "session:").await;
    let rec = record(3_600_000);
    store.create(&rec).await.unwrap();
    cache_in(&store, &rec.id).await;
    let mut monitor = Monitor::start(&server.address()).await;
    let (_, commands) = monitor
        .commands(async {
            for _ in 0..100 {
                assert!(data(&store, &rec.id).await.is_some());
            }
        })
        .await;
    assert_eq!(commands, Vec::<String>::new(), "100 loads, no command");
    // A touch the cache could have answered (it would not move the expiry
    // at all) is sent all the same, and drops the copy.
    let (touched, commands) = monitor
        .commands(store.touch(&rec.id, rec.idle_expires_at))
        .await;
    assert!(touched.unwrap());
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(
        commands[0].to_uppercase().contains("PEXPIREAT"),
        "{commands:?}"
    );
    assert_eq!(
        store.refresh_slack(),
        session_store_redis::DEFAULT_TOUCH_DEFERRAL,
        "what the store asks of the request cycle instead"
    );
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Visits {
    count: u64,
}

#[tokio::test]
async fn read_only_requests_on_a_hot_session_send_no_cookie_and_no_command() {
    let Some(scratch) = private() else { return };
    let server = RedisServer::start(&scratch).await;
    let store = cached_store(&server.url(), "session:").await;
    // A 20 s idle timeout: the configuration's own refresh slack is 200 ms
    // (1%), the cache's touch deferral 1 s (5%).
    let manager = SessionManager::<Visits>::new(
        SessionConfig::testing()
            .store(store.clone())
            .idle_timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    );
    let lazy = manager.start_request();
    lazy.load(None).await.unwrap().data_mut().count = 1;
    let cookie = manager
        .finish_request(&lazy, 200)
        .await
        .unwrap()
        .expect("the new session's cookie")
        .pair();
    let cookie = cookie.as_str();
    // One read-only request: answers whether it sent a Set-Cookie.
    let read = || async {
        let lazy = manager.start_request();
        let count = lazy.load(Some(cookie)).await.unwrap().data().count;
        assert_eq!(count, 1);
        manager.finish_request(&lazy, 200).await.unwrap().is_some()
    };
    until("a read is served from the cache", || async {
        let hits = stats(&store).hits;
        read().await;
        stats(&store).hits > hits
    })
    .await;
    let mut monitor = Monitor::start(&server.address()).await;
    let started = Instant::now();
    let ((requests, cookies), commands) = monitor
        .commands(async {
            let (mut requests, mut cookies) = (0, 0);
            while started.elapsed() < Duration::from_millis(500) {
                requests += 1;
                cookies += usize::from(read().await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (requests, cookies)
        })
        .await;
    assert!(requests > 10);
    assert_eq!(cookies, 0, "Set-Cookie on {cookies} of {requests} reads");
    // The cache's heartbeat (a PING on its two connections every 500 ms)
    // is the only traffic.
    let sent: Vec<String> = commands.into_iter().filter(|c| c != "PING").collect();
    assert_eq!(sent, Vec::<String>::new(), "no round trip either");
}

#[tokio::test]
async fn a_store_without_near_cache_reports_none() {
    let store = common::shared_store("near-off").await;
    assert!(store.near_cache_stats().is_none());
    let off = RedisStore::builder()
        .prefix(unique_prefix("near-zero"))
        .near_cache(0)
        .connect(&redis_url())
        .await
        .unwrap();
    assert!(off.near_cache_stats().is_none());
    let _ = NearCache::new(10).capacity();
}
