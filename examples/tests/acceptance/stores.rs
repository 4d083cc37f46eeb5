//! Scenarios that belong to some stores only: what lands in the store,
//! restarts and secret rotation of the cookie store, a Redis outage, and
//! servers that create one SQL table at the same moment. `main.rs` lists
//! which store runs which.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::SessionId;

use examples::store::Keeps;

use crate::harness::{shared_store, url_of, Server, Target};
use crate::inspect::{contains, mongodb_dump, redis_dump, sql_dump, Entry};
use crate::servers::RedisServer;

/// Text that no codec or encoding would produce by chance.
const NOTE: &str = "zebra-octopus-4711 hides the key under the doormat";

/// Everything the server's store holds: its Redis keys, its table rows or
/// its collection's documents.
async fn dump(target: &Target, server: &Server) -> Vec<Entry> {
    let dumped = match target.keeps() {
        Keeps::RedisKeys => {
            redis_dump(&url_of(target.store), &format!("{}:", server.namespace)).await
        }
        Keeps::Collection => mongodb_dump(&url_of(target.store), &server.namespace).await,
        _ => {
            let url = server.database_url.as_deref().expect("a DATABASE_URL");
            sql_dump(url, &server.namespace).await
        }
    };
    dumped.unwrap_or_else(|e| panic!("cannot read the {} store: {e}", target.store))
}

/// After `PUT /secret-note`, the store holds the session under the SHA-256
/// of the token, and neither the note nor the token appears in its bytes.
pub(crate) async fn the_store_never_holds_the_note_or_the_token(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent.get("/counter").await;
    let answer = agent
        .put("/secret-note", &json!({ "note": NOTE }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    let token = agent.cookie.clone().expect("a session cookie");
    let id = SessionId::from_token(&token);

    let entries = dump(target, &server).await;
    // The session is there, so the dump reads the right place.
    let key = match target.keeps() {
        Keeps::RedisKeys => format!("{}:session:{}", server.namespace, id.as_str()),
        _ => id.as_str().to_owned(),
    };
    assert!(
        entries.iter().any(|e| e.key == key),
        "no {key} among {:?}",
        entries.iter().map(|e| &e.key).collect::<Vec<_>>()
    );
    for entry in &entries {
        assert!(!entry.key.contains(&token), "the token is a key: {entry:?}");
        assert!(!contains(&entry.bytes, token.as_bytes()), "{entry:?}");
        for clear in [NOTE, "zebra-octopus", "doormat"] {
            assert!(
                !contains(&entry.bytes, clear.as_bytes()),
                "{clear:?} stored in clear text: {entry:?}"
            );
        }
    }
    if let Some(url) = &server.database_url {
        if url.starts_with("sqlite") {
            assert_sqlite_files_hide(url, id.as_str(), &token);
        }
    }
    // And the note still reads back.
    agent
        .get("/secret-note")
        .await
        .assert_json(200, json!({ "note": NOTE }));
}

/// The SQLite files themselves (database and write-ahead log), byte by byte.
fn assert_sqlite_files_hide(url: &str, id: &str, token: &str) {
    let path = url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .expect("a sqlite:// file URL");
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        if let Ok(mut file) = std::fs::File::open(format!("{path}{suffix}")) {
            file.read_to_end(&mut bytes).expect("a readable file");
        }
    }
    assert!(
        contains(&bytes, id.as_bytes()),
        "the session id is not in {path}"
    );
    assert!(
        !contains(&bytes, token.as_bytes()),
        "the token is in {path}"
    );
    assert!(!contains(&bytes, b"doormat"), "the note is in {path}");
}

const SECRET_A: &str = "cookie-store-secret-A-0123456789abcdef";
const SECRET_B: &str = "cookie-store-secret-B-0123456789abcdef";

/// The cookie store keeps sessions across restarts with the same secret;
/// with a new secret first and the old one second, old cookies still open
/// and come back resealed with the new one; with the old secret gone, they
/// are fresh sessions (never a `5xx`).
pub(crate) async fn cookie_sessions_survive_restarts_and_rotation(target: &Target) {
    let with_secret = |secret: &str| target.start_with(&[("SESSION_SECRET", secret)]);

    let server = with_secret(SECRET_A);
    let mut agent = server.agent();
    for n in 1..=2 {
        agent
            .get("/counter")
            .await
            .assert_json(200, json!({ "count": n }));
    }
    drop(server);

    let server = with_secret(SECRET_A);
    let mut agent = server.agent_with(agent.cookie);
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 3 }));
    let sealed_with_a = agent.cookie.clone().expect("a cookie");
    drop(server);

    // B seals, A still opens.
    let server = with_secret(&format!("{SECRET_B},{SECRET_A}"));
    let peek = server.get_with("/counter/peek", Some(&sealed_with_a)).await;
    peek.assert_json(200, json!({ "count": 3 }));
    let resealed = peek.set_cookie().expect("an old key's cookie is resealed");
    assert_ne!(resealed.value, sealed_with_a);
    let mut agent = server.agent_with(Some(sealed_with_a.clone()));
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 4 }));
    let sealed_with_b = agent.cookie.clone().expect("a cookie");
    drop(server);

    // A is gone: its cookies are fresh sessions; B's cookies carry on.
    let server = with_secret(SECRET_B);
    for path in ["/counter", "/health", "/me", "/counter/peek"] {
        let answer = server.get_with(path, Some(&sealed_with_a)).await;
        assert!(answer.status < 500, "{path}: {answer:?}");
    }
    let answer = server.get_with("/counter", Some(&sealed_with_a)).await;
    answer.assert_json(200, json!({ "count": 1 }));
    assert_ne!(
        answer.set_cookie().expect("a fresh cookie").value,
        sealed_with_a
    );
    server
        .get_with("/counter/peek", Some(&resealed.value))
        .await
        .assert_json(200, json!({ "count": 3 }));
    server
        .get_with("/counter", Some(&sealed_with_b))
        .await
        .assert_json(200, json!({ "count": 5 }));
}

