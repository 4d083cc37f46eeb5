//! The listener: per Redis node, two connections of its own that receive
//! the invalidations of every key under the store's prefix.
//!
//! - `sub` subscribes to `__redis__:invalidate` (RESP2 pub/sub);
//! - `ctl` runs `CLIENT TRACKING ON REDIRECT <sub's id> BCAST PREFIX <prefix>`:
//!   Redis then reports every change of a key under the prefix, by any
//!   client (this process's own writes included), to `sub`, as well as
//!   expiries, evictions, and `FLUSHDB`/`FLUSHALL` (an empty key list).
//!
//! Why this shape: broadcast mode reports changes whether or not the
//! process read the key on that connection, so what the store reads and
//! writes on its own connections (a client or pool the application may
//! have built, in either protocol) needs nothing from tracking. Why RESP2
//! pub/sub for `sub`: fred 10 drops RESP3's flush message (an invalidation
//! push with a null key list), and a flush must empty the cache.
//! On a cluster each primary tracks the keys it holds, so each gets its
//! pair, connected to it directly.
//!
//! Any error event on those connections, a cluster topology change, an
//! unanswered heartbeat (every [`HEARTBEAT`], a `PING` on both), or
//! invalidations lost to a full buffer, flushes the cache; all but the last
//! also disable it, and the listener starts over with new connections,
//! retrying with backoff. The cache serves again only once tracking is on.

use std::sync::Arc;
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{
    ClientInterface, ClientLike, EventInterface, PubsubInterface, TrackingInterface,
};
use fred::types::client::Invalidation;
use fred::types::config::{Config, Server, ServerConfig};
use fred::types::Builder;
use fred::types::RespVersion;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::entries::{Entries, Guard};

/// What fred's error channel carries: the error, and the server if known.
type ErrorEvent = (fred::error::Error, Option<Server>);

/// The channel tracking redirects invalidations to.
const INVALIDATION_CHANNEL: &str = "__redis__:invalidate";

/// How often the listener proves its connections alive.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(500);

/// Invalidations fred may buffer for the listener before some are lost
/// (then the cache is flushed).
const INVALIDATION_BUFFER: usize = 65_536;

/// The first and the longest wait between two attempts to set tracking up.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How long a heartbeat stands: the cache stops serving when no heartbeat
/// succeeded for this long (the connections may be cut off silently).
pub(crate) fn liveness(timeout: Duration) -> Duration {
    HEARTBEAT * 2 + timeout
}

/// The running listener; dropping it stops it and closes its connections.
#[derive(Debug)]
pub(crate) struct Listener {
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    pub(crate) fn spawn(
        runtime: &tokio::runtime::Handle,
        entries: Arc<Entries>,
        main: Client,
        prefix: String,
        timeout: Duration,
    ) -> Self {
        let task = runtime.spawn(run(entries, main, prefix, timeout));
        Listener { task }
    }
}

