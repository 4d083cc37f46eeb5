//! The actix-web adapter against a real app and the real memory store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{
    HeaderName, HeaderValue, CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE, VARY,
};
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use serde::{Deserialize, Serialize};
use session_actix::{LoginGuard, Session, SessionConfig, SessionManager, SessionMiddleware};
use session_store_memory::{MemoryStore, Overflow};

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

async fn fail(session: Session<Data>) -> HttpResponse {
    session.data_mut().count = 99;
    HttpResponse::InternalServerError().finish()
}

async fn logout_then_fail(session: Session<Data>) -> Result<String, actix_web::Error> {
    session.delete();
    Err(actix_web::error::ErrorInternalServerError("boom"))
}

async fn text(body: &'static str) -> &'static str {
    body
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/count", web::get().to(count))
        .route("/peek", web::get().to(peek))
        .route("/fail", web::get().to(fail))
        .route("/logout-fail", web::get().to(logout_then_fail))
        .route("/health", web::get().to(|| text("ok")));
}

fn guarded_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/private", web::get().to(peek))
        .route("/public", web::get().to(|| text("public")))
        .route("/public/page", web::get().to(|| text("public page")))
        .route("/publicity", web::get().to(|| text("publicity")))
        .route("/login", web::get().to(sign_in));
}

/// A test app as a plain service, so every test drives it the same way.
macro_rules! app {
    ($f:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($f.manager.clone()))
                .configure(routes),
        )
        .await
    };
    ($f:expr, $guard:expr) => {
        test::init_service(
            App::new()
                // The last wrap runs first: the session middleware is outside.
                .wrap($guard)
                .wrap(SessionMiddleware::new($f.manager.clone()))
                .configure(guarded_routes),
        )
        .await
    };
}

fn request(path: &str, cookies: &[&[u8]]) -> test::TestRequest {
    let mut request = test::TestRequest::get().uri(path);
    for cookie in cookies {
        request = request.append_header((COOKIE, HeaderValue::from_bytes(cookie).unwrap()));
    }
    request
}

/// Sends a GET with these `Cookie` headers through the app.
macro_rules! send {
    ($app:expr, $path:expr, $cookies:expr) => {
        test::call_service(&$app, request($path, $cookies).to_request())
    };
}

async fn body<B: MessageBody>(response: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
}

fn set_cookie<B>(response: &ServiceResponse<B>) -> Option<String> {
    let mut values = response.headers().get_all(SET_COOKIE);
    let first = values.next()?.to_str().unwrap().to_owned();
    assert!(values.next().is_none(), "one Set-Cookie at most");
    Some(first)
}

/// `name=value` of a `Set-Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn signed_in(data: &Data) -> bool {
    data.user.is_some()
}

