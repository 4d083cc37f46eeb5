//! The checks: each serves a fresh app on the adapter and asserts what a
//! client sees. A failed check panics with what differed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::csrf::CsrfPolicy;
use session_core::store::{LockAttempt, LockToken, SessionStore};
use session_core::{
    Concurrency, LoginPolicy, SessionConfig, SessionConfigBuilder, SessionId, SessionManager,
};
use session_store_memory::{MemoryStore, Overflow};

use crate::{signed_in, Adapter, App, Data, Request, Response};

/// A fresh store, a manager over it, and how many sessions it loaded.
pub(crate) struct Setup {
    store: MemoryStore,
    manager: SessionManager<Data>,
    loads: Arc<AtomicUsize>,
}

impl Setup {
    pub(crate) fn new() -> Self {
        Setup::with(
            SessionConfig::testing(),
            MemoryStore::builder().no_cleanup().build(),
        )
    }

    fn with(config: SessionConfigBuilder, store: MemoryStore) -> Self {
        let loads = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&loads);
        let config = config
            .store(store.clone())
            .on_loaded(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .expect("the checks' configuration is valid");
        Setup {
            store,
            manager: SessionManager::new(config),
            loads,
        }
    }

    async fn app<A: Adapter>(&self) -> A {
        self.guarded(None).await
    }

    async fn guarded<A: Adapter>(&self, guard: Option<LoginPolicy<Data>>) -> A {
        A::serve(App {
            manager: Some(self.manager.clone()),
            guard,
            csrf: None,
        })
        .await
    }

    /// The app with the adapter's CSRF layer under `policy`.
    pub(crate) async fn csrf<A: Adapter>(&self, policy: CsrfPolicy) -> A {
        A::serve(App {
            manager: Some(self.manager.clone()),
            guard: None,
            csrf: Some(policy),
        })
        .await
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

async fn send<A: Adapter>(app: &A, path: &str, cookies: &[&[u8]]) -> Response {
    let cookies = cookies.iter().map(|c| c.to_vec()).collect();
    app.send(Request {
        method: "GET",
        path: path.to_owned(),
        cookies,
        headers: Vec::new(),
        body: Vec::new(),
    })
    .await
}

/// The `name=value` of the response's `Set-Cookie`, which must be there.
pub(crate) fn cookie_of(response: &Response) -> String {
    let header = response.set_cookie().expect("a Set-Cookie");
    header.split(';').next().unwrap_or(header).to_owned()
}

/// How many `Vary` members name `Cookie`.
fn vary_cookie_count(response: &Response) -> usize {
    let vary = response.header("vary");
    let members = vary.iter().flat_map(|v| v.split(','));
    members
        .filter(|m| m.trim().eq_ignore_ascii_case("cookie"))
        .count()
}

/// A request that never asks for its session makes no store call and
/// gets no `Set-Cookie`, even with a session cookie.
pub async fn untouched_session_costs_nothing<A: Adapter>() {
    let s = Setup::new();
    let response = send(&s.app::<A>().await, "/health", &[b"_session=whatever"]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "/health");
    assert_eq!(response.set_cookie(), None);
    assert_eq!(s.store.len(), 0);
    assert_eq!(s.loads(), 0);
}

/// A written session sets a cookie with the configured attributes, and the
/// cookie brings the session back; a read right after a write sends no
/// `Set-Cookie`.
pub async fn written_session_round_trips<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let first = send(&app, "/count", &[]).await;
    let header = first.set_cookie().expect("a new session sets a cookie");
    assert!(header.starts_with("_session="), "{header}");
    // `Max-Age` is the absolute lifetime (24 hours by default), not the
    // idle timeout: the store enforces that.
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert_eq!(first.body, "1");
    assert_eq!(s.store.len(), 1);
    let cookie = cookie_of(&first);
    assert_eq!(send(&app, "/count", &[cookie.as_bytes()]).await.body, "2");
    let peeked = send(&app, "/peek", &[cookie.as_bytes()]).await;
    // Right after a write the idle expiry would move by less than the
    // refresh slack (a tenth of the idle timeout): no touch and no
    // Set-Cookie.
    assert_eq!(peeked.set_cookie(), None);
    assert_eq!(peeked.body, "2");
    assert_eq!(s.store.len(), 1);
}

/// The session cookie is found in any `Cookie` header, and a header that
/// is not UTF-8 does not hide it.
pub async fn session_cookie_is_found_in_any_cookie_header<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let cookie = cookie_of(&send(&app, "/count", &[]).await);
    let headers: [&[u8]; 3] = [b"theme=dark", b"bad=\xff\xfe", cookie.as_bytes()];
    assert_eq!(send(&app, "/peek", &headers).await.body, "1");
    // A UTF-8 header is read even though it is not ASCII.
    let mixed = format!("name=caf\u{e9}; {cookie}");
    assert_eq!(send(&app, "/peek", &[mixed.as_bytes()]).await.body, "1");
}

