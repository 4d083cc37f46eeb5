//! Cross-site request forgery (CSRF) protection bound to the session.
//!
//! # Threat model
//!
//! A browser attaches the session cookie to every request for the site,
//! also to one that a page of another site makes it send: an auto-submitted
//! `<form>` or an `<img>`. That is the forgery: an attacker's page makes the
//! victim's browser post "transfer", "log out" or "log in as me" with the
//! victim's cookie. `SameSite=Lax` (the default cookie attribute) stops the
//! cookie on cross-*site* posts, but not on requests from a sibling origin of
//! the same site (another port, another subdomain), and not on top-level
//! `GET`s. What is checked here, on every request whose method is unsafe
//! (`POST`, `PUT`, `PATCH`, `DELETE` and any other but `GET`, `HEAD`,
//! `OPTIONS`, `TRACE`):
//!
//! 1. **Origin.** A browser says where a request comes from. If it sends
//!    `Sec-Fetch-Site` (every current browser), the request passes when it
//!    is `same-origin` or `none` (typed in by the user); anything else
//!    (`same-site`, `cross-site`) passes only if its `Origin` is on the
//!    allow-list ([`CsrfPolicy::allow_origin`]). Without `Sec-Fetch-Site`,
//!    an `Origin` header must name the request's own host (the `Host`
//!    header, port included) or an allowed origin. A request with neither
//!    header was not made by a current browser's page: it passes this
//!    check (the idea is that of Go's `net/http` `CrossOriginProtection`
//!    and Filippo Valsorda's write-up of it).
//! 2. **Token** (the synchronizer token of Rails, Django, Laravel, Phoenix).
//!    The session keeps a secret ([`Session::csrf_token`](crate::Session::csrf_token)
//!    creates it on first use; rotation replaces it). Pages carry a token
//!    made from it under a fresh random mask, in a form field named
//!    [`FIELD`] or, for scripts, the header [`HEADER`]; the request passes
//!    if the token unmasks to the session's secret (compared in constant
//!    time). A page of another origin cannot read the token (the same-origin
//!    policy), and a token of another session (the attacker's own) does not
//!    match the victim's secret. A request with no session has no secret:
//!    every token is refused.
//!
//! In [`CsrfMode::OriginOnly`] (for APIs whose clients are not browsers,
//! which send no token) only the first check runs; requests with neither
//! `Origin` nor `Sec-Fetch-Site` pass. Paths can be exempted from both
//! checks ([`CsrfPolicy::exempt`], for webhooks called by other servers) or
//! checked by origin only ([`CsrfPolicy::origin_only_for`]).
//!
//! What it does not cover: a cross-site scripting hole (a script running in
//! the site's own origin reads the token like the page does), safe methods
//! that change state (keep `GET` free of side effects), and a login form
//! with no session yet: it gets a session and a token when the page is
//! rendered, so render the token into the login form too.
//!
//! A refusal answers `403` with a short text body ([`CsrfRefusal::reply`]),
//! a `tracing` warning naming the reason, and one more
//! `session_csrf_refused_total{reason}` (the crate's metrics).
//!
//! # For adapters
//!
//! The adapters' CSRF layers are glue over this module: they fill a
//! [`CsrfRequest`] from the request ([`CsrfRequest::read`]) and run
//! [`CsrfPolicy::guard`], giving it a way to read the body; it answers the
//! body it read (to put back for the handler) or the refusal. The steps it
//! takes are public too: [`CsrfPolicy::check`] decides from the headers
//! alone; for a [`CsrfCheck::Token`] that names the form, the body (at most
//! [`CsrfPolicy::max_form_bytes`]) gives its field to [`form_token`]; then
//! [`verify`]. The adapters run it through
//! [`adapter::Check`](crate::adapter::Check), with their login guard.

mod token;

use std::borrow::Cow;
use std::future::Future;

pub(crate) use token::CsrfSecret;
pub use token::TOKEN_LEN;

use crate::adapter::{LazySession, Reply};
use crate::data::SessionData;
use crate::error::SessionError;
use crate::serialize::Access;
use crate::session::Session;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// The request header that carries the token (lowercase).
pub const HEADER: &str = "x-csrf-token";

