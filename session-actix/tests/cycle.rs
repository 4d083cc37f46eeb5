//! The actix-web adapter against a real app and the real memory store: the
//! adapter contract's checks, then what only actix-web does (errors of
//! handlers and inner middleware).
#![cfg_attr(test, allow(clippy::unwrap_used))]

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Condition;
use actix_web::{test, web, HttpRequest, HttpResponse};
use session_actix::session_core::csrf::CsrfPolicy;
use session_actix::{
    CsrfMiddleware, LoginGuard, ReadOnlySession, Session, SessionConfig, SessionManager,
    SessionMiddleware,
};
use session_adapter_conformance::{
    self as contract, respond, respond_form, respond_read_only, App, Data, Handled,
};
use session_store_memory::MemoryStore;

/// The app's description; every request builds the service anew (the
/// store and the manager are shared).
struct Actix(App);

#[async_trait::async_trait(?Send)]
impl contract::Adapter for Actix {
    async fn serve(app: App) -> Self {
        Actix(app)
    }

    async fn send(&self, request: contract::Request) -> contract::Response {
        let guard = self.0.guard.clone().map(LoginGuard::from);
        let csrf = self.0.csrf.clone().map(CsrfMiddleware::<Data>::new);
        let manager = self.0.manager.clone();
        let app = test::init_service(
            actix_web::App::new()
                .wrap(Condition::new(
                    guard.is_some(),
                    guard.unwrap_or_else(|| LoginGuard::new(|_| true)),
                ))
                .wrap(Condition::new(
                    csrf.is_some(),
                    csrf.unwrap_or_else(|| CsrfMiddleware::new(CsrfPolicy::new())),
                ))
                .wrap(Condition::new(
                    manager.is_some(),
                    SessionMiddleware::new(manager.unwrap_or_else(manager_of_nothing)),
                ))
                .configure(routes),
        )
        .await;
        let mut built = get(&request.path, &request.cookies)
            .method(Method::from_bytes(request.method.as_bytes()).unwrap())
            .set_payload(request.body);
        for header in request.headers {
            built = built.insert_header(header);
        }
        let response = test::call_service(&app, built.to_request()).await;
        let lines = response.headers().iter();
        let lines = lines.map(|(name, value)| (name.as_str(), value.as_bytes()));
        let mut reply = contract::Response::new(response.status().as_u16(), lines);
        reply.body = body(response).await;
        reply
    }
}

session_adapter_conformance::conformance_suite!(Actix, actix_web::test);

/// A manager for the disabled middleware of an app without sessions.
fn manager_of_nothing() -> SessionManager<Data> {
    let config = SessionConfig::testing().store(MemoryStore::new()).build();
    SessionManager::new(config.unwrap())
}

fn routes(cfg: &mut web::ServiceConfig) {
    for path in contract::PLAIN_ROUTES {
        cfg.route(
            path,
            web::get().to(|req: HttpRequest| async move { reply(respond(req.path(), None)) }),
        );
    }
    for path in contract::SESSION_ROUTES {
        cfg.route(
            path,
            web::route().to(|req: HttpRequest, session: Session<Data>| async move {
                reply(respond(req.path(), Some(&session)))
            }),
        );
    }
    for path in contract::FORM_ROUTES {
        cfg.route(
            path,
            web::route().to(|session: Session<Data>, body: web::Bytes| async move {
                reply(respond_form(&session, &body))
            }),
        );
    }
    for path in contract::READ_ONLY_ROUTES {
        cfg.route(
            path,
            web::get().to(|session: ReadOnlySession<Data>| async move {
                reply(respond_read_only(&session))
            }),
        );
    }
    cfg.route("/logout-fail", web::get().to(logout_then_fail));
}

fn reply(handled: Handled) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(handled.status).unwrap());
    for header in handled.headers {
        response.append_header(header);
    }
    response.body(handled.body)
}