/// Garbage, a tampered token, an oversized or non-ASCII value: a fresh
/// session with a fresh cookie, never an error and never the client's
/// token.
pub async fn bad_cookies_give_a_fresh_session<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let good = cookie_of(&send(&app, "/count", &[]).await);
    let mut tampered = good.clone().into_bytes();
    if let Some(last) = tampered.last_mut() {
        *last = if *last == b'A' { b'B' } else { b'A' };
    }
    let oversized = format!("_session={}", "a".repeat(10_000));
    let cases: [&[u8]; 6] = [
        b"_session=garbage",
        b"_session=",
        &tampered,
        oversized.as_bytes(),
        "_session=caf\u{e9}\u{1F36A}".as_bytes(),
        b";;;=;_session;==",
    ];
    for cookie in cases {
        let response = send(&app, "/count", &[cookie]).await;
        assert_eq!(response.status, 200, "{cookie:?}");
        let fresh = cookie_of(&response);
        assert_ne!(fresh, good);
        assert_ne!(fresh.as_bytes(), cookie);
        assert_eq!(response.body, "1", "{cookie:?}");
    }
}

/// `regenerate` sends a new cookie; the session follows it and the old
/// cookie no longer finds it.
pub async fn rotation_moves_the_session_to_a_new_cookie<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let old = cookie_of(&send(&app, "/count", &[]).await);
    let login = send(&app, "/login", &[old.as_bytes()]).await;
    let new = cookie_of(&login);
    assert_ne!(new, old);
    assert_eq!(s.store.len(), 1, "the old record is gone");
    assert_eq!(send(&app, "/peek", &[new.as_bytes()]).await.body, "1");
    assert_eq!(send(&app, "/peek", &[old.as_bytes()]).await.body, "0");
}

/// `delete` removes the record and sends a removal cookie.
pub async fn deletion_removes_the_cookie_and_the_record<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let cookie = cookie_of(&send(&app, "/count", &[]).await);
    let response = send(&app, "/logout", &[cookie.as_bytes()]).await;
    assert_eq!(response.status, 200);
    let removal = response.set_cookie().expect("a removal cookie");
    assert!(removal.starts_with("_session=;"), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(s.store.len(), 0);
    assert_eq!(send(&app, "/peek", &[cookie.as_bytes()]).await.body, "0");
}

/// A session asked for where the adapter's layer does not run: `500` with
/// a body that names the missing layer.
pub async fn missing_layer_is_a_clear_500<A: Adapter>() {
    let app = A::serve(App {
        manager: None,
        guard: None,
        csrf: None,
    })
    .await;
    let response = send(&app, "/count", &[]).await;
    assert_eq!(response.status, 500);
    assert!(
        response
            .body
            .ends_with("<T> is not installed for this route"),
        "{}",
        response.body
    );
    assert_eq!(send(&app, "/health", &[]).await.status, 200);
}

/// A store that refuses the write: `503` with a generic `text/plain` body
/// and no cookie.
pub async fn store_error_is_a_generic_503<A: Adapter>() {
    let full = MemoryStore::builder()
        .capacity(0, Overflow::Refuse)
        .no_cleanup()
        .build();
    let s = Setup::with(SessionConfig::testing(), full);
    let response = send(&s.app::<A>().await, "/count", &[]).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.set_cookie(), None);
    assert_eq!(
        response.header("content-type"),
        ["text/plain; charset=utf-8"]
    );
    assert_eq!(response.body, "session store unavailable, please retry");
}

/// A `Set-Cookie` over the browser limit is a `500`, never a truncated
/// cookie.
pub async fn oversized_cookie_is_a_500_not_a_truncated_cookie<A: Adapter>() {
    let config = SessionConfig::testing().cookie_name("n".repeat(4100));
    let s = Setup::with(config, MemoryStore::builder().no_cleanup().build());
    let response = send(&s.app::<A>().await, "/count", &[]).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.set_cookie(), None);
    assert_eq!(response.body, "internal server error");
}

/// A session over `max_session_bytes` is a `500` and stores nothing.
pub async fn a_session_over_its_size_limit_is_a_500_and_nothing_is_stored<A: Adapter>() {
    let config = SessionConfig::testing().max_session_bytes(4);
    let s = Setup::with(config, MemoryStore::builder().no_cleanup().build());
    let response = send(&s.app::<A>().await, "/count", &[]).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.set_cookie(), None);
    assert_eq!(s.store.len(), 0);
    assert_eq!(response.body, "internal server error");
}

