//! Opening the store that `SESSION_STORE` names.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use session_core::store::{SessionStore, StoreError};
use session_store_cookie::CookieStore;
use session_store_memory::MemoryStore;
use session_store_mongo::MongoStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

use crate::config::DemoConfig;
use crate::error::DemoError;

/// How long one Redis command may take: also the connection timeout at
/// start. Short, so that an outage is a quick `503` rather than a hang.
pub const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one MongoDB operation may take: also the connection timeout at
/// start, as for Redis.
pub const MONGODB_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The pause before the one retry of a failed table creation.
const MIGRATE_RETRY_DELAY: Duration = Duration::from_millis(250);

/// A store being opened, as [`StoreEntry::open`] returns it.
pub type Opening<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<dyn SessionStore>, StoreError>> + Send + 'a>>;

/// Where a store keeps its sessions, and so what `SESSION_NAMESPACE` names
/// there: what a test needs to share a store between servers and to remove
/// what they stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeps {
    /// In the server process's memory: one process's alone, gone with it.
    Process,
    /// In the cookie itself: no server state.
    Cookie,
    /// Redis keys under `<namespace>:`.
    RedisKeys,
    /// The SQL table `<namespace>` (for SQLite, in the database file).
    SqlTable,
    /// The MongoDB collection `<namespace>`, in the URL's database.
    Collection,
}

/// One store the demo can run on: a row of [`STORES`].
#[derive(Debug)]
pub struct StoreEntry {
    /// Its `SESSION_STORE` name.
    pub name: &'static str,
    /// Where it keeps sessions.
    pub keeps: Keeps,
    /// The variable holding the URL of its server (`None`: no server).
    pub url_var: Option<&'static str>,
    /// For an SQL store: the `DATABASE_URL` used when the variable is
    /// unset, and the URL prefixes it may start with.
    pub database: Option<(&'static str, &'static [&'static str])>,
    /// Opens it with the parts of [`DemoConfig`] it needs.
    pub open: for<'a> fn(&'a DemoConfig) -> Opening<'a>,
}

impl StoreEntry {
    /// A store without a server that keeps sessions in the process, opened
    /// by its `Default`: a whole row on one line.
    pub const fn in_process(
        name: &'static str,
        open: for<'a> fn(&'a DemoConfig) -> Opening<'a>,
    ) -> Self {
        StoreEntry {
            name,
            keeps: Keeps::Process,
            url_var: None,
            database: None,
            open,
        }
    }

    /// A store on a server whose URL is in `url_var`.
    pub const fn on_server(
        name: &'static str,
        keeps: Keeps,
        url_var: &'static str,
        open: for<'a> fn(&'a DemoConfig) -> Opening<'a>,
    ) -> Self {
        StoreEntry {
            name,
            keeps,
            url_var: Some(url_var),
            database: None,
            open,
        }
    }

    /// An SQL store: `DATABASE_URL`, `default_url` when unset, which must
    /// start with one of `prefixes`.
    pub const fn sql(
        name: &'static str,
        default_url: &'static str,
        prefixes: &'static [&'static str],
    ) -> Self {
        StoreEntry {
            name,
            keeps: Keeps::SqlTable,
            url_var: Some("DATABASE_URL"),
            database: Some((default_url, prefixes)),
            open: |config| Box::pin(async { Ok(shared(open_sql(config).await?)) }),
        }
    }
}

/// Every store of the demo, in the order the documentation lists them: the
/// one list that `SESSION_STORE` parsing, [`build_store`] and the
/// acceptance suite read. Adding a store to the demo is one row here.
pub const STORES: &[StoreEntry] = &[
    StoreEntry::in_process("memory", by_default::<MemoryStore>),
    StoreEntry::on_server("redis", Keeps::RedisKeys, "REDIS_URL", |config| {
        Box::pin(async { Ok(shared(open_redis(config).await?)) })
    }),
    // The ring that seals the notes also seals the cookies: the first
    // secret seals, the others still open (rotation).
    StoreEntry {
        name: "cookie",
        keeps: Keeps::Cookie,
        url_var: None,
        database: None,
        open: |config| Box::pin(async { Ok(shared(CookieStore::new(config.keys.clone()))) }),
    },
    StoreEntry::sql(
        "postgres",
        "postgres://postgres@127.0.0.1:5432/test",
        &["postgres://", "postgresql://"],
    ),
    StoreEntry::sql(
        "mysql",
        "mysql://root@127.0.0.1:3306/test",
        &["mysql://", "mariadb://"],
    ),
    StoreEntry::sql("sqlite", "sqlite://demo-sessions.db?mode=rwc", &["sqlite:"]),
    StoreEntry::on_server("mongodb", Keeps::Collection, "MONGODB_URL", |config| {
        Box::pin(async { Ok(shared(open_mongodb(config).await?)) })
    }),
];

/// Opens a store that needs no configuration: its `Default`.
pub fn by_default<S: SessionStore + Default + 'static>(_: &DemoConfig) -> Opening<'_> {
    Box::pin(async { Ok(shared(S::default())) })
}

