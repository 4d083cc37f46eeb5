//! The policy of the adapters' login guards: which paths are open to
//! everyone, which sessions count as signed in, and where the others go.
//!
//! The adapters (`session-axum`, `session-actix`) wrap a [`LoginPolicy`] in
//! their `LoginGuard` middleware, so both answer exactly alike.

use std::borrow::Cow;
use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Which requests a login guard lets through.
///
/// A request passes if its path is allow-listed, or if its session data
/// satisfies the predicate. The allow-list is matched against the *path*
/// only, never the query string, so `/private?x=/login` is guarded; a path
/// with a `.` or `..` segment (also percent-encoded) never matches it. The
/// sign-in path is always allowed.
///
/// ```
/// use session_core::{LoginPolicy, Refusal};
///
/// #[derive(Default)]
/// struct UserSession { user_id: Option<u64> }
///
/// let policy = LoginPolicy::new(|s: &UserSession| s.user_id.is_some())
///     .allow("/health")
///     .allow_prefix("/public");
/// assert!(policy.allows("/public/logo.png"));
/// assert!(!policy.allows("/publicity"));
/// assert!(!policy.permits(&UserSession::default()));
/// assert_eq!(
///     policy.refusal("/account?tab=2"),
///     Refusal::Redirect("/login?redirect_to=%2Faccount%3Ftab%3D2".into())
/// );
/// assert_eq!(policy.unauthorized().refusal("/account"), Refusal::Unauthorized);
/// ```
pub struct LoginPolicy<T> {
    permits: Arc<dyn Fn(&T) -> bool + Send + Sync>,
    exact: Vec<String>,
    prefixes: Vec<String>,
    /// `Some(sign-in path)` to redirect, `None` to answer `401`.
    sign_in: Option<String>,
    /// The `401` answer's content type and body, when the application
    /// gives its own (an API's error document).
    unauthorized_body: Option<(&'static str, Cow<'static, str>)>,
}

/// How a guard answers a request that [`LoginPolicy`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `303 See Other` to this location: the sign-in page with
    /// `redirect_to=<the original path and query, percent-encoded>`. The
    /// sign-in handler must check that `redirect_to` is a local path (one
    /// leading `/`) before redirecting to it.
    Redirect(String),
    /// `401 Unauthorized` (for APIs).
    Unauthorized,
}

impl<T> LoginPolicy<T> {
    /// Lets through sessions whose data satisfies `permits`, and redirects
    /// the others to `/login`.
    pub fn new(permits: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        LoginPolicy {
            permits: Arc::new(permits),
            exact: Vec::new(),
            prefixes: Vec::new(),
            sign_in: Some("/login".to_owned()),
            unauthorized_body: None,
        }
    }

    /// Lets everyone reach exactly this path (`"/about"` matches `/about`,
    /// not `/about/` nor `/about/team`).
    #[must_use]
    pub fn allow(mut self, path: impl Into<String>) -> Self {
        self.exact.push(path.into());
        self
    }

