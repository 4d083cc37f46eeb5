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
//! - Each process subscribes once, at its first wait ([`Wakeups::start`]),
//!   on a connection of its own, and wakes one of its waiters of that key
//!   per message: the one that takes the lease hands it on to the others
//!   of its process (session-core's hand-off), so that a release does not
//!   send them all to the store at once.
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{futures::Notified, Notify};
use tokio::task::JoinHandle;

use crate::near_cache::{listener_client, node_configs};

/// The channel the release scripts publish a waited-on lease key on. One
/// for every store on the server: a message names its lease key, which
/// only the process waiting for it knows.
pub(crate) const CHANNEL: &str = "typed-sessions:lease-released";

/// How often the subscription proves its connection alive; a connection
/// that stopped answering is replaced.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The first and the longest wait between two attempts to subscribe.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The waiters of this process, by lease key, and the subscription that
/// wakes them.
#[derive(Debug)]
pub(crate) struct Wakeups {
    waiters: Arc<Waiters>,
    /// The subscribing task, started at the first wait; aborted when the
    /// store goes.
    task: OnceLock<Option<Task>>,
    /// The client whose configuration the subscription copies; `None` for
    /// an empty pool (then nobody is woken, waits end by their time).
    main: Option<Client>,
    timeout: Duration,
}

impl Wakeups {
    pub(crate) fn new(main: Option<Client>, timeout: Duration) -> Self {
        Wakeups {
            waiters: Arc::new(Waiters::default()),
            task: OnceLock::new(),
            main,
            timeout,
        }
    }

    /// Subscribes, the first time it is called (later calls do nothing).
    pub(crate) fn start(&self) {
        self.task.get_or_init(|| {
            let main = self.main.clone()?;
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let waiters = Arc::clone(&self.waiters);
            Some(Task(runtime.spawn(subscribe(waiters, main, self.timeout))))
        });
    }

    /// Notes a waiter of `lease`: wakes when a message for it arrives, for
    /// as long as the [`Interest`] lives.
    pub(crate) fn interest(&self, lease: &str) -> Interest {
        let notify = self.waiters.join(lease);
        Interest {
            waiters: Arc::clone(&self.waiters),
            lease: lease.to_owned(),
            notify,
        }
    }
}

/// A waiter's registration; see [`Wakeups::interest`].
pub(crate) struct Interest {
    waiters: Arc<Waiters>,
    lease: String,
    notify: Arc<Notify>,
}

impl Interest {
    /// A future that ends at the next wake-up of this lease.
    pub(crate) fn woken(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.waiters.leave(&self.lease);
    }
}

/// The lease keys this process waits for, with their number of waiters.
#[derive(Debug, Default)]
struct Waiters {
    by_lease: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Notify>, usize)>> {
        // A panic elsewhere cannot leave the map half-changed: every
        // change is one insert, one count or one remove.
        self.by_lease.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn join(&self, lease: &str) -> Arc<Notify> {
        let mut map = self.lock();
        let entry = map
            .entry(lease.to_owned())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Arc::clone(&entry.0)
    }

    fn leave(&self, lease: &str) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(lease) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(lease);
            }
        }
    }

    /// Wakes one waiter of `lease` in this process (it races for the lease
    /// with the woken waiters of other processes).
    fn wake(&self, lease: &str) {
        if let Some((notify, _)) = self.lock().get(lease) {
            notify.notify_one();
        }
    }

    /// Wakes every waiter: messages may have been lost.
    fn wake_all(&self) {
        for (notify, _) in self.lock().values() {
            notify.notify_waiters();
        }
    }
}

/// Aborts the subscribing task when dropped.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Subscribes to [`CHANNEL`], wakes the waiters its messages name, and
/// starts over (with backoff) whenever the connection fails.
async fn subscribe(waiters: Arc<Waiters>, main: Client, timeout: Duration) {
    let mut delay = RETRY_MIN;
    loop {
        match Subscription::open(&main, timeout).await {
            Ok(subscription) => {
                delay = RETRY_MIN;
                tracing::debug!("lock wake-ups: subscribed");
                let mut subscription = subscription;
                let reason = subscription.forward(&waiters, timeout).await;
                tracing::warn!(
                    reason,
                    "lock wake-ups lost; waiters of other processes wait their backoff until they are back"
                );
                waiters.wake_all();
                subscription.quit(timeout).await;
            }
            Err(error) => {
                tracing::warn!(%error, "lock wake-ups: cannot subscribe; waiters wait their backoff");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
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
    async fn forward(&mut self, waiters: &Waiters, timeout: Duration) -> &'static str {
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
    async fn a_wake_up_reaches_the_waiters_of_its_lease_only() {
        let wakeups = Wakeups::new(None, Duration::from_secs(1));
        let (ours, other) = (wakeups.interest("a"), wakeups.interest("b"));
        let (woken, not_woken) = (ours.woken(), other.woken());
        tokio::pin!(woken, not_woken);
        woken.as_mut().enable();
        not_woken.as_mut().enable();
        wakeups.waiters.wake("a");
        tokio::time::timeout(Duration::from_secs(1), woken)
            .await
            .expect("the waiter of `a` is woken");
        let waited = tokio::time::timeout(Duration::from_millis(20), not_woken).await;
        assert!(waited.is_err(), "the waiter of `b` is not");
    }

    #[test]
    fn the_last_waiter_of_a_lease_takes_its_entry_along() {
        let wakeups = Wakeups::new(None, Duration::from_secs(1));
        let (first, second) = (wakeups.interest("a"), wakeups.interest("a"));
        assert_eq!(wakeups.waiters.lock().get("a").map(|e| e.1), Some(2));
        drop(first);
        assert_eq!(wakeups.waiters.lock().get("a").map(|e| e.1), Some(1));
        drop(second);
        assert!(wakeups.waiters.lock().is_empty());
    }

    #[test]
    fn without_a_client_nothing_subscribes() {
        let wakeups = Wakeups::new(None, Duration::from_secs(1));
        wakeups.start();
        assert!(matches!(wakeups.task.get(), Some(None)));
    }
}
