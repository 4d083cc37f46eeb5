//! One behaviour suite for all three databases, and the fixtures that give
//! every test its own schema (PostgreSQL), table (MariaDB) or file (SQLite)
//! and remove it afterwards, even when the test fails.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::time::{self, OffsetDateTime};
use session_core::{
    Concurrency, Record, SessionConfig, SessionId, SessionManager, SessionStore, StoreError,
};
use session_store_sql::sqlx::{self, AssertSqlSafe};
use session_store_sql::{SqlDialect, SqlPool, SqlStore, SqlStoreBuilder};

pub(crate) fn postgres_url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub(crate) fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A short random lowercase suffix for names.
pub(crate) fn suffix() -> String {
    SessionId::random()
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A test's private corner of a database.
#[derive(Debug)]
pub(crate) struct Fixture {
    pub(crate) dialect: SqlDialect,
    pub(crate) url: String,
    /// The PostgreSQL schema of this test.
    pub(crate) schema: Option<String>,
    /// The table of the store under test.
    pub(crate) table: String,
    /// Every table made on MariaDB, to drop at the end.
    tables: Arc<Mutex<Vec<String>>>,
    /// The SQLite temporary folder.
    dir: Option<PathBuf>,
    /// For setup and for looking under the store (expired rows included).
    admin: SqlPool,
}

impl Fixture {
    #[cfg(feature = "postgres")]
    pub(crate) async fn postgres() -> Fixture {
        let url = postgres_url();
        let schema = format!("sess_test_{}", suffix());
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("PostgreSQL at POSTGRES_URL");
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&admin)
            .await
            .unwrap();
        Fixture::new(SqlDialect::Postgres, url, Some(schema), admin.into())
    }

    #[cfg(feature = "mysql")]
    pub(crate) async fn mysql() -> Fixture {
        let url = mysql_url();
        let admin = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("MariaDB at MYSQL_URL");
        Fixture::new(SqlDialect::MySql, url, None, admin.into())
    }

    #[cfg(feature = "sqlite")]
    pub(crate) async fn sqlite() -> Fixture {
        let dir = std::env::temp_dir().join(format!("sess-test-{}", suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("sessions.db").display());
        let admin = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let mut fixture = Fixture::new(SqlDialect::Sqlite, url, None, admin.into());
        fixture.dir = Some(dir);
        fixture
    }

    fn new(dialect: SqlDialect, url: String, schema: Option<String>, admin: SqlPool) -> Fixture {
        let table = format!("sess_test_{}", suffix());
        Fixture {
            dialect,
            url,
            schema,
            tables: Arc::new(Mutex::new(vec![table.clone()])),
            table,
            dir: None,
            admin,
        }
    }

    /// A builder on this test's table, without background cleanup.
    pub(crate) fn builder(&self) -> SqlStoreBuilder {
        self.builder_for(&self.table.clone())
    }

    /// A builder on another table of this test (dropped at the end too).
    pub(crate) fn builder_for(&self, table: &str) -> SqlStoreBuilder {
        let mut tables = self.tables.lock().unwrap();
        if !tables.iter().any(|t| t == table) {
            tables.push(table.to_owned());
        }
        let builder = SqlStore::builder()
            .table(table)
            .no_cleanup()
            .max_connections(4);
        match &self.schema {
            Some(schema) => builder.schema(schema),
            None => builder,
        }
    }

    /// A migrated store on this test's table.
    pub(crate) async fn store(&self) -> SqlStore {
        self.open(self.builder()).await
    }

    pub(crate) async fn open(&self, builder: SqlStoreBuilder) -> SqlStore {
        let store = builder.connect(&self.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    pub(crate) fn qualified(&self, table: &str) -> String {
        match (self.dialect, &self.schema) {
            (SqlDialect::MySql, _) => format!("`{table}`"),
            (_, Some(schema)) => format!("\"{schema}\".\"{table}\""),
            (_, None) => format!("\"{table}\""),
        }
    }

    /// Every row of this test's table, expired ones included.
    pub(crate) async fn raw_count(&self) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {}", self.qualified(&self.table));
        match &self.admin {
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
            #[cfg(feature = "mysql")]
            SqlPool::MySql(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
            #[allow(unreachable_patterns)]
            _ => unreachable!("SqlPool is non-exhaustive"),
        }
        .unwrap()
    }

    pub(crate) fn admin(&self) -> &SqlPool {
        &self.admin
    }
}

impl Drop for Fixture {
    // With SQLite alone there is no server to tear down.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql")),
        allow(unused_variables)
    )]
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let statements: Vec<String> = match (&self.schema, self.dialect) {
            (Some(schema), _) => vec![format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")],
            (None, _) => self
                .tables
                .lock()
                .unwrap()
                .iter()
                .map(|t| format!("DROP TABLE IF EXISTS `{t}`"))
                .collect(),
        };
        let (url, dialect) = (self.url.clone(), self.dialect);
        // Drop may run inside the test's runtime: tear down on a thread with
        // its own runtime and connection.
        let teardown = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                for sql in statements {
                    let result: Result<(), sqlx::Error> = match dialect {
                        #[cfg(feature = "postgres")]
                        SqlDialect::Postgres => {
                            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                                .await
                                .unwrap();
                            sqlx::raw_sql(AssertSqlSafe(sql))
                                .execute(&mut c)
                                .await
                                .map(|_| ())
                        }
                        #[cfg(feature = "mysql")]
                        SqlDialect::MySql => {
                            let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&url)
                                .await
                                .unwrap();
                            sqlx::raw_sql(AssertSqlSafe(sql))
                                .execute(&mut c)
                                .await
                                .map(|_| ())
                        }
                        _ => Ok(()),
                    };
                    if let Err(e) = result {
                        eprintln!("teardown failed: {e}");
                    }
                }
            });
        });
        let _ = teardown.join();
    }
}

