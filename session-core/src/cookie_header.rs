//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.

use cookie::Cookie;
use time::OffsetDateTime;

use crate::config::{CookieOptions, SameSite, MAX_COOKIE_BYTES};
use crate::error::SessionError;

/// A `Set-Cookie` header value for the session cookie.
///
/// Its bytes are always a valid HTTP header value (visible ASCII and
/// spaces): the name, `Path` and `Domain` are checked when the configuration
/// is built, and the value is a token or a sealed record in cookie-safe
/// characters (checked when it is made). Adapters convert it without a
/// fallback.
///
/// The value is the session's credential: [`Debug`](std::fmt::Debug) shows
/// the name and the attributes only. [`Display`](std::fmt::Display),
/// [`as_str`](Self::as_str) and [`pair`](Self::pair) give the whole header
/// (that is what they are for), so do not log them.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for SetCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name holds no `=` (checked at build), so the first one ends it.
        let pair = &self.header[..self.pair_len];
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        f.debug_struct("SetCookie")
            .field("name", &name)
            .field("value", &"[redacted]")
            .field("attributes", &&self.header[self.pair_len..])
            .field("removal", &self.removal)
            .finish()
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
/// going through `Cookie`'s `Display` cost several times more. The buffer is
/// allocated at its exact length, so that the adapters' `HeaderValue` takes
/// it over without another allocation.
fn render_header(options: &CookieOptions, name: &str, value: &str, max_age_secs: i64) -> String {
    let domain = options
        .domain
        .as_deref()
        .map(|d| d.strip_prefix('.').unwrap_or(d));
    let same_site = match options.same_site {
        SameSite::Lax => "; SameSite=Lax",
        SameSite::Strict => "; SameSite=Strict",
        SameSite::None => "; SameSite=None",
    };
    const HTTP_ONLY: &str = "; HttpOnly";
    const SECURE: &str = "; Secure";
    const PATH: &str = "; Path=";
    const DOMAIN: &str = "; Domain=";
    const MAX_AGE: &str = "; Max-Age=";
    let len = name.len()
        + 1
        + value.len()
        + if options.http_only {
            HTTP_ONLY.len()
        } else {
            0
        }
        + same_site.len()
        + if options.secure { SECURE.len() } else { 0 }
        + PATH.len()
        + options.path.len()
        + domain.map_or(0, |d| DOMAIN.len() + d.len())
        + MAX_AGE.len()
        + decimal_len(max_age_secs);
    let mut header = String::with_capacity(len);
    header.push_str(name);
    header.push('=');
    header.push_str(value);
    if options.http_only {
        header.push_str(HTTP_ONLY);
    }
    header.push_str(same_site);
    // SameSite=None without Secure is refused when the config is built.
    if options.secure {
        header.push_str(SECURE);
    }
    header.push_str(PATH);
    header.push_str(&options.path);
    if let Some(domain) = domain {
        header.push_str(DOMAIN);
        header.push_str(domain);
    }
    header.push_str(MAX_AGE);
    push_decimal(&mut header, max_age_secs);
    debug_assert_eq!(header.len(), len);
    header
}

