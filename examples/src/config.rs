//! The demo's configuration, read from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `BIND` | address to listen on (`IP:PORT`; port `0` picks a free one) | `127.0.0.1:3000` |
//! | `SESSION_STORE` | `memory`, `redis`, `cookie`, `postgres`, `mysql`, `sqlite` | `memory` |
//! | `REDIS_URL` | Redis to use with `redis` | `redis://127.0.0.1:6379` |
//! | `DATABASE_URL` | database of the SQL stores | see [`StoreKind::default_database_url`] |
//! | `SESSION_SECRET` | secrets of 32 bytes or more, comma-separated, the first seals | random per start, with a warning |
//! | `SESSION_IDLE_TIMEOUT_SECS` | idle timeout in seconds | `3600` |
//! | `SESSION_ABSOLUTE_TIMEOUT_SECS` | absolute timeout in seconds | `86400` |
//! | `SESSION_COOKIE_SECURE` | `true`/`false`: the `Secure` cookie attribute | `true` |
//! | `SESSION_NAMESPACE` | isolates runs sharing a server: the Redis key prefix or SQL table name | the store's own |
//!
//! An empty variable counts as unset. Any other bad value is a [`ConfigError`]
//! whose message names the variable, and the binaries exit with it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use session_core::crypto::KeyError;
use session_core::KeyRing;

/// The longest timeout accepted: ten years. Far beyond any sensible session,
/// and small enough that adding it to "now" cannot overflow a date.
const MAX_TIMEOUT_SECS: u64 = 10 * 365 * 24 * 3600;

/// The longest `SESSION_NAMESPACE`: it becomes an SQL identifier, and
/// MySQL allows 64 characters for a whole table name.
const MAX_NAMESPACE_LEN: usize = 48;

/// Which session store the demo runs on (`SESSION_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// In this process only (the default).
    Memory,
    /// Redis at `REDIS_URL`.
    Redis,
    /// The whole session sealed in the cookie; no server state.
    Cookie,
    /// PostgreSQL at `DATABASE_URL`.
    Postgres,
    /// MySQL or MariaDB at `DATABASE_URL`.
    Mysql,
    /// SQLite at `DATABASE_URL`.
    Sqlite,
}

impl StoreKind {
    /// Every store, in the order the documentation lists them.
    pub const ALL: [StoreKind; 6] = [
        StoreKind::Memory,
        StoreKind::Redis,
        StoreKind::Cookie,
        StoreKind::Postgres,
        StoreKind::Mysql,
        StoreKind::Sqlite,
    ];

    /// The name used in `SESSION_STORE`.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
            StoreKind::Cookie => "cookie",
            StoreKind::Postgres => "postgres",
            StoreKind::Mysql => "mysql",
            StoreKind::Sqlite => "sqlite",
        }
    }

    /// The `DATABASE_URL` used when the variable is unset: the local servers
    /// of a development machine, or a file in the working directory.
    ///
    /// ```
    /// use examples::StoreKind;
    ///
    /// assert_eq!(StoreKind::Postgres.default_database_url(), Some("postgres://postgres@127.0.0.1:5432/test"));
    /// assert_eq!(StoreKind::Memory.default_database_url(), None);
    /// ```
    pub fn default_database_url(self) -> Option<&'static str> {
        match self {
            StoreKind::Postgres => Some("postgres://postgres@127.0.0.1:5432/test"),
            StoreKind::Mysql => Some("mysql://root@127.0.0.1:3306/test"),
            StoreKind::Sqlite => Some("sqlite://demo-sessions.db?mode=rwc"),
            StoreKind::Memory | StoreKind::Redis | StoreKind::Cookie => None,
        }
    }

    fn parse(value: &str) -> Option<StoreKind> {
        StoreKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    #[error(
        "SESSION_STORE must be one of memory, redis, cookie, postgres, mysql, sqlite, got {0:?}"
    )]
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
    /// `SESSION_NAMESPACE` cannot be a key prefix and a table name.
    #[error("SESSION_NAMESPACE must be 1 to {MAX_NAMESPACE_LEN} characters from a-z, 0-9 and _, starting with a letter, got {0:?}")]
    Namespace(String),
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
    /// `DATABASE_URL`, or the store's default; `None` for stores without a
    /// database.
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
    /// `SESSION_NAMESPACE`: the Redis key prefix or SQL table name that keeps
    /// this run apart from others on the same server (tests set it).
    pub namespace: Option<String>,
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
    /// assert_eq!(config.store, StoreKind::Memory);
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
            None => StoreKind::Memory,
            Some(value) => StoreKind::parse(&value).ok_or(ConfigError::Store(value))?,
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
            database_url: get("DATABASE_URL")?
                .or_else(|| store.default_database_url().map(Into::into)),
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
        })
    }
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
        assert_eq!(config.store, StoreKind::Memory);
        assert_eq!(config.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(config.database_url, None);
        assert!(config.random_secret);
        assert_eq!(config.idle_timeout, Duration::from_secs(3600));
        assert_eq!(config.absolute_timeout, Duration::from_secs(86400));
        assert!(config.cookie_secure);
        assert_eq!(config.namespace, None);
    }

    #[test]
    fn every_variable_is_read() {
        let config = DemoConfig::from_pairs(&[
            ("BIND", "127.0.0.1:0"),
            ("SESSION_STORE", "Postgres"),
            ("REDIS_URL", "redis://example:1"),
            ("DATABASE_URL", "postgres://u@h/db"),
            ("SESSION_SECRET", &format!("{SECRET},{SECRET}")),
            ("SESSION_IDLE_TIMEOUT_SECS", "1"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECS", "2"),
            ("SESSION_COOKIE_SECURE", "FALSE"),
            ("SESSION_NAMESPACE", "t_42"),
        ])
        .unwrap();
        assert_eq!(config.bind.port(), 0);
        assert_eq!(config.store, StoreKind::Postgres);
        assert_eq!(config.redis_url, "redis://example:1");
        assert_eq!(config.database_url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(config.keys.len(), 2);
        assert!(!config.random_secret);
        assert_eq!(config.idle_timeout, Duration::from_secs(1));
        assert_eq!(config.absolute_timeout, Duration::from_secs(2));
        assert!(!config.cookie_secure);
        assert_eq!(config.namespace.as_deref(), Some("t_42"));
    }

    #[test]
    fn sql_stores_get_a_default_database() {
        for kind in [StoreKind::Postgres, StoreKind::Mysql, StoreKind::Sqlite] {
            let config = DemoConfig::from_pairs(&[("SESSION_STORE", kind.name())]).unwrap();
            assert_eq!(config.database_url.as_deref(), kind.default_database_url());
            assert!(config.database_url.is_some());
        }
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
            ("SESSION_NAMESPACE", "1abc"),
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
}
