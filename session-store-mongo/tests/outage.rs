//! The server in trouble: a private SecantusDB on a free loopback port,
//! killed and restarted on the same port and storage.

mod common;

use std::time::{Duration, Instant};

use common::{record, secantusd, Scratch, Secantus};
use futures_util::future::join_all;
use session_core::store::SessionStore;
use session_core::{SessionConfig, SessionError, SessionManager};
use session_store_mongo::MongoStore;

const TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Visits {
    n: u32,
}

/// One request that reads and bumps the session named by `cookie`.
async fn visit(
    manager: &SessionManager<Visits>,
    cookie: Option<&str>,
) -> Result<(String, u32), SessionError> {
    let lazy = manager.start_request();
    let session = lazy.load(cookie).await?;
    session.update(|v| v.n += 1);
    let n = session.data().n;
    let set = manager.finish_request(&lazy, 200).await?;
    Ok((set.map(|s| s.pair()).unwrap_or_default(), n))
}

/// Polls until the store answers again, without rebuilding anything.
async fn recovers(store: &MongoStore, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if store.ping().await.is_ok() {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store did not recover within {within:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_requests_within_the_timeout_and_the_store_recovers_by_itself() {
    let Some(program) = secantusd() else {
        eprintln!("skipped: secantusd-py is not installed (.ci/run installs it)");
        return;
    };
    let scratch = Scratch::new("outage");
    let mut server = Secantus::start(program, &scratch);
    let store = MongoStore::builder()
        .command_timeout(TIMEOUT)
        .connect(&server.url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let manager = SessionManager::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let (cookie, n) = visit(&manager, None).await.unwrap();
    assert_eq!(n, 1);
    let (cookie, n) = visit(&manager, Some(&cookie)).await.unwrap();
    assert_eq!(n, 2);

    server.kill();
    // 32 requests at once while the server is down: each is a 503, and
    // none waits much longer than the timeout.
    let started = Instant::now();
    let results = join_all((0..32).map(|_| visit(&manager, Some(cookie.as_str())))).await;
    let elapsed = started.elapsed();
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert_eq!(error.status_code(), 503, "{error}");
    }
    assert!(elapsed < TIMEOUT * 3, "requests piled up: {elapsed:?}");
    let direct = store.load(&record(1).id, None).await.unwrap_err();
    assert!(direct.is_unavailable(), "{direct:?}");
    assert!(store.count().await.unwrap_err().is_unavailable());

    server.restart();
    let took = recovers(&store, Duration::from_secs(30)).await;
    eprintln!("recovered {took:?} after the restart");

    // The server keeps its data across the kill: the session goes on.
    let (again, n) = visit(&manager, Some(cookie.as_str())).await.unwrap();
    assert_eq!(n, 3, "the session survived the outage");
    assert_eq!(store.count().await.unwrap(), 1);
    let _ = again;
}
