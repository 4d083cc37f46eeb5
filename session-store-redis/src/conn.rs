//! The connection: every command of the store goes through here, with the
//! store's timeout, fail-fast and no-retry options, and every error becomes a
//! [`StoreError`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use fred::clients::{Client, Pool, WithOptions};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::config::Options;
use fred::types::scan::{ScanResult, Scanner};
use fred::types::{ClusterHash, CustomCommand, Expiration, SetOptions, Value};
use futures_util::future::join;
use futures_util::{Stream, StreamExt};
use session_core::store::StoreError;

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

/// Whether Redis refused a command because the key holds another type.
fn is_wrong_type(error: &FredError) -> bool {
    error.details().starts_with("WRONGTYPE")
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

    /// A client whose configuration and topology stand for the backend's
    /// (the near cache's listener copies them); `None` for an empty pool.
    pub(crate) fn main_client(&self) -> Option<Client> {
        match &self.backend {
            Backend::Client(client) => Some(client.clone()),
            Backend::Pool(pool) => pool.clients().first().cloned(),
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

    /// A reply of a command that fred timed itself (every command carries
    /// the store's timeout in its options), its error mapped.
    fn answer<T>(&self, reply: Result<T, FredError>) -> Result<T, StoreError> {
        reply.map_err(|e| self.error(e))
    }

    /// Runs `future` within the timeout. fred enforces the same timeout on
    /// each command; this is the backstop for the calls that fred does not
    /// time (scans, the connection-level calls).
    async fn timed<T>(
        &self,
        future: impl Future<Output = Result<T, FredError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// Sends one command. The fred future is boxed: it is large, and it
    /// would otherwise be copied through every `async fn` that awaits it.
    fn send<'a>(
        &'a self,
        command: &'static str,
        hash: ClusterHash,
        args: Vec<Value>,
        options: &'a Options,
    ) -> Pin<Box<dyn Future<Output = Result<Value, FredError>> + Send + 'a>> {
        let command = CustomCommand::new_static(command, hash, false);
        Box::pin(async move {
            self.client()
                .with_options(options)
                .custom::<Value, Value>(command, args)
                .await
        })
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

    /// Runs one command on a record key: `Ok(None)` when Redis answers
    /// `WRONGTYPE` (the key holds something other than a string, such as a
    /// record of an older layout), which is no session, not an outage.
    pub(crate) async fn call_string(
        &self,
        command: &'static str,
        key: &str,
        args: Vec<Value>,
    ) -> Result<Option<Value>, StoreError> {
        let hash = ClusterHash::Custom(slot(key));
        self.string_reply(self.send(command, hash, args, &self.options).await)
    }

    /// Runs one command on a cluster slot.
    pub(crate) async fn call_on(
        &self,
        command: &'static str,
        slot: u16,
        args: Vec<Value>,
    ) -> Result<Value, StoreError> {
        let hash = ClusterHash::Custom(slot);
        self.answer(self.send(command, hash, args, &self.options).await)
    }

    /// Sends `commands` to the slot of `key` in one pipeline (one round
    /// trip) and answers each reply, `None` for a `WRONGTYPE` one.
    pub(crate) async fn pipeline(
        &self,
        key: &str,
        commands: Vec<(&'static str, Vec<Value>)>,
    ) -> Result<Vec<Option<Value>>, StoreError> {
        let expected = commands.len();
        let hash = ClusterHash::Custom(slot(key));
        let sent = Box::pin(async move {
            let pipeline = self.client().pipeline();
            let queue = pipeline.with_options(&self.options);
            for (command, args) in commands {
                let command = CustomCommand::new_static(command, hash.clone(), false);
                // Queuing answers at once; the replies come from `try_all`.
                queue.custom::<Value, Value>(command, args).await?;
            }
            Ok::<_, FredError>(pipeline.try_all::<Value>().await)
        });
        let replies = self.timed(sent).await?;
        if replies.len() != expected {
            // The whole pipeline failed (connection, timeout): one error.
            let error = replies.into_iter().find_map(Result::err);
            return Err(error.map_or_else(
                || StoreError::Malformed("short pipeline reply".into()),
                |e| self.error(e),
            ));
        }
        replies
            .into_iter()
            .map(|reply| match reply {
                Ok(value) => Ok(Some(value)),
                Err(error) if is_wrong_type(&error) => Ok(None),
                Err(error) => Err(self.error(error)),
            })
            .collect()
    }

    /// Runs a typed command within the timeout: `Ok(None)` when Redis
    /// answers `WRONGTYPE` (the key holds something other than a string,
    /// such as a record of an older layout), which is no session, not an
    /// outage.
    async fn on_string<T>(
        &self,
        command: impl Future<Output = Result<T, FredError>>,
    ) -> Result<Option<T>, StoreError> {
        self.string_reply(command.await)
    }

    /// A reply to a command on a record key; see [`Self::on_string`].
    fn string_reply<T>(&self, reply: Result<T, FredError>) -> Result<Option<T>, StoreError> {
        match reply {
            Ok(value) => Ok(Some(value)),
            Err(error) if is_wrong_type(&error) => Ok(None),
            Err(error) => Err(self.error(error)),
        }
    }

    /// The client with the store's per-command options.
    fn typed(&self) -> WithOptions<Client> {
        self.client().with_options(&self.options)
    }

    /// `GET key` and `PEXPIREAT key at`, written together (one round trip;
    /// Redis runs them back to back): the value (`None`: another type) and
    /// whether the key still existed for the `PEXPIREAT`.
    ///
    /// This and the other typed commands below are fred's typed commands:
    /// fred flushes every custom command on its own, while typed ones share
    /// writes with other requests' commands under load, which is most of
    /// what a command costs Redis.
    pub(crate) async fn get_and_expire(
        &self,
        key: &str,
        at: i64,
    ) -> Result<(Option<Value>, bool), StoreError> {
        let client = self.typed();
        let get = Box::pin(client.get::<Value, _>(key));
        let expire = Box::pin(client.pexpire_at::<i64, _>(key, at, None));
        let (value, expired) = join(get, expire).await;
        let value = self.string_reply(value)?;
        let expired = self.answer(expired)?;
        Ok((value, expired == 1))
    }

    /// `GET key`: the value (`None`: another type).
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let reply = Box::pin(self.typed().get::<Value, _>(key)).await;
        self.string_reply(reply)
    }

    /// `GET key` and `PEXPIRETIME key`, written together: the value (`None`:
    /// another type) and the key's expiry (-1 none, -2 no key).
    pub(crate) async fn get_with_expiry(
        &self,
        key: &str,
    ) -> Result<(Option<Value>, i64), StoreError> {
        let client = self.typed();
        let get = Box::pin(client.get::<Value, _>(key));
        let expiry = Box::pin(client.pexpire_time::<i64, _>(key));
        let (value, expiry) = join(get, expiry).await;
        let value = self.string_reply(value)?;
        let expiry = self.answer(expiry)?;
        Ok((value, expiry))
    }

    /// `SET key value PXAT at NX|XX [GET]`: the reply (`Null` when the
    /// condition failed; with `GET` the replaced value), `None` for
    /// `WRONGTYPE` (only with `GET`, which then leaves the key alone).
    pub(crate) async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        at: i64,
        condition: SetOptions,
        get: bool,
    ) -> Result<Option<Value>, StoreError> {
        let client = self.typed();
        let expire = Some(Expiration::PXAT(at));
        let value = Value::Bytes(value.into());
        let set = client.set::<Value, _, _>(key, value, expire, Some(condition), get);
        self.on_string(Box::pin(set)).await
    }

    /// `SET lock token PX lease NX` and `GET key`, with `PEXPIRETIME key`
    /// when `with_expiry`, written together (one round trip; Redis runs
    /// them back to back): whether the lease was taken, the value (`None`:
    /// another type) and the key's expiry (-1 none, -2 no key; 0 when not
    /// asked).
    pub(crate) async fn lock_and_get(
        &self,
        lock: &str,
        token: String,
        lease_ms: i64,
        key: &str,
        with_expiry: bool,
    ) -> Result<(bool, Option<Value>, i64), StoreError> {
        let client = self.typed();
        let expire = Some(Expiration::PX(lease_ms));
        let take =
            Box::pin(client.set::<Value, _, _>(lock, token, expire, Some(SetOptions::NX), false));
        let get = Box::pin(client.get::<Value, _>(key));
        let (taken, value, expiry) = if with_expiry {
            let expiry = Box::pin(client.pexpire_time::<i64, _>(key));
            let ((taken, value), expiry) = join(join(take, get), expiry).await;
            (taken, value, self.answer(expiry)?)
        } else {
            let (taken, value) = join(take, get).await;
            (taken, value, 0)
        };
        let taken = !self.answer(taken)?.is_null();
        Ok((taken, self.string_reply(value)?, expiry))
    }

    /// `PTTL key`: ms left (-1 no expiry, -2 no key).
    pub(crate) async fn pttl(&self, key: &str) -> Result<i64, StoreError> {
        let client = self.typed();
        let pttl = Box::pin(client.pttl::<i64, _>(key));
        self.answer(pttl.await)
    }

    /// `PEXPIREAT key at`: whether the key exists.
    pub(crate) async fn pexpire_at(&self, key: &str, at: i64) -> Result<bool, StoreError> {
        let client = self.typed();
        let set = Box::pin(client.pexpire_at::<i64, _>(key, at, None));
        Ok(self.answer(set.await)? == 1)
    }

    /// `UNLINK key`: whether it existed.
    pub(crate) async fn unlink(&self, key: &str) -> Result<bool, StoreError> {
        let client = self.typed();
        let unlink = Box::pin(client.unlink::<i64, _>(key));
        Ok(self.answer(unlink.await)? > 0)
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
        let first = self
            .send("EVALSHA", hash.clone(), with_sha, &self.options)
            .await;
        match first {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                tracing::debug!(
                    script = script.name,
                    "script not cached on the server; sending it"
                );
                let with_text = std::iter::once(Value::from(script.text.as_str()))
                    .chain(tail)
                    .collect();
                self.answer(self.send("EVAL", hash, with_text, &self.options).await)
            }
            result => self.answer(result),
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
