//! The axum adapter against a real router and the real memory store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE, VARY};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use session_axum::{LoginGuard, Session, SessionConfig, SessionLayer, SessionManager};
use session_store_memory::{MemoryStore, Overflow};
use tower::ServiceExt;

#[derive(Default, Clone, Serialize, Deserialize)]
struct Data {
    count: u32,
    user: Option<String>,
}

struct Fixture {
    store: MemoryStore,
    manager: SessionManager<Data>,
    loads: Arc<AtomicUsize>,
}

fn fixture_with(store: MemoryStore) -> Fixture {
    let loads = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&loads);
    let config = SessionConfig::testing()
        .store(store.clone())
        .on_loaded(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    Fixture {
        store,
        manager: SessionManager::new(config),
        loads,
    }
}

fn fixture() -> Fixture {
    fixture_with(MemoryStore::builder().no_sweeper().build())
}

async fn count(session: Session<Data>) -> String {
    session
        .update(|d| {
            d.count += 1;
            d.count
        })
        .to_string()
}

async fn peek(session: Session<Data>) -> String {
    session.data().count.to_string()
}

async fn sign_in(session: Session<Data>) -> &'static str {
    session.regenerate();
    session.data_mut().user = Some("alice".into());
    "signed in"
}

async fn fail(session: Session<Data>) -> StatusCode {
    session.data_mut().count = 99;
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn optional(session: Option<Session<Data>>) -> &'static str {
    if session.is_some() {
        "some"
    } else {
        "none"
    }
}

fn routes() -> Router {
    Router::new()
        .route("/count", get(count))
        .route("/peek", get(peek))
        .route("/fail", get(fail))
        .route("/optional", get(optional))
        .route("/health", get(|| async { "ok" }))
}

fn app(f: &Fixture) -> Router {
    routes().layer(SessionLayer::new(f.manager.clone()))
}

fn guarded(f: &Fixture, guard: LoginGuard<Data>) -> Router {
    Router::new()
        .route("/private", get(peek))
        .route("/public", get(|| async { "public" }))
        .route("/public/page", get(|| async { "public page" }))
        .route("/publicity", get(|| async { "publicity" }))
        .route("/login", get(sign_in))
        .layer(guard)
        .layer(SessionLayer::new(f.manager.clone()))
}

fn signed_in(data: &Data) -> bool {
    data.user.is_some()
}

async fn send(app: &Router, path: &str, cookies: &[&[u8]]) -> Response {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    for cookie in cookies {
        request
            .headers_mut()
            .append(COOKIE, HeaderValue::from_bytes(cookie).unwrap());
    }
    app.clone().oneshot(request).await.unwrap()
}

async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn set_cookie(response: &Response) -> Option<String> {
    let mut values = response.headers().get_all(SET_COOKIE).iter();
    let first = values.next()?.to_str().unwrap().to_owned();
    assert!(values.next().is_none(), "one Set-Cookie at most");
    Some(first)
}

