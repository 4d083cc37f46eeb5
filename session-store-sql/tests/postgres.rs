//! The behaviour suite on PostgreSQL (one schema per test), concurrency
//! under the reject policy, the lock wake-ups (`LISTEN`/`NOTIFY`), and
//! failure: an unreachable server, an exhausted pool, a slow statement,
//! connections killed under the pool.
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg(feature = "postgres")]

mod common;

use std::time::{Duration, Instant};

use session_core::{
    store::{LockAttempt, LockToken, SessionStore, StoreError},
    SessionConfig, SessionId, SessionManager,
};
use session_store_sql::sqlx::{
    self,
    postgres::{PgListener, PgPoolOptions},
    AssertSqlSafe,
};
use session_store_sql::{SqlPool, SqlStore};

behaviour_suite!(common::Fixture::postgres);
session_store_conformance::wakeup_suite!(common::Twins::of(common::Fixture::postgres));

fn dead_url() -> String {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("postgres://postgres@127.0.0.1:{port}/test")
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_and_maps_to_503() {
    let started = Instant::now();
    let url = dead_url();
    let err = SqlStore::connect(&url).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The error names the server and the driver's reason, never the URL's
    // user.
    let server = url
        .trim_start_matches("postgres://postgres@")
        .trim_end_matches("/test");
    common::assert_refused(&err, "PostgreSQL", server);

    // A lazily connected application pool: the failure shows on first use.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(&dead_url())
        .unwrap();
    let store = SqlStore::postgres(pool);
    let started = Instant::now();
    let err = store.load(&common::record(1).id, None).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let manager = SessionManager::<session_store_conformance::Counter>::new(
        SessionConfig::testing().store(store).build().unwrap(),
    );
    let session = manager.create();
    session.data_mut().n = 1;
    let err = manager.commit(&session).await.unwrap_err();
    assert_eq!(err.status_code(), 503, "{err}");
}

#[tokio::test]
async fn an_exhausted_pool_is_a_timeout_and_recovers() {
    let fx = common::Fixture::postgres().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect(&fx.url)
        .await
        .unwrap();
    let store = fx.builder().build_with_pool(pool.clone()).unwrap();
    store.migrate().await.unwrap();
    let held = pool.acquire().await.unwrap();
    let started = Instant::now();
    let err = store.count().await.unwrap_err();
    assert!(
        matches!(err, StoreError::Timeout(t) if t == Duration::from_millis(300)),
        "{err}"
    );
    assert!(err.is_unavailable());
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(held);
    assert_eq!(store.count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_statement_stuck_on_a_lock_times_out_and_the_store_recovers() {
    let fx = common::Fixture::postgres().await;
    let store = fx
        .open(fx.builder().command_timeout(Duration::from_millis(300)))
        .await;
    let mut r = common::record(60_000);
    store.create(&r).await.unwrap();
    let SqlPool::Postgres(admin) = fx.admin() else {
        unreachable!()
    };
    let mut tx = admin.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "SELECT id FROM {} WHERE id = $1 FOR UPDATE",
        fx.qualified(&fx.table)
    )))
    .bind(r.id.as_str())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    r.version = 2;
    let started = Instant::now();
    let err = store.save(&r, Some(1)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Timeout(t) if t == Duration::from_millis(300)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    tx.rollback().await.unwrap();
    // The outcome of a timed-out write is unknown: the server finishes it
    // once the lock is gone, maybe after the read below. A client retries on
    // conflict; what matters is that the store works again.
    for attempt in 0.. {
        let current = store.load(&r.id, None).await.unwrap().unwrap();
        let mut next = current.clone();
        next.version = current.version + 1;
        match store.save(&next, Some(current.version)).await {
            Ok(()) => break,
            Err(StoreError::Conflict { .. }) if attempt < 5 => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn the_pool_recovers_after_its_connections_are_killed() {
    let fx = common::Fixture::postgres().await;
    let app = format!("sess_test_{}", common::suffix());
    let separator = if fx.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}application_name={app}", fx.url);
    let store = fx.builder().connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let r = common::record(60_000);
    store.create(&r).await.unwrap();

    let SqlPool::Postgres(admin) = fx.admin() else {
        unreachable!()
    };
    let backends = "SELECT pid FROM pg_stat_activity WHERE application_name = $1";
    let before: Vec<i32> = sqlx::query_scalar(backends)
        .bind(&app)
        .fetch_all(admin)
        .await
        .unwrap();
    assert!(!before.is_empty());
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&app)
    .fetch_all(admin)
    .await
    .unwrap();
    assert!(killed.iter().all(|k| *k));

    assert_eq!(store.load(&r.id, None).await.unwrap(), Some(r.clone()));
    assert!(store.delete(&r.id).await.unwrap());
    let after: Vec<i32> = sqlx::query_scalar(backends)
        .bind(&app)
        .fetch_all(admin)
        .await
        .unwrap();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "fresh connections"
    );
}

/// The token in the lease row of `id` on this test's table.
async fn lease_token(fx: &common::Fixture, id: &SessionId) -> String {
    let SqlPool::Postgres(admin) = fx.admin() else {
        unreachable!("a PostgreSQL fixture")
    };
    let table = fx.qualified(&format!("{}_locks", fx.table));
    let sql = format!("SELECT token FROM {table} WHERE id = $1");
    sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_one(admin)
        .await
        .unwrap()
}

/// Whether a release of `id` is announced on the lock wake-ups' channel
/// within `within` (the channel is the database's: other tests' releases
/// come by too, with their ids).
async fn released(listener: &mut PgListener, id: &SessionId, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(next) = tokio::time::timeout_at(deadline, listener.recv()).await {
        if next.unwrap().payload() == id.as_str() {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_lease_waited_on_by_another_process_is_marked_and_its_release_notifies() {
    let fx = common::Fixture::postgres().await;
    let (holder, waiter) = (fx.store().await, fx.store().await);
    let (holder, waiter) = (holder.locks().unwrap(), waiter.locks().unwrap());
    let mut listener = PgListener::connect(&fx.url).await.unwrap();
    listener
        .listen("typed_sessions_lease_released")
        .await
        .unwrap();
    let id = SessionId::random();
    let token = LockToken::random();
    let lease = Duration::from_secs(7);
    let unmarked = token.to_hex();
    let marked = format!("{unmarked}:w");
    let taken = holder.try_lock(&id, &token, lease, None).await.unwrap();
    assert!(matches!(taken, LockAttempt::Acquired(None)), "{taken:?}");
    assert_eq!(lease_token(&fx, &id).await, unmarked, "nobody waits");
    // A refusal to a token of the holder's process (the same first 8
    // bytes, as `LockToken::unique` makes them) marks nothing: that
    // process hands the lease on by itself.
    let mut same_process = *token.as_bytes();
    same_process[15] ^= 1;
    let same_process = LockToken::from_bytes(same_process);
    let refused = waiter.try_lock(&id, &same_process, lease, None).await;
    assert!(matches!(refused.unwrap(), LockAttempt::Held { .. }));
    assert_eq!(lease_token(&fx, &id).await, unmarked);
    // Another process's marks it, once, and learns the time left.
    for _ in 0..2 {
        let other = LockToken::random();
        let refused = waiter.try_lock(&id, &other, lease, None).await;
        let LockAttempt::Held { expires_in } = refused.unwrap() else {
            panic!("the lease is held");
        };
        assert!(expires_in > Duration::from_secs(5), "{expires_in:?}");
        assert_eq!(lease_token(&fx, &id).await, marked);
    }
    // The holder still holds it, marked: it renews it, and gives it back,
    // which announces the release; another token gives back nothing.
    assert!(holder.extend(&id, &token, lease).await.unwrap());
    assert_eq!(lease_token(&fx, &id).await, marked, "renewed with its mark");
    assert!(!holder.unlock(&id, &LockToken::random()).await.unwrap());
    let quiet = Duration::from_millis(300);
    assert!(!released(&mut listener, &id, quiet).await);
    assert!(holder.unlock(&id, &token).await.unwrap());
    assert!(released(&mut listener, &id, Duration::from_secs(5)).await);
    // A release nobody waited for announces nothing.
    let taken = holder.try_lock(&id, &token, lease, None).await.unwrap();
    assert!(matches!(taken, LockAttempt::Acquired(None)), "{taken:?}");
    assert!(holder.unlock(&id, &token).await.unwrap());
    assert!(!released(&mut listener, &id, quiet).await);
}

#[tokio::test]
async fn without_wake_ups_a_refusal_marks_nothing() {
    let fx = common::Fixture::postgres().await;
    let holder = fx.store().await;
    let waiter = fx.open(fx.builder().lock_wakeups(false)).await;
    let id = SessionId::random();
    let token = LockToken::random();
    let lease = Duration::from_secs(7);
    let locks = holder.locks().unwrap();
    let taken = locks.try_lock(&id, &token, lease, None).await.unwrap();
    assert!(matches!(taken, LockAttempt::Acquired(None)), "{taken:?}");
    let other = LockToken::random();
    let refused = waiter.locks().unwrap().try_lock(&id, &other, lease, None);
    assert!(matches!(refused.await.unwrap(), LockAttempt::Held { .. }));
    assert_eq!(lease_token(&fx, &id).await, token.to_hex());
}

#[tokio::test]
async fn a_lease_whose_holder_knows_no_mark_is_never_marked() {
    // A token as versions before the lock wake-ups made it (0 where tokens
    // now carry `LockToken::MARK_AWARE`): its holder compares the lease
    // with its token exactly, so marked, its release would be refused.
    let fx = common::Fixture::postgres().await;
    let (holder, waiter) = (fx.store().await, fx.store().await);
    let mut old = *LockToken::random().as_bytes();
    old[8] = 0;
    let old = LockToken::from_bytes(old);
    let (id, lease) = (SessionId::random(), Duration::from_secs(7));
    let locks = holder.locks().unwrap();
    let taken = locks.try_lock(&id, &old, lease, None).await.unwrap();
    assert!(matches!(taken, LockAttempt::Acquired(None)), "{taken:?}");
    let other = LockToken::random();
    let refused = waiter.locks().unwrap().try_lock(&id, &other, lease, None);
    assert!(matches!(refused.await.unwrap(), LockAttempt::Held { .. }));
    assert_eq!(lease_token(&fx, &id).await, old.to_hex());
}