/// A handler's `5xx` saves nothing.
pub async fn server_error_saves_nothing<A: Adapter>() {
    let s = Setup::new();
    let response = send(&s.app::<A>().await, "/fail", &[]).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.set_cookie(), None);
    assert_eq!(s.store.len(), 0);
}

/// Allow-listed paths pass; the others go to the sign-in page with the
/// whole target percent-encoded, matched on the path only, segment-wise,
/// and never through a `..` segment.
pub async fn guard_allows_listed_paths_and_redirects_the_rest<A: Adapter>() {
    let s = Setup::new();
    let policy = LoginPolicy::new(signed_in)
        .allow("/publicity-not")
        .allow_prefix("/public");
    let app = s.guarded::<A>(Some(policy)).await;
    for path in ["/public", "/public/page"] {
        let response = send(&app, path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, path);
    }
    for (path, encoded) in [
        (
            "/private?a=1&b=/x%20y",
            "%2Fprivate%3Fa%3D1%26b%3D%2Fx%2520y",
        ),
        ("/private?x=/login", "%2Fprivate%3Fx%3D%2Flogin"),
        ("/publicity", "%2Fpublicity"),
        ("/public/../private", "%2Fpublic%2F..%2Fprivate"),
    ] {
        let response = send(&app, path, &[]).await;
        assert_eq!(response.status, 303, "{path}");
        let location = format!("/login?redirect_to={encoded}");
        assert_eq!(response.header("location"), [location.as_str()]);
    }
    assert_eq!(s.store.len(), 0, "refusals store nothing");
}

/// The sign-in page is open; a signed-in session passes.
pub async fn guard_lets_signed_in_sessions_through<A: Adapter>() {
    let s = Setup::new();
    let app = s.guarded::<A>(Some(LoginPolicy::new(signed_in))).await;
    let login = send(&app, "/login", &[]).await;
    assert_eq!(login.status, 200, "the sign-in page is allowed");
    let cookie = cookie_of(&login);
    let response = send(&app, "/private", &[cookie.as_bytes()]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "0");
}

/// The guard and the handler share one load.
pub async fn guard_loads_the_session_once<A: Adapter>() {
    let s = Setup::new();
    let app = s.guarded::<A>(Some(LoginPolicy::new(signed_in))).await;
    let cookie = cookie_of(&send(&app, "/login", &[]).await);
    let before = s.loads();
    let response = send(&app, "/private", &[cookie.as_bytes()]).await;
    assert_eq!(response.status, 200);
    assert_eq!(s.loads(), before + 1);
}

/// `unauthorized` answers `401` (the sign-in page too); `sign_in` moves
/// the redirect.
pub async fn guard_can_answer_401_and_custom_sign_in<A: Adapter>() {
    let s = Setup::new();
    let api = s
        .guarded::<A>(Some(LoginPolicy::new(signed_in).unauthorized()))
        .await;
    let response = send(&api, "/private", &[]).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body, "authentication required");
    let response = send(&api, "/login", &[]).await;
    assert_eq!(response.status, 401, "no sign-in page exemption with 401");
    let custom = LoginPolicy::new(signed_in).sign_in("/public/page");
    let web = s.guarded::<A>(Some(custom)).await;
    let response = send(&web, "/private", &[]).await;
    assert_eq!(
        response.header("location"),
        ["/public/page?redirect_to=%2Fprivate"]
    );
}

/// A guard without the session layer: `500` naming the missing layer.
pub async fn guard_without_layer_is_a_500<A: Adapter>() {
    let app = A::serve(App {
        manager: None,
        guard: Some(LoginPolicy::new(signed_in)),
        csrf: None,
    })
    .await;
    let response = send(&app, "/private", &[]).await;
    assert_eq!(response.status, 500);
    assert!(
        response
            .body
            .ends_with("<T> is not installed for this route"),
        "{}",
        response.body
    );
}

/// A response that sets the session cookie gets `Cache-Control: no-store`
/// and `Vary: Cookie`; the application's own `Cache-Control` stays.
pub async fn responses_that_set_the_session_cookie_are_not_stored_by_caches<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let response = send(&app, "/count", &[]).await;
    assert!(response.set_cookie().is_some());
    assert_eq!(response.header("cache-control"), ["no-store"]);
    assert_eq!(response.header("vary"), ["Cookie"]);
    let response = send(&app, "/own-cache-control", &[]).await;
    assert!(response.set_cookie().is_some());
    assert_eq!(response.header("cache-control"), ["private, max-age=60"]);
}