/// The largest form body read for its token by default: 64 KiB.
pub const DEFAULT_MAX_FORM_BYTES: usize = 64 * 1024;

/// What a [`CsrfPolicy`] checks on the paths no rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CsrfMode {
    /// The origin and a valid token (the default).
    #[default]
    TokenAndOrigin,
    /// The origin only: for APIs used by clients that are not browsers.
    OriginOnly,
}

/// What applies to the paths a rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing is checked.
    Exempt,
    /// One of the modes.
    Mode(CsrfMode),
}

/// A path rule: an exact path, or with a trailing `/` every path under it.
#[derive(Debug, Clone)]
struct Rule {
    path: String,
    check: Check,
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        match self.path.ends_with('/') {
            true => path.starts_with(&self.path),
            false => path == self.path,
        }
    }
}

/// Which requests a CSRF layer checks and how: the one configuration of the
/// axum `CsrfLayer` and the actix-web `CsrfMiddleware`.
///
/// Path rules are an exact path (`/webhook`) or, ending with `/`, every
/// path under a prefix (`/api/`); the first rule that matches applies,
/// else the mode. A path with a `.` or `..` segment never matches a rule.
///
/// ```
/// use session_core::csrf::{CsrfCheck, CsrfMode, CsrfPolicy, CsrfRefusal, CsrfRequest};
///
/// let policy = CsrfPolicy::new()
///     .allow_origin("https://admin.example.com")
///     .origin_only_for("/api/")
///     .exempt("/webhook");
/// let post = |path, sec_fetch_site| CsrfRequest {
///     method: "POST",
///     path,
///     host: Some("example.com"),
///     sec_fetch_site,
///     ..CsrfRequest::default()
/// };
/// // A form post from the site itself needs its token, from the form body.
/// let form = CsrfRequest { content_type: Some("application/x-www-form-urlencoded"), ..post("/cart", Some("same-origin")) };
/// assert_eq!(policy.check(&form), CsrfCheck::Token(None));
/// // A post the browser marks cross-site is refused, token or not.
/// assert_eq!(policy.check(&post("/cart", Some("cross-site"))), CsrfCheck::Refuse(CsrfRefusal::CrossSite));
/// assert_eq!(policy.check(&post("/api/items", Some("cross-site"))), CsrfCheck::Refuse(CsrfRefusal::CrossSite));
/// // A script with no browser headers passes an origin-only path...
/// assert_eq!(policy.check(&post("/api/items", None)), CsrfCheck::Pass);
/// // ...and an exempt one is not checked at all.
/// assert_eq!(policy.check(&post("/webhook", Some("cross-site"))), CsrfCheck::Pass);
/// # let _ = CsrfMode::OriginOnly;
/// ```
#[derive(Debug, Clone)]
pub struct CsrfPolicy {
    mode: CsrfMode,
    allowed_origins: Vec<String>,
    rules: Vec<Rule>,
    max_form_bytes: usize,
}

impl Default for CsrfPolicy {
    fn default() -> Self {
        CsrfPolicy::new()
    }
}

impl CsrfPolicy {
    /// Token and origin checks on every unsafe request, no origin allowed
    /// but the request's own.
    pub fn new() -> Self {
        CsrfPolicy {
            mode: CsrfMode::TokenAndOrigin,
            allowed_origins: Vec::new(),
            rules: Vec::new(),
            max_form_bytes: DEFAULT_MAX_FORM_BYTES,
        }
    }

    /// The origin check only, on every unsafe request (see
    /// [`CsrfMode::OriginOnly`]).
    pub fn origin_only() -> Self {
        CsrfPolicy::new().mode(CsrfMode::OriginOnly)
    }

    /// What the paths no rule names get.
    #[must_use]
    pub fn mode(mut self, mode: CsrfMode) -> Self {
        self.mode = mode;
        self
    }

