//! The demo's configuration, read from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `BIND` | address to listen on (`IP:PORT`; port `0` picks a free one) | `127.0.0.1:3000` |
//! | `SESSION_STORE` | `memory`, `redis`, `cookie`, `postgres`, `mysql`, `sqlite`, `mongodb` | `memory` |
//! | `REDIS_URL` | Redis to use with `redis` | `redis://127.0.0.1:6379` |
//! | `SESSION_REDIS_NEAR_CACHE` | with `redis`: sessions the near cache holds (an entry count; `0` is off) | off |
//! | `MONGODB_URL` | MongoDB to use with `mongodb` | `mongodb://127.0.0.1:27017/test?directConnection=true` |
//! | `DATABASE_URL` | database of `postgres`, `mysql`, `sqlite`; its scheme must match the store | per store, below |
//! | `SESSION_SECRET` | secrets of 32 bytes or more, comma-separated, the first seals | random per start, with a warning |
//! | `SESSION_IDLE_TIMEOUT_SECS` | idle timeout in seconds | `3600` |
//! | `SESSION_ABSOLUTE_TIMEOUT_SECS` | absolute timeout in seconds | `86400` |
//! | `SESSION_COOKIE_SECURE` | `true`/`false`: the `Secure` cookie attribute | `true` |
//! | `SESSION_NAMESPACE` | isolates runs sharing a server: the Redis key prefix, SQL table or MongoDB collection name | the store's own |
//! | `SESSION_CONCURRENCY` | `last-write-wins`, `reject` or `serialize`: what parallel requests on one session do | `last-write-wins` |
//! | `SESSION_LOCK_WAIT_SECS` | with `serialize`: how long a request waits for the session's lock before it is answered `503` with `Retry-After` | `5` |
//! | `SESSION_REMEMBER_SECS` | both timeouts of a session logged in with `"remember": true` | `2592000` (30 days) |
//! | `SESSION_MAX_PER_USER` | at most this many sessions per user; a login over it ends the user's oldest session | no limit |
//! | `SESSION_STORE_OUTAGE` | `fail` or `degrade`: what a request gets while the store is unavailable (`503`, or a fresh session that is not saved, no `Set-Cookie` and `Session-Degraded: 1`; a login is then refused with `503`) | `fail` |
//! | `DEMO_SESSION_VERSION` | `1` or `2`: which session type the demo runs ([`crate::model`]); version 2 adds `GET`/`PUT /preferences` | `1` |
//!
//! Per store:
//!
//! | `SESSION_STORE` | connects to | keeps sessions in |
//! |---|---|---|
//! | `memory` | nothing | this process (lost at exit) |
//! | `redis` | `REDIS_URL`, default `redis://127.0.0.1:6379` | keys `<SESSION_NAMESPACE>:session:<id>`, default `session:<id>` |
//! | `cookie` | nothing | the cookie itself, sealed with `SESSION_SECRET` |
//! | `postgres` | `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test` | table `<SESSION_NAMESPACE>`, default `sessions` |
//! | `mysql` | `DATABASE_URL`, default `mysql://root@127.0.0.1:3306/test` | table `<SESSION_NAMESPACE>`, default `sessions` |
//! | `sqlite` | `DATABASE_URL`, default `sqlite://demo-sessions.db?mode=rwc` (a file in the working directory, created if missing) | table `<SESSION_NAMESPACE>`, default `sessions` |
//! | `mongodb` | `MONGODB_URL`, default `mongodb://127.0.0.1:27017/test?directConnection=true` | collection `<SESSION_NAMESPACE>`, default `sessions`, in the URL's database |
//!
//! The SQL stores create their table at start if it does not exist, the
//! MongoDB store its indexes. An
//! unreachable Redis or database at start ends the demo with one line on
//! stderr; an outage later answers `503` until the server is back, or with
//! `SESSION_STORE_OUTAGE=degrade` serves requests without their sessions.
//!
//! An empty variable counts as unset. Any other bad value is a [`ConfigError`]
//! whose message names the variable, and the binaries exit with it.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::crypto::KeyError;
use session_core::{Concurrency, KeyRing, OutagePolicy};