    /// Lets everyone reach this path and everything below it, segment-wise:
    /// `"/public"` matches `/public` and `/public/a`, not `/publicity`.
    #[must_use]
    pub fn allow_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefixes.push(prefix.into());
        self
    }

    /// Redirects refused requests to this sign-in page (default `/login`).
    #[must_use]
    pub fn sign_in(mut self, path: impl Into<String>) -> Self {
        self.sign_in = Some(path.into());
        self
    }

    /// Answers refused requests `401 Unauthorized` instead of redirecting.
    #[must_use]
    pub fn unauthorized(mut self) -> Self {
        self.sign_in = None;
        self
    }

    /// Answers refused requests `401 Unauthorized` (as [`unauthorized`](Self::unauthorized)
    /// does) with this body and `Content-Type` instead of the adapters'
    /// plain-text one, so that a JSON API answers in its own error format.
    ///
    /// ```
    /// use session_core::LoginPolicy;
    ///
    /// let policy = LoginPolicy::new(|signed_in: &bool| *signed_in)
    ///     .unauthorized_with("application/json", r#"{"error":"not logged in"}"#);
    /// assert_eq!(
    ///     policy.unauthorized_body(),
    ///     Some(("application/json", r#"{"error":"not logged in"}"#))
    /// );
    /// assert!(!policy.allows("/login"), "no sign-in page: it answers 401");
    /// ```
    #[must_use]
    pub fn unauthorized_with(
        mut self,
        content_type: &'static str,
        body: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.sign_in = None;
        self.unauthorized_body = Some((content_type, body.into()));
        self
    }

    /// The `Content-Type` and body of the `401` answer, if the application
    /// gave its own ([`unauthorized_with`](Self::unauthorized_with)).
    pub fn unauthorized_body(&self) -> Option<(&'static str, &str)> {
        self.unauthorized_body
            .as_ref()
            .map(|(content_type, body)| (*content_type, body.as_ref()))
    }

    /// Whether `path` (without the query string) is open to everyone.
    pub fn allows(&self, path: &str) -> bool {
        if has_dot_segment(path) {
            return false;
        }
        let sign_in = self
            .sign_in
            .as_deref()
            .map(|s| s.split('?').next().unwrap_or(s));
        sign_in == Some(path)
            || self.exact.iter().any(|p| p == path)
            || self.prefixes.iter().any(|p| is_under(p, path))
    }

    /// Whether a session with this data may pass.
    pub fn permits(&self, data: &T) -> bool {
        (self.permits)(data)
    }

    /// The answer to a refused request for `target` (its path and query).
    pub fn refusal(&self, target: &str) -> Refusal {
        match &self.sign_in {
            Some(sign_in) => {
                let separator = if sign_in.contains('?') { '&' } else { '?' };
                let target = utf8_percent_encode(target, QUERY_VALUE);
                Refusal::Redirect(format!("{sign_in}{separator}redirect_to={target}"))
            }
            None => Refusal::Unauthorized,
        }
    }
}

impl<T> Clone for LoginPolicy<T> {
    fn clone(&self) -> Self {
        LoginPolicy {
            permits: Arc::clone(&self.permits),
            exact: self.exact.clone(),
            prefixes: self.prefixes.clone(),
            sign_in: self.sign_in.clone(),
            unauthorized_body: self.unauthorized_body.clone(),
        }
    }
}

impl<T> std::fmt::Debug for LoginPolicy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginPolicy")
            .field("allow", &self.exact)
            .field("allow_prefix", &self.prefixes)
            .field("sign_in", &self.sign_in)
            .field("unauthorized_body", &self.unauthorized_body)
            .finish_non_exhaustive()
    }
}

/// Everything but RFC 3986 unreserved characters is encoded, so the value
/// decodes the same with any query parser.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn is_under(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

/// `.` and `..` segments (also percent-encoded) could make an allowed prefix
/// reach another route behind a normalising proxy: such paths stay guarded.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        if segment.len() > 6 {
            return false; // longer than "%2e%2e": never a dot segment
        }
        let lower = segment.to_ascii_lowercase().replace("%2e", ".");
        lower == "." || lower == ".."
    })
}

