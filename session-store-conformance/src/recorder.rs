//! A recorder for a configuration's `on_expired` hook, for the tests of a
//! store's expiry reports (the checks of this crate, and each store's own).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use session_core::{ExpirySource, SessionEvent, SessionId};

/// What one `on_expired` call was told: the session's id, its owner, and
/// where the expiry was found.
pub type Expired = (SessionId, Option<String>, Option<ExpirySource>);

/// Keeps every `on_expired` event it is handed, in the order heard.
///
/// Clones share what was heard, so the hook can live in a configuration
/// while the test reads from its own clone. Readers answer copies: no lock
/// is held across the test's own awaits.
///
/// ```
/// use std::time::Duration;
/// use session_core::{ExpirySource, SessionConfig, SessionManager};
/// use session_store_conformance::ExpiredRecorder;
/// use session_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let heard = ExpiredRecorder::new();
/// let store = MemoryStore::builder().no_cleanup().build();
/// let config = SessionConfig::testing()
///     .store(store.clone())
///     .idle_timeout(Duration::from_millis(50))
///     .on_expired(heard.hook())
///     .build()?;
/// let manager = SessionManager::<u32>::new(config);
/// let session = manager.create();
/// session.set_owner(Some("ada"));
/// manager.commit(&session).await?;
///
/// tokio::time::sleep(Duration::from_millis(1100)).await;
/// assert_eq!(store.remove_expired(), 1);
/// assert_eq!(heard.heard(), [(session.id(), Some("ada".to_owned()))]);
/// assert_eq!(heard.heard_with_source()[0].2, Some(ExpirySource::Cleanup));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExpiredRecorder(Arc<Mutex<Vec<Expired>>>);

impl ExpiredRecorder {
    /// A recorder that has heard nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hook to hand a builder's `on_expired`: it records every event
    /// into this recorder (and its clones).
    pub fn hook(&self) -> impl Fn(&SessionEvent<'_>) + Send + Sync + 'static {
        let recorder = self.clone();
        move |event| recorder.record(event)
    }

    /// Records one event: for a hook of a test's own that checks the event
    /// before keeping it.
    pub fn record(&self, event: &SessionEvent<'_>) {
        let owner = event.owner.map(str::to_owned);
        self.lock().push((event.id.clone(), owner, event.source));
    }

    /// Each event heard so far as its id and owner, in order.
    pub fn heard(&self) -> Vec<(SessionId, Option<String>)> {
        self.lock()
            .iter()
            .map(|(id, owner, _)| (id.clone(), owner.clone()))
            .collect()
    }

    /// Each event heard so far with where it was found, in order.
    pub fn heard_with_source(&self) -> Vec<Expired> {
        self.lock().clone()
    }

    /// The ids heard so far (an id heard twice appears once: compare with
    /// [`len`](Self::len) to tell).
    pub fn ids(&self) -> BTreeSet<SessionId> {
        self.lock().iter().map(|(id, _, _)| id.clone()).collect()
    }

    /// How many events it has heard.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it has heard nothing yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Expired>> {
        self.0.lock().unwrap()
    }
}