/// Redis dies under a running demo: `/counter` answers `503` at once with
/// nothing about the store in the body, `/health` still `200`; Redis comes
/// back on the same port: the demo works again without a restart.
pub(crate) async fn a_redis_outage_is_a_quick_503_and_heals(target: &Target) {
    let Some(mut redis) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed, so no outage can be staged");
        return;
    };
    let server = target.start_with(&[("REDIS_URL", &redis.url())]);
    let mut agent = server.agent();
    for n in 1..=2 {
        agent
            .get("/counter")
            .await
            .assert_json(200, json!({ "count": n }));
    }

    redis.kill();
    for attempt in 1..=3 {
        let started = Instant::now();
        let answer = agent.get("/counter").await;
        let took = started.elapsed();
        assert_eq!(answer.status, 503, "attempt {attempt}: {answer:?}");
        assert!(
            took < Duration::from_secs(3),
            "attempt {attempt} took {took:?}"
        );
        assert!(answer.set_cookie().is_none(), "{answer:?}");
        let body = answer.body.to_ascii_lowercase();
        let port = redis.port.to_string();
        for detail in [
            "redis",
            "fred",
            "127.0.0.1",
            &port,
            "refused",
            "os error",
            "io error",
        ] {
            assert!(!body.contains(detail), "{detail:?} in {answer:?}");
        }
    }
    let health = server.agent().get("/health").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = agent.get("/counter").await;
        if answer.status != 503 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The new Redis is empty (no persistence): a fresh session, working.
    answer.assert_json(200, json!({ "count": 1 }));
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));
}

/// Three servers started at the same moment on one new table (or SQLite
/// file) all start, and share it: one session goes through all three.
pub(crate) async fn servers_starting_together_share_one_table(target: &Target) {
    // Declared first, dropped last: after the servers are gone.
    let shared = shared_store(target.store);
    let env = shared.pairs();
    let servers: Vec<Server> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| target.start_with(&env)))
            .collect();
        starting
            .into_iter()
            .map(|thread| thread.join().expect("every server starts"))
            .collect()
    });
    let mut agent = servers[0].agent();
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    for (n, server) in (2..).zip(&servers) {
        let cookie = agent.cookie.clone();
        let mut here = server.agent_with(cookie);
        here.get("/counter")
            .await
            .assert_json(200, json!({ "count": n }));
        agent.cookie = here.cookie;
    }
}

/// The demo stops and starts again on the same store (and namespace): the
/// browser's session goes on, logged in, its counter where it was.
pub(crate) async fn sessions_survive_a_restart_of_the_demo(target: &Target) {
    // Declared first, dropped last: after both servers are gone.
    let shared = shared_store(target.store);
    let env = shared.pairs();
    let server = target.start_with(&env);
    let mut agent = server.agent();
    for n in 1..=2 {
        agent
            .get("/counter")
            .await
            .assert_json(200, json!({ "count": n }));
    }
    let login = agent
        .post(
            "/login",
            &json!({ "username": "alice", "password": "wonderland" }).to_string(),
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    drop(server);

    let server = target.start_with(&env);
    let mut agent = server.agent_with(agent.cookie);
    let me = agent.get("/me").await;
    assert_eq!(me.status, 200, "{me:?}");
    assert!(me.body.contains("\"alice\""), "{me:?}");
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 3 }));
}

/// Two demo processes, this framework's and the other's, on one Redis
/// namespace with `SESSION_REDIS_NEAR_CACHE` on: what a request answered by
/// one changes, the next request on the other sees (after the invalidation
/// reaches it: polled, with a cutoff), and a logout on one is a logout on
/// the other.
pub(crate) async fn near_caches_stay_coherent_across_servers(target: &Target) {
    let shared = shared_store(target.store);
    let other = Target {
        program: if target.program.ends_with("axum-demo") {
            env!("CARGO_BIN_EXE_actix-demo")
        } else {
            env!("CARGO_BIN_EXE_axum-demo")
        },
        store: target.store,
    };
    let mut env = shared.pairs();
    env.push(("SESSION_REDIS_NEAR_CACHE", "1000"));
    let (a, b) = (target.start_with(&env), other.start_with(&env));
    let mut agent = a.agent();
    agent.login("alice", "wonderland").await;
    let value = agent.cookie.clone().expect("a session cookie");
    for _ in 0..3 {
        // Served from b's cache after the first.
        let me = b.get_with("/me", Some(&value)).await;
        assert_eq!(me.status, 200, "{me:?}");
    }
    for n in 1..=5 {
        agent
            .get("/counter")
            .await
            .assert_json(200, json!({ "count": n }));
        eventually(|| async {
            b.get_with("/counter/peek", Some(&value)).await.json() == json!({ "count": n })
        })
        .await;
    }
    assert_eq!(agent.post("/logout", "").await.status, 204);
    eventually(|| async { b.get_with("/me", Some(&value)).await.status == 401 }).await;
}

/// Polls `check` until it holds; panics after 10 seconds (a cutoff against
/// hanging, not a speed requirement).
async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "never held");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
