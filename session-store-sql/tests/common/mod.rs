//! One behaviour suite for all three databases, and the fixtures that give
//! every test its own schema (PostgreSQL), table (MariaDB) or file (SQLite)
//! and remove it afterwards, even when the test fails.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::time;
use session_core::{
    store::{SessionStore, StoreError},
    SessionId,
};
use session_store_conformance::ExpiredRecorder;
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
        self.raw_count_of(&self.table.clone()).await
    }

    /// Every row of one of this test's tables.
    pub(crate) async fn raw_count_of(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {}", self.qualified(table));
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
                // With the lease table `migrate` made beside each.
                .flat_map(|t| [t.clone(), format!("{t}_locks")])
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

pub(crate) use session_store_conformance::{expired, now_ms, record};

/// The checks only the SQL store has (cleanup, migrations, rows kept
/// until cleanup), on one database's fixture. The contract it shares with
/// the other stores runs through [`conformance_suite!`] on [`Shared`].
///
/// [`conformance_suite!`]: session_store_conformance::conformance_suite
#[macro_export]
macro_rules! behaviour_suite {
    ($fixture:path) => {
        $crate::behaviour_suite!(@tests $fixture;
            expired_rows_stay_until_cleanup,
            cleanup_runs_in_bounded_batches,
            background_cleanup_runs_and_stops_with_the_store,
            migrate_is_idempotent,
            racing_rotations_of_one_session_have_exactly_one_winner,
            a_rotation_racing_a_delete_never_resurrects_the_session,
            a_rotation_replaces_an_expired_row_at_the_new_id,
            ended_leases_are_removed_by_cleanup,
            the_row_encoding_is_pinned,
            cleanup_reports_each_removed_row_once_across_processes,
            the_background_cleanup_reports_what_it_removes,
        );
        session_store_conformance::conformance_suite!(common::Shared::of($fixture));
        session_store_conformance::owner_suite!(common::Shared::of($fixture));
        session_store_conformance::lease_suite!(common::Twins::of($fixture));
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

/// A fixture for the shared contract: the store on this test's table (with
/// room for the concurrency checks) and, as its neighbour, a store on a
/// second table of the same test.
pub(crate) struct Shared {
    fixture: Fixture,
    store: SqlStore,
}

impl Shared {
    pub(crate) async fn of<F: std::future::Future<Output = Fixture>>(
        make: impl FnOnce() -> F,
    ) -> Shared {
        let fixture = make().await;
        let store = fixture.open(fixture.builder().max_connections(8)).await;
        Shared { fixture, store }
    }
}

#[async_trait::async_trait]
impl session_store_conformance::Fixture for Shared {
    fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.store.clone())
    }

    async fn neighbour(&self) -> Arc<dyn SessionStore> {
        let table = format!("{}_n", self.fixture.table);
        Arc::new(self.fixture.open(self.fixture.builder_for(&table)).await)
    }

    async fn remove_expired(&self) -> Option<u64> {
        Some(self.store.remove_expired().await.unwrap())
    }
}

/// Expired rows are invisible to the store (the shared contract) but stay
/// in the table until cleanup removes them.
pub(crate) async fn expired_rows_stay_until_cleanup(fx: &Fixture) {
    let store = fx.store().await;
    store.create(&expired()).await.unwrap();
    store.create(&record(60_000)).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 1);
    assert_eq!(fx.raw_count().await, 2, "still there until cleanup");
    assert_eq!(store.remove_expired().await.unwrap(), 1);
    assert_eq!(fx.raw_count().await, 1);
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
    assert_eq!(store.remove_expired_batch().await.unwrap(), 5);
    assert_eq!(fx.raw_count().await, 16 - 5);
    assert_eq!(store.remove_expired().await.unwrap(), 7);
    assert_eq!(store.remove_expired_batch().await.unwrap(), 0);
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

/// Builds a configuration on `store` that keeps what `on_expired` hears.
fn listen(store: &SqlStore) -> (session_core::SessionConfig, ExpiredRecorder) {
    let heard = ExpiredRecorder::new();
    let config = session_core::SessionConfig::testing()
        .store(store.clone())
        .on_expired(heard.hook())
        .build()
        .unwrap();
    (config, heard)
}

/// Two processes' stores on one table clean up at the same time, in small
/// batches: every expired row is reported once, by the one that removed
/// it, with its owner; live rows are not.
pub(crate) async fn cleanup_reports_each_removed_row_once_across_processes(fx: &Fixture) {
    let one = fx.open(fx.builder().cleanup_batch(4)).await;
    let two = fx.open(fx.builder().cleanup_batch(4)).await;
    let (_a, heard_one) = listen(&one);
    let (_b, heard_two) = listen(&two);
    let mut wanted = Vec::new();
    for i in 0..30 {
        let owner = (i % 3 != 0).then(|| format!("user{}", i % 5));
        let r = expired().with_owner(owner.clone());
        one.create(&r).await.unwrap();
        wanted.push((r.id, owner));
    }
    let live = record(60_000).with_owner(Some("user1".into()));
    one.create(&live).await.unwrap();
    let (a, b) = tokio::join!(one.remove_expired(), two.remove_expired());
    assert_eq!(a.unwrap() + b.unwrap(), 30);
    let mut heard: Vec<_> = heard_one.heard();
    heard.extend(heard_two.heard());
    heard.sort();
    wanted.sort();
    assert_eq!(heard, wanted, "each removed row once, with its owner");
    assert_eq!(fx.raw_count().await, 1);
}

/// The cleanup task reports the rows it removes.
pub(crate) async fn the_background_cleanup_reports_what_it_removes(fx: &Fixture) {
    let store = fx
        .open(fx.builder().cleanup_every(Duration::from_millis(100)))
        .await;
    let (_config, heard) = listen(&store);
    let gone = expired().with_owner(Some("ada".into()));
    store.create(&gone).await.unwrap();
    let mut waited = 0;
    while heard.is_empty() {
        assert!(waited < 3000, "the cleanup task reported nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 50;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(heard.heard(), [(gone.id, Some("ada".to_owned()))]);
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
            .build_with_pool(store.pool().clone())
            .unwrap()
            .migration_sql()
    );
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

/// `tasks` tasks released together, each running `op(i)`; their results in
/// order.
async fn race<T, F>(tasks: usize, op: impl Fn(usize) -> F) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (barrier, work) = (barrier.clone(), op(i));
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Many requests rotate one session at once (a double-submitted login):
/// exactly one wins, every other one finds the old row gone, and one row
/// is left. The load-create-delete fallback lets several win, each leaving
/// a live session behind.
pub(crate) async fn racing_rotations_of_one_session_have_exactly_one_winner(fx: &Fixture) {
    let store = fx.open(fx.builder().max_connections(8)).await;
    for round in 0..8 {
        let old = record(60_000);
        store.create(&old).await.unwrap();
        let results = race(6, |_| {
            let (store, from) = (store.clone(), old.id.clone());
            async move {
                let mut next = record(60_000);
                next.version = 2;
                let result = store.rotate(&from, &next, Some(1)).await;
                (next.id, result)
            }
        })
        .await;
        let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, result) in &results {
            assert!(
                matches!(result, Ok(()) | Err(StoreError::NotFound)),
                "round {round}: {result:?}"
            );
        }
        assert_eq!(fx.raw_count().await, 1, "round {round}");
        assert!(store.load(&winners[0].0, None).await.unwrap().is_some());
        store.clear().await.unwrap();
    }
}

/// A rotation racing a delete of the same session (a login in one tab, a
/// logout in another): either the delete removed the old row and the
/// rotation created nothing, or the rotation moved it first and the delete
/// found nothing. Never both: that would resurrect a logged-out session.
pub(crate) async fn a_rotation_racing_a_delete_never_resurrects_the_session(fx: &Fixture) {
    let store = fx.open(fx.builder().max_connections(4)).await;
    for round in 0..30 {
        let old = record(60_000);
        store.create(&old).await.unwrap();
        let results = race(2, |i| {
            let (store, from) = (store.clone(), old.id.clone());
            async move {
                if i == 0 {
                    store.rotate(&from, &record(60_000), None).await.is_ok()
                } else {
                    store.delete(&from).await.unwrap()
                }
            }
        })
        .await;
        let (rotated, deleted) = (results[0], results[1]);
        assert!(
            rotated != deleted,
            "round {round}: rotated {rotated}, deleted {deleted}"
        );
        assert_eq!(fx.raw_count().await, i64::from(rotated), "round {round}");
        store.clear().await.unwrap();
    }
}

/// An expired row that still sits at the new id (cleanup has not run) is
/// replaced, as by `create`; a live one refuses the move and keeps the old
/// row.
pub(crate) async fn a_rotation_replaces_an_expired_row_at_the_new_id(fx: &Fixture) {
    let store = fx.store().await;
    let old = record(60_000);
    store.create(&old).await.unwrap();
    let stale = expired();
    store.create(&stale).await.unwrap();
    let mut moved = record(60_000);
    moved.id = stale.id.clone();
    moved.version = 2;
    store.rotate(&old.id, &moved, Some(1)).await.unwrap();
    assert_eq!(
        store.load(&stale.id, None).await.unwrap(),
        Some(moved.clone())
    );
    assert!(store.load(&old.id, None).await.unwrap().is_none());
    assert_eq!(fx.raw_count().await, 1);

    let live = record(60_000);
    store.create(&live).await.unwrap();
    let mut onto_live = record(60_000);
    onto_live.id = live.id.clone();
    assert!(matches!(
        store.rotate(&moved.id, &onto_live, None).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(store.load(&moved.id, None).await.unwrap(), Some(moved));
    assert_eq!(store.load(&live.id, None).await.unwrap(), Some(live));
    // An expected version no row can have: a conflict, not an error.
    assert!(matches!(
        store
            .rotate(&stale.id, &record(60_000), Some(u64::MAX))
            .await,
        Err(StoreError::Conflict { .. })
    ));
}

/// Two stores on this test's table, each with a pool of its own, as two
/// processes would have them: the lease checks' twins.
pub(crate) struct Twins {
    _fixture: Fixture,
    first: SqlStore,
    second: SqlStore,
}

impl Twins {
    pub(crate) async fn of<F: std::future::Future<Output = Fixture>>(
        make: impl FnOnce() -> F,
    ) -> Twins {
        let fixture = make().await;
        let first = fixture.open(fixture.builder().max_connections(8)).await;
        let second = fixture.open(fixture.builder().max_connections(8)).await;
        Twins {
            _fixture: fixture,
            first,
            second,
        }
    }
}

impl session_store_conformance::Twins for Twins {
    fn first(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.first.clone())
    }

    fn second(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.second.clone())
    }
}

/// `migrate` makes the lease table beside the session table; a lease that
/// ended (its holder crashed) stays until cleanup, which removes it and
/// leaves live leases alone.
pub(crate) async fn ended_leases_are_removed_by_cleanup(fx: &Fixture) {
    use session_core::store::{LockAttempt, LockToken};

    let store = fx.store().await;
    let locks = store.locks().expect("the SQL store locks");
    let leases = format!("{}_locks", fx.table);
    let (ended, live) = (SessionId::random(), SessionId::random());
    let token = LockToken::random();
    for (id, lease) in [(&ended, 1), (&live, 60_000)] {
        let lease = Duration::from_millis(lease);
        assert!(matches!(
            locks.try_lock(id, &token, lease, None).await.unwrap(),
            LockAttempt::Acquired(None)
        ));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(fx.raw_count_of(&leases).await, 2);
    assert_eq!(store.remove_expired().await.unwrap(), 0, "no session rows");
    assert_eq!(fx.raw_count_of(&leases).await, 1);
    assert!(locks.unlock(&live, &token).await.unwrap());
    assert_eq!(
        fx.raw_count_of(&leases).await,
        0,
        "a release deletes the row"
    );
}

/// A row as the table holds it: `id, data, created_at, idle_expires_at,
/// absolute_expires_at, expires_at, version, owner`.
type RawRow = (String, Vec<u8>, i64, i64, i64, i64, i64, Option<String>);

impl Fixture {
    /// The row of `id` in this test's table, read under the store.
    async fn raw_row(&self, id: &str) -> RawRow {
        let table = self.qualified(&self.table.clone());
        let sql = match self.dialect {
            SqlDialect::Postgres => format!(
                "SELECT id, data, created_at, idle_expires_at, absolute_expires_at, \
                 expires_at, version, owner FROM {table} WHERE id = $1"
            ),
            _ => format!(
                "SELECT id, data, created_at, idle_expires_at, absolute_expires_at, \
                 expires_at, version, owner FROM {table} WHERE id = ?"
            ),
        };
        match &self.admin {
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(p) => {
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(p)
                    .await
            }
            #[cfg(feature = "mysql")]
            SqlPool::MySql(p) => {
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(p)
                    .await
            }
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(p) => {
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(p)
                    .await
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("SqlPool is non-exhaustive"),
        }
        .unwrap()
    }

    /// Runs one statement on this test's database, under the store.
    async fn execute(&self, sql: String) {
        match &self.admin {
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(drop),
            #[cfg(feature = "mysql")]
            SqlPool::MySql(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(drop),
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(drop),
            #[allow(unreachable_patterns)]
            _ => unreachable!("SqlPool is non-exhaustive"),
        }
        .unwrap()
    }
}

/// The session data of the pinned rows: the tagged envelope as the default
/// codec writes it.
const PINNED_DATA: &str = "c1010000000082a46461746182a5636f756e7403a46e616d65a5616c696365\
                           a5666c6173689182a56c6576656ca4696e666fa474657874a26869";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The record of the pinned rows (live until 2126), under `id`.
fn pinned_record(id: &str) -> session_core::store::Record {
    use session_core::store::Record;
    let created = Record::from_millis(1_767_225_600_000);
    Record::new(
        SessionId::parse(id).unwrap(),
        unhex(PINNED_DATA),
        created,
        Record::from_millis(4_922_899_200_000),
        Record::from_millis(4_922_902_800_000),
    )
    .with_version(7)
    .with_owner(Some("alice".into()))
}

/// What a record is in a row, column by column: the id as its 43
/// characters, the data as the codec's bytes, the times as Unix
/// milliseconds (`expires_at` the earlier expiry, which cleanup and every
/// query compare with), the version as a number, the owner as text or NULL.
/// A change to any of them fails here, and the row committed below, written
/// with SQL the way this release lays rows out, must keep loading.
pub(crate) async fn the_row_encoding_is_pinned(fx: &Fixture) {
    let store = fx.store().await;
    let id = "Qx3tH1b5m0VGYq9fW2kKcR8uZpLd7eNjAaS4oTyXvBw";
    store.create(&pinned_record(id)).await.unwrap();
    assert_eq!(
        fx.raw_row(id).await,
        (
            id.to_owned(),
            unhex(PINNED_DATA),
            1_767_225_600_000,
            4_922_899_200_000,
            4_922_902_800_000,
            4_922_899_200_000,
            7,
            Some("alice".to_owned()),
        )
    );

    // A row as this release writes it, inserted by hand: it loads.
    let committed = "Zm9ybWF0LXBpbm5lZC1yb3ctb2YtdGhpcy1yZWxlYXM";
    let data = match fx.dialect {
        SqlDialect::Postgres => format!("'\\x{PINNED_DATA}'::bytea"),
        _ => format!("X'{PINNED_DATA}'"),
    };
    fx.execute(format!(
        "INSERT INTO {} (id, data, created_at, idle_expires_at, absolute_expires_at, \
         expires_at, version, owner) VALUES ('{committed}', {data}, 1767225600000, \
         4922899200000, 4922902800000, 4922899200000, 7, 'alice')",
        fx.qualified(&fx.table.clone())
    ))
    .await;
    let loaded = store
        .load(&SessionId::parse(committed).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(loaded, Some(pinned_record(committed)));
}
