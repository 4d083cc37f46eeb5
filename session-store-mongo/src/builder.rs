//! Building a [`MongoStore`]: from a URL, or from a client that the
//! application built.

use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::ClientOptions;
use mongodb::Client;
pub use session_core::store::DEFAULT_CLEANUP_EVERY;
use session_core::store::{CleanupSchedule, StoreError};

use crate::error::{ConfigError, ConnectError};
use crate::store::{MongoStore, LEASE_SUFFIX};

/// The collection name used unless [`MongoStoreBuilder::collection`] says
/// otherwise.
pub const DEFAULT_COLLECTION: &str = "sessions";
/// The database used when neither [`MongoStoreBuilder::database`] nor the
/// URL (or the client's options) names one.
pub const DEFAULT_DATABASE: &str = "sessions";
/// The default command timeout.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How many expired documents one cleanup batch removes at most unless
/// [`MongoStoreBuilder::cleanup_batch`] says otherwise.
pub const DEFAULT_CLEANUP_BATCH: u32 = 100;

/// Builds a [`MongoStore`]. Get one with [`MongoStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use session_store_mongo::MongoStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
/// # let url = std::env::var("MONGODB_URL")
/// #     .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/test?directConnection=true".into());
/// let store = MongoStore::builder()
///     .collection("doc_example_sessions")
///     .command_timeout(Duration::from_millis(500))
///     .connect(&url)
///     .await?;
/// assert_eq!(store.collection_name(), "doc_example_sessions");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MongoStoreBuilder {
    database: Option<String>,
    collection: String,
    settings: Settings,
}

/// What the builder sets beside the names.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) command_timeout: Duration,
    pub(crate) cleanup: CleanupSchedule,
}

impl Default for MongoStoreBuilder {
    fn default() -> Self {
        MongoStoreBuilder {
            database: None,
            collection: DEFAULT_COLLECTION.to_owned(),
            settings: Settings {
                command_timeout: DEFAULT_COMMAND_TIMEOUT,
                cleanup: CleanupSchedule::new(DEFAULT_CLEANUP_BATCH),
            },
        }
    }
}

impl MongoStoreBuilder {
    /// The database that holds the collection (default: the one the URL or
    /// the client's options name, else `sessions`).
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = Some(name.into());
        self
    }

    /// The collection name (default `sessions`). Stores with different
    /// collections share a server without seeing each other, and
    /// [`clear`](session_core::store::SessionStore::clear) empties only this one
    /// (and its lease collection, this name with `_locks` added, which is
    /// why the name may have at most 194 bytes).
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// How long one operation may take before the store answers
    /// [`StoreError::Timeout`] (default 1 second), however the client is
    /// configured. For [`connect`](Self::connect) it is also the client's
    /// server selection and connection timeout, and the time the first
    /// `ping` may take.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.settings.command_timeout = timeout;
        self
    }

    /// How often expired documents are removed in the background and
    /// reported to `on_expired` (default [`DEFAULT_CLEANUP_EVERY`]); see
    /// [`CleanupSchedule`] for the task. The TTL index stays as the
    /// backstop: a document it removes first is not reported, so a period
    /// well below MongoDB's TTL monitor interval (60 s) reports more of them.
    pub fn cleanup_every(mut self, period: Duration) -> Self {
        self.settings.cleanup.set_every(period);
        self
    }

    /// No background cleanup, for deployments that run
    /// [`MongoStore::remove_expired`] from a scheduled job, or that need no
    /// expiry reports (the TTL index removes expired documents either way).
    pub fn no_cleanup(mut self) -> Self {
        self.settings.cleanup.disable();
        self
    }

    /// How many expired documents one cleanup batch finds and removes at
    /// most (default [`DEFAULT_CLEANUP_BATCH`]; zero is taken as one).
    /// Each of a batch's commands must finish within the command timeout:
    /// the claim (an `update_many` over the batch's ids) takes longest.
    pub fn cleanup_batch(mut self, documents: u32) -> Self {
        self.settings.cleanup.set_batch(documents);
        self
    }

    /// A store on a client the application built (and keeps using for its
    /// own data). Its options (pool, TLS, credentials, server selection)
    /// stay as they are; the store bounds each of its operations by the
    /// command timeout. Nothing is sent to the server here: an unreachable
    /// server shows on first use. Fails only on an invalid database or
    /// collection name.
    ///
    /// Call [`MongoStore::migrate`] once at start to create the indexes.
    pub fn build_with_client(self, client: Client) -> Result<MongoStore, StoreError> {
        let database = match self.database {
            Some(name) => name,
            None => client
                .default_database()
                .map(|db| db.name().to_owned())
                .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
        };
        check_database(&database)?;
        check_collection(&self.collection)?;
        let database = client.database(&database);
        let collection = database.collection(&self.collection);
        Ok(MongoStore::new(database, collection, &self.settings))
    }

    /// Connects to the server that `url` names and checks it with a `ping`,
    /// within the command timeout. An unreachable server is
    /// [`StoreError::Unavailable`] with a [`ConnectError`] inside; an invalid
    /// URL or name is [`StoreError::Config`] with a [`ConfigError`] inside,
    /// found before any connection is tried.
    ///
    /// The URL is a MongoDB connection string:
    /// `mongodb://user:password@host:27017/app?authSource=admin` (a replica
    /// set lists its hosts, `mongodb://a:27017,b:27017/app?replicaSet=rs0`;
    /// `directConnection=true` talks to one server only; `tls=true` uses
    /// rustls). `mongodb+srv://` needs the `dns-srv` feature. The client
    /// reconnects by itself after an outage.
    ///
    /// Call [`MongoStore::migrate`] once at start to create the indexes.
    pub async fn connect(self, url: &str) -> Result<MongoStore, StoreError> {
        check_collection(&self.collection)?;
        if let Some(database) = &self.database {
            check_database(database)?;
        }
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|e| ConfigError::InvalidUrl {
                reason: url_reason(&e, url),
            })?;
        let servers = servers(&options);
        let timeout = self.settings.command_timeout;
        // Without these an unreachable server holds every call for the
        // driver's 30 s server selection timeout.
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        let client = Client::with_options(options).map_err(|e| ConfigError::InvalidUrl {
            reason: url_reason(&e, url),
        })?;
        let store = self.build_with_client(client)?;
        // The driver's own timeout answers first, with its reason (refused,
        // unknown host); this one is the backstop for a server that accepts
        // connections and never replies.
        let database = store.database();
        let ping = database.run_command(doc! { "ping": 1 });
        match tokio::time::timeout(timeout * 2, ping).await {
            Ok(Ok(_)) => Ok(store),
            Ok(Err(source)) => Err(ConnectError::Unreachable { servers, source }.into()),
            Err(_) => Err(ConnectError::TimedOut { servers, timeout }.into()),
        }
    }
}