pub use crate::store::StoreKind;
use crate::store::{Keeps, STORES};

/// The longest timeout accepted: ten years. Far beyond any sensible session,
/// and small enough that adding it to "now" cannot overflow a date.
const MAX_TIMEOUT_SECS: u64 = 10 * 365 * 24 * 3600;

/// The longest `SESSION_NAMESPACE`: it becomes an SQL identifier, and
/// MySQL allows 64 characters for a whole table name.
const MAX_NAMESPACE_LEN: usize = 48;

/// The `MONGODB_URL` used when the variable is unset: the local server of a
/// development machine (`directConnection`: that one server, whatever
/// replica set it may advertise).
pub const DEFAULT_MONGODB_URL: &str = "mongodb://127.0.0.1:27017/test?directConnection=true";

/// A variable of the environment holds a value the demo cannot use. The
/// message is one line and names the variable; it never repeats a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The variable is not valid UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUnicode(&'static str),
    /// `BIND` is not `IP:PORT`.
    #[error("BIND must be an IP address and port such as 127.0.0.1:3000, got {0:?}")]
    Bind(String),
    /// `SESSION_STORE` names no store.
    #[error("SESSION_STORE must be one of {names}, got {0:?}", names = store_names())]
    Store(String),
    /// `SESSION_SECRET` holds no usable secret, or a short one.
    #[error("SESSION_SECRET is unusable: {0}")]
    Secret(#[source] KeyError),
    /// A timeout is not a whole number of seconds in range.
    #[error(
        "{name} must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}, got {value:?}"
    )]
    Timeout {
        /// The variable.
        name: &'static str,
        /// What it holds.
        value: String,
    },
    /// `SESSION_COOKIE_SECURE` is neither `true` nor `false`.
    #[error("SESSION_COOKIE_SECURE must be true or false, got {0:?}")]
    Secure(String),
    /// `DATABASE_URL` names another database than `SESSION_STORE`. The URL
    /// is not repeated: it may hold a password.
    #[error("DATABASE_URL must start with {} for SESSION_STORE={store}", schemes(.store))]
    DatabaseUrl {
        /// The store it was meant for.
        store: StoreKind,
    },
    /// `DEMO_SESSION_VERSION` is neither `1` nor `2`.
    #[error("DEMO_SESSION_VERSION must be 1 or 2, got {0:?}")]
    SessionVersion(String),
    /// `SESSION_REDIS_NEAR_CACHE` is not a whole number of entries.
    #[error("SESSION_REDIS_NEAR_CACHE must be a whole number of sessions (0 is off), got {0:?}")]
    NearCache(String),
    /// `SESSION_NAMESPACE` cannot be a key prefix and a table name.
    #[error("SESSION_NAMESPACE must be 1 to {MAX_NAMESPACE_LEN} characters from a-z, 0-9 and _, starting with a letter, got {0:?}")]
    Namespace(String),
    /// `SESSION_STORE_OUTAGE` names no policy.
    #[error("SESSION_STORE_OUTAGE must be fail or degrade, got {0:?}")]
    Outage(String),
    /// `SESSION_CONCURRENCY` names no policy.
    #[error("SESSION_CONCURRENCY must be one of last-write-wins, reject, serialize, got {0:?}")]
    Concurrency(String),
    /// `SESSION_MAX_PER_USER` is not a whole number of at least 1.
    #[error("SESSION_MAX_PER_USER must be a whole number of at least 1, got {0:?}")]
    MaxPerUser(String),
}