/// Appends `n` in decimal, as `Display` writes it, without the formatting
/// machinery.
fn push_decimal(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut magnitude = n.unsigned_abs();
    loop {
        start -= 1;
        digits[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

/// How many characters `n` takes in decimal, sign included.
fn decimal_len(n: i64) -> usize {
    let sign = usize::from(n < 0);
    let mut magnitude = n.unsigned_abs();
    let mut digits = 1;
    while magnitude >= 10 {
        magnitude /= 10;
        digits += 1;
    }
    sign + digits
}

/// The cookie that carries `value` for `remaining` more time. Errors when the
/// header would exceed [`MAX_COOKIE_BYTES`], or when `value` holds a byte
/// that is not a cookie-octet (so every `SetCookie` is a valid header
/// value, given the checks on name, path and domain at build).
pub(crate) fn session_cookie(
    options: &CookieOptions,
    name: &str,
    value: &str,
    remaining: time::Duration,
) -> Result<SetCookie, SessionError> {
    // A token is base64url by construction; a sealed value comes from a
    // store, which must not be able to break the header (or add one).
    if !all_cookie_octets(value.as_bytes()) {
        return Err(SessionError::InvalidCookieValue);
    }
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

/// Whether every byte of `value` is an RFC 6265 `cookie-octet`: visible
/// ASCII but `"`, `,`, `;` and `\\`.
///
/// Every written cookie goes through this, a sealed one of a few hundred
/// bytes included, so it is written to be vectorized: no early exit and
/// only comparisons combined with `&` (no branch, no bit table), which the
/// compiler turns into 16 bytes per step. A byte-by-byte `all` with
/// `matches!` cost about eight times as much.
fn all_cookie_octets(value: &[u8]) -> bool {
    value.iter().fold(true, |ok, &b| {
        // `wrapping_sub` maps 0x21..=0x7E onto 0..0x5E and all else above.
        ok & (b.wrapping_sub(0x21) < 0x5E) & (b != b'"') & (b != b',') & (b != b';') & (b != b'\\')
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

/// The first value of cookie `name` across `headers` that `parse` takes,
/// as `parse` makes it. Malformed headers and cookies are skipped, never an
/// error.
pub(crate) fn find_cookie<'a, R>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
    parse: impl Fn(&str) -> Option<R>,
) -> Option<R> {
    // The `cookie` crate's `split_parse` rules (pairs split on `;`, pairs
    // without `=` skipped), except that names and values are trimmed of SP
    // and HTAB only (see `trim`), without building a `Cookie` for every pair
    // of every header. Plain loops: this runs on every request that uses
    // its session.
    for header in headers {
        if header.len() > MAX_HEADER_BYTES {
            continue;
        }
        for pair in header.split(';') {
            let Some((n, v)) = pair.split_once('=') else {
                continue;
            };
            if trim(n) != name {
                continue;
            }
            if let Some(found) = parse(trim(v)) {
                return Some(found);
            }
        }
    }
    None
}

/// Strips SP and HTAB, and nothing else, from both ends (RFC 6265bis,
/// 5.6: "remove any leading or trailing WSP characters from the name string
/// and the value string"). Not `str::trim`: browsers keep a cookie named
/// `\u{2000}__Host-_session` apart from `__Host-_session` (and outside the
/// `__Host-` rules), so a sibling subdomain could toss one in; any byte but
/// SP and HTAB makes another name.
fn trim(text: &str) -> &str {
    // Both are ASCII, so slicing around them stays on char boundaries.
    text.trim_matches([' ', '\t'])
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

    /// The value itself, for `find_cookie`.
    fn any(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn finds_cookies_like_the_cookie_crate() {
        let headers = [" ; =x; a ; _session = spaced ; other=1", "_session=b=c"];
        assert_eq!(
            find_cookie(headers, "_session", any).as_deref(),
            Some("spaced")
        );
        assert_eq!(
            find_cookie(headers, "_session", |v| (v != "spaced")
                .then(|| v.to_owned()))
            .as_deref(),
            Some("b=c")
        );
        assert_eq!(find_cookie(headers, "a", any), None);
        assert_eq!(
            find_cookie(["_session=v"], "_session", any).as_deref(),
            Some("v")
        );
        assert_eq!(
            find_cookie(["_session="], "_session", any).as_deref(),
            Some("")
        );
        assert_eq!(
            find_cookie(["x=1;_session=\tq "], "_session", any).as_deref(),
            Some("q")
        );
    }

    #[test]
    fn only_sp_and_htab_are_trimmed_around_names_and_values() {
        assert_eq!(
            find_cookie([" \t_session \t= \tv\t "], "_session", any).as_deref(),
            Some("v")
        );
        // A browser keeps `\u{2000}__Host-_session` as a cookie of its own,
        // which a sibling subdomain may set: it is not the session cookie.
        for header in [
            "\u{2000}__Host-_session=v",
            "__Host-_session\u{a0}=v",
            "\u{3000}__Host-_session\u{3000}=v",
            "\n__Host-_session=v",
            "__Host-_session\r=v",
            "\u{b}__Host-_session=v",
            "\u{c}__Host-_session=v",
        ] {
            assert_eq!(
                find_cookie([header], "__Host-_session", any),
                None,
                "{header:?}"
            );
        }
        // Around values too: what is left is for the value's parser to refuse.
        assert_eq!(
            find_cookie(["_session=\u{2003}v\u{3000}"], "_session", any).as_deref(),
            Some("\u{2003}v\u{3000}")
        );
        assert_eq!(
            find_cookie(["_session=\nv"], "_session", any).as_deref(),
            Some("\nv")
        );
    }

    #[test]
    fn trim_strips_sp_and_htab_only() {
        for (text, trimmed) in [
            ("", ""),
            (" ", ""),
            ("\t \t", ""),
            ("a", "a"),
            (" a", "a"),
            ("a ", "a"),
            ("\ta\t", "a"),
            ("\na\r", "\na\r"),
            ("é", "é"),
            (" é ", "é"),
            ("\u{a0}a", "\u{a0}a"),
            ("a\u{2003}", "a\u{2003}"),
            (" \u{2000}a ", "\u{2000}a"),
            ("a b", "a b"),
        ] {
            assert_eq!(trim(text), trimmed, "{text:?}");
        }
    }

    #[test]
    fn headers_have_their_exact_length() {
        for secs in [1, 9, 10, 99, 3600, 86_400, i64::MAX] {
            let h = session_cookie(
                &CookieOptions::default(),
                "_session",
                "abc",
                time::Duration::seconds(secs),
            )
            .unwrap();
            assert!(h.as_str().ends_with(&format!("Max-Age={secs}")));
            let header = h.into_string();
            assert_eq!(header.capacity(), header.len());
        }
        for n in [0i64, 7, -7, 10, -10, 12_345, i64::MIN, i64::MAX] {
            assert_eq!(decimal_len(n), n.to_string().len(), "{n}");
            let mut text = String::new();
            push_decimal(&mut text, n);
            assert_eq!(text, n.to_string());
        }
    }

    #[test]
    fn values_a_cookie_cannot_carry_are_an_error() {
        for value in [
            "a b",
            "a;b",
            "a\r\nSet-Cookie: x=1",
            "a,b",
            "\"a\"",
            "a\\b",
            "é",
            "\0",
        ] {
            let err = session_cookie(
                &CookieOptions::default(),
                "_session",
                value,
                time::Duration::HOUR,
            )
            .unwrap_err();
            assert!(matches!(err, SessionError::InvalidCookieValue), "{value:?}");
        }
    }

    #[test]
    fn every_byte_at_every_lane_is_checked_as_a_cookie_octet() {
        // RFC 6265, 4.1.1: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
        let octet =
            |b: u8| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
        // Lengths and positions around the vector steps and the scalar tail.
        for len in [1usize, 15, 16, 17, 31, 32, 33, 64, 200, 257] {
            let mut value = vec![b'A'; len];
            assert!(all_cookie_octets(&value), "{len}");
            for at in [0, len / 2, len - 1] {
                for b in 0..=u8::MAX {
                    value[at] = b;
                    assert_eq!(
                        all_cookie_octets(&value),
                        octet(b),
                        "{b:#04x} at {at} of {len}"
                    );
                }
                value[at] = b'A';
            }
        }
        assert!(all_cookie_octets(b""));
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
            find_cookie(headers, "_session", |v| v
                .starts_with('g')
                .then(|| v.to_owned()))
            .as_deref(),
            Some("good")
        );
        assert_eq!(find_cookie(["garbage;;; ==="], "_session", any), None);
        let huge = format!("_session={}", "a".repeat(20_000));
        assert_eq!(find_cookie([huge.as_str()], "_session", any), None);
    }

    #[test]
    fn debug_shows_name_and_attributes_but_not_the_value() {
        let token = "Tok3n-value_that-must-not-leak0123456789abc";
        let c = session_cookie(
            &CookieOptions::default(),
            "_session",
            token,
            time::Duration::HOUR,
        )
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains(token), "{text}");
        assert!(!text.contains("Tok3n"), "{text}");
        for shown in ["_session", "HttpOnly", "Max-Age=3600", "redacted"] {
            assert!(text.contains(shown), "{shown} missing in {text}");
        }
        let removal = removal_cookie(&CookieOptions::default(), "_session");
        assert!(format!("{removal:?}").contains("Max-Age=0"));
    }
}
