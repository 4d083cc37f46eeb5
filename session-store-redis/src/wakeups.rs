//! Wake-ups for the waiters of other processes, under
//! `Concurrency::Serialize` (the request cycle wakes the waiters of its own
//! process itself, session-core's hand-off).
//!
//! - A request that finds a session's lease held by another process marks
//!   it as waited on (the `waiting` function of the `mark_waiting` and
//!   `lock` scripts, which also answers the lease's time left): `:w`
//!   appended to the lease's value, the holder's token, its expiry kept.
//! - Every script that gives a lease back (`save_held`, `save_unlock`,
//!   `unlock`) accepts its token marked or not, and when it was marked
//!   publishes the lease key on [`CHANNEL`].
//! - Each process subscribes once, at its first wait ([`Wakeups::wait`]),
//!   on a connection of its own, and wakes one of its waiters of that key
//!   per message (session-core's [`LeaseWakeups`], which keeps the waiters
//!   by key and says why one and not all).
//!
//! Why this shape: a release nobody waits for publishes nothing and runs no
//! command more (the mark is in the value the release reads anyway: one
//! string comparison), and a process that never waits opens nothing. The
//! mark lives exactly as long as the lease, renewals included. Keyspace
//! notifications would need the server's configuration changed and report
//! every lease taken; client tracking (the near cache's listener) reports
//! every change under the prefix to every process.
//!
//! Nothing depends on a message arriving: a waiter still waits at most its
//! backoff step, as without wake-ups. A lost message (the subscription not
//! up yet, its connection down, an ACL that forbids the channel, which
//! `PUBLISH` then fails quietly in the script) costs what waiting cost
//! before.

use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use session_core::store::{LeaseWaiters, LeaseWakeups};
use tokio::sync::broadcast::error::RecvError;

use crate::near_cache::{listener_client, node_configs};

/// The channel the release scripts publish a waited-on lease key on. One
/// for every store on the server: a message names its lease key, which
/// only the process waiting for it knows.
pub(crate) const CHANNEL: &str = "typed-sessions:lease-released";

/// How often the subscription proves its connection alive; a connection
/// that stopped answering is replaced.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The waiters of this process, by lease key (session-core's
/// [`LeaseWakeups`]), and what their subscription is made from.
#[derive(Debug)]
pub(crate) struct Wakeups {
    waiters: LeaseWakeups,
    /// The client whose configuration the subscription copies; `None` for
    /// an empty pool (then nobody is woken, waits end by their time).
    main: Option<Client>,
    timeout: Duration,
}

impl Wakeups {
    pub(crate) fn new(main: Option<Client>, timeout: Duration) -> Self {
        Wakeups {
            waiters: LeaseWakeups::new(),
            main,
            timeout,
        }
    }

    /// Waits for the release of `lease` (subscribing first, the first time
    /// this process waits), at most `max`.
    pub(crate) async fn wait(&self, lease: &str, max: Duration) {
        if let Some(main) = &self.main {
            // Cloned only when the subscription starts, not at every wait.
            let timeout = self.timeout;
            self.waiters
                .start(|waiters| subscribe(waiters, main.clone(), timeout));
        }
        self.waiters.wait(lease, max).await;
    }
}

/// Subscribes to [`CHANNEL`] and wakes the waiters its messages name;
/// session-core's `keep_listening` starts over whenever the connection
/// fails.
async fn subscribe(waiters: LeaseWaiters, main: Client, timeout: Duration) {
    waiters
        .keep_listening(|waiters| {
            let main = main.clone();
            async move {
                let mut subscription = Subscription::open(&main, timeout).await?;
                tracing::debug!("lock wake-ups: subscribed");
                let reason = subscription.forward(&waiters, timeout).await;
                subscription.quit(timeout).await;
                Ok::<_, fred::error::Error>(reason)
            }
        })
        .await;
}

/// The subscribed connection and what it receives.
struct Subscription {
    client: Client,
    messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
    errors:
        tokio::sync::broadcast::Receiver<(fred::error::Error, Option<fred::types::config::Server>)>,
}

impl Subscription {
    /// One node is enough, even on a cluster: a `PUBLISH` reaches the
    /// subscribers of every node.
    async fn open(main: &Client, timeout: Duration) -> Result<Self, fred::error::Error> {
        let config = node_configs(main).into_iter().next().ok_or_else(|| {
            fred::error::Error::new(
                fred::error::ErrorKind::Config,
                "no Redis node to subscribe on",
            )
        })?;
        let client = listener_client(config, timeout)?;
        let subscription = Subscription {
            messages: client.message_rx(),
            errors: client.error_rx(),
            client,
        };
        let subscribed = async {
            subscription.client.init().await?;
            subscription.client.subscribe(CHANNEL).await
        };
        match tokio::time::timeout(timeout, subscribed).await {
            Ok(Ok(())) => Ok(subscription),
            Ok(Err(error)) => {
                subscription.quit(timeout).await;
                Err(error)
            }
            Err(_) => {
                subscription.quit(timeout).await;
                Err(fred::error::Error::new(
                    fred::error::ErrorKind::Timeout,
                    "lock wake-ups: no answer in time",
                ))
            }
        }
    }

    /// Wakes the waiters each message names, until the connection fails;
    /// answers why it stopped.
    async fn forward(&mut self, waiters: &LeaseWaiters, timeout: Duration) -> &'static str {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                message = self.messages.recv() => match message {
                    Ok(message) => {
                        if let Some(lease) = message.value.as_str() {
                            waiters.wake(&lease);
                        }
                    }
                    Err(RecvError::Lagged(_)) => waiters.wake_all(),
                    Err(RecvError::Closed) => return "the message channel closed",
                },
                _ = self.errors.recv() => return "the connection failed",
                _ = heartbeat.tick() => {
                    let ping = self.client.ping::<fred::types::Value>(None);
                    if !matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_))) {
                        return "a heartbeat went unanswered";
                    }
                }
            }
        }
    }

    async fn quit(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.client.quit()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_client_nothing_subscribes() {
        let wakeups = Wakeups::new(None, Duration::from_secs(1));
        wakeups.wait("a", Duration::from_millis(1)).await;
        assert!(!wakeups.waiters.is_started());
    }
}
