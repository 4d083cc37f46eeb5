//! The near cache: coherence between two stores with their own connections
//! and tracking (two processes, as Redis sees them) on the shared Redis, and
//! flushes, restarts and round trips on a redis-server of the test's own.

mod common;

use common::{have, record, redis_url, unique_prefix, until, Monitor, Raw, RedisServer, Scratch};
use session_core::store::SessionStore;
use session_core::time::OffsetDateTime;
use session_core::SessionId;
use session_store_redis::{NearCache, NearCacheStats, RedisStore};

async fn cached_store(url: &str, prefix: &str) -> RedisStore {
    common::near_cached_store(url, prefix).await
}

fn stats(store: &RedisStore) -> NearCacheStats {
    store.near_cache_stats().expect("the near cache is on")
}

/// Two stores on one prefix of the shared Redis, each with its own cache.
async fn two(test: &str) -> (RedisStore, RedisStore) {
    let prefix = unique_prefix(test);
    let a = cached_store(&redis_url(), &prefix).await;
    let b = cached_store(&redis_url(), &prefix).await;
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

#[tokio::test]
async fn flushdb_empties_the_cache() {
    let Some(scratch) = private() else { return };
    let server = RedisServer::start(&scratch).await;
    let b = cached_store(&server.url(), "session:").await;
    let rec = record(60_000);
    b.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    let flushes = stats(&b).flushes;
    let mut raw = Raw::connect(&server.address()).await.unwrap();
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
    let b = cached_store(&server.url(), "session:").await;
    let rec = record(60_000);
    b.create(&rec).await.unwrap();
    cache_in(&b, &rec.id).await;
    server.kill();
    until("the cache goes off", || async { !stats(&b).enabled }).await;
    assert_eq!(stats(&b).entries, 0, "flushed");
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
}

#[tokio::test]
async fn a_hot_read_only_session_costs_no_round_trip_at_steady_state() {
    let Some(scratch) = private() else { return };
    let server = RedisServer::start(&scratch).await;
    let store = cached_store(&server.url(), "session:").await;
    let rec = record(3_600_000);
    store.create(&rec).await.unwrap();
    let idle = session_core::time::Duration::hours(1);
    // The request cycle of a read-only request: a load, then a touch.
    let request = || async {
        let found = store.load(&rec.id, None).await.unwrap().unwrap();
        assert!(store
            .touch(&rec.id, OffsetDateTime::now_utc() + idle)
            .await
            .unwrap());
        found
    };
    request().await; // warms: GET, then the touch (which drops the entry)
    request().await; // GET again, then a deferred touch
    let mut monitor = Monitor::start(&server.address()).await;
    let (_, commands) = monitor
        .commands(async {
            for _ in 0..100 {
                request().await;
            }
        })
        .await;
    assert_eq!(commands, Vec::<String>::new(), "100 requests, no command");
    assert!(stats(&store).deferred_touches >= 100);
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
