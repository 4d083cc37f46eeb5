//! The axum adapter against a real router and the real memory store: the
//! adapter contract's checks, then what only axum does.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use axum::body::{Body, Bytes};
use axum::http::header::COOKIE;
use axum::http::{HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use session_adapter_conformance::{
    self as contract, respond, respond_form, respond_read_only, App, Data, Handled,
};
use session_axum::{
    CsrfLayer, LoginGuard, ReadOnlySession, Session, SessionConfig, SessionLayer, SessionManager,
};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

struct Axum(Router);

#[async_trait::async_trait(?Send)]
impl contract::Adapter for Axum {
    async fn serve(app: App) -> Self {
        let mut router = routes();
        if let Some(policy) = app.guard {
            router = router.layer(LoginGuard::from(policy));
        }
        if let Some(policy) = app.csrf {
            router = router.layer(CsrfLayer::<Data>::new(policy));
        }
        if let Some(manager) = app.manager {
            router = router.layer(SessionLayer::new(manager));
        }
        Axum(router)
    }

    async fn send(&self, request: contract::Request) -> contract::Response {
        let mut built = Request::builder().method(request.method).uri(request.path);
        for (name, value) in request.headers {
            built = built.header(name, value);
        }
        for cookie in request.cookies {
            built = built.header(COOKIE, HeaderValue::from_bytes(&cookie).unwrap());
        }
        let built = built.body(Body::from(request.body)).unwrap();
        let response = self.0.clone().oneshot(built).await.unwrap();
        let lines = response.headers().iter();
        let lines = lines.map(|(name, value)| (name.as_str(), value.as_bytes()));
        let mut reply = contract::Response::new(response.status().as_u16(), lines);
        reply.body = body(response).await;
        reply
    }
}

session_adapter_conformance::conformance_suite!(Axum, tokio::test);

fn routes() -> Router {
    let mut router = Router::new().route("/optional", get(optional));
    for path in contract::PLAIN_ROUTES {
        router = router.route(
            path,
            get(|uri: Uri| async move { reply(respond(uri.path(), None)) }),
        );
    }
    for path in contract::SESSION_ROUTES {
        let handler = |uri: Uri, session: Session<Data>| async move {
            reply(respond(uri.path(), Some(&session)))
        };
        router = router.route(path, any(handler));
    }
    for path in contract::FORM_ROUTES {
        let handler = |session: Session<Data>, body: Bytes| async move {
            reply(respond_form(&session, &body))
        };
        router = router.route(path, any(handler));
    }
    for path in contract::READ_ONLY_ROUTES {
        let handler =
            |session: ReadOnlySession<Data>| async move { reply(respond_read_only(&session)) };
        router = router.route(path, get(handler));
    }
    router
}

fn reply(handled: Handled) -> Response {
    let mut response =
        (StatusCode::from_u16(handled.status).unwrap(), handled.body).into_response();
    for (name, value) in handled.headers {
        response
            .headers_mut()
            .append(name, HeaderValue::from_static(value));
    }
    response
}

async fn optional(session: Option<Session<Data>>) -> &'static str {
    if session.is_some() {
        "some"
    } else {
        "none"
    }
}

async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn manager() -> SessionManager<Data> {
    let config = SessionConfig::testing().store(MemoryStore::new()).build();
    SessionManager::new(config.unwrap())
}

#[tokio::test]
async fn optional_session_is_none_without_the_layer() {
    let get = |app: Router| async move {
        let request = Request::get("/optional").body(Body::empty()).unwrap();
        body(app.oneshot(request).await.unwrap()).await
    };
    assert_eq!(get(routes()).await, "none");
    assert_eq!(
        get(routes().layer(SessionLayer::new(manager()))).await,
        "some"
    );
}

#[test]
fn services_are_clone_and_send() {
    fn check<S: Clone + Send + Sync + 'static>(_: &S) {}
    let service = tower::ServiceBuilder::new()
        .layer(SessionLayer::new(manager()))
        .layer(LoginGuard::new(contract::signed_in))
        .service(routes());
    check(&service);
}
