//! What each route does, written once for both servers.
//!
//! Every function takes the core [`Session`] handle (both adapters'
//! extractors deref to it) and the raw request body where there is one, and
//! answers a [`Reply`]: a status and a body. The binaries only turn a
//! [`Reply`] into their framework's response, so both answer byte for byte
//! the same. Bodies are parsed here too, for the same reason: a framework's
//! JSON extractor would answer bad input in its own words.

use std::net::IpAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use session_core::store::StoreError;
use session_core::time::OffsetDateTime;
use session_core::{LoginPolicy, Session, SessionError, SessionId, SessionManager};

use crate::model::{Account, DemoData, Preferences};

/// The largest request body read; larger ones get `413`.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The longest flash message and secret note accepted (characters): the
/// whole session must fit in a cookie when the cookie store keeps it.
pub const TEXT_LIMIT: usize = 500;

/// `Content-Type` of JSON replies.
pub const JSON: &str = "application/json";
/// `Content-Type` of the `/health` reply.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// `Content-Type` of the page at `/`.
pub const HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of the `/metrics` reply: the Prometheus text format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The demo's users: id, name, password. A real application keeps password
/// hashes (argon2) in a database; this table only feeds the demo.
const USERS: [(u64, &str, &str); 2] = [(1, "alice", "wonderland"), (2, "bob", "builder")];

/// The body of a [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body (`204`).
    Empty,
    /// Plain text.
    Text(&'static str),
    /// A JSON document.
    Json(String),
    /// An HTML page.
    Html(String),
    /// No body, and a `Location` header with this path (`303 See Other`).
    SeeOther(&'static str),
    /// Metrics in the Prometheus text format.
    Prometheus(String),
}

/// A framework-neutral response: a status and a body.
///
/// ```
/// use examples::routes::{health, Body, Reply};
///
/// assert_eq!(health(), Reply { status: 200, body: Body::Text("ok") });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Body,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &impl Serialize) -> Reply {
        match serde_json::to_string(value) {
            Ok(text) => Reply {
                status,
                body: Body::Json(text),
            },
            Err(err) => {
                tracing::error!(%err, "could not encode a reply");
                Reply::internal()
            }
        }
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: Body::Empty,
        }
    }

    pub(crate) fn see_other(location: &'static str) -> Reply {
        Reply {
            status: 303,
            body: Body::SeeOther(location),
        }
    }

    pub(crate) fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, &ErrorBody { error: message })
    }

    fn internal() -> Reply {
        Reply {
            status: 500,
            body: Body::Json(r#"{"error":"internal server error"}"#.into()),
        }
    }

    /// The `Content-Type` to send, if there is a body.
    pub fn content_type(&self) -> Option<&'static str> {
        match self.body {
            Body::Empty | Body::SeeOther(_) => None,
            Body::Text(_) => Some(TEXT),
            Body::Json(_) => Some(JSON),
            Body::Html(_) => Some(HTML),
            Body::Prometheus(_) => Some(PROMETHEUS),
        }
    }

    /// The `Location` header to send, if any.
    pub fn location(&self) -> Option<&'static str> {
        match self.body {
            Body::SeeOther(location) => Some(location),
            _ => None,
        }
    }

    /// The body bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match self.body {
            Body::Empty | Body::SeeOther(_) => Vec::new(),
            Body::Text(text) => text.as_bytes().to_vec(),
            Body::Json(text) | Body::Html(text) | Body::Prometheus(text) => text.into_bytes(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct Count {
    count: u64,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    /// "Remember me": the session lives `SESSION_REMEMBER_SECS`.
    #[serde(default)]
    remember: bool,
}

#[derive(Serialize)]
struct Sessions {
    sessions: Vec<Device>,
}

/// One of the user's sessions, as `GET /sessions` lists it.
#[derive(Serialize)]
struct Device {
    id: String,
    #[serde(with = "crate::model::rfc3339_option")]
    created_at: Option<OffsetDateTime>,
    #[serde(with = "crate::model::rfc3339_option")]
    last_seen_at: Option<OffsetDateTime>,
    ip: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

#[derive(Serialize)]
struct Revoked {
    revoked: u64,
}

#[derive(Serialize)]
struct LoggedIn<'a> {
    username: &'a str,
}

#[derive(Serialize)]
struct Me<'a> {
    username: &'a str,
    #[serde(with = "crate::model::rfc3339_option")]
    last_login: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
struct NewFlash {
    message: String,
}

#[derive(Serialize)]
struct Messages {
    messages: Vec<String>,
}

#[derive(Deserialize)]
struct Consent {
    privacy_policy_version: String,
    marketing: bool,
}

#[derive(Serialize, Deserialize)]
struct Note {
    note: Option<String>,
}

#[derive(Deserialize)]
struct NewNote {
    note: String,
}

/// Parses a JSON body: malformed JSON is `400`; anything but an object of
/// the expected shape is `422` (serde would take an array for a struct too).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| Reply::error(400, "the request body is not valid JSON"))?;
    if !value.is_object() {
        return Err(Reply::error(422, "the request body must be a JSON object"));
    }
    serde_json::from_value(value)
        .map_err(|err| Reply::error(422, &format!("invalid request body: {err}")))
}

