//! The behaviour suite on MariaDB/MySQL (one table per test in database
//! `test`), concurrency under the reject policy, and failure: an
//! unreachable server and a connection killed under the pool.
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg(feature = "mysql")]

mod common;

use std::time::{Duration, Instant};

use session_core::store::SessionStore;
use session_store_sql::sqlx::{self, AssertSqlSafe};
use session_store_sql::{SqlDialect, SqlPool, SqlStore};

behaviour_suite!(common::Fixture::mysql);

#[tokio::test]
async fn mariadb_scheme_and_unreachable_server() {
    let url = common::mysql_url().replacen("mysql://", "mariadb://", 1);
    let store = SqlStore::connect(&url).await.unwrap();
    assert_eq!(store.dialect(), SqlDialect::MySql);
    store.pool().close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = SqlStore::connect(&format!("mysql://root@127.0.0.1:{port}/test"))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    common::assert_refused(&err, "MySQL", &format!("127.0.0.1:{port}"));
}

#[tokio::test]
async fn the_pool_recovers_after_its_connection_is_killed() {
    let fx = common::Fixture::mysql().await;
    let store = fx.open(fx.builder().max_connections(1)).await;
    let r = common::record(60_000);
    store.create(&r).await.unwrap();
    let SqlPool::MySql(pool) = store.pool() else {
        unreachable!()
    };
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(pool)
        .await
        .unwrap();
    let SqlPool::MySql(admin) = fx.admin() else {
        unreachable!()
    };
    sqlx::query(AssertSqlSafe(format!("KILL {id}")))
        .execute(admin)
        .await
        .unwrap();
    assert_eq!(store.load(&r.id, None).await.unwrap(), Some(r.clone()));
    let now: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_ne!(now, id, "a fresh connection");
}
