//! The CSRF checks: the adapter's CSRF layer applies
//! [`CsrfPolicy`] to what a client sends (the rules themselves are tested
//! in `session-core`); each check serves a fresh app and asserts what the
//! client sees, and what the session then holds.

use session_core::csrf::{CsrfPolicy, HEADER};

use crate::checks::{cookie_of, Setup};
use crate::{Adapter, App, Request, Response};

/// The form's content type.
const FORM: &str = "application/x-www-form-urlencoded";

/// The `Host` of the checks' requests.
const HOST: &str = "app.test";

/// A client of the app: its session cookie and a token of that session.
struct Client {
    cookie: String,
    token: String,
}

/// A new session and its token, from `GET /csrf-token`.
async fn client<A: Adapter>(app: &A) -> Client {
    let response = send(app, "GET", "/csrf-token", None, &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    let cookie = cookie_of(&response);
    Client {
        cookie,
        token: response.body,
    }
}

/// Sends `method path` with the cookie (if any), `Host: app.test`, and the
/// other `headers` and `body`.
async fn send<A: Adapter>(
    app: &A,
    method: &'static str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&'static str, &str)],
    body: &[u8],
) -> Response {
    let mut lines = vec![("host", HOST.to_owned())];
    lines.extend(headers.iter().map(|(n, v)| (*n, (*v).to_owned())));
    app.send(Request {
        method,
        path: path.to_owned(),
        cookies: cookie.map(|c| c.as_bytes().to_vec()).into_iter().collect(),
        headers: lines,
        body: body.to_vec(),
    })
    .await
}

/// A `POST` of `client`'s session.
async fn post<A: Adapter>(
    app: &A,
    path: &str,
    client: &Client,
    headers: &[(&'static str, &str)],
) -> Response {
    send(app, "POST", path, Some(&client.cookie), headers, b"").await
}

/// A `POST /count` of `client`'s session with its token in the header, and
/// one more header line.
async fn post_token<A: Adapter>(app: &A, client: &Client, line: (&'static str, &str)) -> Response {
    post(app, "/count", client, &[(HEADER, &client.token), line]).await
}

/// `method path` of `client`'s session, with nothing else.
async fn call<A: Adapter>(app: &A, method: &'static str, path: &str, client: &Client) -> Response {
    send(app, method, path, Some(&client.cookie), &[], b"").await
}

/// A `POST /form` of `client`'s session: `body` as `content_type`.
async fn post_form<A: Adapter>(
    app: &A,
    client: &Client,
    content_type: &str,
    body: &[u8],
) -> Response {
    let headers = [("content-type", content_type)];
    send(app, "POST", "/form", Some(&client.cookie), &headers, body).await
}

/// The session's count, as `/peek` reads it.
async fn count<A: Adapter>(app: &A, client: &Client) -> String {
    call(app, "GET", "/peek", client).await.body
}

/// Asserts a CSRF refusal: `403` and the body for `why`.
fn assert_refused(response: &Response, why: &str) {
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.body, why);
}

const NO_TOKEN: &str = "missing or invalid CSRF token";
const CROSS_SITE: &str = "cross-site request refused";

/// Unsafe methods without a token are refused and change nothing; safe
/// methods pass without one.
pub async fn csrf_token_is_required_on_unsafe_methods<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::new()).await;
    let c = client(&app).await;
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let response = call(&app, method, "/count", &c).await;
        assert_refused(&response, NO_TOKEN);
    }
    let form = post_form(&app, &c, FORM, b"a=1");
    assert_refused(&form.await, NO_TOKEN);
    let no_session = send(&app, "POST", "/count", None, &[(HEADER, &c.token)], b"").await;
    assert_refused(&no_session, NO_TOKEN);
    assert_eq!(count(&app, &c).await, "0", "no refused request counted");
    for method in ["GET", "HEAD", "OPTIONS"] {
        let response = call(&app, method, "/count", &c).await;
        assert_eq!(response.status, 200, "{method}: {response:?}");
    }
}

/// The token passes in the `X-CSRF-Token` header or in the form's
/// `csrf_token` field; the handler gets the form body as sent.
pub async fn csrf_token_is_accepted_from_the_header_or_the_form<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::new()).await;
    let c = client(&app).await;
    let by_header = post(&app, "/count", &c, &[(HEADER, &c.token)]).await;
    assert_eq!((by_header.status, by_header.body.as_str()), (200, "1"));
    let body = format!("message=hi+there&csrf_token={}&x=%26", c.token);
    let with_charset = format!("{FORM}; charset=UTF-8");
    let by_form = post_form(&app, &c, &with_charset, body.as_bytes()).await;
    assert_eq!(by_form.status, 200, "{by_form:?}");
    assert_eq!(by_form.body, body, "the handler reads the body as sent");
    assert_eq!(count(&app, &c).await, "2");
    // Each page gets a differently masked token; all of them pass.
    let again = call(&app, "GET", "/csrf-token", &c).await;
    assert_ne!(again.body, c.token);
    let with_new = post(&app, "/count", &c, &[(HEADER, &again.body)]).await;
    assert_eq!(with_new.status, 200, "{with_new:?}");
}

