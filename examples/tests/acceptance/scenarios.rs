//! One function per row of the reference app's contract (`examples/README.md`,
//! and a few more), each taking the [`Target`] to run against. `main.rs`
//! turns them into tests.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::harness::{credentials, Answer, SetCookie, Target};

const WRONG: (&str, &str) = ("alice", "not-the-password");

/// Says on stderr that a check does not apply to this store, and why.
fn skip(target: &Target, check: &str, why: &str) {
    eprintln!("skipped for the {} store: {check} ({why})", target.store);
}

#[track_caller]
fn assert_no_5xx(answer: &Answer, what: &str) {
    assert!(answer.status < 500, "{what}: {answer:?}");
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// `GET /health`: `200 ok`, and never a `Set-Cookie`, with or without a
/// session cookie.
pub(crate) async fn health_sets_no_cookie(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    let answer = agent.get("/health").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "ok");
    assert_eq!(answer.content_type(), Some("text/plain; charset=utf-8"));
    assert!(answer.set_cookie().is_none(), "{answer:?}");

    agent.get("/counter").await;
    assert!(agent.cookie.is_some());
    let answer = agent.get("/health").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
    assert!(answer.set_cookie().is_none(), "{answer:?}");
}

/// `GET /counter` counts from 1 per session; sessions are independent.
pub(crate) async fn counter_counts_from_one(target: &Target) {
    let server = target.start();
    let mut alice = server.agent();
    for n in 1..=3 {
        let answer = alice.get("/counter").await;
        answer.assert_json(200, json!({ "count": n }));
        assert!(answer.set_cookie().is_some(), "{answer:?}");
    }
    let mut bob = server.agent();
    bob.get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    assert_ne!(alice.cookie, bob.cookie);
    alice
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 4 }));
}

/// `GET /counter/peek` reads without writing: `0` and no cookie when there
/// is no session.
pub(crate) async fn peek_changes_nothing(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    let answer = agent.get("/counter/peek").await;
    answer.assert_json(200, json!({ "count": 0 }));
    assert!(answer.set_cookie().is_none(), "{answer:?}");

    agent.get("/counter").await;
    for _ in 0..2 {
        agent
            .get("/counter/peek")
            .await
            .assert_json(200, json!({ "count": 1 }));
    }
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));
}

/// `POST /login`: `200 {"username"}`, a new token, the data kept; the token
/// from before the login no longer identifies the session.
pub(crate) async fn login_rotates_the_token(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent.get("/counter").await;
    let before = agent.cookie.clone().expect("a session cookie");

    let answer = agent
        .post("/login", &credentials("alice", "wonderland"))
        .await;
    answer.assert_json(200, json!({ "username": "alice" }));
    let after = answer.set_cookie().expect("login sends a cookie").value;
    assert_ne!(after, before, "the token must change at login");

    let me = agent.get("/me").await;
    assert_eq!(
        (me.status, &me.json()["username"]),
        (200, &json!("alice")),
        "{me:?}"
    );
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));

    // The old token is anonymous.
    let me = server.get_with("/me", Some(&before)).await;
    assert_eq!(
        me.status, 401,
        "the pre-login cookie must not be logged in: {me:?}"
    );
    if target.stateless() {
        // A copied cookie stays valid until it expires (the cookie store's
        // README): it still opens, but as it was when copied, without the
        // login or anything after it.
        let peek = server.get_with("/counter/peek", Some(&before)).await;
        peek.assert_json(200, json!({ "count": 1 }));
    } else {
        let peek = server.get_with("/counter/peek", Some(&before)).await;
        peek.assert_json(200, json!({ "count": 0 }));
    }

    // Logging in without a session first works too.
    let mut other = server.agent();
    other
        .post("/login", &credentials("bob", "builder"))
        .await
        .assert_json(200, json!({ "username": "bob" }));
    assert!(other.cookie.is_some());
}