/// Everything the demo reads from the environment, checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoConfig {
    /// `BIND`.
    pub bind: SocketAddr,
    /// `SESSION_STORE`.
    pub store: StoreKind,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `SESSION_REDIS_NEAR_CACHE`: the Redis store's near cache capacity,
    /// `0` (unset) for none.
    pub redis_near_cache: usize,
    /// `MONGODB_URL`.
    pub mongodb_url: String,
    /// `DATABASE_URL`, or the store's default; `None` for stores without a
    /// database (the variable is then ignored).
    pub database_url: Option<String>,
    /// The secrets of `SESSION_SECRET`, or a random one.
    pub keys: KeyRing,
    /// Whether [`keys`](Self::keys) is random because `SESSION_SECRET` is
    /// unset: sealed data then does not survive a restart.
    pub random_secret: bool,
    /// `SESSION_IDLE_TIMEOUT_SECS`.
    pub idle_timeout: Duration,
    /// `SESSION_ABSOLUTE_TIMEOUT_SECS`.
    pub absolute_timeout: Duration,
    /// `SESSION_COOKIE_SECURE`.
    pub cookie_secure: bool,
    /// `SESSION_NAMESPACE`: keeps this run apart from others on the same
    /// server (tests set it); see [`redis_prefix`](Self::redis_prefix) and
    /// [`sql_table`](Self::sql_table).
    pub namespace: Option<String>,
    /// `SESSION_CONCURRENCY`: what parallel requests on one session do.
    /// `serialize` with the cookie store is refused when the session
    /// configuration is built (the store keeps no server state to lock).
    pub concurrency: Concurrency,
    /// `SESSION_LOCK_WAIT_SECS`: under `serialize`, how long a request waits
    /// for the session's lock (the library's default, 5 s, when unset).
    pub lock_wait: Duration,
    /// `SESSION_STORE_OUTAGE`: what a request gets while the store is
    /// unavailable.
    pub outage: OutagePolicy,
    /// `DEMO_SESSION_VERSION`: 1 or 2.
    pub session_version: u8,
    /// `SESSION_REMEMBER_SECS`: both timeouts of a remembered login.
    pub remember_timeout: Duration,
    /// `SESSION_MAX_PER_USER`: the cap on one user's sessions, if any.
    pub max_per_user: Option<u32>,
}

impl DemoConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<DemoConfig, ConfigError> {
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode(name)),
        })
    }

    /// Reads the given variables only, as if they were the environment.
    ///
    /// ```
    /// use examples::{ConfigError, DemoConfig, StoreKind};
    ///
    /// let config = DemoConfig::from_pairs(&[("SESSION_IDLE_TIMEOUT_SECS", "60")])?;
    /// assert_eq!(config.store.name(), "memory");
    /// assert_eq!(config.idle_timeout.as_secs(), 60);
    /// assert!(config.random_secret);
    ///
    /// let err = DemoConfig::from_pairs(&[("SESSION_STORE", "nope")]).unwrap_err();
    /// assert!(matches!(err, ConfigError::Store(_)));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<DemoConfig, ConfigError> {
        Self::from_lookup(|name| {
            Ok(pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned()))
        })
    }

    fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    ) -> Result<DemoConfig, ConfigError> {
        // An empty variable is unset, as `VAR= cargo run` intends.
        let get = |name| lookup(name).map(|v| v.filter(|v: &String| !v.is_empty()));

        let bind = match get("BIND")? {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(value) => value.parse().map_err(|_| ConfigError::Bind(value))?,
        };
        let store = match get("SESSION_STORE")? {
            None => StoreKind::default(),
            Some(value) => StoreKind::named(&value).ok_or(ConfigError::Store(value))?,
        };
        let (keys, random_secret) = match get("SESSION_SECRET")? {
            None => (KeyRing::generate(), true),
            Some(value) => (
                KeyRing::from_comma_separated(&value).map_err(ConfigError::Secret)?,
                false,
            ),
        };
        let namespace = get("SESSION_NAMESPACE")?.map(check_namespace).transpose()?;
        Ok(DemoConfig {
            bind,
            store,
            redis_url: get("REDIS_URL")?.unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            redis_near_cache: match get("SESSION_REDIS_NEAR_CACHE")? {
                None => 0,
                Some(value) => value.parse().map_err(|_| ConfigError::NearCache(value))?,
            },
            mongodb_url: get("MONGODB_URL")?.unwrap_or_else(|| DEFAULT_MONGODB_URL.into()),
            database_url: database_url(store, get("DATABASE_URL")?)?,
            keys,
            random_secret,
            idle_timeout: timeout(
                get("SESSION_IDLE_TIMEOUT_SECS")?,
                "SESSION_IDLE_TIMEOUT_SECS",
                3600,
            )?,
            absolute_timeout: timeout(
                get("SESSION_ABSOLUTE_TIMEOUT_SECS")?,
                "SESSION_ABSOLUTE_TIMEOUT_SECS",
                24 * 3600,
            )?,
            cookie_secure: match get("SESSION_COOKIE_SECURE")? {
                None => true,
                Some(value) => parse_bool(&value).ok_or(ConfigError::Secure(value))?,
            },
            namespace,
            concurrency: match get("SESSION_CONCURRENCY")? {
                None => Concurrency::LastWriteWins,
                Some(value) => parse_concurrency(&value).ok_or(ConfigError::Concurrency(value))?,
            },
            lock_wait: timeout(
                get("SESSION_LOCK_WAIT_SECS")?,
                "SESSION_LOCK_WAIT_SECS",
                session_core::DEFAULT_LOCK_WAIT.as_secs(),
            )?,
            remember_timeout: timeout(
                get("SESSION_REMEMBER_SECS")?,
                "SESSION_REMEMBER_SECS",
                30 * 24 * 3600,
            )?,
            max_per_user: match get("SESSION_MAX_PER_USER")? {
                None => None,
                Some(value) => match value.trim().parse::<u32>() {
                    Ok(max) if max >= 1 => Some(max),
                    _ => return Err(ConfigError::MaxPerUser(value)),
                },
            },
            outage: match get("SESSION_STORE_OUTAGE")? {
                None => OutagePolicy::Fail,
                Some(value) => parse_outage(&value).ok_or(ConfigError::Outage(value))?,
            },
            session_version: match get("DEMO_SESSION_VERSION")? {
                None => 1,
                Some(value) => match value.trim() {
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(ConfigError::SessionVersion(value)),
                },
            },
        })
    }
}