/// The hosts of a connection string, as `host:port`, never credentials.
fn servers(options: &ClientOptions) -> String {
    let hosts: Vec<String> = options.hosts.iter().map(|h| h.to_string()).collect();
    hosts.join(", ")
}

/// The driver's reason for refusing `url`. Its messages may quote the
/// part of the URL that it could not read, so the user information (user
/// and password) is cut out of them wherever it appears.
fn url_reason(error: &mongodb::error::Error, url: &str) -> String {
    let message = match &*error.kind {
        mongodb::error::ErrorKind::InvalidArgument { message, .. } => message.clone(),
        _ => error.to_string(),
    };
    match user_info(url) {
        Some(secret) => message.replace(secret, "<credentials>"),
        None => message,
    }
}

/// The `user:password` part of a connection string, if any.
fn user_info(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map(|(info, _)| info)
        .filter(|info| !info.is_empty())
}

fn invalid(what: &'static str, name: &str, reason: &'static str) -> StoreError {
    ConfigError::InvalidName {
        what,
        name: name.to_owned(),
        reason,
    }
    .into()
}

/// MongoDB's rules for database names (on every platform it runs on).
fn check_database(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(invalid("database", name, "empty"));
    }
    if name.len() >= 64 {
        return Err(invalid("database", name, "64 bytes or longer"));
    }
    if name
        .chars()
        .any(|c| "/\\. \"$*<>:|?".contains(c) || c == '\0')
    {
        return Err(invalid(
            "database",
            name,
            "contains one of / \\ . space \" $ * < > : | ? or NUL",
        ));
    }
    Ok(())
}

/// MongoDB's rules for collection names, for the sessions' collection and
/// the lease collection named after it (`_locks` added).
fn check_collection(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(invalid("collection", name, "empty"));
    }
    if name.len() + LEASE_SUFFIX.len() > 200 {
        return Err(invalid(
            "collection",
            name,
            "longer than 194 bytes (the lease collection adds `_locks` within MongoDB's 200)",
        ));
    }
    if name.contains('$') || name.contains('\0') {
        return Err(invalid("collection", name, "contains '$' or NUL"));
    }
    if name.starts_with("system.") || name.starts_with('.') || name.ends_with('.') {
        return Err(invalid(
            "collection",
            name,
            "starts with \"system.\", or starts or ends with '.'",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_mongodb_refuses_are_refused_before_any_io() {
        for bad in ["", "a.b", "a b", "a$b", "x/y", &"d".repeat(64)] {
            assert!(check_database(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "a$b", "system.users", ".a", "a.", &"c".repeat(195)] {
            assert!(check_collection(bad).is_err(), "{bad:?}");
        }
        assert!(check_database("app_1").is_ok());
        assert!(check_collection("web.sessions").is_ok());
        // The lease collection, 6 bytes longer, still within 200.
        assert!(check_collection(&"c".repeat(194)).is_ok());
    }

    #[test]
    fn user_information_is_found_for_redaction() {
        assert_eq!(user_info("mongodb://u:p%40ss@h:1/db"), Some("u:p%40ss"));
        assert_eq!(user_info("mongodb://h:1/db?x=a@b"), None);
        assert_eq!(user_info("mongodb://h:1"), None);
    }
}
