//! What `IdleRefresh::OnWrite` (the `ours-onwrite` benchmark apps) does on a
//! read, through both adapters, with the real memory and cookie stores: no
//! `Set-Cookie`, no store write, no seal. The default (`IdleRefresh::Always`)
//! is checked alongside, so that the counts can be seen to move.
//!
//! The stores are wrapped in a counter of the calls that write (create,
//! save, touch, a load that touches) and of the seals; every call goes on to
//! the real store.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::Request;
use session_core::time::OffsetDateTime;
use session_core::{
    store::{CookieSealing, Record, SessionStore, StoreError, Unsealed},
    IdleRefresh, KeyRing, SessionConfig, SessionId, SessionManager,
};
use session_store_cookie::CookieStore;
use session_store_memory::MemoryStore;
use tower_service::Service;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Counter {
    count: u64,
}

/// Calls that write, and seals, counted.
#[derive(Debug, Default)]
struct Counts {
    writes: AtomicUsize,
    seals: AtomicUsize,
}

impl Counts {
    fn get(&self) -> (usize, usize) {
        (
            self.writes.load(Ordering::SeqCst),
            self.seals.load(Ordering::SeqCst),
        )
    }

    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A real store, counted.
#[derive(Debug)]
struct Counted<S> {
    inner: S,
    counts: Arc<Counts>,
}

#[async_trait]
impl<S: SessionStore> SessionStore for Counted<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.counts.wrote();
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record, expected: Option<u64>) -> Result<(), StoreError> {
        self.counts.wrote();
        self.inner.save(record, expected).await
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        if touch.is_some() {
            self.counts.wrote();
        }
        self.inner.load(id, touch).await
    }

    async fn touch(&self, id: &SessionId, at: OffsetDateTime) -> Result<bool, StoreError> {
        self.counts.wrote();
        self.inner.touch(id, at).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.counts.wrote();
        self.inner.delete(id).await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear().await
    }

    fn cookie_sealing(&self) -> Option<&dyn CookieSealing> {
        self.inner
            .cookie_sealing()
            .map(|_| self as &dyn CookieSealing)
    }
}

