//! Wake-ups for waiters of other processes, for stores whose backend can
//! announce a lease's release (Redis pub/sub, PostgreSQL `NOTIFY`): the
//! waiters of this process by lease key, and the one listening task that
//! wakes them. The request cycle wakes the waiters behind a holder of its
//! own process itself; this is for the holders it cannot see.
//!
//! A store keeps one [`LeaseWakeups`], starts its listener at the first
//! wait ([`LeaseWakeups::start`]) and waits in
//! [`SessionLocks::wait_for_release`](crate::store::SessionLocks::wait_for_release)
//! with [`LeaseWakeups::wait`]. Nothing may depend on an announcement
//! arriving: a wait still ends after its `max` (the request cycle's
//! backoff step), so a lost message costs what waiting cost without
//! wake-ups.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The waiters of one store in this process, and the task that wakes them.
///
/// ```
/// use std::time::Duration;
/// use session_core::store::LeaseWakeups;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let wakeups = LeaseWakeups::new();
/// // A listener that announces one release at once (a real one reads
/// // the backend's messages, and starts over when its connection fails).
/// wakeups.start(|waiters| async move {
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     waiters.wake("lease-of-a");
/// });
/// let started = std::time::Instant::now();
/// wakeups.wait("lease-of-a", Duration::from_secs(10)).await;
/// assert!(started.elapsed() < Duration::from_secs(5));
/// # }
/// ```
#[derive(Debug, Default)]
pub struct LeaseWakeups {
    waiters: LeaseWaiters,
    /// The listening task, started at the first wait; aborted when the
    /// store goes. `None` when there was no runtime to start it on.
    task: OnceLock<Option<AbortOnDrop>>,
}

impl LeaseWakeups {
    /// No waiters, no listener yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `listen` on the current tokio runtime the first time it is
    /// called; later calls do nothing (and drop their `listen`). Outside a
    /// runtime nothing starts, and waits end by their time.
    pub fn start<F, Fut>(&self, listen: F)
    where
        F: FnOnce(LeaseWaiters) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.task.get_or_init(|| {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            Some(AbortOnDrop(runtime.spawn(listen(self.waiters.clone()))))
        });
    }

    /// Whether a listener was started.
    pub fn is_started(&self) -> bool {
        matches!(self.task.get(), Some(Some(_)))
    }

    /// Waits until the release of `key` is announced, at most `max`. Ends
    /// early at [`LeaseWaiters::wake_all`] too, or spuriously: the caller
    /// asks the store again either way.
    pub async fn wait(&self, key: &str, max: Duration) {
        let interest = self.waiters.join(key);
        tokio::select! {
            () = interest.notify.notified() => {}
            () = tokio::time::sleep(max) => {}
        }
    }
}

/// The first and the longest pause between two attempts to listen, in
/// [`LeaseWaiters::keep_listening`].
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The waiters of one lease key: what wakes them, and how many they are.
type Entry = (Arc<Notify>, usize);

/// The handle a listener wakes the waiters of its store with; clones share
/// the waiters.
#[derive(Debug, Clone, Default)]
pub struct LeaseWaiters {
    by_key: Arc<Mutex<HashMap<String, Entry>>>,
}

impl LeaseWaiters {
    /// Wakes one waiter of `key` in this process. One, not all: it races
    /// for the lease with the woken waiters of other processes, and the
    /// one that takes it hands it on to the others of its process (the
    /// request cycle's hand-off), so that a release does not send them all
    /// to the store at once.
    pub fn wake(&self, key: &str) {
        if let Some((notify, _)) = self.lock().get(key) {
            notify.notify_one();
        }
    }

    /// Wakes every waiter: the listener lost its connection, and messages
    /// may have been lost with it.
    pub fn wake_all(&self) {
        for (notify, _) in self.lock().values() {
            notify.notify_waiters();
        }
    }