/// Now, truncated to the milliseconds that the table keeps.
pub(crate) fn now_ms() -> OffsetDateTime {
    Record::from_millis(Record::millis(OffsetDateTime::now_utc()))
}

pub(crate) fn record(idle_ms: i64) -> Record {
    let now = now_ms();
    Record {
        id: SessionId::random(),
        data: b"data".to_vec(),
        created_at: now,
        idle_expires_at: now + time::Duration::milliseconds(idle_ms),
        absolute_expires_at: now + time::Duration::hours(1),
        version: 1,
        owner: None,
    }
}

/// A record that expired a second ago.
pub(crate) fn expired() -> Record {
    record(-1000)
}

/// The same suite of behaviour tests on one database's fixture.
#[macro_export]
macro_rules! behaviour_suite {
    ($fixture:path) => {
        $crate::behaviour_suite!(@tests $fixture;
            create_never_overwrites_and_save_never_creates,
            records_round_trip_exactly,
            versioned_save_refuses_stale_versions,
            load_with_touch_moves_the_idle_expiry_capped_at_absolute,
            touch_writes_only_the_expiry,
            expired_rows_are_invisible_and_replaceable,
            delete_answers_whether_a_live_row_existed,
            clear_empties_only_this_table,
            count_and_listing,
            owners_are_exact_and_ids_are_case_sensitive,
            delete_where_removes_what_the_predicate_selects,
            cleanup_runs_in_bounded_batches,
            background_cleanup_runs_and_stops_with_the_store,
            migrate_is_idempotent,
            manager_round_trip,
        );
    };
    (@tests $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $fixture().await;
                common::$name(&fixture).await;
            }
        )*
    };
}

