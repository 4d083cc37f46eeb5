//! Shared helpers: a store that counts the calls it forwards to the real
//! memory store, and a one-request driver.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use session_core::time::OffsetDateTime;
use session_core::{
    adapter::SetCookie,
    store::{LockAttempt, LockToken, Record, SessionLocks, SessionStore, StoreError},
    Session, SessionConfigBuilder, SessionData, SessionId, SessionManager,
};
use session_store_memory::MemoryStore;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    pub items: Vec<String>,
    pub user: Option<String>,
}

/// Call counters per store method.
#[derive(Debug, Default)]
pub struct Calls {
    pub create: AtomicUsize,
    pub save: AtomicUsize,
    pub load: AtomicUsize,
    pub load_touch: AtomicUsize,
    pub touch: AtomicUsize,
    pub delete: AtomicUsize,
    pub rotate: AtomicUsize,
    /// Lock attempts (`try_lock`) under `Concurrency::Serialize`.
    pub lock: AtomicUsize,
}

impl Calls {
    pub fn total(&self) -> usize {
        [
            &self.create,
            &self.save,
            &self.load,
            &self.load_touch,
            &self.touch,
            &self.delete,
            &self.rotate,
            &self.lock,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
    pub fn get(&self, c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
}

/// The real memory store, with every call counted on the way through.
#[derive(Debug, Clone)]
pub struct Counting {
    pub inner: MemoryStore,
    pub calls: Arc<Calls>,
}

impl Counting {
    pub fn new() -> Self {
        Counting {
            inner: MemoryStore::builder().no_cleanup().build(),
            calls: Arc::default(),
        }
    }
}

fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::SeqCst);
}

#[async_trait]
impl SessionStore for Counting {
    fn name(&self) -> &'static str {
        "counting-memory"
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        bump(&self.calls.create);
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record, expected: Option<u64>) -> Result<(), StoreError> {
        bump(&self.calls.save);
        self.inner.save(record, expected).await
    }
    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        bump(if touch.is_some() {
            &self.calls.load_touch
        } else {
            &self.calls.load
        });
        self.inner.load(id, touch).await
    }
    async fn touch(&self, id: &SessionId, at: OffsetDateTime) -> Result<bool, StoreError> {
        bump(&self.calls.touch);
        self.inner.touch(id, at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        bump(&self.calls.delete);
        self.inner.delete(id).await
    }
    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        bump(&self.calls.rotate);
        self.inner.rotate(from, record, expected).await
    }
    async fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear().await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }
    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.inner.delete_by_owner(owner).await
    }
    fn locks(&self) -> Option<&dyn SessionLocks> {
        Some(self)
    }
}

/// The memory store's locks, counted, without its wake-ups: a waiter
/// sleeps its backoff (the trait's `wait_for_release`), as with the Redis,
/// SQL and MongoDB stores.
#[async_trait]
impl SessionLocks for Counting {
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        bump(&self.calls.lock);
        self.memory_locks().try_lock(id, token, lease, touch).await
    }
    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.memory_locks().extend(id, token, lease).await
    }
    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        self.memory_locks().unlock(id, token).await
    }
}

impl Counting {
    fn memory_locks(&self) -> &dyn SessionLocks {
        self.inner.locks().expect("the memory store locks")
    }
}

pub fn manager<T: SessionData>(
    store: &Counting,
    tweak: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder,
) -> SessionManager<T> {
    let builder = session_core::SessionConfig::testing().shared_store(Arc::new(store.clone()));
    SessionManager::new(tweak(builder).build().expect("valid test config"))
}

/// What a handler does with the session.
pub type Handler<'a, T> = &'a dyn Fn(&Session<T>);

/// One request: the cookie the client sends, what the handler does (None:
/// the handler never asks for the session), and the response status.
pub async fn request<T: SessionData>(
    manager: &SessionManager<T>,
    cookie: Option<&str>,
    status: u16,
    handler: Option<Handler<'_, T>>,
) -> Result<Option<SetCookie>, session_core::SessionError> {
    let lazy = manager.start_request();
    if let Some(handler) = handler {
        let session = lazy.load(cookie).await?;
        handler(&session);
    }
    manager.finish_request(&lazy, status).await
}

/// `name=value` from a Set-Cookie.
pub fn pair(set_cookie: &Option<SetCookie>) -> String {
    set_cookie.as_ref().expect("a Set-Cookie").pair()
}
