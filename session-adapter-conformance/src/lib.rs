//! The behaviour every framework adapter promises, as checks.
//!
//! An adapter (`session-axum`, `session-actix`, or one of your own) moves
//! cookies and headers between its framework and [`session_core::adapter`];
//! these checks pin down what a client sees: no cookie for an untouched
//! session, the session cookie and its round trip, rotation, deletion, the
//! caching headers, the error answers, the login guard, the CSRF layer
//! (token, origin, exemptions, origin-only mode). They talk to the
//! adapter only through a small fixture, [`Adapter`]: "serve this app",
//! "send this request, give me the response".
//!
//! The app is the same for every framework: the paths of [`PLAIN_ROUTES`]
//! never touch the session, those of [`SESSION_ROUTES`] take the adapter's
//! session extractor; both answer what [`respond`] says. Those of
//! [`READ_ONLY_ROUTES`] take its read-only extractor and answer
//! [`respond_read_only`], those of [`FORM_ROUTES`] take the session
//! extractor and the body and answer [`respond_form`]. The session and
//! form routes answer every method. An adapter's test
//! file implements [`Adapter`] and instantiates every check in one line:
//!
//! ```ignore
//! struct Axum(axum::Router);
//!
//! #[async_trait::async_trait(?Send)]
//! impl session_adapter_conformance::Adapter for Axum {
//!     async fn serve(app: session_adapter_conformance::App) -> Self { /* routes, guard, layer */ }
//!     async fn send(&self, request: Request) -> Response { /* one request through the router */ }
//! }
//!
//! session_adapter_conformance::conformance_suite!(Axum, tokio::test);
//! ```
//!
//! What only one framework does (axum's `Option<Session<T>>`, actix-web's
//! errors from inner middleware) stays in that adapter's tests.

mod checks;
mod csrf;

pub use checks::*;
pub use csrf::*;

use serde::{Deserialize, Serialize};
use session_core::csrf::CsrfPolicy;
use session_core::{LoginPolicy, ReadOnlySession, Session, SessionManager};

/// The session data of the checks' app.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Data {
    /// What `/count` increments.
    pub count: u32,
    /// Set by `/login`: the guard's test of a signed-in session.
    pub user: Option<String>,
}

/// The login guard's predicate in the checks: a user is set.
pub fn signed_in(data: &Data) -> bool {
    data.user.is_some()
}

/// Paths whose handler never asks for the session. Each answers `200`
/// with its path as the body.
pub const PLAIN_ROUTES: &[&str] = &["/health", "/public", "/public/page", "/publicity"];

/// Paths whose handler takes the adapter's session extractor and answers
/// [`respond`]`(path, &session)`.
pub const SESSION_ROUTES: &[&str] = &[
    "/count",
    "/peek",
    "/private",
    "/login",
    "/logout",
    "/fail",
    "/own-cache-control",
    "/vary-accept",
    "/vary-star",
    "/vary-cookie",
    "/csrf-token",
];

/// Paths whose handler takes the adapter's session extractor and the
/// request's body, and answers [`respond_form`]: what a CSRF layer that
/// read a form for its token hands on must be the body as sent.
pub const FORM_ROUTES: &[&str] = &["/form"];

/// What the handler of a [`FORM_ROUTES`] path answers: it counts, like
/// `/count`, and answers `200` with the body it got, as text.
pub fn respond_form(session: &Session<Data>, body: &[u8]) -> Handled {
    session.update(|d| d.count += 1);
    Handled {
        status: 200,
        headers: Vec::new(),
        body: String::from_utf8_lossy(body).into_owned(),
    }
}

/// Paths whose handler takes the adapter's read-only extractor
/// (`ReadOnlySession<Data>`, which dereferences to core's
/// [`ReadOnlySession`]) and answers [`respond_read_only`].
pub const READ_ONLY_ROUTES: &[&str] = &["/read-only"];

/// What the handler of a [`READ_ONLY_ROUTES`] path answers: `200` with the
/// count as the body.
pub fn respond_read_only(session: &ReadOnlySession<Data>) -> Handled {
    Handled {
        status: 200,
        headers: Vec::new(),
        body: session.data().count.to_string(),
    }
}

/// What the app serves, for [`Adapter::serve`].
#[derive(Debug, Clone)]
pub struct App {
    /// The adapter's session layer (middleware) around every route, over
    /// this manager; `None` serves without it (a setup mistake that the
    /// checks expect a clear `500` for).
    pub manager: Option<SessionManager<Data>>,
    /// The adapter's login guard around every route, inside the session
    /// layer, with this policy.
    pub guard: Option<LoginPolicy<Data>>,
    /// The adapter's CSRF layer around every route, inside the session
    /// layer, with this policy.
    pub csrf: Option<CsrfPolicy>,
}

/// A handler's answer, for the adapter to turn into its framework's
/// response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The HTTP status.
    pub status: u16,
    /// Header lines the handler sets, in order.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The body text.
    pub body: String,
}