/// The builder methods of an adapter's login guard, written once so that
/// both adapters offer the same API: `new`, `allow`, `allow_prefix`,
/// `sign_in` and `unauthorized`, each forwarding to [`LoginPolicy`]. For
/// adapter crates: `$guard` must be a tuple struct `$guard<T>(LoginPolicy<T>)`.
#[doc(hidden)]
#[macro_export]
macro_rules! login_guard_builder {
    ($guard:ident) => {
        impl<T> From<$crate::LoginPolicy<T>> for $guard<T> {
            /// A guard that applies `policy`.
            fn from(policy: $crate::LoginPolicy<T>) -> Self {
                $guard(policy)
            }
        }

        impl<T: $crate::SessionData> $guard<T> {
            /// A guard that lets through sessions whose data satisfies
            /// `permits`, redirecting the others to `/login`.
            pub fn new(permits: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
                $guard($crate::LoginPolicy::new(permits))
            }

            /// Lets everyone reach exactly this path (`"/about"` matches
            /// `/about`, not `/about/` nor `/about/team`).
            #[must_use]
            pub fn allow(self, path: impl Into<String>) -> Self {
                $guard(self.0.allow(path))
            }

            /// Lets everyone reach this path and everything below it,
            /// segment-wise: `"/public"` matches `/public` and `/public/a`,
            /// not `/publicity`.
            #[must_use]
            pub fn allow_prefix(self, prefix: impl Into<String>) -> Self {
                $guard(self.0.allow_prefix(prefix))
            }

            /// Redirects refused requests to this sign-in page (default
            /// `/login`).
            #[must_use]
            pub fn sign_in(self, path: impl Into<String>) -> Self {
                $guard(self.0.sign_in(path))
            }

            /// Answers refused requests `401 Unauthorized` instead of
            /// redirecting (for APIs).
            #[must_use]
            pub fn unauthorized(self) -> Self {
                $guard(self.0.unauthorized())
            }

            /// Answers refused requests `401 Unauthorized` with this body
            /// and `Content-Type` (an API's own error document).
            #[must_use]
            pub fn unauthorized_with(
                self,
                content_type: &'static str,
                body: impl Into<std::borrow::Cow<'static, str>>,
            ) -> Self {
                $guard(self.0.unauthorized_with(content_type, body))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LoginPolicy<bool> {
        LoginPolicy::new(|signed_in: &bool| *signed_in)
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(is_under("/public", "/public"));
        assert!(is_under("/public", "/public/a/b"));
        assert!(!is_under("/public", "/publicity"));
        assert!(is_under("/public/", "/public/a"));
        assert!(!is_under("/public/", "/public"));
        assert!(is_under("/", "/anything"));
    }

    #[test]
    fn dot_segments_are_found_even_encoded() {
        for path in ["/a/../b", "/a/./b", "/a/%2e%2E/b", "/a/.%2e", "/.."] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/a/b", "/a/.b", "/a/..b", "/file.txt"] {
            assert!(!has_dot_segment(path), "{path}");
        }
        assert!(!policy().allow_prefix("/public").allows("/public/../admin"));
    }

    #[test]
    fn sign_in_page_is_open_unless_answering_401() {
        assert!(policy().allows("/login"));
        assert!(policy().sign_in("/auth?lang=en").allows("/auth"));
        assert!(!policy().unauthorized().allows("/login"));
        assert!(!policy().allows("/private"));
        assert!(policy().allow("/about").allows("/about"));
        assert!(!policy().allow("/about").allows("/about/"));
        assert!(policy().permits(&true) && !policy().permits(&false));
    }

    #[test]
    fn location_encodes_the_whole_target() {
        assert_eq!(
            policy().refusal("/a b/é?x=1&y=/z#"),
            Refusal::Redirect("/login?redirect_to=%2Fa%20b%2F%C3%A9%3Fx%3D1%26y%3D%2Fz%23".into())
        );
        assert_eq!(
            policy().sign_in("/login?lang=en").refusal("/p"),
            Refusal::Redirect("/login?lang=en&redirect_to=%2Fp".into())
        );
        assert_eq!(policy().unauthorized().refusal("/p"), Refusal::Unauthorized);
        let api = policy().unauthorized_with("application/json", "{}");
        assert_eq!(api.refusal("/p"), Refusal::Unauthorized);
        assert_eq!(api.unauthorized_body(), Some(("application/json", "{}")));
        // A later sign-in page wins over the 401, as with `unauthorized`.
        assert!(matches!(
            policy()
                .unauthorized_with("text/html", "")
                .sign_in("/in")
                .refusal("/p"),
            Refusal::Redirect(_)
        ));
    }
}
