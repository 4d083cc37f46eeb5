//! Lock wake-ups on PostgreSQL, under `Concurrency::Serialize`: a waiter
//! of another process is woken by the release of the lease it waits for
//! instead of its backoff step (the request cycle wakes the waiters of its
//! own process itself, session-core's hand-off).
//!
//! - A request refused a lease held by another process marks it (`:w`
//!   appended to the holder's token, by the refused upsert itself: see
//!   `lock_queries.rs`).
//! - The release of a marked lease calls `pg_notify` on
//!   [`CHANNEL`](crate::lock_queries::CHANNEL) with the session id, in the
//!   statement that deletes the lease row; a release nobody waited for
//!   notifies nothing, so `NOTIFY`'s commit-time lock on the server's
//!   notification queue is taken only when a waiter exists.
//! - Each process listens once, from its first wait, on a connection of
//!   its own (a pool of one beside the store's, so the store's pool keeps
//!   every connection), and wakes one of its waiters of that id per
//!   notification (session-core's [`LeaseWakeups`]).
//!
//! Nothing depends on a notification arriving: a waiter still waits at
//! most its backoff step. A lost one (the listener not up yet, or
//! reconnecting) costs what waiting cost before; a reconnection wakes every
//! waiter, as notifications may have been lost meanwhile. MySQL/MariaDB
//! and SQLite have no such announcement, and wait with backoff.

use std::time::Duration;

use session_core::store::{LeaseWaiters, LeaseWakeups};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::lock_queries::CHANNEL;

/// How often the listener proves its connection alive; a connection that
/// stopped answering is replaced.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The waiters of this process, by session id, and what their listener
/// connects with.
#[derive(Debug)]
pub(crate) struct Wakeups {
    waiters: LeaseWakeups,
    options: PgConnectOptions,
    timeout: Duration,
}

impl Wakeups {
    /// Wake-ups that listen with the options of the store's pool.
    pub(crate) fn new(options: PgConnectOptions, timeout: Duration) -> Self {
        Wakeups {
            waiters: LeaseWakeups::new(),
            options,
            timeout,
        }
    }

    /// Waits for the release of the lease on `id` (listening first, the
    /// first time this process waits), at most `max`.
    pub(crate) async fn wait(&self, id: &str, max: Duration) {
        // Cloned only when the listener starts, not at every wait.
        let (options, timeout) = (&self.options, self.timeout);
        self.waiters
            .start(|waiters| listen(waiters, options.clone(), timeout));
        self.waiters.wait(id, max).await;
    }
}

/// Listens on [`CHANNEL`] and wakes the waiters its notifications name;
/// session-core's `keep_listening` starts over whenever the connection
/// fails.
async fn listen(waiters: LeaseWaiters, options: PgConnectOptions, timeout: Duration) {
    waiters
        .keep_listening(|waiters| {
            let options = options.clone();
            async move {
                let mut listener = open(options, timeout).await?;
                tracing::debug!("lock wake-ups: listening");
                Ok::<_, sqlx::Error>(forward(&mut listener, &waiters, timeout).await)
            }
        })
        .await;
}

/// A listener on a pool of one connection of its own.
async fn open(options: PgConnectOptions, timeout: Duration) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options);
    let listening = async {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    };
    tokio::time::timeout(timeout, listening)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// Wakes the waiters each notification names, until the connection fails;
/// answers why it stopped. Reading a notification is cancel-safe in sqlx,
/// so the heartbeat may interrupt it.
async fn forward(
    listener: &mut PgListener,
    waiters: &LeaseWaiters,
    timeout: Duration,
) -> &'static str {
    loop {
        match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => waiters.wake(notification.payload()),
            // Reconnected already (sqlx listens again on the new
            // connection); what came meanwhile is lost.
            Ok(Ok(None)) => waiters.wake_all(),
            Ok(Err(_)) => return "the connection failed",
            Err(_) => {
                let ping = sqlx::query("SELECT 1").execute(&mut *listener);
                if !matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_))) {
                    return "a heartbeat went unanswered";
                }
            }
        }
    }
}
