//! The connection: every command of the store goes through here, with the
//! store's timeout, fail-fast and no-retry options, and every error becomes a
//! [`StoreError`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::ClientLike;
use fred::types::config::Options;
use fred::types::scan::{ScanResult, Scanner};
use fred::types::{ClusterHash, CustomCommand, Value};
use futures_util::{Stream, StreamExt};
use session_core::StoreError;

use crate::keys::slot;
use crate::scripts::Script;

/// What the application handed over: one client or a pool of clients.
#[derive(Clone)]
pub(crate) enum Backend {
    Client(Client),
    Pool(Pool),
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Client(c) => f.debug_tuple("Client").field(&c.id()).finish(),
            Backend::Pool(p) => f.debug_tuple("Pool").field(&p.size()).finish(),
        }
    }
}

impl Backend {
    /// Closes the connections (best effort, within `timeout`).
    pub(crate) async fn quit(&self, timeout: Duration) {
        let _ = match self {
            Backend::Client(client) => tokio::time::timeout(timeout, client.quit()).await,
            Backend::Pool(pool) => tokio::time::timeout(timeout, pool.quit()).await,
        };
    }
}

/// The connection plus the per-command options of the store.
#[derive(Debug)]
pub(crate) struct Redis {
    backend: Backend,
    timeout: Duration,
    options: Options,
    /// Whether the store opened the connection (and closes it when dropped).
    owned: bool,
}

impl Drop for Redis {
    fn drop(&mut self) {
        // A client made by `connect` would otherwise reconnect forever in
        // the background after the last clone of the store is gone.
        if let (true, Ok(runtime)) = (self.owned, tokio::runtime::Handle::try_current()) {
            let (backend, timeout) = (self.backend.clone(), self.timeout);
            runtime.spawn(async move { backend.quit(timeout).await });
        }
    }
}

type Pages = Pin<Box<dyn Stream<Item = Result<ScanResult, FredError>> + Send>>;

