//! The behaviour suite on an SQLite file in a temporary folder.
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg(feature = "sqlite")]

mod common;

use session_core::store::SessionStore;
use session_store_sql::{SqlDialect, SqlStore};

behaviour_suite!(common::Fixture::sqlite);

#[tokio::test]
async fn in_memory_database_survives_between_calls() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.dialect(), SqlDialect::Sqlite);
    store.migrate().await.unwrap();
    let r = common::record(60_000);
    store.create(&r).await.unwrap();
    // the pool keeps its one connection: the database is still there
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(store.load(&r.id, None).await.unwrap(), Some(r));
}

#[tokio::test]
async fn a_missing_table_is_an_error_not_a_panic() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    let err = store.load(&common::record(1).id, None).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}