/// `name=value` of a `Set-Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn untouched_session_costs_nothing() {
    let f = fixture();
    let response = send(&app(&f), "/health", &[b"_session=whatever"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(f.store.len(), 0);
    assert_eq!(f.loads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn written_session_round_trips() {
    let f = fixture();
    let app = app(&f);
    let first = send(&app, "/count", &[]).await;
    let header = set_cookie(&first).expect("a new session sets a cookie");
    assert!(header.starts_with("_session="), "{header}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert_eq!(body(first).await, "1");
    assert_eq!(f.store.len(), 1);

    let cookie = pair(&header);
    let second = send(&app, "/count", &[cookie.as_bytes()]).await;
    assert_eq!(body(second).await, "2");
    let peeked = send(&app, "/peek", &[cookie.as_bytes()]).await;
    // Right after a write the idle expiry would move by less than the
    // refresh slack (1 s): no touch and no Set-Cookie.
    assert_eq!(set_cookie(&peeked), None);
    assert_eq!(body(peeked).await, "2");
    assert_eq!(f.store.len(), 1);
}

#[tokio::test]
async fn session_cookie_is_found_in_any_cookie_header() {
    let f = fixture();
    let app = app(&f);
    let cookie = pair(&set_cookie(&send(&app, "/count", &[]).await).unwrap());
    let headers: [&[u8]; 3] = [b"theme=dark", b"bad=\xff\xfe", cookie.as_bytes()];
    assert_eq!(body(send(&app, "/peek", &headers).await).await, "1");
    // A UTF-8 header is read even though it is not ASCII.
    let mixed = format!("name=caf\u{e9}; {cookie}");
    assert_eq!(
        body(send(&app, "/peek", &[mixed.as_bytes()]).await).await,
        "1"
    );
}

#[tokio::test]
async fn bad_cookies_give_a_fresh_session() {
    let f = fixture();
    let app = app(&f);
    let good = pair(&set_cookie(&send(&app, "/count", &[]).await).unwrap());
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
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
        assert_eq!(response.status(), StatusCode::OK, "{cookie:?}");
        let fresh = pair(&set_cookie(&response).expect("a fresh session"));
        assert_ne!(fresh, good);
        assert_ne!(fresh.as_bytes(), cookie);
        assert_eq!(body(response).await, "1", "{cookie:?}");
    }
}

#[tokio::test]
async fn missing_layer_is_a_clear_500() {
    let app = routes();
    let response = send(&app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body(response).await,
        "SessionLayer<T> is not installed for this route"
    );
    assert_eq!(body(send(&app, "/optional", &[]).await).await, "none");
    let f = fixture();
    let response = send(&self::app(&f), "/optional", &[]).await;
    assert_eq!(body(response).await, "some");
}

#[tokio::test]
async fn store_error_is_a_generic_503() {
    let f = fixture_with(
        MemoryStore::builder()
            .capacity(0, Overflow::Refuse)
            .no_sweeper()
            .build(),
    );
    let response = send(&app(&f), "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        body(response).await,
        "session store unavailable, please retry"
    );
}

#[tokio::test]
async fn load_error_rejection_uses_the_error_status() {
    use axum::response::IntoResponse;
    use session_axum::session_core::store::StoreError;
    use session_axum::{SessionError, SessionRejection};
    let rejection = SessionRejection::Store(SessionError::Store(StoreError::Timeout(
        std::time::Duration::from_millis(300),
    )));
    let response = rejection.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = body(response).await;
    assert_eq!(text, "session store unavailable, please retry");
    assert!(!text.contains("300"), "no store detail in the body");
}

#[tokio::test]
async fn oversized_cookie_is_a_500_not_a_truncated_cookie() {
    let store = MemoryStore::builder().no_sweeper().build();
    let config = SessionConfig::testing()
        .store(store.clone())
        .cookie_name("n".repeat(4100))
        .build()
        .unwrap();
    let app = routes().layer(SessionLayer::new(SessionManager::<Data>::new(config)));
    let response = send(&app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(body(response).await, "internal server error");
}

#[tokio::test]
async fn server_error_saves_nothing() {
    let f = fixture();
    let response = send(&app(&f), "/fail", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(f.store.len(), 0);
}

#[tokio::test]
async fn guard_allows_listed_paths_and_redirects_the_rest() {
    let f = fixture();
    let app = guarded(
        &f,
        LoginGuard::new(signed_in)
            .allow("/publicity-not")
            .allow_prefix("/public"),
    );
    for (path, text) in [("/public", "public"), ("/public/page", "public page")] {
        let response = send(&app, path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(body(response).await, text);
    }
    for (path, encoded) in [
        ("/private?a=1&b=/x y", "%2Fprivate%3Fa%3D1%26b%3D%2Fx%2520y"),
        ("/private?x=/login", "%2Fprivate%3Fx%3D%2Flogin"),
        ("/publicity", "%2Fpublicity"),
        ("/public/../private", "%2Fpublic%2F..%2Fprivate"),
    ] {
        let path = path.replace(' ', "%20");
        let response = send(&app, &path, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            response.headers()[LOCATION],
            format!("/login?redirect_to={encoded}").as_str()
        );
    }
    assert_eq!(f.store.len(), 0, "refusals store nothing");
}

#[tokio::test]
async fn guard_lets_signed_in_sessions_through() {
    let f = fixture();
    let app = guarded(&f, LoginGuard::new(signed_in));
    let login = send(&app, "/login", &[]).await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "the sign-in page is allowed"
    );
    let cookie = pair(&set_cookie(&login).unwrap());
    let response = send(&app, "/private", &[cookie.as_bytes()]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "0");
}

#[tokio::test]
async fn guard_loads_the_session_once() {
    let f = fixture();
    let app = guarded(&f, LoginGuard::new(signed_in));
    let cookie = pair(&set_cookie(&send(&app, "/login", &[]).await).unwrap());
    let before = f.loads.load(Ordering::SeqCst);
    let response = send(&app, "/private", &[cookie.as_bytes()]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(f.loads.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn guard_can_answer_401_and_custom_sign_in() {
    let f = fixture();
    let api = guarded(&f, LoginGuard::new(signed_in).unauthorized());
    let response = send(&api, "/private", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = send(&api, "/login", &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "no sign-in page exemption with 401"
    );

    let web = guarded(&f, LoginGuard::new(signed_in).sign_in("/public/page"));
    let response = send(&web, "/private", &[]).await;
    assert_eq!(
        response.headers()[LOCATION],
        "/public/page?redirect_to=%2Fprivate"
    );
}

#[tokio::test]
async fn guard_without_layer_is_a_500() {
    let app = Router::new()
        .route("/private", get(|| async { "secret" }))
        .layer(LoginGuard::new(signed_in));
    let response = send(&app, "/private", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body(response).await,
        "SessionLayer<T> is not installed for this route"
    );
}

#[test]
fn services_are_clone_and_send() {
    fn check<S: Clone + Send + Sync + 'static>(_: &S) {}
    let f = fixture();
    let service = tower::ServiceBuilder::new()
        .layer(SessionLayer::new(f.manager.clone()))
        .layer(LoginGuard::new(signed_in))
        .service(routes());
    check(&service);
}

/// The values of one header, in order.
fn header_values(response: &Response, name: axum::http::header::HeaderName) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// How many `Vary` members name `Cookie`.
fn vary_cookie_count(response: &Response) -> usize {
    header_values(response, VARY)
        .iter()
        .flat_map(|v| v.split(','))
        .filter(|m| m.trim().eq_ignore_ascii_case("cookie"))
        .count()
}

fn cache_routes(f: &Fixture) -> Router {
    async fn with_headers(
        session: Session<Data>,
        headers: axum::http::HeaderMap,
    ) -> (axum::http::HeaderMap, String) {
        session.data_mut().count += 1;
        (headers, "ok".to_owned())
    }
    let own = |pairs: &'static [(&'static str, &'static str)]| {
        move |session: Session<Data>| async move {
            let mut headers = axum::http::HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            with_headers(session, headers).await
        }
    };
    routes()
        .route(
            "/own-cache-control",
            get(own(&[("cache-control", "private, max-age=60")])),
        )
        .route(
            "/vary-accept",
            get(own(&[("vary", "Accept-Encoding"), ("vary", "Origin")])),
        )
        .route("/vary-star", get(own(&[("vary", "*")])))
        .route(
            "/vary-cookie",
            get(own(&[("vary", "accept-encoding, COOKIE")])),
        )
        .layer(SessionLayer::new(f.manager.clone()))
}

#[tokio::test]
async fn responses_that_set_the_session_cookie_are_not_stored_by_caches() {
    let f = fixture();
    let app = cache_routes(&f);
    let response = send(&app, "/count", &[]).await;
    assert!(set_cookie(&response).is_some());
    assert_eq!(header_values(&response, CACHE_CONTROL), ["no-store"]);
    assert_eq!(header_values(&response, VARY), ["Cookie"]);
    // The application's own Cache-Control is left alone.
    let response = send(&app, "/own-cache-control", &[]).await;
    assert!(set_cookie(&response).is_some());
    assert_eq!(
        header_values(&response, CACHE_CONTROL),
        ["private, max-age=60"]
    );
}

#[tokio::test]
async fn responses_that_loaded_the_session_vary_on_cookie() {
    let f = fixture();
    let app = cache_routes(&f);
    // Loaded, nothing to save: no Set-Cookie, no Cache-Control, but the
    // body depends on the cookie.
    let response = send(&app, "/peek", &[]).await;
    assert_eq!(set_cookie(&response), None);
    assert!(header_values(&response, CACHE_CONTROL).is_empty());
    assert_eq!(header_values(&response, VARY), ["Cookie"]);
    // Never loaded: untouched.
    let response = send(&app, "/health", &[b"_session=whatever"]).await;
    assert!(header_values(&response, CACHE_CONTROL).is_empty());
    assert!(header_values(&response, VARY).is_empty());
}

#[tokio::test]
async fn vary_is_extended_never_broken() {
    let f = fixture();
    let app = cache_routes(&f);
    let response = send(&app, "/vary-accept", &[]).await;
    let vary = header_values(&response, VARY).join(", ");
    for member in ["Accept-Encoding", "Origin", "Cookie"] {
        assert!(vary.contains(member), "{member} missing in {vary}");
    }
    assert_eq!(vary_cookie_count(&response), 1);
    let response = send(&app, "/vary-cookie", &[]).await;
    assert_eq!(
        header_values(&response, VARY),
        ["accept-encoding, COOKIE"],
        "Cookie is not repeated"
    );
    let response = send(&app, "/vary-star", &[]).await;
    assert_eq!(header_values(&response, VARY), ["*"], "Vary: * stays alone");
    assert_eq!(header_values(&response, CACHE_CONTROL), ["no-store"]);
}

#[tokio::test]
async fn cache_headers_can_be_turned_off() {
    let config = SessionConfig::testing()
        .store(MemoryStore::builder().no_sweeper().build())
        .cache_headers(false)
        .build()
        .unwrap();
    let app = routes().layer(SessionLayer::new(SessionManager::<Data>::new(config)));
    let response = send(&app, "/count", &[]).await;
    assert!(set_cookie(&response).is_some());
    assert!(header_values(&response, CACHE_CONTROL).is_empty());
    assert!(header_values(&response, VARY).is_empty());
}

#[tokio::test]
async fn every_accepted_path_and_domain_makes_a_header_and_hostile_ones_never_build() {
    for (path, domain) in [
        ("/", "example.com"),
        ("/a-b_c.~!$&'()*+,=:@%20/", ".sub-1.example.com"),
    ] {
        let config = SessionConfig::testing()
            .store(MemoryStore::builder().no_sweeper().build())
            .path(path)
            .domain(domain)
            .build()
            .unwrap();
        let app = routes().layer(SessionLayer::new(SessionManager::<Data>::new(config)));
        let response = send(&app, "/count", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let header = set_cookie(&response).unwrap();
        assert!(header.contains(&format!("Path={path}")), "{header}");
    }
    // What could not be a header value is refused before any request.
    for (path, domain) in [
        ("/a;b", "example.com"),
        ("/a\r\nX: y", "example.com"),
        ("/a b", "example.com"),
        ("/é", "example.com"),
        ("/", "example.com; Secure"),
        ("/", "exa\nmple.com"),
        ("/", "exämple.com"),
    ] {
        let built = SessionConfig::testing()
            .store(MemoryStore::new())
            .path(path)
            .domain(domain)
            .build();
        assert!(built.is_err(), "{path:?} {domain:?}");
    }
}

#[tokio::test]
async fn a_session_over_its_size_limit_is_a_500_and_nothing_is_stored() {
    let store = MemoryStore::builder().no_sweeper().build();
    let config = SessionConfig::testing()
        .store(store.clone())
        .max_session_bytes(4)
        .build()
        .unwrap();
    let app = routes().layer(SessionLayer::new(SessionManager::<Data>::new(config)));
    let response = send(&app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(store.len(), 0);
    assert_eq!(body(response).await, "internal server error");
}
