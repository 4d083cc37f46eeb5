//! Store outages in the request cycle (`OutagePolicy`) and what the
//! telemetry records: the real memory store behind a switch that makes
//! every call fail as an unreachable backend would.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use session_core::adapter::{header, Reply, ResponseHeaders};
use session_core::store::{LockAttempt, LockToken, Record, SessionLocks, SessionStore, StoreError};
use session_core::time::OffsetDateTime;
use session_core::{
    Concurrency, OutagePolicy, SessionConfig, SessionError, SessionId, SessionManager,
};
use session_store_memory::MemoryStore;

/// The memory store, and a switch that takes it "down": every call then
/// answers `StoreError::Unavailable`, locks included.
#[derive(Debug, Clone)]
struct Switched {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("connection refused")]
struct Refused;

impl Switched {
    fn new() -> Self {
        Switched {
            inner: MemoryStore::builder().no_cleanup().build(),
            down: Arc::default(),
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(Refused));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for Switched {
    fn name(&self) -> &'static str {
        "switched-memory"
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record, expected: Option<u64>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.save(record, expected).await
    }
    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        self.check()?;
        self.inner.load(id, touch).await
    }
    async fn touch(&self, id: &SessionId, at: OffsetDateTime) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.touch(id, at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete(id).await
    }
    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.rotate(from, record, expected).await
    }
    async fn clear(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.clear().await
    }
    fn locks(&self) -> Option<&dyn SessionLocks> {
        Some(self)
    }
}

#[async_trait]
impl SessionLocks for Switched {
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        self.check()?;
        let locks = self.inner.locks().unwrap();
        locks.try_lock(id, token, lease, touch).await
    }
    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.locks().unwrap().extend(id, token, lease).await
    }
    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.locks().unwrap().unlock(id, token).await
    }
}

fn manager(store: &Switched, outage: OutagePolicy, policy: Concurrency) -> SessionManager<u32> {
    let config = SessionConfig::testing()
        .shared_store(Arc::new(store.clone()))
        .outage_policy(outage)
        .concurrency(policy)
        // every read moves the idle expiry: the touch counter is exercised
        .refresh_fraction(0.0)
        .build()
        .unwrap();
    SessionManager::new(config)
}

/// One request that adds one to the counter: its answer (the count, or the
/// status of the error reply) and the headers the adapter would send.
async fn count_once(manager: &SessionManager<u32>, cookie: Option<&str>) -> (u32, Reply) {
    let lazy = manager.start_request();
    let mut reply = Reply::error(&SessionError::NotFound(SessionId::random()), "none");
    reply.headers.clear();
    let session = match lazy.load(cookie).await {
        Ok(session) => session,
        Err(error) => return (0, Reply::error(&error, "load")),
    };
    let count = session.update(|n| {
        *n += 1;
        *n
    });
    reply.status = 200;
    match lazy.finish(200).await {
        Ok(set_cookie) => lazy.add_headers(set_cookie, &mut reply),
        Err(error) => return (count, error),
    }
    (count, reply)
}

fn set_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .iter()
        .find(|(name, _)| *name == header::SET_COOKIE)
        .map(|(_, value)| value.split(';').next().unwrap().to_owned())
}

async fn degrades_and_heals(policy: Concurrency) {
    let store = Switched::new();
    let manager = manager(&store, OutagePolicy::Degrade, policy);
    let (_, first) = count_once(&manager, None).await;
    let cookie = set_cookie(&first).expect("a new session");
    assert_eq!(count_once(&manager, Some(&cookie)).await.0, 2);

    store.set_down(true);
    for _ in 0..3 {
        let (count, reply) = count_once(&manager, Some(&cookie)).await;
        assert_eq!((count, reply.status), (1, 200), "{reply:?}");
        assert_eq!(set_cookie(&reply), None, "the real cookie must survive");
        assert!(
            reply.any_line(header::DEGRADED, &mut |_| true),
            "the degraded header: {reply:?}"
        );
    }

    store.set_down(false);
    let (count, reply) = count_once(&manager, Some(&cookie)).await;
    assert_eq!(count, 3, "the old session continues: {reply:?}");
    assert!(!reply.any_line(header::DEGRADED, &mut |_| true));
}

#[tokio::test]
async fn degrade_serves_a_fresh_unsaved_session_and_the_old_one_continues() {
    degrades_and_heals(Concurrency::LastWriteWins).await;
}

#[tokio::test]
async fn degrade_covers_a_lock_the_store_cannot_take() {
    degrades_and_heals(Concurrency::Serialize).await;
}

#[tokio::test]
async fn fail_is_the_default_and_answers_503() {
    let store = Switched::new();
    let config = SessionConfig::testing()
        .shared_store(Arc::new(store.clone()))
        .build()
        .unwrap();
    assert_eq!(config.outage_policy(), OutagePolicy::Fail);
    let manager = SessionManager::<u32>::new(config);
    let (_, first) = count_once(&manager, None).await;
    let cookie = set_cookie(&first).unwrap();
    store.set_down(true);
    let (_, reply) = count_once(&manager, Some(&cookie)).await;
    assert_eq!(reply.status, 503);
    assert!(!reply.any_line(header::DEGRADED, &mut |_| true));
}

