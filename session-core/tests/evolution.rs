//! Two releases of one session type sharing one store, as in a rolling
//! deploy: through the manager and the real memory store, with the default
//! codec; and what a release does with a record it must refuse (a fresh
//! session and a warning that gives the reason).

use serde::{Deserialize, Serialize};
use session_core::adapter::SetCookie;
use session_core::{Codec, SessionConfig, SessionManager, SessionSchema};
use session_store_memory::MemoryStore;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Old {
    count: u64,
    user: OldUser,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct OldUser {
    name: Option<String>,
    #[serde(default)]
    mfa_verified: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct New {
    count: u64,
    user: NewUser,
    #[serde(default)]
    theme: String,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct NewUser {
    name: Option<String>,
}

/// The cookie's value, as the browser sends it back.
fn value(cookie: Option<SetCookie>) -> String {
    let pair = cookie.expect("a cookie").pair();
    pair.split_once('=').expect("name=value").1.to_owned()
}

/// The configuration every release of these tests runs with, on `store`.
fn config(store: &MemoryStore) -> SessionConfig {
    SessionConfig::testing()
        .codec(Codec::default())
        .store(store.clone())
        .build()
        .expect("valid")
}

fn manager<T: session_core::SessionData>(store: &MemoryStore) -> SessionManager<T> {
    SessionManager::new(config(store))
}

#[tokio::test]
async fn alternating_releases_keep_each_others_fields() {
    let store = MemoryStore::new();
    let old = manager::<Old>(&store);
    let new = manager::<New>(&store);

    let session = old.create();
    session.update(|d| {
        d.count = 1;
        d.user = OldUser {
            name: Some("alice".into()),
            mfa_verified: true,
        };
    });
    let cookie = value(old.commit(&session).await.expect("saved"));

    let session = new.load(Some(&cookie)).await.expect("loads");
    assert_eq!(session.data().user.name.as_deref(), Some("alice"));
    session.update(|d| {
        d.count += 1;
        d.theme = "dark".into();
    });
    new.commit(&session).await.expect("saved");

    let session = old.load(Some(&cookie)).await.expect("loads");
    assert_eq!(session.data().count, 2);
    assert!(session.data().user.mfa_verified, "kept by the new release");
    session.update(|d| d.count += 1);
    old.commit(&session).await.expect("saved");

    let session = new.load(Some(&cookie)).await.expect("loads");
    assert_eq!(session.data().count, 3);
    assert_eq!(session.data().theme, "dark", "kept by the old release");

    // a reset (another user logs in) keeps nothing of the old data
    session.reset();
    session.update(|d| d.count = 10);
    let cookie = value(new.commit(&session).await.expect("saved"));
    let session = old.load(Some(&cookie)).await.expect("loads");
    assert_eq!(session.data().count, 10);
    assert!(!session.data().user.mfa_verified);
}

impl SessionSchema for Old {
    const VERSION: u32 = 0;
    type Previous = Self;
    fn migrate(previous: Self) -> Self {
        previous
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    visits: u64,
}

impl SessionSchema for Counter {
    const VERSION: u32 = 1;
    type Previous = Old;
    fn migrate(previous: Old) -> Self {
        Counter {
            visits: previous.count,
        }
    }
}

/// The release with the versioned schema, on `store`.
fn versioned(store: &MemoryStore) -> SessionManager<Counter> {
    SessionManager::versioned(config(store))
}

#[tokio::test]
async fn a_versioned_release_migrates_and_the_old_one_refuses_the_new_version() {
    let store = MemoryStore::new();
    let old = manager::<Old>(&store);
    let versioned = versioned(&store);
    let session = old.create();
    session.update(|d| d.count = 41);
    let cookie = value(old.commit(&session).await.expect("saved"));
    let id = session.id();

    let session = versioned.load(Some(&cookie)).await.expect("loads");
    assert_eq!(session.id(), id, "the same session, migrated");
    assert_eq!(session.data().visits, 41);
    session.update(|d| d.visits += 1);
    versioned.commit(&session).await.expect("saved");
    assert_eq!(versioned.get(&id).await.expect("found").data.visits, 42);

    // the old release sees a newer version: a fresh session, never a guess
    let session = old.load(Some(&cookie)).await.expect("loads");
    assert_ne!(session.id(), id);
    assert_eq!(session.data().count, 0);
    assert!(old.find(&id).await.is_err());
}

thread_local! {
    /// The buffer that the current thread's `tracing` events print into,
    /// while a test captures them.
    static CAPTURED: std::cell::RefCell<Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Everything the `tracing` events of the current thread print, while the
/// returned guard lives.
///
/// The subscriber is this binary's global one, installed once, and writes
/// into the buffer of the thread that logs. A thread-local subscriber
/// (`set_default`) is not enough: the other tests of this binary meet the
/// same callsites on their own threads with no subscriber, and when such a
/// thread registers a callsite while this one installs its subscriber,
/// `tracing` can cache the callsite as disabled for every thread (seen: the
/// warning missing in 2 of 40 runs on a loaded machine).
fn capture_logs() -> (std::sync::Arc<std::sync::Mutex<Vec<u8>>>, Capture) {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(|| Writer)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the only global subscriber of this test binary");
    });
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    CAPTURED.with(|captured| *captured.borrow_mut() = Some(logs.clone()));
    (logs, Capture)
}

/// Ends the current thread's capture when dropped.
struct Capture;

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURED.with(|captured| captured.borrow_mut().take());
    }
}

/// A `MakeWriter`'s writer into the current thread's buffer, if it has one
/// (the events of threads that capture nothing are dropped).
struct Writer;

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|captured| {
            if let Some(logs) = &*captured.borrow() {
                logs.lock().expect("not poisoned").extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines logged since the last call, emptying the buffer.
fn taken(logs: &std::sync::Mutex<Vec<u8>>) -> String {
    String::from_utf8(std::mem::take(&mut *logs.lock().expect("not poisoned"))).expect("text")
}

#[tokio::test]
async fn a_refused_record_is_a_fresh_session_and_a_log_line_with_the_reason() {
    let (logs, _guard) = capture_logs();
    let store = MemoryStore::new();
    let old = manager::<Old>(&store);
    let versioned = versioned(&store);

    // A record of a newer schema version, as a newer release wrote it.
    let session = versioned.create();
    session.update(|d| d.visits = 7);
    let cookie = value(versioned.commit(&session).await.expect("saved"));
    let session = old.load(Some(&cookie)).await.expect("loads");
    assert_eq!(session.data().count, 0, "a fresh session");
    let log = taken(&logs);
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("stored session does not decode"), "{log}");
    assert!(
        log.contains("schema version 1, newer than this release's 0"),
        "the reason: {log}"
    );

    // A record whose bytes do not decode at all.
    let session = old.create();
    session.update(|d| d.count = 5);
    let cookie = value(old.commit(&session).await.expect("saved"));
    let id = session.id();
    use session_core::store::SessionStore;
    let mut record = store.load(&id, None).await.expect("loads").expect("there");
    record.data = vec![0xc1, 0x01, 0, 0, 0, 0, 0xff];
    store.save(&record, None).await.expect("overwritten");
    let session = old.load(Some(&cookie)).await.expect("loads");
    assert_ne!(session.id(), id, "a fresh session, never a guess");
    assert_eq!(session.data().count, 0);
    let log = taken(&logs);
    assert!(log.contains("stored session does not decode"), "{log}");
    assert!(
        log.contains("MessagePack could not decode"),
        "the reason: {log}"
    );
}