#[actix_web::test]
async fn untouched_session_costs_nothing() {
    let f = fixture();
    let app = app!(f);
    let response = send!(app, "/health", &[b"_session=whatever"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(f.store.len(), 0);
    assert_eq!(f.loads.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn written_session_round_trips() {
    let f = fixture();
    let app = app!(f);
    let first = send!(app, "/count", &[]).await;
    let header = set_cookie(&first).expect("a new session sets a cookie");
    assert!(header.starts_with("_session="), "{header}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert_eq!(body(first).await, "1");
    assert_eq!(f.store.len(), 1);

    let cookie = pair(&header);
    assert_eq!(
        body(send!(app, "/count", &[cookie.as_bytes()]).await).await,
        "2"
    );
    let peeked = send!(app, "/peek", &[cookie.as_bytes()]).await;
    // Right after a write the idle expiry would move by less than the
    // refresh slack (1 s): no touch and no Set-Cookie.
    assert_eq!(set_cookie(&peeked), None);
    assert_eq!(body(peeked).await, "2");
    assert_eq!(f.store.len(), 1);
}

#[actix_web::test]
async fn session_cookie_is_found_in_any_cookie_header() {
    let f = fixture();
    let app = app!(f);
    let cookie = pair(&set_cookie(&send!(app, "/count", &[]).await).unwrap());
    let headers: [&[u8]; 3] = [b"theme=dark", b"bad=\xff\xfe", cookie.as_bytes()];
    assert_eq!(body(send!(app, "/peek", &headers).await).await, "1");
    // A UTF-8 header is read even though it is not ASCII.
    let mixed = format!("name=caf\u{e9}; {cookie}");
    assert_eq!(
        body(send!(app, "/peek", &[mixed.as_bytes()]).await).await,
        "1"
    );
}

#[actix_web::test]
async fn bad_cookies_give_a_fresh_session() {
    let f = fixture();
    let app = app!(f);
    let good = pair(&set_cookie(&send!(app, "/count", &[]).await).unwrap());
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
        let response = send!(app, "/count", &[cookie]).await;
        assert_eq!(response.status(), StatusCode::OK, "{cookie:?}");
        let fresh = pair(&set_cookie(&response).expect("a fresh session"));
        assert_ne!(fresh, good);
        assert_ne!(fresh.as_bytes(), cookie);
        assert_eq!(body(response).await, "1", "{cookie:?}");
    }
}

#[actix_web::test]
async fn missing_middleware_is_a_clear_500() {
    let app = test::init_service(App::new().configure(routes)).await;
    let response = send!(app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body(response).await,
        "SessionMiddleware<T> is not installed for this route"
    );
}

#[actix_web::test]
async fn store_error_is_a_generic_503() {
    let f = fixture_with(
        MemoryStore::builder()
            .capacity(0, Overflow::Refuse)
            .no_sweeper()
            .build(),
    );
    let app = app!(f);
    let response = send!(app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        body(response).await,
        "session store unavailable, please retry"
    );
}

#[actix_web::test]
async fn load_error_rejection_uses_the_error_status() {
    use actix_web::ResponseError;
    use session_actix::session_core::store::StoreError;
    use session_actix::{SessionError, SessionRejection};
    let rejection = SessionRejection::Store(SessionError::Store(StoreError::Timeout(
        std::time::Duration::from_millis(300),
    )));
    assert_eq!(rejection.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    let response = rejection.error_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap();
    assert_eq!(bytes, "session store unavailable, please retry");
}

#[actix_web::test]
async fn oversized_cookie_is_a_500_not_a_truncated_cookie() {
    let config = SessionConfig::testing()
        .store(MemoryStore::builder().no_sweeper().build())
        .cookie_name("n".repeat(4100))
        .build()
        .unwrap();
    let manager = SessionManager::<Data>::new(config);
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .configure(routes),
    )
    .await;
    let response = send!(app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(body(response).await, "internal server error");
}

#[actix_web::test]
async fn server_error_saves_nothing() {
    let f = fixture();
    let app = app!(f);
    let response = send!(app, "/fail", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(f.store.len(), 0);
}

#[actix_web::test]
async fn logout_survives_a_handler_error() {
    let f = fixture();
    let app = app!(f);
    let cookie = pair(&set_cookie(&send!(app, "/count", &[]).await).unwrap());
    assert_eq!(f.store.len(), 1);
    let response = send!(app, "/logout-fail", &[cookie.as_bytes()]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(f.store.len(), 0, "the deletion is committed");
    let removal = set_cookie(&response).expect("the cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
}

/// A middleware of the application's own that ends the session and fails.
async fn logout_and_refuse(
    req: actix_web::dev::ServiceRequest,
    _next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse, actix_web::Error> {
    use session_actix::SessionExt;
    let lazy = req.get_session::<Data>().expect("inside SessionMiddleware");
    let cookies: Vec<&str> = req
        .headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = lazy
        .load(cookies)
        .await
        .map_err(session_actix::SessionRejection::from)?;
    session.delete();
    Err(actix_web::error::ErrorForbidden("refused"))
}

#[actix_web::test]
async fn inner_middleware_error_still_commits() {
    let f = fixture();
    let app = test::init_service(
        App::new()
            .wrap(actix_web::middleware::from_fn(logout_and_refuse))
            .wrap(SessionMiddleware::new(f.manager.clone()))
            .configure(routes),
    )
    .await;
    let created = app!(f);
    let cookie = pair(&set_cookie(&send!(created, "/count", &[]).await).unwrap());
    assert_eq!(f.store.len(), 1);
    let error = test::try_call_service(&app, request("/peek", &[cookie.as_bytes()]).to_request())
        .await
        .expect_err("the error passes through");
    let response = error.error_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(f.store.len(), 0, "the deletion is committed");
    let removal = response
        .headers()
        .get(SET_COOKIE)
        .expect("the cookie is removed");
    assert!(removal.to_str().unwrap().contains("Max-Age=0"));
}

#[actix_web::test]
async fn guard_allows_listed_paths_and_redirects_the_rest() {
    let f = fixture();
    let app = app!(f, LoginGuard::new(signed_in).allow_prefix("/public"));
    for (path, text) in [("/public", "public"), ("/public/page", "public page")] {
        let response = send!(app, path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(body(response).await, text);
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
        let response = send!(app, path, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            response.headers().get(LOCATION).unwrap(),
            format!("/login?redirect_to={encoded}").as_str()
        );
    }
    assert_eq!(f.store.len(), 0, "refusals store nothing");
}

#[actix_web::test]
async fn guard_lets_signed_in_sessions_through() {
    let f = fixture();
    let app = app!(f, LoginGuard::new(signed_in));
    let login = send!(app, "/login", &[]).await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "the sign-in page is allowed"
    );
    let cookie = pair(&set_cookie(&login).unwrap());
    let response = send!(app, "/private", &[cookie.as_bytes()]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "0");
}

#[actix_web::test]
async fn guard_loads_the_session_once() {
    let f = fixture();
    let app = app!(f, LoginGuard::new(signed_in));
    let cookie = pair(&set_cookie(&send!(app, "/login", &[]).await).unwrap());
    let before = f.loads.load(Ordering::SeqCst);
    let response = send!(app, "/private", &[cookie.as_bytes()]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(f.loads.load(Ordering::SeqCst), before + 1);
}

#[actix_web::test]
async fn guard_can_answer_401_and_custom_sign_in() {
    let f = fixture();
    let api = app!(f, LoginGuard::new(signed_in).unauthorized());
    assert_eq!(
        send!(api, "/private", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send!(api, "/login", &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "no sign-in page exemption with 401"
    );

    let web = app!(f, LoginGuard::new(signed_in).sign_in("/public/page"));
    let response = send!(web, "/private", &[]).await;
    assert_eq!(
        response.headers().get(LOCATION).unwrap(),
        "/public/page?redirect_to=%2Fprivate"
    );
}

#[actix_web::test]
async fn guard_without_middleware_is_a_500() {
    let app = test::init_service(
        App::new()
            .wrap(LoginGuard::new(signed_in))
            .route("/private", web::get().to(|| text("secret"))),
    )
    .await;
    let response = send!(app, "/private", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body(response).await,
        "SessionMiddleware<T> is not installed for this route"
    );
}

#[actix_web::test]
async fn session_handle_is_send() {
    fn check<S: Send + Sync + 'static>() {}
    check::<Session<Data>>();
}

/// The values of one header, in order.
fn header_values(headers: &actix_web::http::header::HeaderMap, name: HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn with_headers(
    session: Session<Data>,
    pairs: &'static [(&'static str, &'static str)],
) -> HttpResponse {
    session.update(|d| d.count += 1);
    let mut response = HttpResponse::Ok();
    for pair in pairs {
        response.append_header(*pair);
    }
    response.body("ok")
}

fn cache_routes(cfg: &mut web::ServiceConfig) {
    routes(cfg);
    cfg.route(
        "/own-cache-control",
        web::get().to(|s| with_headers(s, &[("cache-control", "private, max-age=60")])),
    )
    .route(
        "/vary-accept",
        web::get().to(|s| with_headers(s, &[("vary", "Accept-Encoding"), ("vary", "Origin")])),
    )
    .route(
        "/vary-star",
        web::get().to(|s| with_headers(s, &[("vary", "*")])),
    )
    .route(
        "/vary-cookie",
        web::get().to(|s| with_headers(s, &[("vary", "accept-encoding, COOKIE")])),
    );
}

macro_rules! cache_app {
    ($f:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($f.manager.clone()))
                .configure(cache_routes),
        )
        .await
    };
}

#[actix_web::test]
async fn responses_that_set_the_session_cookie_are_not_stored_by_caches() {
    let f = fixture();
    let app = cache_app!(f);
    let response = send!(app, "/count", &[]).await;
    assert!(set_cookie(&response).is_some());
    assert_eq!(
        header_values(response.headers(), CACHE_CONTROL),
        ["no-store"]
    );
    assert_eq!(header_values(response.headers(), VARY), ["Cookie"]);
    let response = send!(app, "/own-cache-control", &[]).await;
    assert!(set_cookie(&response).is_some());
    assert_eq!(
        header_values(response.headers(), CACHE_CONTROL),
        ["private, max-age=60"]
    );
}

#[actix_web::test]
async fn responses_that_loaded_the_session_vary_on_cookie() {
    let f = fixture();
    let app = cache_app!(f);
    let response = send!(app, "/peek", &[]).await;
    assert_eq!(set_cookie(&response), None);
    assert!(header_values(response.headers(), CACHE_CONTROL).is_empty());
    assert_eq!(header_values(response.headers(), VARY), ["Cookie"]);
    let response = send!(app, "/health", &[b"_session=whatever"]).await;
    assert!(header_values(response.headers(), CACHE_CONTROL).is_empty());
    assert!(header_values(response.headers(), VARY).is_empty());
}

#[actix_web::test]
async fn vary_is_extended_never_broken() {
    let f = fixture();
    let app = cache_app!(f);
    let response = send!(app, "/vary-accept", &[]).await;
    let vary = header_values(response.headers(), VARY).join(", ");
    for member in ["Accept-Encoding", "Origin", "Cookie"] {
        assert!(vary.contains(member), "{member} missing in {vary}");
    }
    assert_eq!(vary.matches("Cookie").count(), 1, "{vary}");
    let response = send!(app, "/vary-cookie", &[]).await;
    assert_eq!(
        header_values(response.headers(), VARY),
        ["accept-encoding, COOKIE"],
        "Cookie is not repeated"
    );
    let response = send!(app, "/vary-star", &[]).await;
    assert_eq!(header_values(response.headers(), VARY), ["*"]);
    assert_eq!(
        header_values(response.headers(), CACHE_CONTROL),
        ["no-store"]
    );
}

#[actix_web::test]
async fn error_responses_that_set_the_cookie_are_not_stored_by_caches() {
    let f = fixture();
    let app = app!(f);
    let cookie = pair(&set_cookie(&send!(app, "/count", &[]).await).unwrap());
    // A handler error after a logout: the removal goes out on the error page.
    let response = send!(app, "/logout-fail", &[cookie.as_bytes()]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set_cookie(&response).unwrap().contains("Max-Age=0"));
    assert_eq!(
        header_values(response.headers(), CACHE_CONTROL),
        ["no-store"]
    );
    assert_eq!(header_values(response.headers(), VARY), ["Cookie"]);
    // An inner middleware's error (the `finish_error` path).
    let cookie = pair(&set_cookie(&send!(app, "/count", &[]).await).unwrap());
    let failing = test::init_service(
        App::new()
            .wrap(actix_web::middleware::from_fn(logout_and_refuse))
            .wrap(SessionMiddleware::new(f.manager.clone()))
            .configure(routes),
    )
    .await;
    let error = test::try_call_service(
        &failing,
        request("/peek", &[cookie.as_bytes()]).to_request(),
    )
    .await
    .expect_err("the error passes through");
    let response = error.error_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        header_values(response.headers(), CACHE_CONTROL),
        ["no-store"]
    );
    assert_eq!(header_values(response.headers(), VARY), ["Cookie"]);
}

#[actix_web::test]
async fn cache_headers_can_be_turned_off() {
    let config = SessionConfig::testing()
        .store(MemoryStore::builder().no_sweeper().build())
        .cache_headers(false)
        .build()
        .unwrap();
    let manager = SessionManager::<Data>::new(config);
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .configure(routes),
    )
    .await;
    let response = send!(app, "/count", &[]).await;
    assert!(set_cookie(&response).is_some());
    assert!(header_values(response.headers(), CACHE_CONTROL).is_empty());
    assert!(header_values(response.headers(), VARY).is_empty());
}

#[actix_web::test]
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
        let manager = SessionManager::<Data>::new(config);
        let app = test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(manager))
                .configure(routes),
        )
        .await;
        let response = send!(app, "/count", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let header = set_cookie(&response).unwrap();
        assert!(header.contains(&format!("Path={path}")), "{header}");
    }
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

#[actix_web::test]
async fn a_session_over_its_size_limit_is_a_500_and_nothing_is_stored() {
    let store = MemoryStore::builder().no_sweeper().build();
    let config = SessionConfig::testing()
        .store(store.clone())
        .max_session_bytes(4)
        .build()
        .unwrap();
    let manager = SessionManager::<Data>::new(config);
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .configure(routes),
    )
    .await;
    let response = send!(app, "/count", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(store.len(), 0);
    assert_eq!(body(response).await, "internal server error");
}