/// Five wrong passwords answer `401`; the sixth attempt answers `429` even
/// with the right password, and nobody is logged in.
pub(crate) async fn login_locks_after_five_failures(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    for attempt in 1..=5 {
        let answer = agent.post("/login", &credentials(WRONG.0, WRONG.1)).await;
        assert_eq!(answer.status, 401, "attempt {attempt}: {answer:?}");
        assert_eq!(answer.content_type(), Some("application/json"));
    }
    let answer = agent
        .post("/login", &credentials("alice", "wonderland"))
        .await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.content_type(), Some("application/json"));
    let answer = agent.post("/login", &credentials(WRONG.0, WRONG.1)).await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(agent.get("/me").await.status, 401);

    // The lock belongs to that session: another one logs in.
    server.agent().login("alice", "wonderland").await;
}

/// A successful login resets the failure count.
pub(crate) async fn successful_login_resets_failures(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    for _ in 0..2 {
        for _ in 0..4 {
            let answer = agent.post("/login", &credentials("bob", "wrong")).await;
            assert_eq!(answer.status, 401, "{answer:?}");
        }
        agent.login("bob", "builder").await;
    }
    let answer = agent
        .post("/login", &credentials("nobody", "builder"))
        .await;
    assert_eq!(
        answer.status, 401,
        "an unknown user is a failure too: {answer:?}"
    );
}

/// `GET /me`: `401` when anonymous; `200 {"username", "last_login"}` with an
/// RFC 3339 time of the login.
pub(crate) async fn me_tells_who_is_logged_in(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    let answer = agent.get("/me").await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.content_type(), Some("application/json"));
    assert!(answer.set_cookie().is_none(), "{answer:?}");

    let before = OffsetDateTime::now_utc() - time::Duration::seconds(2);
    agent.login("bob", "builder").await;
    let answer = agent.get("/me").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = answer.json();
    assert_eq!(body["username"], "bob");
    let last_login = body["last_login"].as_str().expect("a string");
    let at = OffsetDateTime::parse(last_login, &Rfc3339).expect("RFC 3339");
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    assert!(before <= at && at <= after, "{last_login}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

/// `POST /logout`: `204`, the cookie expired, and the old cookie is an
/// anonymous session.
pub(crate) async fn logout_ends_the_session(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent.login("alice", "wonderland").await;
    agent.get("/counter").await;
    let old = agent.cookie.clone().expect("a cookie");

    let answer = agent.post("/logout", "").await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert!(answer.body.is_empty());
    let removal = answer.set_cookie().expect("logout expires the cookie");
    assert_eq!(removal.max_age(), Some(0), "{removal:?}");
    assert_eq!(removal.get("Path"), Some("/"), "{removal:?}");
    assert!(agent.cookie.is_none());
    assert_eq!(agent.get("/me").await.status, 401);

    if target.stateless() {
        skip(
            target,
            "a replayed cookie is anonymous after logout",
            "see the cookie store's README",
        );
    } else {
        let me = server.get_with("/me", Some(&old)).await;
        assert_eq!(me.status, 401, "the old cookie must be logged out: {me:?}");
        let peek = server.get_with("/counter/peek", Some(&old)).await;
        peek.assert_json(200, json!({ "count": 0 }));
    }

    // Logging out without a session is fine.
    assert_eq!(server.agent().post("/logout", "").await.status, 204);
}

/// `POST /flash` then `GET /flash`: each message once, in order. Uses
/// reqwest's own cookie jar, as a browser would.
pub(crate) async fn flash_shows_once(target: &Target) {
    let server = target.start();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("a client");
    let url = |path: &str| format!("{}{path}", server.base);
    let get_flash = || async {
        let response = browser.get(url("/flash")).send().await.expect("an answer");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body
    };
    assert_eq!(get_flash().await, json!({ "messages": [] }));
    for message in ["hello", "wörld ✓"] {
        let response = browser
            .post(url("/flash"))
            .json(&json!({ "message": message }))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 204);
    }
    assert_eq!(
        get_flash().await,
        json!({ "messages": ["hello", "wörld ✓"] })
    );
    assert_eq!(get_flash().await, json!({ "messages": [] }));
}

