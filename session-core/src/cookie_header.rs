//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.

use std::fmt::Write as _;

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

/// `name=value` and the attributes, in the `cookie` crate's order and
/// spelling (`render` + `to_string` give the same bytes), written straight
/// into one buffer: this runs on every request that uses its session, and
/// going through `Cookie`'s `Display` cost several times more.
fn render_header(options: &CookieOptions, name: &str, value: &str, max_age_secs: i64) -> String {
    let domain = options
        .domain
        .as_deref()
        .map(|d| d.strip_prefix('.').unwrap_or(d));
    let mut header = String::with_capacity(
        name.len() + value.len() + options.path.len() + domain.map_or(0, str::len) + 80,
    );
    header.push_str(name);
    header.push('=');
    header.push_str(value);
    if options.http_only {
        header.push_str("; HttpOnly");
    }
    header.push_str(match options.same_site {
        SameSite::Lax => "; SameSite=Lax",
        SameSite::Strict => "; SameSite=Strict",
        SameSite::None => "; SameSite=None",
    });
    // SameSite=None without Secure is refused when the config is built.
    if options.secure {
        header.push_str("; Secure");
    }
    header.push_str("; Path=");
    header.push_str(&options.path);
    if let Some(domain) = domain {
        header.push_str("; Domain=");
        header.push_str(domain);
    }
    header.push_str("; Max-Age=");
    let _ = write!(header, "{max_age_secs}");
    header
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
    let header = render_header(options, name, value, secs.max(1));
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
    // The `cookie` crate's `split_parse` rules (pairs split on `;`, name and
    // value trimmed, pairs without `=` or with an empty name skipped), without
    // building a `Cookie` for every pair of every header.
    headers
        .into_iter()
        .filter(|header| header.len() <= MAX_HEADER_BYTES)
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim()))
        .find(|&(n, v)| n == name && accept(v))
        .map(|(_, v)| v.to_owned())
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
    fn header_matches_the_cookie_crate() {
        let mut options = CookieOptions::default();
        let check = |options: &CookieOptions| {
            let ours = render_header(options, "_session", "tok-EN_1", 3600);
            let theirs = render(
                options,
                "_session",
                "tok-EN_1",
                time::Duration::seconds(3600),
            );
            assert_eq!(ours, theirs.to_string());
        };
        check(&options);
        options.secure = false;
        options.http_only = false;
        options.same_site = SameSite::Strict;
        options.path = "/app".into();
        options.domain = Some(".example.com".into());
        check(&options);
        options.same_site = SameSite::None;
        options.domain = Some("example.com".into());
        check(&options);
    }

    #[test]
    fn finds_cookies_like_the_cookie_crate() {
        let headers = [" ; =x; a ; _session = spaced ; other=1", "_session=b=c"];
        assert_eq!(
            find_cookie(headers, "_session", |_| true).as_deref(),
            Some("spaced")
        );
        assert_eq!(
            find_cookie(headers, "_session", |v| v != "spaced").as_deref(),
            Some("b=c")
        );
        assert_eq!(find_cookie(headers, "a", |_| true), None);
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