    /// Trusts requests from `origin` (`scheme://host[:port]`, compared
    /// exactly, without a trailing `/`), such as a front end on another
    /// subdomain. Its requests still need a token where the mode asks for one.
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Checks nothing on `path` (see the type's docs for path rules).
    #[must_use]
    pub fn exempt(self, path: impl Into<String>) -> Self {
        self.rule(path, Check::Exempt)
    }

    /// Checks only the origin on `path`.
    #[must_use]
    pub fn origin_only_for(self, path: impl Into<String>) -> Self {
        self.rule(path, Check::Mode(CsrfMode::OriginOnly))
    }

    /// Checks the origin and the token on `path` (under an origin-only
    /// mode, for the browser part of an app).
    #[must_use]
    pub fn token_and_origin_for(self, path: impl Into<String>) -> Self {
        self.rule(path, Check::Mode(CsrfMode::TokenAndOrigin))
    }

    /// The largest form body read for its token ([`DEFAULT_MAX_FORM_BYTES`]
    /// by default); a larger one is refused ([`CsrfRefusal::FormTooLarge`]).
    #[must_use]
    pub fn max_form_bytes(mut self, bytes: usize) -> Self {
        self.max_form_bytes = bytes;
        self
    }

    /// See [`max_form_bytes`](Self::max_form_bytes).
    pub fn form_limit(&self) -> usize {
        self.max_form_bytes
    }

    fn rule(mut self, path: impl Into<String>, check: Check) -> Self {
        self.rules.push(Rule {
            path: path.into(),
            check,
        });
        self
    }

    /// What applies to `path`.
    fn check_for(&self, path: &str) -> Check {
        let dotted = path.split('/').any(|s| s == "." || s == "..");
        let rule = self.rules.iter().find(|r| !dotted && r.matches(path));
        rule.map_or(Check::Mode(self.mode), |r| r.check)
    }

    /// Decides what a request needs, from its facts alone.
    pub fn check<'a>(&self, request: &CsrfRequest<'a>) -> CsrfCheck<'a> {
        if is_safe(request.method) {
            return CsrfCheck::Pass;
        }
        let mode = match self.check_for(request.path) {
            Check::Exempt => return CsrfCheck::Pass,
            Check::Mode(mode) => mode,
        };
        if let Err(refusal) = self.check_origin(request) {
            return CsrfCheck::Refuse(refusal);
        }
        if mode == CsrfMode::OriginOnly {
            return CsrfCheck::Pass;
        }
        match (request.header_token, is_form(request.content_type)) {
            (Some(token), _) => CsrfCheck::Token(Some(token)),
            (None, true) => CsrfCheck::Token(None),
            (None, false) => CsrfCheck::Refuse(CsrfRefusal::MissingToken),
        }
    }

    /// The whole check of one request, for an adapter's CSRF layer:
    /// [`check`](Self::check) on its facts; where the token is to come
    /// from the form, `read_form(limit)` reads the body (refusing one over
    /// `limit` bytes with [`CsrfRefusal::FormTooLarge`]); then [`verify`]
    /// against the request's session (`session` is `None` where the
    /// adapter's layer, named `layer.0` and installed as `layer.1` says,
    /// does not run). Answers the body it read, for the adapter to hand on
    /// to the handler unchanged, or the [`Reply`] that replaces the
    /// handler's response.
    ///
    /// The cookie headers are read before the future first awaits.
    pub async fn guard<'a, T, B, Fut>(
        &self,
        request: CsrfRequest<'a>,
        session: Option<LazySession<T>>,
        cookie_headers: impl IntoIterator<Item = &'a str>,
        layer: (&'static str, &'static str),
        read_form: impl FnOnce(usize) -> Fut,
    ) -> Result<Option<B>, Reply>
    where
        T: SessionData,
        B: AsRef<[u8]>,
        Fut: Future<Output = Result<B, CsrfRefusal>>,
    {
        let path = request.path;
        let header_token = match self.check(&request) {
            CsrfCheck::Pass => return Ok(None),
            CsrfCheck::Refuse(refusal) => return Err(refusal.reply(path)),
            CsrfCheck::Token(token) => token,
        };
        let load = start_load(session.as_ref(), cookie_headers);
        let (token, form) = match header_token {
            Some(token) => (Some(token.to_owned()), None),
            None => {
                let form = read_form(self.max_form_bytes).await;
                let form = form.map_err(|refusal| refusal.reply(path))?;
                (form_token(form.as_ref()), Some(form))
            }
        };
        confirm::<T>(load, token, path, layer).await?;
        Ok(form)
    }

    /// The origin check of the module's docs.
    fn check_origin(&self, request: &CsrfRequest<'_>) -> Result<(), CsrfRefusal> {
        let allowed = |origin: Option<&str>| {
            origin.is_some_and(|o| self.allowed_origins.iter().any(|a| a == o))
        };
        match request.sec_fetch_site {
            Some(site) if site.eq_ignore_ascii_case("same-origin") => Ok(()),
            Some(site) if site.eq_ignore_ascii_case("none") => Ok(()),
            Some(_) if allowed(request.origin) => Ok(()),
            Some(_) => Err(CsrfRefusal::CrossSite),
            None => match request.origin {
                None => Ok(()),
                Some(origin) if allowed(Some(origin)) => Ok(()),
                Some(origin) if same_host(origin, request.host) => Ok(()),
                Some(_) => Err(CsrfRefusal::ForeignOrigin),
            },
        }
    }
}

