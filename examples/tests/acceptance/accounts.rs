//! A user's sessions (`examples/README.md`, "A user's sessions"):
//! remember-me, `GET /sessions`, `DELETE /sessions/{id}`,
//! `POST /sessions/revoke-others`, `SESSION_MAX_PER_USER`, also over two
//! processes sharing one store.

use serde_json::json;

use crate::harness::{Agent, Server, SetCookie, Target, USER_AGENT};
use crate::serialize::shared_store;

/// The server stores whose owner index serves listing and the cap per user
/// (`SESSION_MAX_PER_USER`) in this build: every one of the demo. The
/// cookie store keeps no server state, answers `501` for listing and
/// refuses a cap at start (`startup.rs`).
const LISTING_STORES: [&str; 6] = ["memory", "redis", "postgres", "mysql", "sqlite", "mongodb"];

/// Whether the target's store can list a user's sessions; the cookie store
/// keeps no server state to list, and answers `501`.
fn lists(target: &Target) -> bool {
    if target.stateless() {
        eprintln!(
            "skipped for the {} store: it keeps no server state to list",
            target.store
        );
        return false;
    }
    if !LISTING_STORES.contains(&target.store) {
        eprintln!(
            "skipped for the {} store: it does not list sessions by owner in this build",
            target.store
        );
        return false;
    }
    true
}

fn max_age(cookie: &SetCookie) -> i64 {
    cookie.max_age().expect("a Max-Age")
}

async fn logged_in(server: &Server, username: &str, password: &str) -> Agent {
    let mut agent = server.agent();
    agent.login(username, password).await;
    agent
}

/// The ids `GET /sessions` lists, newest first, and which one is current.
async fn listed(agent: &mut Agent) -> (Vec<String>, Vec<bool>) {
    let answer = agent.get("/sessions").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = answer.json();
    let sessions = body["sessions"].as_array().expect("a list").clone();
    let ids = sessions
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect();
    let current = sessions
        .iter()
        .map(|s| s["current"].as_bool().expect("current"))
        .collect();
    (ids, current)
}

