//! The serialize policy through the layer: a request that cannot get the
//! session's lock answers `503` with `Retry-After`; a read-only extractor
//! takes no lock.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use session_axum::{ReadOnlySession, Session, SessionConfig, SessionLayer, SessionManager};
use session_core::store::{LockToken, SessionStore};
use session_core::{Concurrency, SessionId};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

async fn count(session: Session<u32>) -> String {
    session.update(|n| {
        *n += 1;
        n.to_string()
    })
}

async fn peek(session: ReadOnlySession<u32>) -> String {
    session.data().to_string()
}

async fn get_with(app: &Router, path: &str, cookie: Option<&str>) -> axum::response::Response {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let request = request.body(Body::empty()).unwrap();
    app.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn a_locked_session_answers_503_with_retry_after_and_reads_go_through() {
    let store = MemoryStore::builder().no_cleanup().build();
    let config = SessionConfig::testing()
        .store(store.clone())
        .concurrency(Concurrency::Serialize)
        .lock_wait(Duration::ZERO)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/count", get(count))
        .route("/peek", get(peek))
        .layer(SessionLayer::new(SessionManager::<u32>::new(config)));

    let first = get_with(&app, "/count", None).await;
    let set_cookie = first.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1;
    let id = SessionId::from_token(token);

    // Another request (here: by hand) holds the session's lock.
    let locks = store.locks().unwrap();
    let holder = LockToken::random();
    locks
        .try_lock(&id, &holder, Duration::from_secs(30), None)
        .await
        .unwrap();
    let busy = get_with(&app, "/count", Some(&cookie)).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = busy.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After: {retry}");
    assert!(busy.headers().get(SET_COOKIE).is_none());

    let read = get_with(&app, "/peek", Some(&cookie)).await;
    assert_eq!(read.status(), StatusCode::OK);
    let body = axum::body::to_bytes(read.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"1");

    assert!(locks.unlock(&id, &holder).await.unwrap());
    let after = get_with(&app, "/count", Some(&cookie)).await;
    assert_eq!(after.status(), StatusCode::OK);
    assert!(after.headers().get(RETRY_AFTER).is_none());
}
