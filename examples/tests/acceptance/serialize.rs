//! `SESSION_CONCURRENCY=serialize`: parallel requests with one cookie,
//! spread over an axum-demo and an actix-demo process that share the store,
//! lose no update and get no error. The memory store is one process's: its
//! requests go to one server of each framework in turn.

use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::json;
use tokio::task::JoinSet;

use crate::harness::{
    credentials, fresh_namespace, mongodb_url, mysql_url, postgres_url, redis_url, Cleanup,
    FileGuard, Server, Target,
};

/// What the servers of one scenario share: one namespace (Redis key
/// prefix, SQL table or SQLite file), and here the policy; removed
/// afterwards.
pub(crate) struct Shared {
    pub(crate) env: Vec<(&'static str, String)>,
    _cleanup: Option<Cleanup>,
    _files: Option<FileGuard>,
}

impl Shared {
    /// The variables as the harness takes them.
    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

fn shared(store: &str) -> Shared {
    let mut shared = shared_store(store);
    shared
        .env
        .push(("SESSION_CONCURRENCY", "serialize".to_owned()));
    shared
}

/// One namespace of `store` for several servers.
pub(crate) fn shared_store(store: &str) -> Shared {
    let namespace = fresh_namespace();
    let (database_url, cleanup, files) = match store {
        "postgres" | "mysql" => {
            let url = if store == "postgres" {
                postgres_url()
            } else {
                mysql_url()
            };
            let cleanup = Cleanup::table(&url, &namespace);
            (Some(url), Some(cleanup), None)
        }
        "sqlite" => {
            let files = FileGuard::sqlite(&namespace);
            (Some(files.url()), None, Some(files))
        }
        "redis" => {
            let cleanup = Cleanup::redis_keys(&redis_url(), &format!("{namespace}:"));
            (None, Some(cleanup), None)
        }
        "mongodb" => {
            let cleanup = Cleanup::collection(&mongodb_url(), &namespace);
            (None, Some(cleanup), None)
        }
        _ => (None, None, None),
    };
    let mut env = vec![("SESSION_NAMESPACE", namespace)];
    env.extend(database_url.map(|url| ("DATABASE_URL", url)));
    Shared {
        env,
        _cleanup: cleanup,
        _files: files,
    }
}

/// Whether the store, opened as the servers will open it, can lock
/// sessions. A store that cannot (the cookie store; a store whose locks are
/// not in this build) is refused under `serialize` at start, which
/// `startup.rs` checks for the cookie store; its scenarios here are skipped,
/// and run by themselves once the store answers `locks()`.
async fn store_locks(store: &str, shared: &Shared) -> bool {
    if store == "cookie" {
        return false;
    }
    let (redis, mongodb) = (redis_url(), mongodb_url());
    let mut pairs: Vec<(&str, &str)> = vec![
        ("SESSION_STORE", store),
        ("REDIS_URL", &redis),
        ("MONGODB_URL", &mongodb),
    ];
    pairs.extend(
        shared
            .env
            .iter()
            .filter(|(k, _)| *k != "SESSION_CONCURRENCY")
            .map(|(k, v)| (*k, v.as_str())),
    );
    let config = examples::DemoConfig::from_pairs(&pairs).expect("a valid configuration");
    let opened = examples::build_store(&config)
        .await
        .expect("the store opens");
    let locks = opened.locks().is_some();
    if !locks {
        eprintln!("skipped: the {store} store does not lock sessions in this build");
    }
    locks
}

/// The groups of servers a scenario runs on: an axum-demo and an
/// actix-demo sharing the store, or, for the memory store, each alone.
fn server_groups(axum: &Target, actix: &Target, shared: &Shared) -> Vec<Vec<Server>> {
    let env: Vec<(&str, &str)> = shared.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if axum.store == "memory" {
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
    if !store_locks(axum.store, &shared).await {
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
    if !store_locks(axum.store, &shared).await {
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
