//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.

use cookie::Cookie;
use time::OffsetDateTime;

use crate::config::{CookieOptions, SameSite, MAX_COOKIE_BYTES};
use crate::error::SessionError;

/// A `Set-Cookie` header value for the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    header: String,
    pair_len: usize,
    removal: bool,
}

impl SetCookie {
    /// The whole header value, attributes included.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The header value as an owned string.
    pub fn into_string(self) -> String {
        self.header
    }

    /// `name=value`, as a client would send it back in `Cookie`.
    pub fn pair(&self) -> String {
        self.header[..self.pair_len].to_owned()
    }

    /// Whether this header removes the cookie (`Max-Age=0`).
    pub fn is_removal(&self) -> bool {
        self.removal
    }
}

impl std::fmt::Display for SetCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.header)
    }
}

fn same_site(value: SameSite) -> cookie::SameSite {
    match value {
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::None => cookie::SameSite::None,
    }
}

fn render(
    options: &CookieOptions,
    name: &str,
    value: &str,
    max_age: time::Duration,
) -> Cookie<'static> {
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .http_only(options.http_only)
        .secure(options.secure)
        .same_site(same_site(options.same_site))
        .path(options.path.clone())
        .max_age(max_age)
        .build();
    if let Some(domain) = &options.domain {
        cookie.set_domain(domain.clone());
    }
    cookie
}

/// The cookie that carries `value` for `remaining` more time. Errors when the
/// header would exceed [`MAX_COOKIE_BYTES`].
pub(crate) fn session_cookie(
    options: &CookieOptions,
    name: &str,
    value: &str,
    remaining: time::Duration,
) -> Result<SetCookie, SessionError> {
    // Round up so that a session with 0.4 s left is not removed early; the
    // server-side expiry is what counts anyway.
    let secs = remaining.whole_seconds() + i64::from(remaining.subsec_nanoseconds() > 0);
    let header = render(options, name, value, time::Duration::seconds(secs.max(1))).to_string();
    if header.len() > MAX_COOKIE_BYTES {
        return Err(SessionError::CookieTooLarge {
            size: header.len(),
            limit: MAX_COOKIE_BYTES,
        });
    }
    Ok(SetCookie {
        pair_len: name.len() + 1 + value.len(),
        header,
        removal: false,
    })
}

/// The header that makes the browser drop the cookie.
pub(crate) fn removal_cookie(options: &CookieOptions, name: &str) -> SetCookie {
    let mut cookie = render(options, name, "", time::Duration::ZERO);
    cookie.set_expires(OffsetDateTime::UNIX_EPOCH);
    SetCookie {
        pair_len: name.len() + 1,
        header: cookie.to_string(),
        removal: true,
    }
}

/// Longest `Cookie` header we look into; browsers send at most a few KB.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The first value of cookie `name` across `headers` that `accept` takes.
/// Malformed headers and cookies are skipped, never an error.
pub(crate) fn find_cookie<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
    accept: impl Fn(&str) -> bool,
) -> Option<String> {
    headers
        .into_iter()
        .filter(|header| header.len() <= MAX_HEADER_BYTES)
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name && accept(cookie.value()))
        .map(|cookie| cookie.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_max_age() {
        let options = CookieOptions::default();
        let c = session_cookie(&options, "_session", "abc", time::Duration::seconds(3600)).unwrap();
        let h = c.as_str();
        assert!(h.starts_with("_session=abc;"), "{h}");
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=3600",
        ] {
            assert!(h.contains(attr), "{attr} missing in {h}");
        }
        assert_eq!(c.pair(), "_session=abc");
    }

    #[test]
    fn removal_expires_now() {
        let c = removal_cookie(&CookieOptions::default(), "_session");
        assert!(c.is_removal());
        assert!(c.as_str().contains("Max-Age=0"), "{}", c.as_str());
    }

    #[test]
    fn oversized_cookie_is_an_error() {
        let value = "x".repeat(4100);
        let err = session_cookie(
            &CookieOptions::default(),
            "_session",
            &value,
            time::Duration::HOUR,
        )
        .unwrap_err();
        assert!(matches!(err, SessionError::CookieTooLarge { size, limit: 4096 } if size > 4100));
    }

    #[test]
    fn finds_first_acceptable_value() {
        let headers = ["a=1; _session=bad; _session=good", "_session=later"];
        assert_eq!(
            find_cookie(headers, "_session", |v| v.starts_with('g')).as_deref(),
            Some("good")
        );
        assert_eq!(find_cookie(["garbage;;; ==="], "_session", |_| true), None);
        let huge = format!("_session={}", "a".repeat(20_000));
        assert_eq!(find_cookie([huge.as_str()], "_session", |_| true), None);
    }
}
