//! `SESSION_CONCURRENCY=serialize`: parallel requests with one cookie,
//! spread over an axum-demo and an actix-demo process that share the store,
//! lose no update and get no error. The memory store is one process's: its
//! requests go to one server of each framework in turn.

use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::json;
use tokio::task::JoinSet;

use crate::harness::{credentials, open_store, shared_store, Server, Shared, Target};

fn shared(store: &str) -> Shared {
    let mut shared = shared_store(store);
    shared
        .env
        .push(("SESSION_CONCURRENCY", "serialize".to_owned()));
    // The scenarios check that nothing is lost, not how fast: 50 requests
    // in a row on one session outlast the default wait of 5 s on a slow
    // store while the rest of the suite loads the machine (seen on MongoDB).
    // Below the burst client's 30 s timeout.
    shared.env.push(("SESSION_LOCK_WAIT_SECS", "25".to_owned()));
    shared
}

/// Whether the store, opened as the servers will open it, can lock
/// sessions. A store that cannot (the cookie store; a store whose locks are
/// not in this build) is refused under `serialize` at start, which
/// `startup.rs` checks for the cookie store; its scenarios here are skipped,
/// and run by themselves once the store answers `locks()`.
async fn store_locks(target: &Target, shared: &Shared) -> bool {
    if target.stateless() {
        return false;
    }
    let locks = open_store(target.store, shared).await.locks().is_some();
    if !locks {
        eprintln!(
            "skipped: the {} store does not lock sessions in this build",
            target.store
        );
    }
    locks
}

/// The groups of servers a scenario runs on: an axum-demo and an
/// actix-demo sharing the store, or, for the memory store, each alone.
fn server_groups(axum: &Target, actix: &Target, shared: &Shared) -> Vec<Vec<Server>> {
    let env = shared.pairs();
    if axum.in_process() {
        vec![vec![axum.start_with(&env)], vec![actix.start_with(&env)]]
    } else {
        vec![vec![axum.start_with(&env), actix.start_with(&env)]]
    }
}

/// Sends `count` requests at once with one cookie, spread over `bases`;
/// answers their statuses.
async fn burst(
    bases: &[String],
    count: usize,
    cookie: &str,
    request: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> Vec<u16> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a client");
    let cookie = Arc::new(format!("_session={cookie}"));
    let mut requests = JoinSet::new();
    for n in 0..count {
        let sent = request(&client, &bases[n % bases.len()]).header(COOKIE, cookie.as_str());
        requests.spawn(async move { sent.send().await.expect("the server answers").status() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = requests.join_next().await {
        statuses.push(status.expect("the request task").as_u16());
    }
    statuses
}

/// 50 parallel `GET /counter` with one cookie end at exactly 51 from 1,
/// every one answered `200`.
pub(crate) async fn parallel_counters_lose_nothing(axum: &Target, actix: &Target) {
    let shared = shared(axum.store);
    if !store_locks(axum, &shared).await {
        return;
    }
    for servers in server_groups(axum, actix, &shared) {
        let mut agent = servers[0].agent();
        agent
            .get("/counter")
            .await
            .assert_json(200, json!({ "count": 1 }));
        let cookie = agent.cookie.clone().expect("a session cookie");
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let statuses = burst(&bases, 50, &cookie, |client, base| {
            client.get(format!("{base}/counter"))
        })
        .await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        for server in &servers {
            let peek = server.get_with("/counter/peek", Some(&cookie)).await;
            peek.assert_json(200, json!({ "count": 51 }));
        }
    }
}

/// 30 parallel wrong logins with one cookie: exactly five `401`, the rest
/// `429`: the lockout is exact.
pub(crate) async fn parallel_wrong_logins_lock_exactly(axum: &Target, actix: &Target) {
    let shared = shared(axum.store);
    if !store_locks(axum, &shared).await {
        return;
    }
    for servers in server_groups(axum, actix, &shared) {
        let mut agent = servers[0].agent();
        agent.get("/counter").await;
        let cookie = agent.cookie.clone().expect("a session cookie");
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let body = credentials("alice", "not-the-password");
        let statuses = burst(&bases, 30, &cookie, |client, base| {
            client
                .post(format!("{base}/login"))
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await;
        let refused = statuses.iter().filter(|s| **s == 401).count();
        let locked = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((refused, locked), (5, 25), "{statuses:?}");
    }
}