pub(crate) async fn create_never_overwrites_and_save_never_creates(fx: &Fixture) {
    let store = fx.store().await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    let mut again = r.clone();
    again.data = b"other".to_vec();
    assert!(matches!(
        store.create(&again).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        store.load(&r.id, None).await.unwrap().unwrap().data,
        b"data"
    );
    let other = record(60_000);
    assert!(matches!(
        store.save(&other, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.save(&other, Some(1)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(fx.raw_count().await, 1);
}

pub(crate) async fn records_round_trip_exactly(fx: &Fixture) {
    let store = fx.store().await;
    let mut r = record(60_000);
    r.data = (0..=255u8).cycle().take(100_000).collect();
    r.owner = Some("Zoë ☃ 42".into());
    r.version = 7;
    r.absolute_expires_at = r.created_at + time::Duration::minutes(30);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id, None).await.unwrap(), Some(r.clone()));
    let mut no_owner = record(60_000);
    no_owner.data.clear();
    store.create(&no_owner).await.unwrap();
    assert_eq!(
        store.load(&no_owner.id, None).await.unwrap(),
        Some(no_owner)
    );
}

pub(crate) async fn versioned_save_refuses_stale_versions(fx: &Fixture) {
    let store = fx.store().await;
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
    // an impossible expected version is a conflict too, not an error
    assert!(matches!(
        store.save(&stale, Some(u64::MAX)).await,
        Err(StoreError::Conflict { .. })
    ));
    // last write wins ignores the version
    stale.data = b"forced".to_vec();
    store.save(&stale, None).await.unwrap();
    let loaded = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.data), (3, b"forced".to_vec()));
}

pub(crate) async fn load_with_touch_moves_the_idle_expiry_capped_at_absolute(fx: &Fixture) {
    let store = fx.store().await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    let later = now_ms() + time::Duration::minutes(10);
    let loaded = store.load(&r.id, Some(later)).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, later);
    assert_eq!((loaded.version, &loaded.data), (r.version, &r.data));
    assert_eq!(
        store
            .load(&r.id, None)
            .await
            .unwrap()
            .unwrap()
            .idle_expires_at,
        later,
        "the touch was stored"
    );
    let far = now_ms() + time::Duration::hours(5);
    let capped = store.load(&r.id, Some(far)).await.unwrap().unwrap();
    assert_eq!(capped.idle_expires_at, r.absolute_expires_at);
    assert!(store
        .load(&SessionId::random(), Some(far))
        .await
        .unwrap()
        .is_none());
}

pub(crate) async fn touch_writes_only_the_expiry(fx: &Fixture) {
    let store = fx.store().await;
    let mut r = record(60_000);
    r.absolute_expires_at = r.created_at + time::Duration::minutes(2);
    store.create(&r).await.unwrap();
    let later = now_ms() + time::Duration::minutes(1);
    assert!(store.touch(&r.id, later).await.unwrap());
    // touching twice to the same instant still finds the row
    assert!(store.touch(&r.id, later).await.unwrap());
    let loaded = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, later);
    assert_eq!(
        Record {
            idle_expires_at: r.idle_expires_at,
            ..loaded
        },
        r,
        "nothing but the idle expiry changed"
    );
    assert!(store
        .touch(&r.id, now_ms() + time::Duration::hours(3))
        .await
        .unwrap());
    let loaded = store.load(&r.id, None).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, r.absolute_expires_at, "capped");
    assert!(!store.touch(&SessionId::random(), later).await.unwrap());
}