/// The policy a `SESSION_CONCURRENCY` value names (any case).
///
/// ```
/// use examples::{ConfigError, DemoConfig};
/// use session_core::Concurrency;
///
/// let config = DemoConfig::from_pairs(&[("SESSION_CONCURRENCY", "Serialize")])?;
/// assert_eq!(config.concurrency, Concurrency::Serialize);
/// assert_eq!(DemoConfig::from_pairs(&[])?.concurrency, Concurrency::LastWriteWins);
/// let err = DemoConfig::from_pairs(&[("SESSION_CONCURRENCY", "lock")]).unwrap_err();
/// assert_eq!(err.to_string(), r#"SESSION_CONCURRENCY must be one of last-write-wins, reject, serialize, got "lock""#);
/// # Ok::<(), ConfigError>(())
/// ```
fn parse_concurrency(value: &str) -> Option<Concurrency> {
    [
        ("last-write-wins", Concurrency::LastWriteWins),
        ("reject", Concurrency::Reject),
        ("serialize", Concurrency::Serialize),
    ]
    .into_iter()
    .find(|(name, _)| name.eq_ignore_ascii_case(value))
    .map(|(_, policy)| policy)
}

/// The policy a `SESSION_STORE_OUTAGE` value names (any case).
///
/// ```
/// use examples::{ConfigError, DemoConfig};
/// use session_core::OutagePolicy;
///
/// let config = DemoConfig::from_pairs(&[("SESSION_STORE_OUTAGE", "degrade")])?;
/// assert_eq!(config.outage, OutagePolicy::Degrade);
/// assert_eq!(DemoConfig::from_pairs(&[])?.outage, OutagePolicy::Fail);
/// let err = DemoConfig::from_pairs(&[("SESSION_STORE_OUTAGE", "ignore")]).unwrap_err();
/// assert_eq!(err.to_string(), r#"SESSION_STORE_OUTAGE must be fail or degrade, got "ignore""#);
/// # Ok::<(), ConfigError>(())
/// ```
fn parse_outage(value: &str) -> Option<OutagePolicy> {
    [
        ("fail", OutagePolicy::Fail),
        ("degrade", OutagePolicy::Degrade),
    ]
    .into_iter()
    .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
    .map(|(_, policy)| policy)
}