/// `GET`, `HEAD`, `OPTIONS` and `TRACE` change nothing (RFC 9110 §9.2.1)
/// and are not checked.
fn is_safe(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "TRACE"].contains(&method)
}

/// Whether the body is an HTML form's (`application/x-www-form-urlencoded`),
/// the one kind whose field this module reads.
fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (the `Host`
/// header). The scheme is not compared: behind a TLS-terminating proxy the
/// server does not know its own.
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false; // `null` and the like
    };
    host.is_some_and(|host| !host.is_empty() && authority.eq_ignore_ascii_case(host))
}

/// The facts of a request that the checks need, as the adapter reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsrfRequest<'a> {
    /// The method, uppercase as sent (`POST`).
    pub method: &'a str,
    /// The path as the router matches it, without the query string.
    pub path: &'a str,
    /// The `Host` header (or the URI's authority, for HTTP/2).
    pub host: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// The [`HEADER`] header.
    pub header_token: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
}

impl<'a> CsrfRequest<'a> {
    /// The facts of a request from its method, its path as the router
    /// matches it, its URI's authority (an HTTP/2 request carries it in
    /// place of `Host`) and `header`, which answers the first line of the
    /// header with a lowercase name as text (`None` if absent or not text).
    ///
    /// ```
    /// use session_core::csrf::CsrfRequest;
    ///
    /// let headers = [("origin", "https://example.com"), ("x-csrf-token", "t")];
    /// let header = |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    /// let request = CsrfRequest::read("POST", "/cart", Some("example.com"), header);
    /// assert_eq!(request.host, Some("example.com"));
    /// assert_eq!(request.origin, Some("https://example.com"));
    /// assert_eq!(request.header_token, Some("t"));
    /// ```
    pub fn read(
        method: &'a str,
        path: &'a str,
        authority: Option<&'a str>,
        header: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Self {
        CsrfRequest {
            method,
            path,
            host: header("host").or(authority),
            origin: header("origin"),
            sec_fetch_site: header("sec-fetch-site"),
            header_token: header(HEADER),
            content_type: header("content-type"),
        }
    }
}

/// What [`CsrfPolicy::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfCheck<'a> {
    /// Let the request through.
    Pass,
    /// Answer [`CsrfRefusal::reply`].
    Refuse(CsrfRefusal),
    /// The origin passed; now [`verify`] the token: the one of the header,
    /// or (`None`) the form field of the body, read with [`form_token`].
    Token(Option<&'a str>),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfRefusal {
    /// `Sec-Fetch-Site` says the request comes from another origin, and its
    /// `Origin` is not allowed.
    #[error("the browser marks the request as cross-site")]
    CrossSite,
    /// The `Origin` header names neither this host nor an allowed origin.
    #[error("the Origin header names another site")]
    ForeignOrigin,
    /// Neither the header nor a form field carries a token.
    #[error("no CSRF token in the request")]
    MissingToken,
    /// The token is malformed, or not one of this session's.
    #[error("the CSRF token is not this session's")]
    InvalidToken,
    /// The form body is over [`CsrfPolicy::max_form_bytes`].
    #[error("the form is too large to be checked")]
    FormTooLarge,
}

impl CsrfRefusal {
    /// A short name for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            CsrfRefusal::CrossSite => "cross_site",
            CsrfRefusal::ForeignOrigin => "foreign_origin",
            CsrfRefusal::MissingToken => "missing_token",
            CsrfRefusal::InvalidToken => "invalid_token",
            CsrfRefusal::FormTooLarge => "form_too_large",
        }
    }

    /// The answer: `403` with a short text body (`413` for a form over the
    /// limit), after a `tracing` warning with the reason and the path; the
    /// refusal counts in `session_csrf_refused_total` (label `reason`, see
    /// [`reason`](Self::reason)).
    pub fn reply(self, path: &str) -> Reply {
        tracing::warn!(reason = self.reason(), path, "request refused: {self}");
        crate::telemetry::csrf_refused(self.reason());
        let (status, body) = match self {
            CsrfRefusal::FormTooLarge => (413, "form too large"),
            CsrfRefusal::CrossSite | CsrfRefusal::ForeignOrigin => {
                (403, "cross-site request refused")
            }
            CsrfRefusal::MissingToken | CsrfRefusal::InvalidToken => {
                (403, "missing or invalid CSRF token")
            }
        };
        Reply::text(status, Cow::Borrowed(body))
    }
}