pub(crate) async fn expired_rows_are_invisible_and_replaceable(fx: &Fixture) {
    let store = fx.store().await;
    let r = record(150);
    store.create(&r).await.unwrap();
    let mut hard = record(60_000);
    hard.absolute_expires_at = hard.created_at + time::Duration::milliseconds(150);
    store.create(&hard).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let far = now_ms() + time::Duration::hours(1);
    for id in [&r.id, &hard.id] {
        assert!(store.load(id, None).await.unwrap().is_none());
        assert!(store.load(id, Some(far)).await.unwrap().is_none());
        assert!(!store.touch(id, far).await.unwrap());
    }
    assert!(matches!(
        store.save(&r, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.save(&r, Some(1)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(store.ids().await.unwrap().is_empty());
    assert_eq!(fx.raw_count().await, 2, "still there until cleanup");
    // an expired id may be taken again by a new record
    let mut fresh = record(60_000);
    fresh.id = r.id.clone();
    fresh.data = b"fresh".to_vec();
    store.create(&fresh).await.unwrap();
    assert_eq!(
        store.load(&r.id, None).await.unwrap().unwrap().data,
        b"fresh"
    );
    assert_eq!(fx.raw_count().await, 2);
}

pub(crate) async fn delete_answers_whether_a_live_row_existed(fx: &Fixture) {
    let store = fx.store().await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    assert!(store.delete(&r.id).await.unwrap());
    assert!(!store.delete(&r.id).await.unwrap());
    assert!(store.load(&r.id, None).await.unwrap().is_none());
    let gone = expired();
    store.create(&gone).await.unwrap();
    assert!(!store.delete(&gone.id).await.unwrap());
}

pub(crate) async fn clear_empties_only_this_table(fx: &Fixture) {
    let store = fx.store().await;
    let neighbour_table = format!("{}_n", fx.table);
    let neighbour = fx.open(fx.builder_for(&neighbour_table)).await;
    for _ in 0..3 {
        store.create(&record(60_000)).await.unwrap();
    }
    let kept = record(60_000);
    neighbour.create(&kept).await.unwrap();
    store.clear().await.unwrap();
    assert_eq!(fx.raw_count().await, 0);
    assert_eq!(neighbour.count().await.unwrap(), 1);
    assert!(neighbour.load(&kept.id, None).await.unwrap().is_some());
}

pub(crate) async fn count_and_listing(fx: &Fixture) {
    let store = fx.store().await;
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

pub(crate) async fn owners_are_exact_and_ids_are_case_sensitive(fx: &Fixture) {
    let store = fx.store().await;
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
    let mut want = vec![upper.clone(), c.id.clone()];
    want.sort();
    assert_eq!(alice, want);
    assert_eq!(
        store.ids_by_owner("alice").await.unwrap(),
        vec![lower.clone()]
    );
    // b changes hands
    b.owner = Some("bob".into());
    b.version = 2;
    store.save(&b, Some(1)).await.unwrap();
    assert!(store.ids_by_owner("alice").await.unwrap().is_empty());
    assert_eq!(store.delete_by_owner("Alice").await.unwrap(), 2);
    assert_eq!(store.delete_by_owner("Alice").await.unwrap(), 0);
    assert_eq!(store.ids().await.unwrap(), vec![lower]);
}

pub(crate) async fn delete_where_removes_what_the_predicate_selects(fx: &Fixture) {
    let store = fx.store().await;
    // more than one scan page (500 rows)
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

pub(crate) async fn cleanup_runs_in_bounded_batches(fx: &Fixture) {
    let store = fx.open(fx.builder().cleanup_batch(5)).await;
    for _ in 0..12 {
        store.create(&expired()).await.unwrap();
    }
    let mut rescued = record(100);
    store.create(&rescued).await.unwrap();
    for _ in 0..3 {
        store.create(&record(60_000)).await.unwrap();
    }
    // touched far ahead before its idle expiry: it must survive
    rescued.idle_expires_at = now_ms() + time::Duration::minutes(10);
    assert!(store
        .touch(&rescued.id, rescued.idle_expires_at)
        .await
        .unwrap());
    assert_eq!(store.delete_expired_batch().await.unwrap(), 5);
    assert_eq!(fx.raw_count().await, 16 - 5);
    assert_eq!(store.delete_expired().await.unwrap(), 7);
    assert_eq!(store.delete_expired_batch().await.unwrap(), 0);
    assert_eq!(fx.raw_count().await, 4);
    assert!(store.load(&rescued.id, None).await.unwrap().is_some());
}

pub(crate) async fn background_cleanup_runs_and_stops_with_the_store(fx: &Fixture) {
    let store = fx
        .open(
            fx.builder()
                .cleanup_every(Duration::from_millis(100))
                .cleanup_batch(3),
        )
        .await;
    for _ in 0..10 {
        store.create(&expired()).await.unwrap();
    }
    let live = record(60_000);
    store.create(&live).await.unwrap();
    let mut waited = 0;
    while fx.raw_count().await > 1 {
        assert!(waited < 2000, "the cleanup task did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 50;
    }
    assert!(store.load(&live.id, None).await.unwrap().is_some());

    let weak = store.downgrade();
    let clone = store.clone();
    drop(store);
    assert!(weak.upgrade().is_some(), "a clone keeps the store alive");
    drop(clone);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        weak.upgrade().is_none(),
        "the task holds no strong reference"
    );
    // rows that expire now stay: nothing cleans up for a dropped store
    let plain = fx.store().await;
    for _ in 0..4 {
        plain.create(&expired()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(fx.raw_count().await, 5);
}

pub(crate) async fn migrate_is_idempotent(fx: &Fixture) {
    let store = fx.store().await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    store.migrate().await.unwrap();
    // instances that start together race to create a new table
    let fresh = format!("{}_f", fx.table);
    let open = || fx.builder_for(&fresh).connect(&fx.url);
    let (a, b, c) = (
        open().await.unwrap(),
        open().await.unwrap(),
        open().await.unwrap(),
    );
    let (x, y, z) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    x.unwrap();
    y.unwrap();
    z.unwrap();
    a.create(&record(60_000)).await.unwrap();
    assert_eq!(b.count().await.unwrap(), 1);
    assert!(store.load(&r.id, None).await.unwrap().is_some());
    assert_eq!(
        store.migration_sql(),
        fx.builder()
            .build(store.pool().clone())
            .unwrap()
            .migration_sql()
    );
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Counter {
    pub(crate) n: u64,
}

pub(crate) async fn manager_round_trip(fx: &Fixture) {
    let store = fx.store().await;
    let m = SessionManager::<Counter>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let mut cookie: Option<String> = None;
    for _ in 0..3 {
        let lazy = m.start_request();
        lazy.load(cookie.as_deref())
            .await
            .unwrap()
            .update(|c| c.n += 1);
        cookie = Some(m.finish_request(&lazy, 200).await.unwrap().unwrap().pair());
    }
    let lazy = m.start_request();
    assert_eq!(lazy.load(cookie.as_deref()).await.unwrap().data().n, 3);
    assert_eq!(store.count().await.unwrap(), 1);
}

/// Many requests on one session under `Concurrency::Reject`: every
/// acknowledged increment is in the store, and nothing more.
pub(crate) async fn reject_policy_loses_no_acknowledged_write(fx: &Fixture) {
    let store = fx.open(fx.builder().max_connections(8)).await;
    let m = SessionManager::<Counter>::new(
        SessionConfig::testing()
            .store(store.clone())
            .concurrency(Concurrency::Reject)
            .build()
            .unwrap(),
    );
    let first = m.start_request();
    first.load(None).await.unwrap().update(|c| c.n = 0);
    let cookie = Arc::new(m.finish_request(&first, 200).await.unwrap().unwrap().pair());
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (m, cookie) = (m.clone(), cookie.clone());
            tokio::spawn(async move {
                let mut acknowledged = 0u64;
                let mut refused = 0u64;
                for _ in 0..25 {
                    let lazy = m.start_request();
                    lazy.load(Some(cookie.as_str()))
                        .await
                        .unwrap()
                        .update(|c| c.n += 1);
                    match m.finish_request(&lazy, 200).await {
                        Ok(_) => acknowledged += 1,
                        Err(e) => {
                            assert_eq!(e.status_code(), 409, "{e}");
                            refused += 1;
                        }
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    let (mut acknowledged, mut refused) = (0, 0);
    for t in tasks {
        let (a, r) = t.await.unwrap();
        acknowledged += a;
        refused += r;
    }
    let lazy = m.start_request();
    let n = lazy.load(Some(cookie.as_str())).await.unwrap().data().n;
    assert_eq!(
        n, acknowledged,
        "every acknowledged increment, nothing more"
    );
    assert!(acknowledged > 0);
    eprintln!("acknowledged {acknowledged}, refused {refused}");
}

/// The same at the store level: tasks increment a counter with
/// compare-and-set saves and retry on conflict; the final value is the
/// number of successful saves.
pub(crate) async fn versioned_saves_serialise_increments(fx: &Fixture) {
    let store = fx.open(fx.builder().max_connections(8)).await;
    let mut r = record(60_000);
    r.data = 0u64.to_be_bytes().to_vec();
    store.create(&r).await.unwrap();
    let id = r.id.clone();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                let mut conflicts = 0u64;
                while done < 20 {
                    let mut current = store.load(&id, None).await.unwrap().unwrap();
                    let n = u64::from_be_bytes(current.data[..8].try_into().unwrap());
                    let expected = current.version;
                    current.data = (n + 1).to_be_bytes().to_vec();
                    current.version += 1;
                    match store.save(&current, Some(expected)).await {
                        Ok(()) => done += 1,
                        Err(StoreError::Conflict { expected: e }) => {
                            assert_eq!(e, expected);
                            conflicts += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let last = store.load(&id, None).await.unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(last.data[..8].try_into().unwrap()), 160);
    assert_eq!(last.version, 161);
    eprintln!("conflicts retried: {conflicts}");
}

/// `error` is the failure to reach `server` (`host:port`) of a `dialect`
/// database that refused the connection: the message names both and the
/// driver's reason, and the source is a [`ConnectError::Unreachable`].
///
/// [`ConnectError::Unreachable`]: session_store_sql::ConnectError::Unreachable
pub(crate) fn assert_refused(error: &StoreError, dialect: &str, server: &str) {
    use session_store_sql::ConnectError;

    let text = error.to_string();
    assert!(text.contains(server) && text.contains(dialect), "{text}");
    let source = std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<ConnectError>())
        .unwrap_or_else(|| panic!("no ConnectError in {error:?}"));
    let ConnectError::Unreachable { source, .. } = source else {
        panic!("not a refused connection: {source}");
    };
    let reason = source.to_string().to_lowercase();
    assert!(reason.contains("refused"), "{reason}");
}