/// Sets tracking up, watches it, and starts over whenever it fails.
async fn run(entries: Arc<Entries>, main: Client, prefix: String, timeout: Duration) {
    let mut delay = RETRY_MIN;
    loop {
        entries.disable();
        // Subscribed before the topology is read: a change meanwhile counts.
        let topology = main.is_clustered().then(|| main.cluster_change_rx());
        match Tracking::start(&main, &entries, &prefix, timeout).await {
            Ok(mut tracking) => {
                let mut guards = std::mem::take(&mut tracking.guards);
                if main.is_clustered() {
                    guards.push(Box::new(main.cluster_change_rx()));
                }
                entries.enable(guards);
                tracing::debug!(nodes = tracking.pairs.len(), "near cache: tracking on");
                delay = RETRY_MIN;
                let reason = tracking.watch(&entries, topology, timeout).await;
                entries.disable();
                tracing::warn!(
                    reason,
                    "near cache: tracking lost; the cache is flushed and off until it is back"
                );
                tracking.quit(timeout).await;
            }
            Err(error) => {
                tracing::warn!(%error, "near cache: cannot turn tracking on; the cache stays off");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// The two connections of one node.
struct Pair {
    sub: Client,
    ctl: Client,
}

/// What a forwarder reports to the watch loop: why its pair failed.
/// Invalidations and flushes it applies itself, as they arrive.
struct Failed(&'static str);

/// Tracking on every node, and the tasks that forward its events.
struct Tracking {
    pairs: Vec<Pair>,
    guards: Vec<Box<dyn Guard>>,
    failures: mpsc::UnboundedReceiver<Failed>,
    forwarders: Vec<JoinHandle<()>>,
}

impl Tracking {
    async fn start(
        main: &Client,
        entries: &Arc<Entries>,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, fred::error::Error> {
        let (tx, failures) = mpsc::unbounded_channel();
        let mut tracking = Tracking {
            pairs: Vec::new(),
            guards: Vec::new(),
            failures,
            forwarders: Vec::new(),
        };
        let started = tracking
            .start_all(main, entries, prefix, timeout, &tx)
            .await;
        if let Err(error) = started {
            tracking.quit(timeout).await;
            return Err(error);
        }
        Ok(tracking)
    }

    async fn start_all(
        &mut self,
        main: &Client,
        entries: &Arc<Entries>,
        prefix: &str,
        timeout: Duration,
        tx: &mpsc::UnboundedSender<Failed>,
    ) -> Result<(), fred::error::Error> {
        for config in node_configs(main) {
            let sub = listener_client(config.clone(), timeout)?;
            let ctl = listener_client(config, timeout)?;
            self.pairs.push(Pair {
                sub: sub.clone(),
                ctl: ctl.clone(),
            });
            within(timeout, sub.init()).await?;
            within(timeout, ctl.init()).await?;
            // Any error from here on counts against this setup.
            self.guards.push(Box::new(sub.error_rx()));
            self.guards.push(Box::new(ctl.error_rx()));
            // Subscribed here, before the channel and tracking: the tasks
            // miss nothing that follows, however late they first run.
            let invalidations = sub.invalidation_rx();
            let errors = [sub.error_rx(), ctl.error_rx()];
            let forwarder = forward(entries.clone(), invalidations, tx.clone());
            self.forwarders.push(tokio::spawn(forwarder));
            self.forwarders
                .push(tokio::spawn(report_errors(errors, tx.clone())));
            let id: i64 = within(timeout, sub.client_id()).await?;
            within(timeout, sub.subscribe(INVALIDATION_CHANNEL)).await?;
            let _: fred::types::Value = within(
                timeout,
                ctl.client_tracking("on", Some(id), prefix, true, false, false, false),
            )
            .await?;
        }
        Ok(())
    }

    /// Proves the connections alive until something goes wrong; answers
    /// what.
    async fn watch(
        &mut self,
        entries: &Entries,
        mut topology: Option<
            tokio::sync::broadcast::Receiver<Vec<fred::types::ClusterStateChange>>,
        >,
        timeout: Duration,
    ) -> &'static str {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                failed = self.failures.recv() => match failed {
                    Some(Failed(reason)) => return reason,
                    None => return "the listener's connections closed",
                },
                _ = changed(&mut topology) => return "the cluster topology changed",
                _ = heartbeat.tick() => {
                    if !self.alive(timeout).await {
                        return "a heartbeat went unanswered";
                    }
                    entries.proven();
                }
            }
        }
    }

    /// A `PING` on every connection, answered within the timeout. On `sub`
    /// it also proves that every invalidation sent before it has arrived.
    async fn alive(&self, timeout: Duration) -> bool {
        for pair in &self.pairs {
            for client in [&pair.sub, &pair.ctl] {
                let ping = client.ping::<fred::types::Value>(None);
                if within(timeout, ping).await.is_err() {
                    return false;
                }
            }
        }
        true
    }

    async fn quit(self, timeout: Duration) {
        for task in &self.forwarders {
            task.abort();
        }
        for pair in &self.pairs {
            let _ = tokio::time::timeout(timeout, pair.sub.quit()).await;
            let _ = tokio::time::timeout(timeout, pair.ctl.quit()).await;
        }
    }
}

/// Waits for a topology change (forever without a cluster).
async fn changed(
    topology: &mut Option<tokio::sync::broadcast::Receiver<Vec<fred::types::ClusterStateChange>>>,
) {
    match topology {
        Some(rx) => {
            let _ = rx.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Applies one pair's invalidations to `entries` as they arrive (on the
/// task that receives them: no hop to another task per write), and
/// reports the end of the channel to the watch loop.
///
/// It waits on nothing else: every write under the prefix, this process's
/// own included, wakes it, and each future a wake polls costs (waiting on
/// the two error channels here too cost about 1.7k instructions per
/// invalidation, BENCHMARKS.md). The errors are [`report_errors`]' task.
async fn forward(
    entries: Arc<Entries>,
    mut invalidations: broadcast::Receiver<Invalidation>,
    tx: mpsc::UnboundedSender<Failed>,
) {
    let reason = loop {
        match invalidations.recv().await {
            Ok(invalidation) => apply(&entries, &invalidation),
            Err(RecvError::Lagged(_)) => {
                tracing::warn!("near cache: invalidations were lost; the cache is flushed");
                entries.flush();
            }
            Err(RecvError::Closed) => break "the invalidation channel closed",
        }
    };
    let _ = tx.send(Failed(reason));
}

/// One invalidation message: an empty key list is a `FLUSHDB` or
/// `FLUSHALL`.
fn apply(entries: &Entries, invalidation: &Invalidation) {
    if invalidation.keys.is_empty() {
        return entries.flush();
    }
    invalidation
        .keys
        .iter()
        .filter_map(|key| key.as_str())
        .for_each(|key| entries.invalidate(key));
}

/// Reports the first error event of a pair's connections (`sub`'s, then
/// `ctl`'s) to the watch loop. Such an event stops the cache at once
/// anyway (the receivers kept as guards in `entries` see it); this task
/// makes the listener start over.
async fn report_errors(
    [mut sub_errors, mut ctl_errors]: [broadcast::Receiver<ErrorEvent>; 2],
    tx: mpsc::UnboundedSender<Failed>,
) {
    let reason = tokio::select! {
        _ = sub_errors.recv() => "the invalidation connection failed",
        _ = ctl_errors.recv() => "the tracking connection failed",
    };
    let _ = tx.send(Failed(reason));
}

/// The configuration of each node's pair: the store's own (servers,
/// credentials, TLS) in RESP2, and on a cluster one per primary node.
pub(crate) fn node_configs(main: &Client) -> Vec<Config> {
    let mut config = main.client_config();
    config.version = RespVersion::RESP2;
    if !main.is_clustered() {
        return vec![config];
    }
    main.active_connections()
        .into_iter()
        .map(|server: Server| Config {
            server: ServerConfig::Centralized { server },
            ..config.clone()
        })
        .collect()
}

/// A client that does not reconnect by itself (the listener starts over
/// instead, and knows it must), with the store's timeouts. The lock
/// wake-ups' subscription (`wakeups.rs`) is one too.
pub(crate) fn listener_client(
    config: Config,
    timeout: Duration,
) -> Result<Client, fred::error::Error> {
    Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = timeout;
            c.internal_command_timeout = timeout;
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = timeout;
            p.broadcast_channel_capacity = INVALIDATION_BUFFER;
        })
        .build()
}

async fn within<T>(
    timeout: Duration,
    future: impl std::future::Future<Output = Result<T, fred::error::Error>>,
) -> Result<T, fred::error::Error> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result,
        Err(_) => Err(fred::error::Error::new(
            fred::error::ErrorKind::Timeout,
            "near cache: no answer in time",
        )),
    }
}