/// What the handler of `path` answers; `session` is the extracted session
/// for [`SESSION_ROUTES`], `None` for [`PLAIN_ROUTES`].
pub fn respond(path: &str, session: Option<&Session<Data>>) -> Handled {
    let mut handled = Handled {
        status: 200,
        headers: Vec::new(),
        body: path.to_owned(),
    };
    let Some(session) = session else {
        return handled;
    };
    let bump = |session: &Session<Data>| {
        session.update(|d| {
            d.count += 1;
            d.count
        })
    };
    match path {
        "/count" => handled.body = bump(session).to_string(),
        "/login" => {
            session.regenerate();
            session.data_mut().user = Some("alice".into());
        }
        "/logout" => session.delete(),
        "/fail" => {
            session.data_mut().count = 99;
            handled.status = 500;
        }
        "/peek" | "/private" => handled.body = session.data().count.to_string(),
        "/csrf-token" => handled.body = session.csrf_token(),
        other => {
            bump(session);
            handled.headers = match other {
                "/own-cache-control" => vec![("cache-control", "private, max-age=60")],
                "/vary-accept" => vec![("vary", "Accept-Encoding"), ("vary", "Origin")],
                "/vary-star" => vec![("vary", "*")],
                "/vary-cookie" => vec![("vary", "accept-encoding, COOKIE")],
                _ => Vec::new(),
            };
        }
    }
    handled
}

/// A request of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`, `POST`, ...).
    pub method: &'static str,
    /// The path and query.
    pub path: String,
    /// One `Cookie` header line each, raw bytes (not always UTF-8).
    pub cookies: Vec<Vec<u8>>,
    /// Other header lines, lowercase names, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body (empty for most).
    pub body: Vec<u8>,
}

/// What the client got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Header lines, lowercase names, in order (values as text).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Response {
    /// A response from its status and its header lines as a framework
    /// lists them (a value that is not UTF-8 fails the check: the contract
    /// only sends text), with an empty body: a fixture reads the body after
    /// the headers, since reading it consumes the framework's response.
    ///
    /// ```
    /// use session_adapter_conformance::Response;
    ///
    /// let lines = [("set-cookie", b"id=1".as_slice())];
    /// let mut response = Response::new(200, lines);
    /// response.body = "ok".to_owned();
    /// assert_eq!(response.header("set-cookie"), ["id=1"]);
    /// ```
    pub fn new<'a>(status: u16, headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let text = |(name, value): (&str, &[u8])| {
            let value = std::str::from_utf8(value).expect("a header value that is text");
            (name.to_owned(), value.to_owned())
        };
        let headers = headers.into_iter().map(text).collect();
        let body = String::new();
        Self {
            status,
            headers,
            body,
        }
    }

    /// The values of the lines named `name` (lowercase), in order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        let lines = self.headers.iter().filter(|(n, _)| n == name);
        lines.map(|(_, v)| v.as_str()).collect()
    }

    /// The one `Set-Cookie`, if any (two fail the check).
    pub fn set_cookie(&self) -> Option<&str> {
        let values = self.header("set-cookie");
        assert!(values.len() <= 1, "one Set-Cookie at most: {values:?}");
        values.first().copied()
    }
}

/// The fixture an adapter's tests implement: serve the checks' app on the
/// adapter, and send it one request.
#[async_trait::async_trait(?Send)]
pub trait Adapter: Sized {
    /// The app: [`PLAIN_ROUTES`] and [`SESSION_ROUTES`] (answering
    /// [`respond`]), [`READ_ONLY_ROUTES`] (answering [`respond_read_only`])
    /// and [`FORM_ROUTES`] (answering [`respond_form`]), wrapped as `app`
    /// says.
    async fn serve(app: App) -> Self;

    /// Sends `request` through the app.
    async fn send(&self, request: Request) -> Response;
}

/// Generates one test per check of this crate, for adapter `$adapter`,
/// with the test attribute `$test` (`tokio::test`, `actix_web::test`). The
/// list of checks is written here only: a check added to the crate runs in
/// every adapter.
#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty, $test:meta) => {
        $crate::__each_check!($adapter, $test;
            untouched_session_costs_nothing,
            written_session_round_trips,
            session_cookie_is_found_in_any_cookie_header,
            bad_cookies_give_a_fresh_session,
            rotation_moves_the_session_to_a_new_cookie,
            deletion_removes_the_cookie_and_the_record,
            missing_layer_is_a_clear_500,
            store_error_is_a_generic_503,
            oversized_cookie_is_a_500_not_a_truncated_cookie,
            a_session_over_its_size_limit_is_a_500_and_nothing_is_stored,
            server_error_saves_nothing,
            guard_allows_listed_paths_and_redirects_the_rest,
            guard_lets_signed_in_sessions_through,
            guard_loads_the_session_once,
            guard_can_answer_401_and_custom_sign_in,
            guard_without_layer_is_a_500,
            responses_that_set_the_session_cookie_are_not_stored_by_caches,
            responses_that_loaded_the_session_vary_on_cookie,
            vary_is_extended_never_broken,
            cache_headers_can_be_turned_off,
            every_accepted_path_and_domain_makes_a_header,
            a_busy_session_is_a_503_with_retry_after_and_reads_go_through,
            csrf_token_is_required_on_unsafe_methods,
            csrf_token_is_accepted_from_the_header_or_the_form,
            csrf_token_of_another_session_is_refused,
            csrf_refuses_what_the_browser_marks_cross_site,
            csrf_refuses_a_foreign_origin,
            csrf_exemptions_are_honoured,
            csrf_origin_only_mode_needs_no_token,
            csrf_refuses_a_form_over_the_limit,
            csrf_without_the_session_layer_is_a_clear_500,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __each_check {
    ($adapter:ty, $test:meta; $($check:ident,)*) => {
        $(
            #[$test]
            async fn $check() {
                $crate::$check::<$adapter>().await;
            }
        )*
    };
}
