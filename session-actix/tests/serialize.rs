//! The serialize policy through the middleware: a request that cannot get
//! the session's lock answers `503` with `Retry-After`; a read-only
//! extractor takes no lock.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

use actix_web::http::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{test, web, App};
use session_actix::{ReadOnlySession, Session, SessionConfig, SessionManager, SessionMiddleware};
use session_core::store::{LockToken, SessionStore};
use session_core::{Concurrency, SessionId};
use session_store_memory::MemoryStore;

async fn count(session: Session<u32>) -> String {
    session.update(|n| {
        *n += 1;
        n.to_string()
    })
}

async fn peek(session: ReadOnlySession<u32>) -> String {
    session.data().to_string()
}

#[actix_web::test]
async fn a_locked_session_answers_503_with_retry_after_and_reads_go_through() {
    let store = MemoryStore::builder().no_cleanup().build();
    let config = SessionConfig::testing()
        .store(store.clone())
        .concurrency(Concurrency::Serialize)
        .lock_wait(Duration::ZERO)
        .build()
        .unwrap();
    let manager = SessionManager::<u32>::new(config);
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .route("/count", web::get().to(count))
            .route("/peek", web::get().to(peek)),
    )
    .await;

    let first = test::call_service(&app, test::TestRequest::get().uri("/count").to_request()).await;
    let set_cookie = first.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1;
    let id = SessionId::from_token(token);
    let with_cookie = |path: &str| {
        test::TestRequest::get()
            .uri(path)
            .insert_header((COOKIE, cookie.as_str()))
            .to_request()
    };

    // Another request (here: by hand) holds the session's lock.
    let locks = store.locks().unwrap();
    let holder = LockToken::random();
    locks
        .try_lock(&id, &holder, Duration::from_secs(30), None)
        .await
        .unwrap();
    let busy = test::call_service(&app, with_cookie("/count")).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = busy
        .headers()
        .get(RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After: {retry}");
    assert!(busy.headers().get(SET_COOKIE).is_none());

    let read = test::call_service(&app, with_cookie("/peek")).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(&test::read_body(read).await[..], b"1");

    assert!(locks.unlock(&id, &holder).await.unwrap());
    let after = test::call_service(&app, with_cookie("/count")).await;
    assert_eq!(after.status(), StatusCode::OK);
    assert!(after.headers().get(RETRY_AFTER).is_none());
}