impl DemoConfig {
    /// The Redis key prefix: `<SESSION_NAMESPACE>:session:`, or `session:`
    /// (the Redis store's default) without a namespace.
    ///
    /// ```
    /// use examples::DemoConfig;
    ///
    /// assert_eq!(DemoConfig::from_pairs(&[])?.redis_prefix(), "session:");
    /// let config = DemoConfig::from_pairs(&[("SESSION_NAMESPACE", "shop")])?;
    /// assert_eq!(config.redis_prefix(), "shop:session:");
    /// # Ok::<(), examples::ConfigError>(())
    /// ```
    pub fn redis_prefix(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}:session:"),
            None => session_store_redis::DEFAULT_PREFIX.to_owned(),
        }
    }

    /// The SQL table: `SESSION_NAMESPACE` itself, or `sessions` (the SQL
    /// store's default). The namespace is checked to be a valid table name.
    ///
    /// ```
    /// use examples::DemoConfig;
    ///
    /// assert_eq!(DemoConfig::from_pairs(&[])?.sql_table(), "sessions");
    /// let config = DemoConfig::from_pairs(&[("SESSION_NAMESPACE", "shop")])?;
    /// assert_eq!(config.sql_table(), "shop");
    /// # Ok::<(), examples::ConfigError>(())
    /// ```
    pub fn sql_table(&self) -> &str {
        self.namespace
            .as_deref()
            .unwrap_or(session_store_sql::DEFAULT_TABLE)
    }

    /// The URL of the configured store's server (`REDIS_URL`,
    /// `MONGODB_URL` or `DATABASE_URL`, with their defaults); `None` for a
    /// store without a server.
    ///
    /// ```
    /// use examples::DemoConfig;
    ///
    /// assert_eq!(DemoConfig::from_pairs(&[])?.server_url(), None);
    /// let config = DemoConfig::from_pairs(&[("SESSION_STORE", "mysql")])?;
    /// assert_eq!(config.server_url(), Some("mysql://root@127.0.0.1:3306/test"));
    /// let config = DemoConfig::from_pairs(&[("SESSION_STORE", "redis")])?;
    /// assert_eq!(config.server_url(), Some("redis://127.0.0.1:6379"));
    /// # Ok::<(), examples::ConfigError>(())
    /// ```
    pub fn server_url(&self) -> Option<&str> {
        match self.store.keeps() {
            Keeps::RedisKeys => Some(&self.redis_url),
            Keeps::Collection => Some(&self.mongodb_url),
            Keeps::SqlTable => self.database_url.as_deref(),
            Keeps::Process | Keeps::Cookie => None,
        }
    }

    /// The MongoDB collection: `SESSION_NAMESPACE` itself, or `sessions`
    /// (the MongoDB store's default).
    ///
    /// ```
    /// use examples::DemoConfig;
    ///
    /// assert_eq!(DemoConfig::from_pairs(&[])?.mongodb_collection(), "sessions");
    /// let config = DemoConfig::from_pairs(&[("SESSION_NAMESPACE", "shop")])?;
    /// assert_eq!(config.mongodb_collection(), "shop");
    /// # Ok::<(), examples::ConfigError>(())
    /// ```
    pub fn mongodb_collection(&self) -> &str {
        self.namespace
            .as_deref()
            .unwrap_or(session_store_mongo::DEFAULT_COLLECTION)
    }
}