/// The value of the [`FIELD`] field of a form body
/// (`application/x-www-form-urlencoded`), percent-decoded; `None` if absent.
///
/// ```
/// use session_core::csrf::form_token;
///
/// assert_eq!(form_token(b"message=hi+there&csrf_token=abc-_1").as_deref(), Some("abc-_1"));
/// assert_eq!(form_token(b"csrf%5Ftoken=x%2Dy").as_deref(), Some("x-y"));
/// assert_eq!(form_token(b"message=hi"), None);
/// ```
pub fn form_token(body: &[u8]) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let mut halves = pair.splitn(2, |&b| b == b'=');
        let name = decode_form(halves.next()?);
        (name == FIELD).then(|| decode_form(halves.next().unwrap_or_default()))
    })
}

fn decode_form(text: &[u8]) -> String {
    let plus_as_space: Vec<u8> = text
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks `token` against the session of `lazy` (loading it if no handler
/// has yet: the handler then shares it, no second store call). A missing
/// token, a session with no secret, or another session's token is the
/// refusal to answer; a failed load is the load's error reply (`503`),
/// `None` for `lazy` the missing-layer `500` of `layer`.
///
/// The cookie headers are read before the returned future first awaits.
pub fn verify<'a, 'h, T: SessionData>(
    lazy: Option<&'a LazySession<T>>,
    cookie_headers: impl IntoIterator<Item = &'h str>,
    token: Option<String>,
    path: &'a str,
    layer: (&'static str, &'static str),
) -> impl Future<Output = Result<(), Reply>> + Send + 'a {
    let load = start_load(lazy, cookie_headers);
    confirm::<T>(load, token, path, layer)
}

/// The session's load, started before the first await (it reads the
/// cookie headers now and owns what it needs); `None` without a layer.
fn start_load<'h, T: SessionData>(
    lazy: Option<&LazySession<T>>,
    cookie_headers: impl IntoIterator<Item = &'h str>,
) -> Option<impl Future<Output = Result<Session<T>, SessionError>> + Send + 'static> {
    lazy.map(|lazy| lazy.load_with(cookie_headers, Access::ReadWrite))
}

/// [`verify`] once the load is started.
async fn confirm<T: SessionData>(
    load: Option<impl Future<Output = Result<Session<T>, SessionError>>>,
    token: Option<String>,
    path: &str,
    layer: (&'static str, &'static str),
) -> Result<(), Reply> {
    let Some(load) = load else {
        crate::adapter::log_missing_layer::<T>(layer.0, layer.1);
        return Err(Reply::missing_layer(layer.0));
    };
    let Some(token) = token else {
        return Err(CsrfRefusal::MissingToken.reply(path));
    };
    let session = load.await.map_err(|error| Reply::error(&error, "load"))?;
    match session.verify_csrf_token(&token) {
        true => Ok(()),
        false => Err(CsrfRefusal::InvalidToken.reply(path)),
    }
}

#[cfg(test)]
mod tests;