/// A store as [`StoreEntry::open`] hands it out.
fn shared(store: impl SessionStore + 'static) -> Arc<dyn SessionStore> {
    Arc::new(store)
}

/// Which session store the demo runs on (`SESSION_STORE`): a row of
/// [`STORES`].
///
/// ```
/// use examples::StoreKind;
///
/// let postgres = StoreKind::named("Postgres").unwrap();
/// assert_eq!(postgres.name(), "postgres");
/// assert_eq!(postgres.default_database_url(), Some("postgres://postgres@127.0.0.1:5432/test"));
/// assert_eq!(StoreKind::default().default_database_url(), None);
/// assert!(StoreKind::named("nope").is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StoreKind(&'static StoreEntry);

impl StoreKind {
    /// The store called `name` (any case), if the demo has one.
    pub fn named(name: &str) -> Option<StoreKind> {
        STORES
            .iter()
            .find(|entry| entry.name.eq_ignore_ascii_case(name))
            .map(StoreKind)
    }

    /// Every store, in the order of [`STORES`].
    pub fn all() -> impl Iterator<Item = StoreKind> {
        STORES.iter().map(StoreKind)
    }

    /// The name used in `SESSION_STORE`.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Its row of [`STORES`].
    pub fn entry(self) -> &'static StoreEntry {
        self.0
    }

    /// Where it keeps sessions.
    pub fn keeps(self) -> Keeps {
        self.0.keeps
    }

    /// The `DATABASE_URL` used when the variable is unset: `Some` exactly
    /// for the SQL stores.
    pub fn default_database_url(self) -> Option<&'static str> {
        self.0.database.map(|(url, _)| url)
    }

    /// Whether the store keeps sessions in an SQL table (and so reads
    /// `DATABASE_URL`).
    pub fn is_sql(self) -> bool {
        self.0.database.is_some()
    }

    /// The prefixes `DATABASE_URL` may start with for this store, such as
    /// `postgres://` (empty for stores without a database).
    pub fn url_prefixes(self) -> &'static [&'static str] {
        self.0.database.map_or(&[], |(_, prefixes)| prefixes)
    }
}

/// The first row of [`STORES`]: `memory`.
impl Default for StoreKind {
    fn default() -> Self {
        StoreKind(&STORES[0])
    }
}

impl PartialEq for StoreKind {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for StoreKind {}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Opens the configured store through its row of [`STORES`], which uses
/// the parts of [`DemoConfig`] it needs (`redis_url`, `database_url`,
/// `mongodb_url`, `namespace`, `keys`; the defaults are listed in
/// [`config`](crate::config)).
///
/// A store that needs a server connects here (and an SQL store creates its
/// table, the MongoDB store its indexes), so that an unreachable server stops the demo at start with one
/// clear line rather than failing the first request.
///
/// ```
/// use examples::{build_store, DemoConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let config = DemoConfig::from_pairs(&[]).unwrap();
/// assert!(build_store(&config).await.is_ok());
/// let config = DemoConfig::from_pairs(&[("SESSION_STORE", "cookie")]).unwrap();
/// assert!(build_store(&config).await.is_ok());
/// # }
/// ```
pub async fn build_store(config: &DemoConfig) -> Result<Arc<dyn SessionStore>, DemoError> {
    let store = (config.store.entry().open)(config)
        .await
        .map_err(|source| DemoError::Store {
            store: config.store,
            source,
        })?;
    tracing::debug!(store = %config.store, "session store ready");
    Ok(store)
}

async fn open_redis(config: &DemoConfig) -> Result<RedisStore, StoreError> {
    RedisStore::builder()
        .prefix(config.redis_prefix())
        .command_timeout(REDIS_COMMAND_TIMEOUT)
        .near_cache(config.redis_near_cache)
        .connect(&config.redis_url)
        .await
}

async fn open_sql(config: &DemoConfig) -> Result<SqlStore, StoreError> {
    let url = config
        .database_url
        .as_deref()
        .or(config.store.default_database_url())
        .unwrap_or_default();
    let store = SqlStore::builder()
        .table(config.sql_table())
        .connect(url)
        .await?;
    if let Err(error) = store.migrate().await {
        // Several demos starting at once on one new table may collide in
        // CREATE TABLE (SQLite refuses a stale writer at once, for one);
        // the table exists by the time of the second try.
        tracing::debug!(%error, "creating the session table failed; trying once more");
        tokio::time::sleep(MIGRATE_RETRY_DELAY).await;
        store.migrate().await?;
    }
    Ok(store)
}

async fn open_mongodb(config: &DemoConfig) -> Result<MongoStore, StoreError> {
    let store = MongoStore::builder()
        .collection(config.mongodb_collection())
        .command_timeout(MONGODB_COMMAND_TIMEOUT)
        .connect(&config.mongodb_url)
        .await?;
    // Creating indexes that exist already is a no-op, so several demos may
    // start on one collection at once.
    store.migrate().await?;
    Ok(store)
}