    /// A listener's life, for ever: `listen` connects and forwards the
    /// backend's announcements to [`wake`](Self::wake) until its
    /// connection fails, answering why (or, if it could not connect, the
    /// error). Between two, every waiter is woken (announcements may have
    /// been lost) and the next attempt waits 50 ms, doubling to 2 s while
    /// attempts fail; each is logged.
    pub async fn keep_listening<F, Fut, E>(self, mut listen: F)
    where
        F: FnMut(LeaseWaiters) -> Fut,
        Fut: Future<Output = Result<&'static str, E>>,
        E: Display,
    {
        let mut delay = RETRY_MIN;
        loop {
            match listen(self.clone()).await {
                Ok(reason) => {
                    delay = RETRY_MIN;
                    tracing::warn!(
                        reason,
                        "lock wake-ups lost; waiters of other processes wait their backoff until they are back"
                    );
                    self.wake_all();
                }
                Err(error) => {
                    tracing::warn!(%error, "lock wake-ups: cannot listen; waiters wait their backoff");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere cannot leave the map half-changed: every
        // change is one insert, one count or one remove.
        self.by_key.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn join(&self, key: &str) -> Interest {
        let mut map = self.lock();
        let entry = map
            .entry(key.to_owned())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Interest {
            waiters: self.clone(),
            key: key.to_owned(),
            notify: Arc::clone(&entry.0),
        }
    }

    fn leave(&self, key: &str) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(key);
            }
        }
    }
}

/// One waiter's registration, for as long as it waits.
struct Interest {
    waiters: LeaseWaiters,
    key: String,
    notify: Arc<Notify>,
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.waiters.leave(&self.key);
    }
}

/// Aborts the listening task when dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_up_reaches_the_waiters_of_its_key_only() {
        let wakeups = Arc::new(LeaseWakeups::new());
        let waiting = |key: &'static str| {
            let wakeups = Arc::clone(&wakeups);
            tokio::spawn(async move { wakeups.wait(key, Duration::from_secs(3)).await })
        };
        let (ours, other) = (waiting("a"), waiting("b"));
        while wakeups.waiters.lock().len() < 2 {
            tokio::task::yield_now().await;
        }
        wakeups.waiters.wake("a");
        tokio::time::timeout(Duration::from_secs(1), ours)
            .await
            .expect("the waiter of `a` is woken")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!other.is_finished(), "the waiter of `b` is not");
        wakeups.waiters.wake_all();
        tokio::time::timeout(Duration::from_secs(1), other)
            .await
            .expect("woken by wake_all")
            .unwrap();
    }

    #[test]
    fn the_last_waiter_of_a_key_takes_its_entry_along() {
        let waiters = LeaseWaiters::default();
        let (first, second) = (waiters.join("a"), waiters.join("a"));
        assert_eq!(waiters.lock().get("a").map(|e| e.1), Some(2));
        drop(first);
        assert_eq!(waiters.lock().get("a").map(|e| e.1), Some(1));
        drop(second);
        assert!(waiters.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_listener_wakes_everyone_and_tries_again_with_backoff() {
        let wakeups = Arc::new(LeaseWakeups::new());
        let (attempts, mut attempted) = tokio::sync::mpsc::unbounded_channel();
        let listener = tokio::spawn(wakeups.waiters.clone().keep_listening(move |_| {
            attempts.send(tokio::time::Instant::now()).unwrap();
            async { Ok::<_, std::io::Error>("lost at once") }
        }));
        let waiter = {
            let wakeups = Arc::clone(&wakeups);
            tokio::spawn(async move { wakeups.wait("a", Duration::from_secs(60)).await })
        };
        let mut times = Vec::new();
        for _ in 0..4 {
            times.push(attempted.recv().await.unwrap());
        }
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        // A connection that was up resets the pause: 50 ms each time.
        assert_eq!(gaps, vec![Duration::from_millis(50); 3]);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the lost connection")
            .unwrap();
        listener.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn failing_attempts_back_off_to_two_seconds() {
        let waiters = LeaseWaiters::default();
        let (attempts, mut attempted) = tokio::sync::mpsc::unbounded_channel();
        let listener = tokio::spawn(waiters.keep_listening(move |_| {
            attempts.send(tokio::time::Instant::now()).unwrap();
            async { Err::<&'static str, _>("refused") }
        }));
        let mut times = Vec::new();
        for _ in 0..9 {
            times.push(attempted.recv().await.unwrap());
        }
        let gaps: Vec<u128> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis())
            .collect();
        assert_eq!(gaps, vec![50, 100, 200, 400, 800, 1600, 2000, 2000]);
        listener.abort();
    }

    #[test]
    fn outside_a_runtime_nothing_starts() {
        let wakeups = LeaseWakeups::new();
        wakeups.start(|_| async {});
        assert!(!wakeups.is_started());
    }

    #[tokio::test]
    async fn the_listener_starts_once_and_stops_with_its_store() {
        let wakeups = LeaseWakeups::new();
        let (started, mut runs) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            let started = started.clone();
            wakeups.start(move |_| async move {
                started.send(()).unwrap();
                std::future::pending::<()>().await;
            });
        }
        assert!(wakeups.is_started());
        drop(started);
        runs.recv().await.expect("started once");
        drop(wakeups);
        assert!(runs.recv().await.is_none(), "aborted: its sender dropped");
    }
}
