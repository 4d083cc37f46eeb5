//! What an operator sees: `GET /metrics` after real requests, and
//! `SESSION_STORE_OUTAGE=degrade` while the store (a Redis or PostgreSQL of
//! the test's own) is killed under a running demo and started again.

use std::time::{Duration, Instant};

use serde_json::json;

use examples::store::Keeps;

use crate::harness::{credentials, store_kind, Agent, Answer, Target};
use crate::servers::{PostgresServer, RedisServer};

/// The value of one sample line of a Prometheus text page (`name{labels}`
/// exactly as rendered), or `None` when there is no such line.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}

async fn metrics(agent: &mut Agent) -> String {
    let answer = agent.get("/metrics").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer
            .content_type()
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{answer:?}"
    );
    assert!(answer.set_cookie().is_none(), "/metrics sets no cookie");
    answer.body
}

/// Two counter requests and a login: the counters name what happened, the
/// store calls are timed by operation, scraping touches no session, and no
/// label carries the session's token.
pub(crate) async fn metrics_count_real_requests(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));
    agent.login("alice", "wonderland").await;
    let token = agent.cookie.clone().expect("a session cookie");

    let page = metrics(&mut agent).await;
    assert_eq!(sample(&page, "session_created_total"), Some(1.0), "{page}");
    let found = r#"session_loaded_total{outcome="found"}"#;
    assert_eq!(sample(&page, found), Some(2.0), "{page}");
    assert_eq!(sample(&page, "session_saved_total"), Some(1.0), "{page}");
    assert_eq!(sample(&page, "session_rotated_total"), Some(1.0), "{page}");
    // Every store call is timed, whatever the store calls its operations.
    assert!(
        page.lines()
            .any(|l| l.starts_with("session_store_duration_seconds_count{operation=")),
        "{page}"
    );
    assert!(!page.contains(&token), "the token in the metrics: {page}");
    // Scraping again changes nothing: /metrics never loads a session.
    let again = metrics(&mut agent).await;
    assert_eq!(sample(&again, found), Some(2.0), "{again}");
    assert_eq!(sample(&again, "session_created_total"), Some(1.0));
}

/// Asserts a degraded answer: the status, no `Set-Cookie`, the header.
#[track_caller]
fn assert_degraded(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert!(answer.set_cookie().is_none(), "{answer:?}");
    assert_eq!(
        answer
            .headers
            .get("session-degraded")
            .and_then(|v| v.to_str().ok()),
        Some("1"),
        "{answer:?}"
    );
}

/// A store's server of the test's own that it can kill and start again,
/// and the variable (its row's `url_var`) that points the demo at it.
struct Private {
    var: &'static str,
    server: PrivateServer,
}

/// The kinds of server the suite can run privately.
enum PrivateServer {
    Redis(RedisServer),
    Postgres(PostgresServer),
}

impl Private {
    /// The private server for `store`, picked by its row of the demo's
    /// table: where it keeps sessions and the database URLs it takes.
    /// `None` when that server is not installed.
    fn start(store: &str) -> Option<Private> {
        let kind = store_kind(store);
        let var = kind.entry().url_var.expect("a store on a server");
        let server = match kind.keeps() {
            Keeps::RedisKeys => RedisServer::start_persistent().map(PrivateServer::Redis),
            Keeps::SqlTable if PostgresServer::serves(kind) => {
                PostgresServer::start().map(PrivateServer::Postgres)
            }
            _ => panic!("no private server for the {store} store"),
        };
        Some(Private {
            var,
            server: server?,
        })
    }

    fn env(&self) -> (&'static str, String) {
        let url = match &self.server {
            PrivateServer::Redis(redis) => redis.url(),
            PrivateServer::Postgres(postgres) => postgres.url(),
        };
        (self.var, url)
    }

    fn kill(&mut self) {
        match &mut self.server {
            PrivateServer::Redis(redis) => redis.kill(),
            PrivateServer::Postgres(postgres) => postgres.kill(),
        }
    }

    fn restart(&mut self) {
        match &mut self.server {
            PrivateServer::Redis(redis) => redis.restart(),
            PrivateServer::Postgres(postgres) => postgres.restart(),
        }
    }
}

/// With `SESSION_STORE_OUTAGE=degrade`, the store dies under the demo:
/// `/counter` answers `200 {"count": 1}` (a stand-in session) with no
/// `Set-Cookie` and `Session-Degraded: 1`, a login is refused with `503`,
/// `/health` and `/metrics` answer `200`; once the store is back the same
/// cookie continues its old count.
pub(crate) async fn degrade_keeps_sessions_through_an_outage(target: &Target) {
    let Some(mut store) = Private::start(target.store) else {
        eprintln!("skipped: no {} server to kill is installed", target.store);
        return;
    };
    let (var, url) = store.env();
    let server = target.start_with(&[(var, &url), ("SESSION_STORE_OUTAGE", "degrade")]);
    let mut agent = server.agent();
    for n in 1..=2 {
        agent
            .get("/counter")
            .await
            .assert_json(200, json!({ "count": n }));
    }
    let cookie = agent.cookie.clone();

    store.kill();
    for _ in 0..3 {
        let answer = agent.get("/counter").await;
        assert_degraded(&answer, 200);
        assert_eq!(answer.json(), json!({ "count": 1 }), "{answer:?}");
    }
    let login = agent
        .post("/login", &credentials("alice", "wonderland"))
        .await;
    assert_degraded(&login, 503);
    assert_eq!(agent.cookie, cookie, "the real cookie is untouched");
    let health = server.agent().get("/health").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let page = metrics(&mut server.agent()).await;
    assert!(
        sample(&page, "session_degraded_total").is_some_and(|n| n >= 4.0),
        "{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("session_store_errors_total{operation=")),
        "{page}"
    );
    assert!(
        server.log().contains("OutagePolicy::Degrade"),
        "one log line"
    );

    store.restart();
    let answer = first_not_degraded(&mut agent).await;
    answer.assert_json(200, json!({ "count": 3 }));
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 4 }));
}

/// `/counter` until the store answers again (a pool reconnects on its own
/// schedule), at most 15 s.
async fn first_not_degraded(agent: &mut Agent) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = agent.get("/counter").await;
        if !answer.headers.contains_key("session-degraded") || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