/// `POST /consent`: `204`, and the session is written (a cookie comes
/// back and the session carries on).
pub(crate) async fn consent_is_recorded(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    let body = json!({ "privacy_policy_version": "2024-05", "marketing": true }).to_string();
    let answer = agent.post("/consent", &body).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert!(answer.body.is_empty());
    let cookie = answer
        .set_cookie()
        .expect("consent is stored in the session");
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    if target.stateless() {
        // The whole session is the cookie: every change reseals it.
        assert_ne!(agent.cookie.as_deref(), Some(cookie.value.as_str()));
    } else {
        // Same session, same token.
        assert_eq!(agent.cookie.as_deref(), Some(cookie.value.as_str()));
    }
    let again = json!({ "privacy_policy_version": "2024-06", "marketing": false }).to_string();
    assert_eq!(agent.post("/consent", &again).await.status, 204);

    for (bad, status) in [
        ("{", 400),
        (r#"{"privacy_policy_version":"v1"}"#, 422),
        (r#"{"privacy_policy_version":"v1","marketing":"yes"}"#, 422),
        (r#"{"privacy_policy_version":7,"marketing":true}"#, 422),
    ] {
        let answer = agent.post("/consent", bad).await;
        assert_eq!(answer.status, status, "{bad}: {answer:?}");
    }
}

/// `PUT /secret-note` then `GET`: the note comes back; `null` before; the
/// cookie never shows it.
pub(crate) async fn secret_note_round_trips(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    let answer = agent.get("/secret-note").await;
    answer.assert_json(200, json!({ "note": null }));
    assert!(answer.set_cookie().is_none(), "{answer:?}");

    let note = "the key is under the doormat";
    let answer = agent
        .put("/secret-note", &json!({ "note": note }).to_string())
        .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    let cookie = agent.cookie.clone().expect("a cookie");
    assert!(!cookie.contains("doormat"), "{cookie}");
    agent
        .get("/secret-note")
        .await
        .assert_json(200, json!({ "note": note }));

    let answer = agent.put("/secret-note", r#"{"note":"replaced"}"#).await;
    assert_eq!(answer.status, 204);
    agent
        .get("/secret-note")
        .await
        .assert_json(200, json!({ "note": "replaced" }));
    assert_eq!(
        agent.put("/secret-note", r#"{"note":null}"#).await.status,
        422
    );
    assert_eq!(agent.put("/secret-note", "note").await.status, 400);
    // The GET of another session does not see it.
    server
        .agent()
        .get("/secret-note")
        .await
        .assert_json(200, json!({ "note": null }));
}

fn assert_standard_attributes(cookie: &SetCookie) {
    assert_eq!(cookie.name, "_session");
    assert!(!cookie.value.is_empty());
    assert!(cookie.has("HttpOnly"), "{cookie:?}");
    assert_eq!(cookie.get("SameSite"), Some("Lax"), "{cookie:?}");
    assert_eq!(cookie.get("Path"), Some("/"), "{cookie:?}");
}

#[track_caller]
fn assert_max_age_near(cookie: &SetCookie, expected: i64) {
    let age = cookie.max_age().expect("a Max-Age");
    assert!(
        (expected - 5..=expected).contains(&age),
        "Max-Age {age}, expected about {expected}: {cookie:?}"
    );
}

/// The cookie: `_session`, `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure`
/// unless turned off, `Max-Age` the remaining absolute lifetime (the server
/// enforces the idle timeout).
pub(crate) async fn cookie_attributes(target: &Target) {
    // Defaults: Secure, 24 hours of absolute lifetime.
    let server = target.start_with(&[("SESSION_COOKIE_SECURE", "")]);
    let answer = server.agent().get("/counter").await;
    let cookie = answer.set_cookie().expect("a cookie");
    assert_standard_attributes(&cookie);
    assert!(cookie.has("Secure"), "{cookie:?}");
    assert_max_age_near(&cookie, 86400);
    drop(server);

    // Secure off; a short idle timeout does not shorten Max-Age.
    let server = target.start_with(&[("SESSION_IDLE_TIMEOUT_SECS", "120")]);
    let answer = server.agent().get("/counter").await;
    let cookie = answer.set_cookie().expect("a cookie");
    assert_standard_attributes(&cookie);
    assert!(!cookie.has("Secure"), "{cookie:?}");
    assert_max_age_near(&cookie, 86400);
    drop(server);

    // The absolute timeout sets Max-Age.
    let server = target.start_with(&[("SESSION_ABSOLUTE_TIMEOUT_SECS", "60")]);
    let answer = server.agent().get("/counter").await;
    assert_max_age_near(&answer.set_cookie().expect("a cookie"), 60);
}

/// Idle expiry: each request extends the session; a pause longer than the
/// idle timeout ends it.
pub(crate) async fn idle_timeout_expires_sessions(target: &Target) {
    let server = target.start_with(&[("SESSION_IDLE_TIMEOUT_SECS", "1")]);
    let mut agent = server.agent();
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 1 }));
    let mut token = agent.cookie.clone().expect("a cookie");
    // Raw cookies from here: a cookie jar would drop the cookie itself once
    // Max-Age passes, and the test would prove nothing about the server.
    for n in 2..=3 {
        sleep_ms(600).await;
        let answer = server.get_with("/counter", Some(&token)).await;
        answer.assert_json(200, json!({ "count": n }));
        if target.stateless() {
            // The new idle expiry is sealed in the new cookie, not kept
            // on the server: only the latest cookie is extended.
            token = answer.set_cookie().expect("a resealed cookie").value;
        }
    }
    sleep_ms(1300).await;
    let answer = server.get_with("/counter", Some(&token)).await;
    answer.assert_json(200, json!({ "count": 1 }));
    let fresh = answer.set_cookie().expect("a fresh session");
    assert_ne!(fresh.value, token, "an expired token is never adopted");
}

/// Absolute expiry: a session in constant use still ends.
pub(crate) async fn absolute_timeout_expires_sessions(target: &Target) {
    let server = target.start_with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "60"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "1"),
    ]);
    let mut agent = server.agent();
    let answer = agent.get("/counter").await;
    answer.assert_json(200, json!({ "count": 1 }));
    let age = answer
        .set_cookie()
        .and_then(|c| c.max_age())
        .expect("Max-Age");
    assert!(
        (0..=1).contains(&age),
        "Max-Age {age} must not outlive the absolute timeout"
    );
    let token = agent.cookie.clone().expect("a cookie");
    sleep_ms(400).await;
    server
        .get_with("/counter", Some(&token))
        .await
        .assert_json(200, json!({ "count": 2 }));
    sleep_ms(900).await;
    let answer = server.get_with("/counter", Some(&token)).await;
    answer.assert_json(200, json!({ "count": 1 }));
    assert_ne!(answer.set_cookie().expect("a fresh session").value, token);
}