#[async_trait]
impl<S: SessionStore> CookieSealing for Counted<S> {
    async fn open(
        &self,
        cookie_name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Unsealed>, StoreError> {
        match self.inner.cookie_sealing() {
            Some(sealing) => sealing.open(cookie_name, value, now).await,
            None => Ok(None),
        }
    }

    async fn seal(&self, cookie_name: &str, record: &Record) -> Result<String, StoreError> {
        self.counts.seals.fetch_add(1, Ordering::SeqCst);
        match self.inner.cookie_sealing() {
            Some(sealing) => sealing.seal(cookie_name, record).await,
            None => Err(StoreError::unsupported(self.name(), "sealing")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    Cookie,
}

fn manager(kind: Kind, refresh: IdleRefresh) -> (SessionManager<Counter>, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let keys = KeyRing::generate();
    let builder = SessionConfig::builder()
        .keys(keys.clone())
        .secure(false)
        // No refresh slack: under `Always` every read refreshes, so the
        // counts move even for reads right after a write.
        .refresh_fraction(0.0)
        .idle_refresh(refresh);
    let builder = match kind {
        Kind::Memory => builder.store(Counted {
            inner: MemoryStore::builder().no_cleanup().build(),
            counts: Arc::clone(&counts),
        }),
        Kind::Cookie => builder.store(Counted {
            inner: CookieStore::new(keys),
            counts: Arc::clone(&counts),
        }),
    };
    (SessionManager::new(builder.build().unwrap()), counts)
}

/// What one request did: its body, its `Set-Cookie` (`name=value`) if
/// any, and the writes and seals it caused.
#[derive(Debug, PartialEq)]
struct Seen {
    body: String,
    cookie: Option<String>,
    writes: usize,
    seals: usize,
}

/// Runs `/counter` then `/counter/peek` twice for one user and answers what
/// each request did.
async fn cycle<F, Fut>(counts: &Counts, mut call: F) -> Vec<Seen>
where
    F: FnMut(&'static str, Option<String>) -> Fut,
    Fut: std::future::Future<Output = (String, Option<String>)>,
{
    let mut jar: Option<String> = None;
    let mut seen = Vec::new();
    for path in ["/counter", "/counter/peek", "/counter/peek"] {
        let before = counts.get();
        let (body, set_cookie) = call(path, jar.clone()).await;
        let after = counts.get();
        let cookie = set_cookie.map(|h| h.split(';').next().unwrap_or_default().to_owned());
        if let Some(pair) = &cookie {
            jar = Some(pair.clone());
        }
        seen.push(Seen {
            body,
            cookie,
            writes: after.0 - before.0,
            seals: after.1 - before.1,
        });
    }
    seen
}

fn check(kind: Kind, refresh: IdleRefresh, seen: &[Seen]) {
    let what = format!("{kind:?} {refresh:?}");
    let bodies: Vec<&str> = seen.iter().map(|s| s.body.as_str()).collect();
    assert_eq!(bodies, ["1", "1", "1"], "{what}");
    // The write: one store write (memory) or one seal (cookie), and the cookie.
    assert!(seen[0].cookie.is_some(), "{what}: {seen:?}");
    let write = match kind {
        Kind::Memory => (1, 0),
        Kind::Cookie => (0, 1),
    };
    assert_eq!((seen[0].writes, seen[0].seals), write, "{what}");
    for read in &seen[1..] {
        match refresh {
            // Reads: nothing written, nothing sealed, nothing sent.
            IdleRefresh::OnWrite => {
                assert_eq!(read.cookie, None, "{what}: {seen:?}");
                assert_eq!((read.writes, read.seals), (0, 0), "{what}: {seen:?}");
            }
            // Reads slide the idle expiry: the touch rides on the load
            // (memory), or the cookie is sealed again; either way it is sent.
            _ => {
                assert!(read.cookie.is_some(), "{what}: {seen:?}");
                assert_eq!((read.writes, read.seals), write, "{what}: {seen:?}");
            }
        }
    }
}

async fn axum_count(session: session_axum::Session<Counter>) -> String {
    session.update(|d| {
        d.count += 1;
        d.count.to_string()
    })
}

async fn axum_peek(session: session_axum::Session<Counter>) -> String {
    session.data().count.to_string()
}

#[tokio::test]
async fn axum_reads_write_nothing_under_onwrite() {
    for kind in [Kind::Memory, Kind::Cookie] {
        for refresh in [IdleRefresh::OnWrite, IdleRefresh::Always] {
            let (manager, counts) = manager(kind, refresh);
            let router = Router::new()
                .route("/counter", get(axum_count))
                .route("/counter/peek", get(axum_peek))
                .layer(session_axum::SessionLayer::new(manager));
            let seen = cycle(&counts, |path, cookie| {
                let mut router = router.clone();
                async move {
                    let mut request = Request::get(path);
                    if let Some(cookie) = cookie {
                        request = request.header(COOKIE, cookie);
                    }
                    let response = router.call(request.body(Body::empty()).unwrap()).await;
                    let response = response.unwrap();
                    let set_cookie = response
                        .headers()
                        .get(SET_COOKIE)
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = http_body_util::BodyExt::collect(response.into_body())
                        .await
                        .unwrap()
                        .to_bytes();
                    (String::from_utf8(body.to_vec()).unwrap(), set_cookie)
                }
            })
            .await;
            check(kind, refresh, &seen);
        }
    }
}

async fn actix_count(session: session_actix::Session<Counter>) -> String {
    session.update(|d| {
        d.count += 1;
        d.count.to_string()
    })
}

async fn actix_peek(session: session_actix::Session<Counter>) -> String {
    session.data().count.to_string()
}

#[test]
fn actix_reads_write_nothing_under_onwrite() {
    actix_web::rt::System::new().block_on(actix_cycles());
}

async fn actix_cycles() {
    use actix_web::{test, web, App};
    for kind in [Kind::Memory, Kind::Cookie] {
        for refresh in [IdleRefresh::OnWrite, IdleRefresh::Always] {
            let (manager, counts) = manager(kind, refresh);
            let app = test::init_service(
                App::new()
                    .route("/counter", web::get().to(actix_count))
                    .route("/counter/peek", web::get().to(actix_peek))
                    .wrap(session_actix::SessionMiddleware::new(manager)),
            )
            .await;
            let seen = cycle(&counts, |path, cookie| {
                let mut request = test::TestRequest::get().uri(path);
                if let Some(cookie) = cookie {
                    request = request.insert_header(("cookie", cookie));
                }
                let request = request.to_request();
                let app = &app;
                async move {
                    let response = test::call_service(app, request).await;
                    let set_cookie = response
                        .headers()
                        .get("set-cookie")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = test::read_body(response).await;
                    (String::from_utf8(body.to_vec()).unwrap(), set_cookie)
                }
            })
            .await;
            check(kind, refresh, &seen);
        }
    }
}
