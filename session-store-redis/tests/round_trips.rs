//! Round trips per request, counted with MONITOR on a redis-server of this
//! test (so no other client's commands mix in), while the real request cycle
//! of session-core drives the store.

mod common;

use common::{have, Monitor, RedisServer, Scratch};
use session_core::{SessionConfig, SessionManager};
use session_store_redis::RedisStore;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Cart {
    items: Vec<String>,
}

#[tokio::test]
async fn each_kind_of_request_costs_what_the_design_promises() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("round-trips");
    let server = RedisServer::start(&scratch).await;
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let manager = SessionManager::<Cart>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let mut monitor = Monitor::start(&server.address()).await;

    // A request whose handler never asks for the session: nothing.
    let (_, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            assert!(manager.finish_request(&lazy, 200).await.unwrap().is_none());
        })
        .await;
    assert_eq!(sent, Vec::<String>::new(), "untouched request");

    // A new session that gets data: one create.
    let (cookie, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            lazy.load(None)
                .await
                .unwrap()
                .data_mut()
                .items
                .push("tea".into());
            manager
                .finish_request(&lazy, 200)
                .await
                .unwrap()
                .unwrap()
                .pair()
        })
        .await;
    assert_eq!(sent, ["EVALSHA"], "new session");

    // A read with idle refresh: the load moves the expiry in the same call.
    let (items, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            let items = lazy
                .load(Some(cookie.as_str()))
                .await
                .unwrap()
                .data()
                .items
                .clone();
            let again = manager.finish_request(&lazy, 200).await.unwrap();
            assert!(again.is_some(), "the cookie's Max-Age goes out again");
            items
        })
        .await;
    assert_eq!(items, ["tea"]);
    assert_eq!(sent, ["EVALSHA"], "read-only request with idle refresh");

    // A modification: load, save.
    let (_, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            lazy.load(Some(cookie.as_str()))
                .await
                .unwrap()
                .data_mut()
                .items
                .push("milk".into());
            manager.finish_request(&lazy, 200).await.unwrap();
        })
        .await;
    assert_eq!(sent, ["EVALSHA", "EVALSHA"], "modifying request");

    // A token the store does not know: one load, then a fresh session that
    // is not written because it holds nothing.
    let (_, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            let unknown = format!("{}={}", manager.config().cookie_name(), "A".repeat(43));
            let session = lazy.load(Some(unknown.as_str())).await.unwrap();
            assert!(session.is_new());
            assert!(manager.finish_request(&lazy, 200).await.unwrap().is_none());
        })
        .await;
    assert_eq!(sent, ["EVALSHA"], "unknown token");

    // Rotation on login: load, create the new record (with its owner index
    // entry, in the same script), delete the old record.
    let (rotated, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            let session = lazy.load(Some(cookie.as_str())).await.unwrap();
            session.regenerate();
            session.set_owner(Some("alice"));
            manager
                .finish_request(&lazy, 200)
                .await
                .unwrap()
                .unwrap()
                .pair()
        })
        .await;
    assert_eq!(sent, ["EVALSHA", "EVALSHA", "UNLINK"], "rotation");
    assert_ne!(rotated, cookie);

    // Logout: load, delete.
    let (_, sent) = monitor
        .commands(async {
            let lazy = manager.start_request();
            lazy.load(Some(rotated.as_str())).await.unwrap().delete();
            manager.finish_request(&lazy, 200).await.unwrap();
        })
        .await;
    assert_eq!(sent, ["EVALSHA", "UNLINK"], "logout");
    assert_eq!(
        session_core::SessionStore::count(&store).await.unwrap(),
        0,
        "nothing left behind"
    );
}