/// Flips one character of a token to another base64url character.
fn flip_one_char(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Tampered, truncated, absurd and foreign cookies: never a `5xx`, always a
/// fresh session, and the real session is untouched.
pub(crate) async fn bad_cookies_get_fresh_sessions(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent.get("/counter").await;
    let token = agent.cookie.clone().expect("a cookie");

    let cookie = |value: &str| format!("_session={value}").into_bytes();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty value", cookie("")),
        ("10 KB value", cookie(&"A".repeat(10 * 1024))),
        (
            "non-ASCII bytes",
            b"_session=\xff\xfe\xc3\xa9\x80abc".to_vec(),
        ),
        ("many cookies", "_session=x; ".repeat(60).into_bytes()),
        (
            "unknown well-formed token",
            cookie(&"Zm9vYmFy".repeat(6)[..43]),
        ),
        (
            "standard base64",
            cookie("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ+/8="),
        ),
        ("one character changed", cookie(&flip_one_char(&token))),
        ("truncated", cookie(&token[..token.len() - 1])),
        ("one character added", cookie(&format!("{token}A"))),
        ("quoted", cookie(&format!("\"{token}x\""))),
        (
            "header syntax garbage",
            b";;; =; ==; _session; _session==".to_vec(),
        ),
    ];
    cases.push((
        "other cookie names only",
        b"session=1; _Session=2; x_session=3".to_vec(),
    ));

    for (what, header) in cases {
        let answer = server
            .send_raw(Method::GET, "/counter", Some(&header), None)
            .await;
        assert_no_5xx(&answer, what);
        answer.assert_json(200, json!({ "count": 1 }));
        let fresh = answer
            .set_cookie()
            .unwrap_or_else(|| panic!("{what}: no cookie"));
        assert_ne!(fresh.value, token, "{what}");
        assert!(fresh.value.len() < 4096, "{what}");
        let health = server
            .send_raw(Method::GET, "/health", Some(&header), None)
            .await;
        assert_eq!(health.status, 200, "{what}: {health:?}");
    }
    // The real session did not move.
    agent
        .get("/counter")
        .await
        .assert_json(200, json!({ "count": 2 }));
}