pub(crate) fn check_length(name: &str, text: &str, max: usize) -> Result<(), Reply> {
    match text.chars().count() {
        n if n > max => Err(Reply::error(
            422,
            &format!("{name} is longer than {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// Compares without stopping at the first difference, so the answer time
/// does not tell how much of a password was right.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn find_user(username: &str, password: &str) -> Option<(u64, &'static str)> {
    USERS
        .iter()
        .find(|(_, name, secret)| *name == username && same_secret(secret, password))
        .map(|(id, name, _)| (*id, *name))
}

/// `GET /health`: `200 ok`. Takes no session, so it causes no store call
/// and no `Set-Cookie`.
pub fn health() -> Reply {
    Reply {
        status: 200,
        body: Body::Text("ok"),
    }
}

/// `GET /metrics`: the session layer's metrics in the Prometheus text
/// format. Takes no session: scraping causes no store call and no
/// `Set-Cookie`, and is not counted in the session metrics it reports.
pub fn metrics() -> Reply {
    Reply {
        status: 200,
        body: Body::Prometheus(crate::metrics::render()),
    }
}

/// `GET /counter`: counts this request and answers `{"count": N}`.
pub fn counter<D: DemoData>(session: &Session<D>) -> Reply {
    let count = session.update(|d| {
        let count = d.count_mut();
        *count = count.saturating_add(1);
        *count
    });
    Reply::json(200, &Count { count })
}

/// `GET /counter/peek`: answers `{"count": N}` without changing anything.
pub fn counter_peek<D: DemoData>(session: &Session<D>) -> Reply {
    let count = session.data().count();
    Reply::json(200, &Count { count })
}

/// `POST /login` with `{"username", "password"}`.
///
/// `429` once [`MAX_LOGIN_ATTEMPTS`](crate::model::MAX_LOGIN_ATTEMPTS) have
/// failed in this session, even with the right password; `401` (and one more
/// failure counted) for a wrong name or password; otherwise the session moves
/// to a new token (so a token known before login is worthless after it), is
/// tied to the user for "log out everywhere", and `200 {"username"}`.
/// `503` while the store is unavailable under `SESSION_STORE_OUTAGE=degrade`
/// (the session is then a stand-in that cannot be saved).
///
/// The count is exact only under `SESSION_CONCURRENCY=serialize`: parallel
/// attempts with one cookie then run one at a time, so the sixth sees five
/// failures. Under `last-write-wins` they all read the same count and most
/// increments are lost; under `reject` the losers get `409`.
pub fn login<D: DemoData>(session: &Session<D>, body: &[u8]) -> Reply {
    let credentials: Credentials = match parse(body) {
        Ok(credentials) => credentials,
        Err(reply) => return reply,
    };
    match sign_in(
        session,
        &credentials.username,
        &credentials.password,
        credentials.remember,
    ) {
        Ok(username) => Reply::json(200, &LoggedIn { username }),
        Err((status, message)) => Reply::error(status, message),
    }
}

/// Logs the session in as `username` if the password is right and the
/// session is not locked out; else the status and message of the refusal
/// (one more failed attempt for a wrong password). `remember` makes the
/// session live `SESSION_REMEMBER_SECS`. Shared by `POST /login` and the
/// page's form.
pub(crate) fn sign_in<D: DemoData>(
    session: &Session<D>,
    username: &str,
    password: &str,
    remember: bool,
) -> Result<&'static str, (u16, &'static str)> {
    // Without the store a login could not be kept: it must not look
    // successful (SESSION_STORE_OUTAGE=degrade).
    if session.is_degraded() {
        return Err((503, "sign-in is unavailable, please retry"));
    }
    if session.data().user().is_locked() {
        return Err((429, "too many failed login attempts"));
    }
    let Some((user_id, username)) = find_user(username, password) else {
        session.update(|d| d.user_mut().record_failed_login());
        return Err((401, "wrong username or password"));
    };
    // Over an anonymous session the data carries over (a cart survives
    // login); over another user's session nothing of theirs may.
    let other_user = session
        .data()
        .user()
        .username()
        .is_some_and(|current| current != username);
    if other_user {
        session.reset();
    } else {
        session.regenerate();
    }
    let now = OffsetDateTime::now_utc().truncate_to_second();
    session.update(|d| d.user_mut().log_in(user_id, username, now));
    session.set_owner(Some(username));
    if remember {
        // Cut to the configured maximum, which the demo sets from
        // SESSION_REMEMBER_SECS.
        session.remember(Duration::MAX);
    }
    tracing::info!(session = %session.id(), username, "logged in");
    Ok(username)
}

/// The message of the `401` that the routes only logged-in sessions reach
/// answer (the login guard's, and [`me`]'s).
const NOT_LOGGED_IN: &str = "not logged in";

/// That `401`'s body, as [`Reply::error`] writes it (a unit test holds the
/// two together).
const NOT_LOGGED_IN_BODY: &str = r#"{"error":"not logged in"}"#;

/// Who may reach the account routes (`/me`, `/sessions...`): sessions that
/// a user logged in to. The others get `401 {"error": "not logged in"}`
/// from the servers' login guard, the library's `LoginGuard` with this
/// policy, before the route runs.
///
/// ```
/// use examples::{model::DemoData, routes::login_policy, DemoSession};
///
/// let policy = login_policy::<DemoSession>();
/// assert!(!policy.permits(&DemoSession::default()));
/// let mut alice = DemoSession::default();
/// alice.user.username = Some("alice".into());
/// assert!(policy.permits(&alice));
/// assert_eq!(policy.unauthorized_body().unwrap().0, "application/json");
/// ```
pub fn login_policy<D: DemoData>() -> LoginPolicy<D> {
    LoginPolicy::new(|data: &D| data.user().username().is_some())
        .unauthorized_with(JSON, NOT_LOGGED_IN_BODY)
}

/// The user the session belongs to. The login guard lets only logged-in
/// sessions reach the routes that ask, and a login sets the owner; a
/// session without one gets the guard's answer.
fn owner<D: DemoData>(session: &Session<D>) -> Result<String, Reply> {
    session
        .owner()
        .ok_or_else(|| Reply::error(401, NOT_LOGGED_IN))
}

/// A failed store call: its status (`503` for an outage, `501` for a store
/// that cannot list) and a generic message; the details go to the log.
fn session_error(error: &SessionError) -> Reply {
    if let SessionError::Store(StoreError::Unsupported { .. }) = error {
        // The cookie store keeps no server state to list.
        return Reply::error(501, "this session store cannot list sessions");
    }
    error.log("sessions");
    Reply::error(error.status_code(), error.public_message())
}

/// `GET /sessions`: the logged-in user's sessions, newest first
/// (`{"sessions": [{"id", "created_at", "last_seen_at", "ip", "user_agent",
/// "current"}]}`), else `401`.
pub async fn sessions_list<D: DemoData>(
    manager: &SessionManager<D>,
    session: &Session<D>,
) -> Reply {
    let owner = match owner(session) {
        Ok(owner) => owner,
        Err(reply) => return reply,
    };
    match manager.sessions_of(&owner, Some(&session.id())).await {
        Ok(entries) => Reply::json(
            200,
            &Sessions {
                sessions: entries
                    .into_iter()
                    .map(|e| Device {
                        id: e.id.to_string(),
                        created_at: e.created_at,
                        last_seen_at: e.last_seen_at,
                        ip: e.ip,
                        user_agent: e.user_agent,
                        current: e.current,
                    })
                    .collect(),
            },
        ),
        Err(error) => session_error(&error),
    }
}

/// `DELETE /sessions/{id}`: `204` after ending one of the user's own
/// sessions (this one too: then the cookie expires), `404` for any other
/// id, `401` when not logged in.
pub async fn sessions_revoke<D: DemoData>(
    manager: &SessionManager<D>,
    session: &Session<D>,
    id: &str,
) -> Reply {
    let owner = match owner(session) {
        Ok(owner) => owner,
        Err(reply) => return reply,
    };
    let Ok(id) = SessionId::parse(id) else {
        return Reply::error(404, "no such session");
    };
    match manager.revoke(&owner, &id).await {
        Ok(true) => {
            if id == session.id() {
                session.delete();
            }
            Reply::no_content()
        }
        Ok(false) => Reply::error(404, "no such session"),
        Err(error) => session_error(&error),
    }
}

/// `POST /sessions/revoke-others`: ends every other session of the user;
/// `{"revoked": N}`, else `401`.
pub async fn sessions_revoke_others<D: DemoData>(
    manager: &SessionManager<D>,
    session: &Session<D>,
) -> Reply {
    let owner = match owner(session) {
        Ok(owner) => owner,
        Err(reply) => return reply,
    };
    match manager.revoke_others(&owner, &session.id()).await {
        Ok(revoked) => Reply::json(200, &Revoked { revoked }),
        Err(error) => session_error(&error),
    }
}

/// `GET /me`: `200 {"username", "last_login"}`; `401` when not logged in
/// (the login guard answers it before the route runs).
pub fn me<D: DemoData>(session: &Session<D>) -> Reply {
    let data = session.data();
    match data.user().username() {
        Some(username) => Reply::json(
            200,
            &Me {
                username,
                last_login: data.user().last_login(),
            },
        ),
        None => Reply::error(401, NOT_LOGGED_IN),
    }
}

/// `POST /logout`: ends the session (the record goes, the cookie expires);
/// `204`.
pub fn logout<D: DemoData>(session: &Session<D>) -> Reply {
    session.delete();
    Reply::no_content()
}

/// `POST /flash` with `{"message"}`: keeps a message for a later request;
/// `204`.
pub fn flash_post<D: DemoData>(session: &Session<D>, body: &[u8]) -> Reply {
    let flash: NewFlash = match parse(body) {
        Ok(flash) => flash,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_length("message", &flash.message, TEXT_LIMIT) {
        return reply;
    }
    session.flash(flash.message);
    Reply::no_content()
}

/// `GET /flash`: `{"messages": [...]}`, the messages set by earlier
/// requests, each shown once.
pub fn flash_get<D: DemoData>(session: &Session<D>) -> Reply {
    let messages = session.take_flash().into_iter().map(|m| m.text).collect();
    Reply::json(200, &Messages { messages })
}

/// `POST /consent` with `{"privacy_policy_version", "marketing"}`: records
/// the consent and an access-log entry with the client's address; `204`.
///
/// The address is the peer's, as the server saw it: a header such as
/// `X-Forwarded-For` is only trustworthy behind a known proxy.
pub fn consent<D: DemoData>(session: &Session<D>, body: &[u8], client_ip: Option<IpAddr>) -> Reply {
    let consent: Consent = match parse(body) {
        Ok(consent) => consent,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_length(
        "privacy_policy_version",
        &consent.privacy_policy_version,
        64,
    ) {
        return reply;
    }
    let ip = client_ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let now = OffsetDateTime::now_utc().truncate_to_second();
    session.update(|d| {
        let compliance = d.compliance_mut();
        compliance.privacy_policy_version = Some(consent.privacy_policy_version);
        compliance.marketing_consent = Some(consent.marketing);
        compliance.consent_at = Some(now);
        compliance.log_access("consent", &ip, now);
    });
    Reply::no_content()
}

/// `PUT /secret-note` with `{"note"}`: keeps the note sealed with the
/// configured secret, so the store only ever holds ciphertext; `204`.
pub fn put_secret_note<D: DemoData>(session: &Session<D>, body: &[u8]) -> Reply {
    let note: NewNote = match parse(body) {
        Ok(note) => note,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_length("note", &note.note, TEXT_LIMIT) {
        return reply;
    }
    let sealed = match session.seal("note", &note.note) {
        Ok(sealed) => sealed,
        Err(err) => {
            tracing::error!(%err, "could not seal the note");
            return Reply::internal();
        }
    };
    session.update(|d| d.compliance_mut().secret_note = Some(sealed));
    Reply::no_content()
}

/// `GET /secret-note`: `{"note": "..."}`, or `{"note": null}` when there is
/// none. A note sealed with a secret that is no longer configured cannot be
/// opened: it reads as none, with a warning in the log.
pub fn get_secret_note<D: DemoData>(session: &Session<D>) -> Reply {
    let sealed = session.data().compliance().secret_note.clone();
    let note = sealed.and_then(|sealed| match session.open("note", &sealed) {
        Ok(note) => Some(note),
        Err(err) => {
            tracing::warn!(%err, session = %session.id(), "the secret note cannot be opened");
            None
        }
    });
    Reply::json(200, &Note { note })
}

/// `GET /preferences` (version 2): `{"theme": "light"}` until changed.
/// Version 1 has no preferences: `404`.
pub fn get_preferences<D: DemoData>(session: &Session<D>) -> Reply {
    match session.data().preferences() {
        Some(preferences) => Reply::json(200, preferences),
        None => not_found(),
    }
}

/// `PUT /preferences` with `{"theme"}` (version 2): `204`; the theme is
/// `light` or `dark`, anything else is `422`. Version 1: `404`.
pub fn put_preferences<D: DemoData>(session: &Session<D>, body: &[u8]) -> Reply {
    if session.data().preferences().is_none() {
        return not_found();
    }
    let wanted: Preferences = match parse(body) {
        Ok(wanted) => wanted,
        Err(reply) => return reply,
    };
    if !THEMES.contains(&wanted.theme.as_str()) {
        return Reply::error(422, "theme must be \"light\" or \"dark\"");
    }
    session.update(|d| {
        if let Some(preferences) = d.preferences_mut() {
            *preferences = wanted;
        }
    });
    Reply::no_content()
}

/// The themes `PUT /preferences` accepts.
pub const THEMES: [&str; 2] = ["light", "dark"];

/// Something that cannot fail did: `500`, with the detail in the log.
pub fn internal() -> Reply {
    Reply::internal()
}

/// No route has this path: `404`.
pub fn not_found() -> Reply {
    Reply::error(404, "not found")
}

/// The path exists, the method does not: `405`.
pub fn method_not_allowed() -> Reply {
    Reply::error(405, "method not allowed")
}

/// The request body is over [`BODY_LIMIT`]: `413`.
pub fn body_too_large() -> Reply {
    Reply::error(413, "the request body is too large")
}

/// The request body could not be read: `400`.
pub fn body_unreadable() -> Reply {
    Reply::error(400, "the request body could not be read")
}

/// `415` unless the request's `Content-Type` is `application/json`
/// (parameters such as `charset` allowed, case-insensitive type). A missing
/// type is refused too: a cross-site `<form enctype="text/plain">` can post a
/// JSON-looking body without it being JSON, which would log a victim into
/// the attacker's account (login CSRF). Browsers cannot send
/// `application/json` cross-site without a CORS preflight.
///
/// ```
/// use examples::routes::require_json;
///
/// assert!(require_json(Some("application/json; charset=utf-8")).is_ok());
/// assert_eq!(require_json(Some("text/plain")).unwrap_err().status, 415);
/// assert_eq!(require_json(None).unwrap_err().status, 415);
/// ```
pub fn require_json(content_type: Option<&str>) -> Result<(), Reply> {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|media_type| media_type.trim_matches([' ', '\t']));
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case(JSON) => Ok(()),
        _ => Err(Reply::error(
            415,
            "the request body must be sent as Content-Type: application/json",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DemoSession;
    use session_core::{SessionConfig, SessionManager};
    use session_store_memory::MemoryStore;

    fn manager() -> SessionManager<DemoSession> {
        SessionManager::new(
            SessionConfig::testing()
                .store(MemoryStore::new())
                .build()
                .unwrap(),
        )
    }

    fn json(reply: &Reply) -> serde_json::Value {
        match &reply.body {
            Body::Json(text) => serde_json::from_str(text).unwrap(),
            other => panic!("not JSON: {other:?}"),
        }
    }

    #[test]
    fn counter_counts_and_peek_does_not_write() {
        let session = manager().create();
        assert_eq!(json(&counter_peek(&session))["count"], 0);
        assert!(!session.is_modified());
        assert_eq!(json(&counter(&session))["count"], 1);
        assert_eq!(json(&counter(&session))["count"], 2);
        assert_eq!(json(&counter_peek(&session))["count"], 2);
    }

    #[test]
    fn login_rotates_and_locks_after_five_failures() {
        let session = manager().create();
        let before = session.id();
        let wrong = br#"{"username":"alice","password":"nope"}"#;
        let right = br#"{"username":"alice","password":"wonderland"}"#;
        for _ in 0..5 {
            assert_eq!(login(&session, wrong).status, 401);
        }
        assert_eq!(login(&session, right).status, 429);
        assert_eq!(session.id(), before);
        assert_eq!(me(&session).status, 401);

        let session = manager().create();
        assert_eq!(login(&session, wrong).status, 401);
        let reply = login(&session, right);
        assert_eq!(json(&reply), serde_json::json!({"username": "alice"}));
        assert_ne!(session.id(), before);
        assert_eq!(session.owner().as_deref(), Some("alice"));
        assert_eq!(session.data().user.login_attempts, 0);
        assert_eq!(json(&me(&session))["username"], "alice");
    }

    #[test]
    fn the_guards_401_is_the_routes_401() {
        let reply = Reply::error(401, NOT_LOGGED_IN);
        assert_eq!(reply.into_bytes(), NOT_LOGGED_IN_BODY.as_bytes());
        assert_eq!(
            login_policy::<DemoSession>().unauthorized_body(),
            Some((JSON, NOT_LOGGED_IN_BODY))
        );
    }

    #[test]
    fn bad_bodies_are_client_errors() {
        let session = manager().create();
        assert_eq!(login(&session, b"{").status, 400);
        assert_eq!(login(&session, b"").status, 400);
        assert_eq!(login(&session, br#"{"username":"alice"}"#).status, 422);
        assert_eq!(login(&session, br#"["alice","wonderland"]"#).status, 422);
        assert_eq!(
            consent(
                &session,
                br#"{"privacy_policy_version":"v1","marketing":"yes"}"#,
                None
            )
            .status,
            422
        );
        assert_eq!(put_secret_note(&session, br#"{"note":5}"#).status, 422);
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(TEXT_LIMIT + 1));
        assert_eq!(flash_post(&session, long.as_bytes()).status, 422);
        assert!(!session.is_modified());
    }

    #[test]
    fn flash_messages_show_once() {
        let session = manager().create();
        assert_eq!(flash_post(&session, br#"{"message":"hello"}"#).status, 204);
        // Set during this request: shown by a later one, not this one.
        assert_eq!(
            json(&flash_get(&session))["messages"],
            serde_json::json!([])
        );
    }

    #[test]
    fn the_note_is_sealed_in_the_data() {
        let session = manager().create();
        assert_eq!(
            json(&get_secret_note(&session))["note"],
            serde_json::Value::Null
        );
        assert_eq!(
            put_secret_note(&session, br#"{"note":"my diary"}"#).status,
            204
        );
        assert_eq!(json(&get_secret_note(&session))["note"], "my diary");
        let dump = serde_json::to_string(&*session.data()).unwrap();
        assert!(!dump.contains("my diary"), "{dump}");
    }

    #[test]
    fn preferences_exist_in_version_2_only() {
        let v1 = manager().create();
        assert_eq!(get_preferences(&v1).status, 404);
        assert_eq!(put_preferences(&v1, br#"{"theme":"dark"}"#).status, 404);
        let v2 = SessionManager::<crate::model::v2::DemoSession>::new(
            SessionConfig::testing()
                .store(MemoryStore::new())
                .build()
                .unwrap(),
        )
        .create();
        assert_eq!(
            json(&get_preferences(&v2)),
            serde_json::json!({"theme": "light"})
        );
        assert_eq!(put_preferences(&v2, br#"{"theme":"pink"}"#).status, 422);
        assert_eq!(put_preferences(&v2, br#"{"theme":"dark"}"#).status, 204);
        assert_eq!(
            json(&get_preferences(&v2)),
            serde_json::json!({"theme": "dark"})
        );
    }

    #[test]
    fn consent_is_logged_with_the_address() {
        let session = manager().create();
        let body = br#"{"privacy_policy_version":"2024-01","marketing":false}"#;
        assert_eq!(
            consent(&session, body, Some([10, 0, 0, 7].into())).status,
            204
        );
        let data = session.data();
        assert_eq!(data.compliance.marketing_consent, Some(false));
        assert_eq!(data.compliance.access_log[0].ip, "10.0.0.7");
        assert_eq!(data.compliance.access_log[0].action, "consent");
        assert!(data.compliance.consent_at.is_some());
    }
}