/// `DATABASE_URL` for a SQL store: the variable, or the store's default;
/// a URL of another database is refused here rather than opened.
fn database_url(store: StoreKind, value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(default) = store.default_database_url() else {
        return Ok(None);
    };
    let url = value.unwrap_or_else(|| default.to_owned());
    // Any case, as for the scheme itself: `POSTGRES://` is a PostgreSQL URL.
    let matches = |prefix: &&str| {
        url.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    if store.url_prefixes().iter().any(matches) {
        Ok(Some(url))
    } else {
        Err(ConfigError::DatabaseUrl { store })
    }
}

/// `postgres:// or postgresql://`, for messages.
fn schemes(store: &StoreKind) -> String {
    store.url_prefixes().join(" or ")
}

/// `memory, redis, ...`: every name of [`STORES`], for messages.
fn store_names() -> String {
    let names: Vec<&str> = STORES.iter().map(|entry| entry.name).collect();
    names.join(", ")
}

fn timeout(
    value: Option<String>,
    name: &'static str,
    default_secs: u64,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(Duration::from_secs(default_secs));
    };
    match value.trim().parse::<u64>() {
        Ok(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(ConfigError::Timeout { name, value }),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn check_namespace(value: String) -> Result<String, ConfigError> {
    let mut chars = value.chars();
    let ok = value.len() <= MAX_NAMESPACE_LEN
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::Namespace(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_match_the_reference_app() {
        let config = DemoConfig::from_pairs(&[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(config.store.name(), "memory");
        assert_eq!(config.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(config.mongodb_url, DEFAULT_MONGODB_URL);
        assert_eq!(config.database_url, None);
        assert!(config.random_secret);
        assert_eq!(config.idle_timeout, Duration::from_secs(3600));
        assert_eq!(config.absolute_timeout, Duration::from_secs(86400));
        assert!(config.cookie_secure);
        assert_eq!(config.namespace, None);
        assert_eq!(config.session_version, 1);
        assert_eq!(config.remember_timeout, Duration::from_secs(2_592_000));
        assert_eq!(config.max_per_user, None);
        assert_eq!(config.lock_wait, session_core::DEFAULT_LOCK_WAIT);
    }

    #[test]
    fn every_variable_is_read() {
        let config = DemoConfig::from_pairs(&[
            ("BIND", "127.0.0.1:0"),
            ("SESSION_STORE", "Postgres"),
            ("REDIS_URL", "redis://example:1"),
            ("MONGODB_URL", "mongodb://example:2/app"),
            ("DATABASE_URL", "postgres://u@h/db"),
            ("SESSION_SECRET", &format!("{SECRET},{SECRET}")),
            ("SESSION_IDLE_TIMEOUT_SECS", "1"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECS", "2"),
            ("SESSION_COOKIE_SECURE", "FALSE"),
            ("SESSION_NAMESPACE", "t_42"),
            ("DEMO_SESSION_VERSION", "2"),
            ("SESSION_REMEMBER_SECS", "7"),
            ("SESSION_MAX_PER_USER", "3"),
            ("SESSION_LOCK_WAIT_SECS", "9"),
        ])
        .unwrap();
        assert_eq!(config.lock_wait, Duration::from_secs(9));
        assert_eq!(config.remember_timeout, Duration::from_secs(7));
        assert_eq!(config.max_per_user, Some(3));
        assert_eq!(config.bind.port(), 0);
        assert_eq!(config.store.name(), "postgres");
        assert_eq!(config.redis_url, "redis://example:1");
        assert_eq!(config.mongodb_url, "mongodb://example:2/app");
        assert_eq!(config.database_url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(config.keys.len(), 2);
        assert!(!config.random_secret);
        assert_eq!(config.idle_timeout, Duration::from_secs(1));
        assert_eq!(config.absolute_timeout, Duration::from_secs(2));
        assert!(!config.cookie_secure);
        assert_eq!(config.namespace.as_deref(), Some("t_42"));
        assert_eq!(config.session_version, 2);
    }

    #[test]
    fn sql_stores_get_a_default_database() {
        for kind in StoreKind::all().filter(|kind| kind.is_sql()) {
            let config = DemoConfig::from_pairs(&[("SESSION_STORE", kind.name())]).unwrap();
            assert_eq!(config.database_url.as_deref(), kind.default_database_url());
            assert!(config.database_url.is_some());
        }
    }

    #[test]
    fn database_url_matches_the_store() {
        let url_of = |store: &str, url: &str| {
            DemoConfig::from_pairs(&[("SESSION_STORE", store), ("DATABASE_URL", url)])
        };
        let config = url_of("mysql", "MariaDB://root@db/app").unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("MariaDB://root@db/app")
        );
        assert!(url_of("sqlite", "sqlite::memory:").is_ok());
        // Only the SQL stores read it.
        assert_eq!(url_of("redis", "nonsense").unwrap().database_url, None);
        assert_eq!(url_of("memory", "postgres://x").unwrap().database_url, None);

        for (store, url) in [
            ("postgres", "mysql://root:hunter2@db/app"),
            ("mysql", "postgres://db/app"),
            ("sqlite", "sessions.db"),
            ("postgres", "postgres"),
        ] {
            let message = url_of(store, url).unwrap_err().to_string();
            assert!(message.contains("DATABASE_URL"), "{message}");
            assert!(message.contains(store), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        let message = url_of("postgres", "x").unwrap_err().to_string();
        assert_eq!(
            message,
            "DATABASE_URL must start with postgres:// or postgresql:// for SESSION_STORE=postgres"
        );
    }

    #[test]
    fn the_namespace_names_the_prefix_and_table() {
        let config = DemoConfig::from_pairs(&[("SESSION_NAMESPACE", "t_1")]).unwrap();
        assert_eq!(config.redis_prefix(), "t_1:session:");
        assert_eq!(config.sql_table(), "t_1");
        let config = DemoConfig::from_pairs(&[]).unwrap();
        assert_eq!(config.redis_prefix(), "session:");
        assert_eq!(config.sql_table(), "sessions");
    }

    #[test]
    fn empty_means_unset() {
        let config = DemoConfig::from_pairs(&[("SESSION_STORE", ""), ("SESSION_SECRET", "")]);
        assert!(config.unwrap().random_secret);
    }

    fn error(name: &str, value: &str) -> String {
        DemoConfig::from_pairs(&[(name, value)])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_values_name_their_variable_on_one_line() {
        let cases = [
            ("BIND", "localhost"),
            ("SESSION_STORE", "nope"),
            ("SESSION_SECRET", "short"),
            ("SESSION_SECRET", ","),
            ("SESSION_IDLE_TIMEOUT_SECS", "abc"),
            ("SESSION_IDLE_TIMEOUT_SECS", "0"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECS", "-5"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECS", "18446744073709551615"),
            ("SESSION_COOKIE_SECURE", "maybe"),
            ("SESSION_NAMESPACE", "Bad-Name"),
            ("SESSION_REMEMBER_SECS", "0"),
            ("SESSION_LOCK_WAIT_SECS", "soon"),
            ("SESSION_MAX_PER_USER", "0"),
            ("SESSION_MAX_PER_USER", "many"),
            ("SESSION_NAMESPACE", "1abc"),
            ("DEMO_SESSION_VERSION", "3"),
            ("DEMO_SESSION_VERSION", "v2"),
        ];
        for (name, value) in cases {
            let message = error(name, value);
            assert!(message.contains(name), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn a_secret_is_never_echoed() {
        let message = error("SESSION_SECRET", "hunter2-is-my-password");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn the_near_cache_is_an_entry_count_and_off_by_default() {
        assert_eq!(DemoConfig::from_pairs(&[]).unwrap().redis_near_cache, 0);
        let on = DemoConfig::from_pairs(&[("SESSION_REDIS_NEAR_CACHE", "5000")]).unwrap();
        assert_eq!(on.redis_near_cache, 5000);
        for bad in ["-1", "many", "1.5"] {
            let err = DemoConfig::from_pairs(&[("SESSION_REDIS_NEAR_CACHE", bad)]).unwrap_err();
            assert!(
                matches!(err, ConfigError::NearCache(ref v) if v == bad),
                "{bad}"
            );
        }
    }
}