/// `"remember": true` gives the session `SESSION_REMEMBER_SECS` for both
/// timeouts: the cookie's `Max-Age` (the absolute lifetime) says so at
/// login and on later requests; a login without it keeps the configured
/// 24 hours.
pub(crate) async fn remember_me_outlives_the_idle_timeout(target: &Target) {
    let server = target.start();
    let mut plain = server.agent();
    let answer = plain
        .post(
            "/login",
            &json!({"username": "alice", "password": "wonderland"}).to_string(),
        )
        .await;
    let age = max_age(&answer.set_cookie().expect("a cookie"));
    assert!((86395..=86400).contains(&age), "{answer:?}");

    let mut remembered = server.agent();
    let body = json!({"username": "alice", "password": "wonderland", "remember": true});
    let answer = remembered.post("/login", &body.to_string()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let age = max_age(&answer.set_cookie().expect("a cookie"));
    assert!((2_591_990..=2_592_000).contains(&age), "{answer:?}");
    let answer = remembered.get("/counter").await;
    let age = max_age(&answer.set_cookie().expect("a cookie"));
    assert!((2_591_990..=2_592_000).contains(&age), "{answer:?}");

    let server = target.start_with(&[("SESSION_REMEMBER_SECS", "7200")]);
    let mut agent = server.agent();
    let answer = agent.post("/login", &body.to_string()).await;
    let age = max_age(&answer.set_cookie().expect("a cookie"));
    assert!((7190..=7200).contains(&age), "{answer:?}");
}

/// `GET /sessions` lists the user's sessions newest first with their
/// metadata; `DELETE /sessions/{id}` ends one of them (`204`) and answers
/// `404` for another user's or an unknown id; `POST
/// /sessions/revoke-others` ends all but the current one. Logged out, all
/// three are `401`.
pub(crate) async fn devices_are_listed_and_revoked(target: &Target) {
    let server = target.start();
    let mut anonymous = server.agent();
    assert_eq!(anonymous.get("/sessions").await.status, 401);
    assert_eq!(
        anonymous.post("/sessions/revoke-others", "").await.status,
        401
    );
    if !lists(target) {
        if target.stateless() {
            let mut alice = logged_in(&server, "alice", "wonderland").await;
            assert_eq!(alice.get("/sessions").await.status, 501);
        }
        return;
    }
    let mut first = logged_in(&server, "alice", "wonderland").await;
    let mut second = logged_in(&server, "alice", "wonderland").await;
    let mut third = logged_in(&server, "alice", "wonderland").await;
    let mut bob = logged_in(&server, "bob", "builder").await;

    let answer = second.get("/sessions").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let sessions = answer.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for session in &sessions {
        assert_eq!(session["ip"], json!("127.0.0.1"), "{session}");
        assert_eq!(session["user_agent"], json!(USER_AGENT), "{session}");
        for at in ["created_at", "last_seen_at"] {
            let text = session[at].as_str().expect("a time");
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .expect("RFC 3339");
        }
    }
    let (ids, current) = listed(&mut second).await;
    assert_eq!(current, [false, true, false]);
    let (bob_ids, _) = listed(&mut bob).await;
    assert_eq!(bob_ids.len(), 1);

    for other in [bob_ids[0].as_str(), "not-an-id", &"A".repeat(43)] {
        let answer = second.delete(&format!("/sessions/{other}")).await;
        assert_eq!(answer.status, 404, "{other}: {answer:?}");
    }
    assert_eq!(bob.get("/me").await.status, 200);

    // ids[2] is the oldest: the first login.
    let answer = second.delete(&format!("/sessions/{}", ids[2])).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(first.get("/me").await.status, 401);
    assert_eq!(second.get("/me").await.status, 200);

    let answer = second.post("/sessions/revoke-others", "").await;
    answer.assert_json(200, json!({ "revoked": 1 }));
    assert_eq!(third.get("/me").await.status, 401);
    assert_eq!(second.get("/me").await.status, 200);
    let (left, current) = listed(&mut second).await;
    assert_eq!((left.len(), current), (1, vec![true]));
    assert_eq!(bob.get("/me").await.status, 200);
}

/// `SESSION_MAX_PER_USER=2`: a third login ends that user's oldest session;
/// the other user is untouched.
pub(crate) async fn a_login_over_the_cap_ends_the_oldest(target: &Target) {
    if !lists(target) {
        return;
    }
    let server = target.start_with(&[("SESSION_MAX_PER_USER", "2")]);
    let mut bob = logged_in(&server, "bob", "builder").await;
    let mut first = logged_in(&server, "alice", "wonderland").await;
    let mut second = logged_in(&server, "alice", "wonderland").await;
    let mut third = logged_in(&server, "alice", "wonderland").await;
    assert_eq!(first.get("/me").await.status, 401);
    assert_eq!(second.get("/me").await.status, 200);
    assert_eq!(third.get("/me").await.status, 200);
    assert_eq!(bob.get("/me").await.status, 200);
    assert_eq!(listed(&mut third).await.0.len(), 2);
}

/// An axum-demo and an actix-demo on one store: each lists the sessions
/// made on the other, revokes across them, and the cap counts both.
pub(crate) async fn two_servers_share_a_users_sessions(axum: &Target, actix: &Target) {
    if axum.store == "memory" || !lists(axum) {
        eprintln!("skipped for the {} store: one process's", axum.store);
        return;
    }
    let shared = shared_store(axum.store);
    let mut env = shared.pairs();
    env.push(("SESSION_MAX_PER_USER", "3"));
    let (one, two) = (axum.start_with(&env), actix.start_with(&env));
    let mut on_one = logged_in(&one, "alice", "wonderland").await;
    let mut on_two = logged_in(&two, "alice", "wonderland").await;
    let (ids, current) = listed(&mut on_one).await;
    assert_eq!((ids.len(), current), (2, vec![false, true]));
    let mut seen_from_two = two.agent_with(on_one.cookie.clone());
    assert_eq!(listed(&mut seen_from_two).await.0, ids);

    // Two more logins, one per server: a cap of three ends the oldest.
    let mut third = logged_in(&one, "alice", "wonderland").await;
    let mut fourth = logged_in(&two, "alice", "wonderland").await;
    assert_eq!(on_one.get("/me").await.status, 401);
    assert_eq!(listed(&mut fourth).await.0.len(), 3);

    let answer = third.post("/sessions/revoke-others", "").await;
    answer.assert_json(200, json!({ "revoked": 2 }));
    assert_eq!(on_one.get("/me").await.status, 401);
    assert_eq!(on_two.get("/me").await.status, 401);
    assert_eq!(fourth.get("/me").await.status, 401);
    let mut third_on_two = two.agent_with(third.cookie.clone());
    assert_eq!(third_on_two.get("/me").await.status, 200);
}
