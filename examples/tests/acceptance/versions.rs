//! A rolling deploy: version 1 and version 2 of the demo's session type
//! (`DEMO_SESSION_VERSION`) side by side on one store, a browser whose
//! requests alternate between them. Its counter, login, flash messages and
//! sealed note survive every switch, and the theme that only version 2
//! knows is still `"dark"` after version 1 has rewritten the session.
//!
//! The memory store cannot be shared between processes: there each version
//! runs alone (its routes and its own sessions), and the alternation on
//! one memory store is covered in process by session-core's
//! `tests/evolution.rs`. The cookie store carries the record in the cookie,
//! so both servers only share the secret.

use serde_json::json;

use crate::harness::{shared_store, Agent, Server, Shared, Target};

const NOTE: &str = "the note survives every deploy";

fn start(target: &Target, shared: &Shared, version: &str) -> Server {
    let mut env = shared.pairs();
    env.push(("DEMO_SESSION_VERSION", version));
    target.start_with(&env)
}

/// Sends the browser's next request to `server`, carrying its cookie.
fn at(server: &Server, browser: &Agent) -> Agent {
    server.agent_with(browser.cookie.clone())
}

pub(crate) async fn version_1_first(target: &Target) {
    alternate(target, true).await;
}

pub(crate) async fn version_2_first(target: &Target) {
    alternate(target, false).await;
}

async fn alternate(target: &Target, v1_first: bool) {
    if target.in_process() {
        return each_version_alone(target).await;
    }
    let shared = shared_store(target.store);
    let (first, second) = if v1_first { ("1", "2") } else { ("2", "1") };
    let first = start(target, &shared, first);
    let second = start(target, &shared, second);
    let (v1, v2) = if v1_first {
        (&first, &second)
    } else {
        (&second, &first)
    };

    // Everything set up on the first server.
    let mut browser = first.agent();
    browser
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    browser.login("alice", "wonderland").await;
    let answer = browser
        .post("/flash", &json!({ "message": "one" }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    let answer = browser
        .put("/secret-note", &json!({ "note": NOTE }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");

    // The other version sees all of it.
    let mut here = at(&second, &browser);
    here.get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));
    assert_eq!(here.get("/me").await.json()["username"], "alice");
    here.get("/flash")
        .await
        .assert_json(200, json!({ "messages": ["one"] }));
    here.get("/secret-note")
        .await
        .assert_json(200, json!({ "note": NOTE }));
    browser.cookie = here.cookie;

    // Version 2 sets the theme; version 1 has no such route.
    let mut here = at(v2, &browser);
    here.get("/preferences")
        .await
        .assert_json(200, json!({ "theme": "light" }));
    let answer = here
        .put("/preferences", &json!({ "theme": "dark" }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    browser.cookie = here.cookie;

    // Version 1 rewrites the session (counter and a flash message).
    let mut here = at(v1, &browser);
    assert_eq!(here.get("/preferences").await.status, 404);
    here.get("/counter")
        .await
        .assert_json(200, json!({ "count": 3 }));
    let answer = here
        .post("/flash", &json!({ "message": "two" }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    browser.cookie = here.cookie;

    // Version 2 still has the theme, and everything else.
    let mut here = at(v2, &browser);
    here.get("/preferences")
        .await
        .assert_json(200, json!({ "theme": "dark" }));
    here.get("/flash")
        .await
        .assert_json(200, json!({ "messages": ["two"] }));
    here.get("/counter")
        .await
        .assert_json(200, json!({ "count": 4 }));
    assert_eq!(here.get("/me").await.json()["username"], "alice");
    here.get("/secret-note")
        .await
        .assert_json(200, json!({ "note": NOTE }));
    browser.cookie = here.cookie;

    // And version 1 once more.
    let mut here = at(v1, &browser);
    here.get("/counter")
        .await
        .assert_json(200, json!({ "count": 5 }));
    assert_eq!(here.get("/me").await.json()["username"], "alice");
    here.get("/secret-note")
        .await
        .assert_json(200, json!({ "note": NOTE }));
}

/// Memory: one process per version, nothing shared.
async fn each_version_alone(target: &Target) {
    let v1 = target.start_with(&[("DEMO_SESSION_VERSION", "1")]);
    let mut browser = v1.agent();
    browser
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    assert_eq!(browser.get("/preferences").await.status, 404);
    let answer = browser
        .put("/preferences", &json!({ "theme": "dark" }).to_string())
        .await;
    assert_eq!(answer.status, 404, "{answer:?}");

    let v2 = target.start_with(&[("DEMO_SESSION_VERSION", "2")]);
    let mut browser = v2.agent();
    browser
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    browser
        .get("/preferences")
        .await
        .assert_json(200, json!({ "theme": "light" }));
    let answer = browser
        .put("/preferences", &json!({ "theme": "dark" }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    browser
        .get("/preferences")
        .await
        .assert_json(200, json!({ "theme": "dark" }));
    browser
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));
}