#[tokio::test]
async fn a_degraded_session_is_marked_and_never_written() {
    let store = Switched::new();
    let manager = manager(&store, OutagePolicy::Degrade, Concurrency::LastWriteWins);
    let (_, first) = count_once(&manager, None).await;
    let cookie = set_cookie(&first).unwrap();
    store.set_down(true);
    let lazy = manager.start_request();
    let session = lazy.load(Some(cookie.as_str())).await.unwrap();
    assert!(session.is_degraded() && session.is_new());
    session.regenerate();
    session.update(|n| *n = 40);
    // Back up before the commit: still nothing is written for a stand-in.
    store.set_down(false);
    assert_eq!(manager.finish_request(&lazy, 200).await.unwrap(), None);
    assert_eq!(store.inner.count().await.unwrap(), 1);
    let (count, _) = count_once(&manager, Some(&cookie)).await;
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_store_that_fails_at_commit_is_still_503_under_degrade() {
    let store = Switched::new();
    let manager = manager(&store, OutagePolicy::Degrade, Concurrency::LastWriteWins);
    let lazy = manager.start_request();
    let session = lazy.load(None).await.unwrap();
    session.update(|n| *n = 1);
    store.set_down(true);
    let reply = lazy.finish(200).await.unwrap_err();
    assert_eq!(reply.status, 503);
}

/// The value of one metric in a snapshot, by name and labels.
fn value(snapshot: &[(CompositeKey, DebugValue)], name: &str, labels: &[(&str, &str)]) -> f64 {
    snapshot
        .iter()
        .filter(|(key, _)| key.key().name() == name)
        .filter(|(key, _)| {
            let mut have: Vec<_> = key.key().labels().map(|l| (l.key(), l.value())).collect();
            have.sort();
            let mut want = labels.to_vec();
            want.sort();
            have == want
        })
        .map(|(key, value)| match (key.kind(), value) {
            (MetricKind::Counter, DebugValue::Counter(n)) => *n as f64,
            (MetricKind::Histogram, DebugValue::Histogram(samples)) => samples.len() as f64,
            _ => 0.0,
        })
        .sum()
}

fn snapshot(snapshotter: &Snapshotter) -> Vec<(CompositeKey, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// Each counter after real request cycles: created, loaded by outcome,
/// saved, touched, rotated, deleted, the store errors and the store call
/// histogram, and no label value that carries an id or a token.
#[test]
fn the_counters_follow_the_request_cycle() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = Switched::new();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let manager = manager(&store, OutagePolicy::Degrade, Concurrency::LastWriteWins);
            let (_, first) = count_once(&manager, None).await; // created
            let cookie = set_cookie(&first).unwrap();
            count_once(&manager, Some(&cookie)).await; // found, saved
                                                       // found, touched (nothing changed, the idle expiry moves)
            let lazy = manager.start_request();
            lazy.load(Some(cookie.as_str())).await.unwrap();
            manager.finish_request(&lazy, 200).await.unwrap();
            // found, rotated
            let lazy = manager.start_request();
            lazy.load(Some(cookie.as_str())).await.unwrap().regenerate();
            let rotated = manager.finish_request(&lazy, 200).await.unwrap().unwrap();
            // the old token names nothing now: absent
            count_once(&manager, Some(&cookie)).await;
            // found, deleted
            let lazy = manager.start_request();
            let rotated = rotated.pair();
            lazy.load(Some(rotated.as_str())).await.unwrap().delete();
            manager.finish_request(&lazy, 200).await.unwrap();
            // an outage: one load error, one degraded request
            store.set_down(true);
            count_once(&manager, Some(&rotated)).await;
        });
    });
    let snapshot = snapshot(&snapshotter);
    let loaded = |outcome| value(&snapshot, "session_loaded_total", &[("outcome", outcome)]);
    assert_eq!(value(&snapshot, "session_created_total", &[]), 2.0);
    assert_eq!(loaded("found"), 4.0);
    assert_eq!(loaded("absent"), 1.0);
    assert_eq!(value(&snapshot, "session_saved_total", &[]), 1.0);
    assert_eq!(value(&snapshot, "session_touched_total", &[]), 1.0);
    assert_eq!(value(&snapshot, "session_rotated_total", &[]), 1.0);
    assert_eq!(value(&snapshot, "session_deleted_total", &[]), 1.0);
    assert_eq!(value(&snapshot, "session_degraded_total", &[]), 1.0);
    let errors = |operation| {
        value(
            &snapshot,
            "session_store_errors_total",
            &[("operation", operation)],
        )
    };
    assert_eq!(errors("load"), 1.0);
    assert_eq!(errors("create"), 0.0);
    let calls = |operation| {
        value(
            &snapshot,
            "session_store_duration_seconds",
            &[("operation", operation)],
        )
    };
    // 5 loads that answered and the failed one; creates: the first
    // session, and the absent token's fresh one.
    assert_eq!(calls("load"), 6.0);
    assert_eq!(calls("create"), 2.0);
    assert_eq!(calls("rotate"), 1.0);
    for (key, _) in &snapshot {
        for label in key.key().labels() {
            assert!(
                label.value().len() < 20,
                "a label value that could be an id: {key:?}"
            );
        }
    }
}