impl Redis {
    pub(crate) fn new(backend: Backend, timeout: Duration, owned: bool) -> Self {
        let options = Options {
            timeout: Some(timeout),
            // While the connection is down, answer at once instead of
            // queueing behind the reconnection: requests fail fast (503).
            fail_fast: true,
            // A write whose reply was lost is not replayed: a replayed
            // create would report "exists" for its own write.
            max_attempts: Some(1),
            ..Options::default()
        };
        Redis {
            backend,
            timeout,
            options,
            owned,
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client for the next command (a connected one, from a pool).
    pub(crate) fn client(&self) -> &Client {
        match &self.backend {
            Backend::Client(client) => client,
            Backend::Pool(pool) => pool.next_connected(),
        }
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    pub(crate) fn is_clustered(&self) -> bool {
        self.client().is_clustered()
    }

    /// Maps a fred error to the store's error.
    fn error(&self, error: FredError) -> StoreError {
        tracing::debug!(%error, "redis command failed");
        match error.kind() {
            ErrorKind::Timeout => StoreError::Timeout(self.timeout),
            _ => StoreError::unavailable(error),
        }
    }

    /// Runs `future` within the timeout. fred enforces the same timeout; this
    /// is the backstop for the calls that fred does not time (scans).
    async fn timed<T>(
        &self,
        future: impl Future<Output = Result<T, FredError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    async fn send(
        &self,
        command: &'static str,
        hash: ClusterHash,
        args: Vec<Value>,
        options: &Options,
    ) -> Result<Value, FredError> {
        let command = CustomCommand::new_static(command, hash, false);
        self.client()
            .with_options(options)
            .custom::<Value, Value>(command, args)
            .await
    }

    /// Runs one command on the slot of `key` (its first key).
    pub(crate) async fn call(
        &self,
        command: &'static str,
        key: &str,
        args: Vec<Value>,
    ) -> Result<Value, StoreError> {
        self.call_on(command, slot(key), args).await
    }

    /// Runs one command on a cluster slot.
    pub(crate) async fn call_on(
        &self,
        command: &'static str,
        slot: u16,
        args: Vec<Value>,
    ) -> Result<Value, StoreError> {
        let hash = ClusterHash::Custom(slot);
        self.timed(self.send(command, hash, args, &self.options))
            .await
    }

    /// Runs a script with `EVALSHA`, or with `EVAL` when the server does not
    /// know it yet (after a restart, a failover or `SCRIPT FLUSH`); `EVAL`
    /// also caches it there, so the next call is one `EVALSHA` again.
    pub(crate) async fn eval(
        &self,
        script: &Script,
        keys: &[&str],
        args: Vec<Value>,
    ) -> Result<Value, StoreError> {
        let hash = ClusterHash::Custom(keys.first().map_or(0, |k| slot(k)));
        let mut tail: Vec<Value> = Vec::with_capacity(1 + keys.len() + args.len());
        tail.push((keys.len() as i64).into());
        tail.extend(keys.iter().map(|k| Value::from(*k)));
        tail.extend(args);
        let with_sha = std::iter::once(Value::from(script.sha.as_str()))
            .chain(tail.iter().cloned())
            .collect();
        let first = tokio::time::timeout(
            self.timeout,
            self.send("EVALSHA", hash.clone(), with_sha, &self.options),
        )
        .await;
        match first {
            Ok(Err(error)) if error.details().starts_with("NOSCRIPT") => {
                tracing::debug!(
                    script = script.name,
                    "script not cached on the server; sending it"
                );
                let with_text = std::iter::once(Value::from(script.text.as_str()))
                    .chain(tail)
                    .collect();
                self.timed(self.send("EVAL", hash, with_text, &self.options))
                    .await
            }
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// Loads scripts into the script cache of every node this client talks
    /// to, so that the first requests need no `EVAL` fallback.
    pub(crate) async fn load_scripts(&self, scripts: &[&Script]) -> Result<(), StoreError> {
        let client = self.client();
        let nodes = if client.is_clustered() {
            client.active_connections().into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        for node in nodes {
            let options = Options {
                cluster_node: node,
                ..self.options.clone()
            };
            for script in scripts {
                let args = vec![Value::from("LOAD"), Value::from(script.text.as_str())];
                self.timed(self.send("SCRIPT", ClusterHash::Random, args, &options))
                    .await?;
            }
        }
        Ok(())
    }

    /// `PING`, within the timeout.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.timed(self.send("PING", ClusterHash::Random, Vec::new(), &self.options))
            .await
            .map(|_| ())
    }

    /// Starts a `SCAN MATCH pattern` over every primary node. Fails at once
    /// while the connection is down.
    pub(crate) fn scan(&self, pattern: &str) -> Result<Scan<'_>, StoreError> {
        let client = self.client();
        if !client.is_connected() {
            return Err(StoreError::unavailable(FredError::new(
                ErrorKind::IO,
                "not connected to redis",
            )));
        }
        let pattern = pattern.to_owned();
        let pages: Pages = if client.is_clustered() {
            Box::pin(client.scan_cluster(pattern, Some(SCAN_COUNT), None))
        } else {
            Box::pin(client.scan(pattern, Some(SCAN_COUNT), None))
        };
        Ok(Scan { redis: self, pages })
    }
}

/// Keys asked per `SCAN` step.
const SCAN_COUNT: u32 = 500;

/// A scan in progress: pages of keys, each within the timeout.
pub(crate) struct Scan<'a> {
    redis: &'a Redis,
    pages: Pages,
}

impl Scan<'_> {
    /// The next page of keys, or `None` at the end.
    pub(crate) async fn next_page(&mut self) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let pages = &mut self.pages;
        let next = self
            .redis
            .timed(async move { pages.next().await.transpose() });
        let Some(mut page) = next.await? else {
            return Ok(None);
        };
        let keys = page
            .take_results()
            .unwrap_or_default()
            .into_iter()
            .map(|key| key.as_bytes().to_vec())
            .collect();
        // Dropping the page asks for the next one.
        drop(page);
        Ok(Some(keys))
    }
}
