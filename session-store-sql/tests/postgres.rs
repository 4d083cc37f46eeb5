//! The behaviour suite on PostgreSQL (one schema per test), concurrency
//! under the reject policy, and failure: an unreachable server, an
//! exhausted pool, a slow statement, connections killed under the pool.
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg(feature = "postgres")]

mod common;

use std::time::{Duration, Instant};

use session_core::{
    store::{SessionStore, StoreError},
    SessionConfig, SessionManager,
};
use session_store_sql::sqlx::{self, postgres::PgPoolOptions, AssertSqlSafe};
use session_store_sql::{SqlPool, SqlStore};

behaviour_suite!(common::Fixture::postgres);

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