/// A response that only loaded the session varies on `Cookie`; one that
/// never loaded it is left alone.
pub async fn responses_that_loaded_the_session_vary_on_cookie<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let response = send(&app, "/peek", &[]).await;
    assert_eq!(response.set_cookie(), None);
    assert!(response.header("cache-control").is_empty());
    assert_eq!(response.header("vary"), ["Cookie"]);
    let response = send(&app, "/health", &[b"_session=whatever"]).await;
    assert!(response.header("cache-control").is_empty());
    assert!(response.header("vary").is_empty());
}

/// `Vary` is extended, never broken: existing members stay, `Cookie` is
/// not repeated, `Vary: *` stays alone.
pub async fn vary_is_extended_never_broken<A: Adapter>() {
    let s = Setup::new();
    let app = s.app::<A>().await;
    let response = send(&app, "/vary-accept", &[]).await;
    let vary = response.header("vary").join(", ");
    for member in ["Accept-Encoding", "Origin", "Cookie"] {
        assert!(vary.contains(member), "{member} missing in {vary}");
    }
    assert_eq!(vary_cookie_count(&response), 1);
    let response = send(&app, "/vary-cookie", &[]).await;
    assert_eq!(response.header("vary"), ["accept-encoding, COOKIE"]);
    let response = send(&app, "/vary-star", &[]).await;
    assert_eq!(response.header("vary"), ["*"], "Vary: * stays alone");
    assert_eq!(response.header("cache-control"), ["no-store"]);
}

/// `cache_headers(false)` adds no caching header.
pub async fn cache_headers_can_be_turned_off<A: Adapter>() {
    let config = SessionConfig::testing().cache_headers(false);
    let s = Setup::with(config, MemoryStore::builder().no_cleanup().build());
    let response = send(&s.app::<A>().await, "/count", &[]).await;
    assert!(response.set_cookie().is_some());
    assert!(response.header("cache-control").is_empty());
    assert!(response.header("vary").is_empty());
}

/// Every `Path` and `Domain` the configuration accepts makes a valid
/// `Set-Cookie` through the adapter.
pub async fn every_accepted_path_and_domain_makes_a_header<A: Adapter>() {
    for (path, domain) in [
        ("/", "example.com"),
        ("/a-b_c.~!$&'()*+,=:@%20/", ".sub-1.example.com"),
    ] {
        let config = SessionConfig::testing().path(path).domain(domain);
        let s = Setup::with(config, MemoryStore::builder().no_cleanup().build());
        let response = send(&s.app::<A>().await, "/count", &[]).await;
        assert_eq!(response.status, 200);
        let header = response.set_cookie().expect("a Set-Cookie");
        assert!(header.contains(&format!("Path={path}")), "{header}");
        let domain = domain.trim_start_matches('.');
        assert!(header.contains(&format!("Domain={domain}")), "{header}");
    }
}

/// Under [`Concurrency::Serialize`], a request whose session another
/// request holds (here: a lock taken by hand) and that cannot wait answers
/// `503` with `Retry-After` and no cookie; the read-only extractor takes no
/// lock and goes through; once the lock is given back, writes go through.
pub async fn a_busy_session_is_a_503_with_retry_after_and_reads_go_through<A: Adapter>() {
    let serialize = SessionConfig::testing()
        .concurrency(Concurrency::Serialize)
        .lock_wait(Duration::ZERO);
    let s = Setup::with(serialize, MemoryStore::builder().no_cleanup().build());
    let app = s.app::<A>().await;
    let cookie = cookie_of(&send(&app, "/count", &[]).await);
    let token = cookie.split_once('=').map_or("", |(_, token)| token);
    let id = SessionId::from_token(token);
    let locks = s.store.locks().expect("the memory store locks");
    let holder = LockToken::random();
    let lease = Duration::from_secs(30);
    let taken = locks.try_lock(&id, &holder, lease, None).await;
    let taken = taken.expect("the lock answers");
    assert!(matches!(taken, LockAttempt::Acquired(Some(_))), "{taken:?}");

    let busy = send(&app, "/count", &[cookie.as_bytes()]).await;
    assert_eq!(busy.status, 503, "{busy:?}");
    let retry = busy.header("retry-after");
    let seconds: Vec<u64> = retry.iter().filter_map(|v| v.parse().ok()).collect();
    assert!(
        matches!(seconds[..], [1..=30]),
        "one Retry-After of 1 to 30 s: {retry:?}"
    );
    assert_eq!(busy.set_cookie(), None);
    let read = send(&app, "/read-only", &[cookie.as_bytes()]).await;
    assert_eq!((read.status, read.body.as_str()), (200, "1"), "{read:?}");

    assert!(locks
        .unlock(&id, &holder)
        .await
        .expect("the unlock answers"));
    let after = send(&app, "/count", &[cookie.as_bytes()]).await;
    assert_eq!((after.status, after.body.as_str()), (200, "2"), "{after:?}");
    assert!(after.header("retry-after").is_empty());
}