/// Bodies that are not what a route expects: `400` (not JSON), `422`
/// (wrong shape), `413` (too large); never a `5xx`, and nothing stored.
pub(crate) async fn bad_bodies_are_client_errors(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    let huge = format!(r#"{{"message":"{}"}}"#, "x".repeat(20 * 1024));
    let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(501));
    let cases: [(Method, &str, Vec<u8>, u16); 10] = [
        (Method::POST, "/login", b"".to_vec(), 400),
        (Method::POST, "/login", b"{\"username\":".to_vec(), 400),
        (Method::POST, "/login", b"\xff\xfe".to_vec(), 400),
        (
            Method::POST,
            "/login",
            br#"{"username":"alice"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/login",
            br#"["alice","wonderland"]"#.to_vec(),
            422,
        ),
        (Method::POST, "/flash", br#"{"msg":"hi"}"#.to_vec(), 422),
        (Method::POST, "/flash", long.into_bytes(), 422),
        (Method::POST, "/flash", huge.into_bytes(), 413),
        (Method::PUT, "/secret-note", b"null".to_vec(), 422),
        (Method::POST, "/consent", b"[]".to_vec(), 422),
    ];
    for (method, path, body, status) in cases {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(40)
            .collect::<String>();
        let answer = server
            .send_raw(method.clone(), path, None, Some(body))
            .await;
        assert_eq!(answer.status, status, "{method} {path} {shown}: {answer:?}");
        assert_eq!(
            answer.content_type(),
            Some("application/json"),
            "{answer:?}"
        );
        assert!(answer.json()["error"].is_string(), "{answer:?}");
        assert!(
            answer.set_cookie().is_none(),
            "nothing to store: {answer:?}"
        );
    }
    // Bad bodies are not failed logins.
    for _ in 0..6 {
        agent.post("/login", "{").await;
    }
    agent.login("alice", "wonderland").await;
}

/// Every `POST`/`PUT` route with a body answers `415` unless the body is
/// sent as `application/json` (a `charset` parameter is fine): a cross-site
/// `<form enctype="text/plain">` cannot log a victim into another account.
pub(crate) async fn json_routes_require_json(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent.get("/counter").await;
    let cookie = format!("_session={}", agent.cookie.clone().expect("a session"));
    let login = br#"{"username":"alice","password":"wonderland"}"#.to_vec();
    let refused = [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        Some("text/json"),
        None,
    ];
    for content_type in refused {
        for (method, path, body) in [
            (Method::POST, "/login", login.clone()),
            (Method::POST, "/flash", br#"{"message":"hi"}"#.to_vec()),
            (
                Method::POST,
                "/consent",
                br#"{"privacy_policy_version":"1","marketing":true}"#.to_vec(),
            ),
            (Method::PUT, "/secret-note", br#"{"note":"n"}"#.to_vec()),
        ] {
            let answer = server
                .send_typed(
                    method.clone(),
                    path,
                    Some(cookie.as_bytes()),
                    Some((content_type, body)),
                )
                .await;
            assert_eq!(
                answer.status, 415,
                "{method} {path} {content_type:?}: {answer:?}"
            );
            assert!(answer.json()["error"].is_string(), "{answer:?}");
        }
    }
    assert_eq!(agent.get("/me").await.status, 401, "no login went through");
    assert!(agent.get("/flash").await.json()["messages"]
        .as_array()
        .unwrap()
        .is_empty());
    let answer = server
        .send_typed(
            Method::POST,
            "/login",
            Some(cookie.as_bytes()),
            Some((Some("Application/JSON; charset=utf-8"), login)),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// A login over an anonymous session keeps its data; a login as another
/// user than the one logged in starts from a fresh session: nothing of the
/// first user (sealed note, consent log, flash) carries over.
pub(crate) async fn login_as_another_user_starts_clean(target: &Target) {
    let server = target.start();
    let mut agent = server.agent();
    agent.get("/counter").await;
    agent.get("/counter").await;
    assert_eq!(agent.login("alice", "wonderland").await.status, 200);
    agent
        .get("/counter/peek")
        .await
        .assert_json(200, json!({ "count": 2 }));
    assert_eq!(
        agent
            .put("/secret-note", r#"{"note":"alice's diary"}"#)
            .await
            .status,
        204
    );
    assert_eq!(
        agent
            .post("/flash", r#"{"message":"for alice"}"#)
            .await
            .status,
        204
    );
    // The same user again keeps the session's data.
    assert_eq!(agent.login("alice", "wonderland").await.status, 200);
    agent
        .get("/secret-note")
        .await
        .assert_json(200, json!({ "note": "alice's diary" }));
    let before = agent.cookie.clone();
    assert_eq!(agent.login("bob", "builder").await.status, 200);
    assert_ne!(agent.cookie, before, "a new token");
    agent
        .get("/secret-note")
        .await
        .assert_json(200, json!({ "note": null }));
    agent
        .get("/counter/peek")
        .await
        .assert_json(200, json!({ "count": 0 }));
    assert!(agent.get("/flash").await.json()["messages"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(agent.get("/me").await.json()["username"], "bob");
}

/// Unknown paths answer `404`, known paths with another method `405`, both
/// as JSON; neither touches the session.
pub(crate) async fn unknown_routes_are_json_errors(target: &Target) {
    let server = target.start();
    let answer = server.send_raw(Method::GET, "/nope", None, None).await;
    answer.assert_json(404, json!({ "error": "not found" }));
    assert!(answer.set_cookie().is_none());
    let answer = server
        .send_raw(Method::DELETE, "/counter", None, None)
        .await;
    answer.assert_json(405, json!({ "error": "method not allowed" }));
    assert!(answer.set_cookie().is_none());
    assert_eq!(
        answer.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET,HEAD")
    );
}

/// What must be equal between the two frameworks in an answer: status,
/// `Content-Type`, `Allow`, the body (login times masked) and the cookie's
/// attributes (its value is random, and `Max-Age` may differ by a second).
fn comparable(answer: &Answer) -> String {
    let mut body = answer.body.clone();
    if let Ok(mut json) = serde_json::from_str::<serde_json::Value>(&body) {
        if let Some(at) = json.get_mut("last_login") {
            *at = json!("<time>");
        }
        body = json.to_string();
    }
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let cookie = answer.set_cookie().map(|c| {
        let attributes: Vec<String> = c
            .attributes
            .iter()
            .map(|(k, v)| match (k.as_str(), c.is_removal()) {
                ("Max-Age", false) => "Max-Age=N".to_owned(),
                _ => format!("{k}={}", v.as_deref().unwrap_or("")),
            })
            .collect();
        format!(
            "{}={} {}",
            c.name,
            if c.value.is_empty() { "" } else { "V" },
            attributes.join(";")
        )
    });
    format!(
        "{} type={} allow={} cookie={:?} body={body}",
        answer.status,
        header("content-type"),
        header("allow"),
        cookie
    )
}

/// Both servers, fed the same requests, answer the same.
pub(crate) async fn frameworks_answer_alike(axum: &Target, actix: &Target) {
    let consent = json!({ "privacy_policy_version": "v1", "marketing": true }).to_string();
    let huge = format!(r#"{{"note":"{}"}}"#, "x".repeat(20 * 1024));
    let script: Vec<(Method, &str, Option<&str>)> = vec![
        (Method::GET, "/health", None),
        (Method::HEAD, "/health", None),
        (Method::GET, "/counter/peek", None),
        (Method::GET, "/counter", None),
        (Method::GET, "/counter", None),
        (Method::HEAD, "/counter/peek", None),
        (Method::GET, "/me", None),
        (
            Method::POST,
            "/login",
            Some(r#"{"username":"alice","password":"x"}"#),
        ),
        (Method::POST, "/login", Some("{")),
        (Method::POST, "/login", Some(r#"{"username":"alice"}"#)),
        (
            Method::POST,
            "/login",
            Some(r#"{"username":"alice","password":"wonderland"}"#),
        ),
        (Method::GET, "/me", None),
        (Method::POST, "/flash", Some(r#"{"message":"hi"}"#)),
        (Method::GET, "/flash", None),
        (Method::GET, "/flash", None),
        (Method::POST, "/consent", Some(&consent)),
        (Method::POST, "/consent", Some("[]")),
        (Method::PUT, "/secret-note", Some(r#"{"note":"n"}"#)),
        (Method::GET, "/secret-note", None),
        (Method::PUT, "/secret-note", Some(&huge)),
        (Method::DELETE, "/counter", None),
        (Method::PUT, "/login", None),
        (Method::PATCH, "/flash", None),
        (Method::GET, "/nope", None),
        (Method::POST, "/logout", None),
        (Method::GET, "/me", None),
        (Method::POST, "/logout", None),
    ];
    let (axum_server, actix_server) = (axum.start(), actix.start());
    let (mut a, mut b) = (axum_server.agent(), actix_server.agent());
    for (method, path, body) in script {
        let left = comparable(&a.send(method.clone(), path, body).await);
        let right = comparable(&b.send(method.clone(), path, body).await);
        assert_eq!(
            left, right,
            "{method} {path} differs (left axum, right actix)"
        );
    }
}

/// The page at `/` and CSRF: forms need the session's token and a
/// same-origin request, the JSON routes refuse a foreign `Origin` and let
/// clients without one through, `GET /csrf` gives a token for the header,
/// another session's token and a token from before login are refused.
pub(crate) async fn csrf_guards_the_page_and_the_json_routes(target: &Target) {
    let server = target.start();
    let client = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
    };
    let (browser, other) = (client(), client());
    let url = |path: &str| format!("{}{path}", server.base);
    let page = |client: &reqwest::Client| {
        let request = client.get(url("/"));
        async move {
            let response = request.send().await.expect("an answer");
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(content_type, "text/html; charset=utf-8");
            response.text().await.expect("a page")
        }
    };
    let token_of = |html: &str| {
        let field = "name=\"csrf_token\" value=\"";
        let at = html.find(field).expect("a token field") + field.len();
        html[at..at + 86].to_owned()
    };
    let form = |client: &reqwest::Client, path: &str, body: String, headers: &[(&str, &str)]| {
        let mut request = client
            .post(url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.expect("an answer") }
    };
    let count = |client: &reqwest::Client| {
        let request = client.get(url("/counter/peek"));
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["count"].as_u64().expect("a count")
        }
    };

    let html = page(&browser).await;
    for id in [
        "count",
        "user",
        "flash",
        "sessions",
        "counter-form",
        "login-form",
        "logout-form",
        "flash-form",
        "revoke-others-form",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} in {html}");
    }
    let token = token_of(&html);
    assert_ne!(
        token_of(&page(&browser).await),
        token,
        "masked afresh per page"
    );

    // Forms: no token, a wrong one, a cross-site one: 403, nothing changes.
    for (body, headers) in [
        (String::new(), &[][..]),
        ("csrf_token=wrong".to_owned(), &[][..]),
        (
            format!("csrf_token={token}"),
            &[("sec-fetch-site", "cross-site")][..],
        ),
        (
            format!("csrf_token={token}"),
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://127.0.0.1:1"),
            ][..],
        ),
        (
            format!("csrf_token={token}"),
            &[("origin", "http://evil.example")][..],
        ),
    ] {
        let answer = form(&browser, "/ui/counter", body.clone(), headers).await;
        assert_eq!(answer.status(), 403, "{body} {headers:?}");
    }
    assert_eq!(count(&browser).await, 0);
    let answer = form(
        &browser,
        "/ui/counter",
        format!("csrf_token={token}"),
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(answer.status(), 303, "{}", server.log());
    assert_eq!(answer.headers()["location"], "/");
    assert_eq!(count(&browser).await, 1);

    // The header, with a token from GET /csrf.
    let body: serde_json::Value = browser
        .get(url("/csrf"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header_token = body["token"].as_str().expect("a token").to_owned();
    let answer = browser
        .post(url("/ui/counter"))
        .header("x-csrf-token", &header_token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(count(&browser).await, 2);

    // Another session's token is refused.
    let theirs = token_of(&page(&other).await);
    let answer = form(&browser, "/ui/counter", format!("csrf_token={theirs}"), &[]).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(count(&browser).await, 2);

    // JSON routes: a foreign Origin is refused, no Origin or our own passes.
    let flash = |origin: Option<&str>| {
        let mut request = browser
            .post(url("/flash"))
            .json(&json!({ "message": "via json" }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(flash(Some("http://evil.example")).await, 403);
    assert_eq!(flash(None).await, 204);
    assert_eq!(flash(Some(server.base.as_str())).await, 204);

    // Login through the form rotates the secret: the old token is dead.
    let login = format!("csrf_token={token}&username=alice&password=wonderland&remember=true");
    assert_eq!(form(&browser, "/ui/login", login, &[]).await.status(), 303);
    let html = page(&browser).await;
    assert!(html.contains("id=\"user\">alice<"), "{html}");
    assert!(
        html.contains("<li>via json</li><li>via json</li>"),
        "flash shown: {html}"
    );
    let answer = form(&browser, "/ui/counter", format!("csrf_token={token}"), &[]).await;
    assert_eq!(answer.status(), 403, "a token from before login");

    // Flash text is escaped, and shown once.
    let fresh = token_of(&html);
    let message = format!("csrf_token={fresh}&message=%3Cb%3Ehi%3C%2Fb%3E");
    assert_eq!(
        form(&browser, "/ui/flash", message, &[]).await.status(),
        303
    );
    let html = page(&browser).await;
    assert!(html.contains("<li>&lt;b&gt;hi&lt;/b&gt;</li>"), "{html}");
    assert!(!page(&browser).await.contains("&lt;b&gt;"), "shown once");

    // Every refusal above is counted by its reason.
    let metrics = browser
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (reason, count) in [
        ("cross_site", 2),
        ("foreign_origin", 2),
        ("missing_token", 1),
        ("invalid_token", 3),
    ] {
        let line = format!("session_csrf_refused_total{{reason=\"{reason}\"}} {count}");
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }

    // Every form route refuses a post without a token...
    for path in [
        "/ui/counter",
        "/ui/login",
        "/ui/logout",
        "/ui/flash",
        "/ui/sessions/revoke-others",
    ] {
        let answer = form(&browser, path, String::new(), &[]).await;
        assert_eq!(answer.status(), 403, "{path} without a token");
    }
    let me = |client: &reqwest::Client| {
        let request = client.get(url("/me"));
        async move { request.send().await.expect("an answer").status() }
    };
    assert_eq!(me(&browser).await, 200, "refusals change nothing");

    // ...and, with one, ends the user's other sessions and answers 303.
    let theirs = token_of(&page(&other).await);
    let login = format!("csrf_token={theirs}&username=alice&password=wonderland");
    assert_eq!(form(&other, "/ui/login", login, &[]).await.status(), 303);
    assert_eq!(me(&other).await, 200, "alice's second session");
    let token = token_of(&page(&browser).await);
    let revoke = format!("csrf_token={token}");
    let answer = form(&browser, "/ui/sessions/revoke-others", revoke, &[]).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/");
    let html = page(&browser).await;
    if target.stateless() {
        // The cookie store keeps no server state to end another session by.
        assert!(
            html.contains("<li>this store cannot end other sessions</li>"),
            "{html}"
        );
        assert_eq!(me(&other).await, 200);
    } else {
        assert!(html.contains("<li>1 other session(s) ended</li>"), "{html}");
        assert_eq!(me(&other).await, 401, "the other session ended");
    }

    // Logging out through the form ends this session too.
    let logout = format!("csrf_token={}", token_of(&html));
    let answer = form(&browser, "/ui/logout", logout, &[]).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/");
    assert_eq!(me(&browser).await, 401);
}