async fn logout_then_fail(session: Session<Data>) -> Result<String, actix_web::Error> {
    session.delete();
    Err(actix_web::error::ErrorInternalServerError("boom"))
}

fn get(path: &str, cookies: &[Vec<u8>]) -> test::TestRequest {
    let mut request = test::TestRequest::get().uri(path);
    for cookie in cookies {
        request = request.append_header((COOKIE, HeaderValue::from_bytes(cookie).unwrap()));
    }
    request
}

async fn body<B: MessageBody>(response: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
}

/// A store and the app over it, with the session middleware, and
/// `inner` (an application's middleware) inside it.
struct Fixture {
    store: MemoryStore,
    manager: SessionManager<Data>,
}

fn fixture() -> Fixture {
    let store = MemoryStore::builder().no_cleanup().build();
    let config = SessionConfig::testing().store(store.clone()).build();
    let manager = SessionManager::new(config.unwrap());
    Fixture { store, manager }
}

/// Sends a request through an app of `routes`, with the session
/// middleware around `$inner`.
macro_rules! send {
    ($f:expr, $inner:expr, $path:expr, $cookies:expr) => {{
        let app = test::init_service(
            actix_web::App::new()
                .wrap($inner)
                .wrap(SessionMiddleware::new($f.manager.clone()))
                .configure(routes),
        )
        .await;
        test::try_call_service(&app, get($path, $cookies).to_request()).await
    }};
}

/// A new session's cookie (`name=value`).
async fn new_session(f: &Fixture) -> Vec<u8> {
    let response = send!(f, Condition::new(false, no_inner()), "/count", &[]).unwrap();
    let header = response
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    header.split(';').next().unwrap().as_bytes().to_vec()
}

fn no_inner() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
}

fn header_values(headers: &actix_web::http::header::HeaderMap, name: &str) -> Vec<String> {
    let values = headers.get_all(name);
    values.map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn logout_survives_a_handler_error_and_its_page_is_not_cached() {
    let f = fixture();
    let cookie = new_session(&f).await;
    assert_eq!(f.store.len(), 1);
    let response = send!(f, no_inner(), "/logout-fail", &[cookie]).unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(f.store.len(), 0, "the deletion is committed");
    let removal = header_values(response.headers(), "set-cookie");
    assert!(removal[0].contains("Max-Age=0"), "{removal:?}");
    assert_eq!(
        header_values(response.headers(), "cache-control"),
        ["no-store"]
    );
    assert_eq!(header_values(response.headers(), "vary"), ["Cookie"]);
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
async fn inner_middleware_error_still_commits_and_carries_the_headers() {
    let f = fixture();
    let cookie = new_session(&f).await;
    assert_eq!(f.store.len(), 1);
    let inner = actix_web::middleware::from_fn(logout_and_refuse);
    let error = send!(f, inner, "/peek", &[cookie]).expect_err("the error passes through");
    let response = error.error_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(f.store.len(), 0, "the deletion is committed");
    let removal = response
        .headers()
        .get(SET_COOKIE)
        .expect("the cookie is removed");
    assert!(removal.to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(
        header_values(response.headers(), CACHE_CONTROL.as_str()),
        ["no-store"]
    );
    assert_eq!(header_values(response.headers(), VARY.as_str()), ["Cookie"]);
}

/// actix-web asks a rejection for its status apart from its response
/// (for logging, and for a `SessionMiddleware` around it): the two agree.
#[actix_web::test]
async fn rejection_status_is_its_response_status() {
    use actix_web::ResponseError;
    use session_actix::session_core::store::StoreError;
    use session_actix::{SessionError, SessionRejection};
    let timeout = StoreError::Timeout(std::time::Duration::from_millis(300));
    let rejection = SessionRejection::from(SessionError::Store(timeout));
    assert_eq!(rejection.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rejection.error_response().status(), rejection.status_code());
}

#[actix_web::test]
async fn session_handle_is_send() {
    fn check<S: Send + Sync + 'static>() {}
    check::<Session<Data>>();
}