/// A token of another session (the attacker's own) or a made-up one is
/// refused.
pub async fn csrf_token_of_another_session_is_refused<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::new()).await;
    let (victim, attacker) = (client(&app).await, client(&app).await);
    let foreign = post(&app, "/count", &victim, &[(HEADER, &attacker.token)]).await;
    assert_refused(&foreign, NO_TOKEN);
    let made_up = "A".repeat(session_core::csrf::TOKEN_LEN);
    assert_refused(
        &post(&app, "/count", &victim, &[(HEADER, &made_up)]).await,
        NO_TOKEN,
    );
    assert_eq!(count(&app, &victim).await, "0");
}

/// A request the browser marks `cross-site` or `same-site` is refused even
/// with a valid token; `same-origin` passes.
pub async fn csrf_refuses_what_the_browser_marks_cross_site<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::new()).await;
    let c = client(&app).await;
    for site in ["cross-site", "same-site"] {
        let response = post_token(&app, &c, ("sec-fetch-site", site));
        assert_refused(&response.await, CROSS_SITE);
    }
    let same = post_token(&app, &c, ("sec-fetch-site", "same-origin"));
    assert_eq!(same.await.status, 200);
    assert_eq!(count(&app, &c).await, "1");
}

/// Without `Sec-Fetch-Site`, an `Origin` other than the request's own host
/// (or an allowed origin) is refused even with a valid token.
pub async fn csrf_refuses_a_foreign_origin<A: Adapter>() {
    let s = Setup::new();
    let policy = CsrfPolicy::new().allow_origin("https://admin.app.test");
    let app = s.csrf::<A>(policy).await;
    let c = client(&app).await;
    let foreign = post_token(&app, &c, ("origin", "https://evil.test"));
    assert_refused(&foreign.await, CROSS_SITE);
    for origin in ["http://app.test", "https://admin.app.test"] {
        let response = post_token(&app, &c, ("origin", origin)).await;
        assert_eq!(response.status, 200, "{origin}: {response:?}");
    }
    assert_eq!(count(&app, &c).await, "2");
}

/// An exempt path is not checked at all; the others still are.
pub async fn csrf_exemptions_are_honoured<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::new().exempt("/count")).await;
    let c = client(&app).await;
    let exempt = post(&app, "/count", &c, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!((exempt.status, exempt.body.as_str()), (200, "1"));
    let checked = post_form(&app, &c, FORM, b"");
    assert_refused(&checked.await, NO_TOKEN);
}

/// In origin-only mode a request with no token passes unless its origin
/// is foreign or the browser marks it cross-site.
pub async fn csrf_origin_only_mode_needs_no_token<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::origin_only()).await;
    let c = client(&app).await;
    assert_eq!(post(&app, "/count", &c, &[]).await.status, 200, "a script");
    let own = post(&app, "/count", &c, &[("origin", "http://app.test")]).await;
    assert_eq!(own.status, 200);
    let foreign = post(&app, "/count", &c, &[("origin", "https://evil.test")]).await;
    assert_refused(&foreign, CROSS_SITE);
    let cross = post(&app, "/count", &c, &[("sec-fetch-site", "cross-site")]).await;
    assert_refused(&cross, CROSS_SITE);
    assert_eq!(count(&app, &c).await, "2");
}

/// A form body over the policy's limit is refused with `413`, not read
/// whole.
pub async fn csrf_refuses_a_form_over_the_limit<A: Adapter>() {
    let s = Setup::new();
    let app = s.csrf::<A>(CsrfPolicy::new().max_form_bytes(64)).await;
    let c = client(&app).await;
    let body = format!("csrf_token={}&pad={}", c.token, "x".repeat(64));
    let response = post_form(&app, &c, FORM, body.as_bytes()).await;
    assert_eq!(
        (response.status, response.body.as_str()),
        (413, "form too large")
    );
    assert_eq!(count(&app, &c).await, "0");
}

/// A CSRF layer without the session layer around it answers `500` naming
/// the missing layer, whatever token comes.
pub async fn csrf_without_the_session_layer_is_a_clear_500<A: Adapter>() {
    let app = A::serve(App {
        manager: None,
        guard: None,
        csrf: Some(CsrfPolicy::new()),
    })
    .await;
    let token = "A".repeat(session_core::csrf::TOKEN_LEN);
    let response = send(&app, "POST", "/count", None, &[(HEADER, &token)], b"").await;
    assert_eq!(response.status, 500, "{response:?}");
    assert!(
        response
            .body
            .ends_with("<T> is not installed for this route"),
        "{response:?}"
    );
}
