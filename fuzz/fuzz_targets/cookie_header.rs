//! The session-cookie lookup over arbitrary `Cookie` headers
//! (`session_core`'s `find_cookie`, which every request that uses its
//! session runs on what the client sent).
//!
//! The input is the request's `Cookie` headers, one per line (`\n` cannot
//! occur in a header value, so it is a natural separator), as UTF-8 (lossy:
//! the adapters hand over `&str`). For several configured names (the
//! default `_session`, its `__Host-` form, and the first pair's name of the
//! input when it is a valid cookie name), and with a parser that takes every
//! value and one that takes only some, the lookup must:
//!
//! - never panic;
//! - agree with a plain reference: headers split on `;`, each pair at its
//!   first `=`, name and value trimmed of SP and HTAB only (RFC 6265bis:
//!   a name padded with another space, such as U+2000, is another cookie),
//!   headers over 16 KiB skipped, first taken value wins;
//! - answer only a value that is exactly the trimmed bytes after the first
//!   `=` of a pair of one of the headers whose trimmed name equals the
//!   configured name byte for byte: so `__Host-_session` is never found for
//!   `_session` nor the other way round, and `__host-_session` (another
//!   case) is never found for `__Host-_session`;
//! - agree with the `cookie` crate's `Cookie::split_parse` on which value
//!   comes first, where the two trimming rules agree (the crate trims with
//!   `str::trim`, so headers with other whitespace at a name's or value's
//!   ends are left out of that comparison).
#![no_main]

use cookie::Cookie;
use libfuzzer_sys::fuzz_target;
use session_core::fuzzing::find_cookie;

/// Longest header the lookup reads (its `MAX_HEADER_BYTES`).
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Trims SP and HTAB, and nothing else (RFC 6265bis).
fn http_trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// Whether `str::trim` and [`http_trim`] agree on every name and value of
/// these headers, so that the `cookie` crate's reading can be compared.
fn plain_whitespace(headers: &[&str]) -> bool {
    headers.iter().all(|header| {
        header.split(';').all(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            n.trim() == http_trim(n) && v.trim() == http_trim(v)
        })
    })
}

/// What `find_cookie` is documented to do, written the obvious way.
fn reference<'a>(
    headers: &[&'a str],
    name: &str,
    take: impl Fn(&str) -> bool,
) -> Option<(usize, &'a str)> {
    for (i, header) in headers.iter().enumerate() {
        if header.len() > MAX_HEADER_BYTES {
            continue;
        }
        for pair in header.split(';') {
            let Some(eq) = pair.find('=') else { continue };
            let (n, v) = (&pair[..eq], &pair[eq + 1..]);
            if http_trim(n) == name && take(http_trim(v)) {
                return Some((i, http_trim(v)));
            }
        }
    }
    None
}

/// The `cookie` crate's reading of the same headers: the first cookie
/// named `name`.
fn cookie_crate<'a>(headers: &[&'a str], name: &str) -> Option<&'a str> {
    for header in headers {
        if header.len() > MAX_HEADER_BYTES {
            continue;
        }
        for cookie in Cookie::split_parse(*header).flatten() {
            if cookie.name() == name {
                // `name_raw`/`value_raw` borrow from the header: the bytes
                // the client sent, untouched.
                return cookie.value_raw();
            }
        }
    }
    None
}

/// Whether `text` is a name `SessionConfig::build` accepts.
fn valid_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Whether `inner` is a subslice of `outer` (same memory, not equal text).
fn within(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

/// Whether `value` is the trimmed value of a pair of `header` named `name`:
/// it sits right after that pair's first `=` (modulo trimmed whitespace).
fn is_value_of_pair(header: &str, name: &str, value: &str) -> bool {
    let start = value.as_ptr() as usize - header.as_ptr() as usize;
    let pair_start = header[..start].rfind(';').map_or(0, |i| i + 1);
    let pair_end = header[start..]
        .find(';')
        .map_or(header.len(), |i| start + i);
    let pair = &header[pair_start..pair_end];
    let Some(eq) = pair.find('=') else {
        return false;
    };
    let (n, v) = (&pair[..eq], &pair[eq + 1..]);
    http_trim(n).as_bytes() == name.as_bytes()
        && http_trim(v).as_ptr() == value.as_ptr()
        && http_trim(v).len() == value.len()
}

fn check(headers: &[&str], name: &str) {
    // Every value taken, and only some (so that "first taken wins" is
    // exercised past a refused one): those of even length.
    let all = |_: &str| true;
    let even = |v: &str| v.len().is_multiple_of(2);
    for (which, take) in [(0, &all as &dyn Fn(&str) -> bool), (1, &even)] {
        // `find_cookie` answers what the parser answers; answering the
        // borrowed value's address and length lets us check where it is.
        let found = find_cookie(headers.iter().copied(), name, |v| {
            take(v).then_some((v.as_ptr() as usize, v.len()))
        });
        let expected = reference(headers, name, take);
        assert_eq!(
            found,
            expected.map(|(_, v)| (v.as_ptr() as usize, v.len())),
            "find_cookie disagrees with the reference (parser {which}) for {name:?} in {headers:?}"
        );
        if let Some((i, value)) = expected {
            assert!(within(headers[i], value));
            assert!(
                is_value_of_pair(headers[i], name, value),
                "{value:?} is not the value of a pair named {name:?}"
            );
            assert_eq!(value, http_trim(value));
        }
        if which == 0 && plain_whitespace(headers) {
            // The first value for the name, as the cookie crate reads it.
            assert_eq!(
                expected.map(|(_, v)| v),
                cookie_crate(headers, name),
                "the cookie crate reads {name:?} differently in {headers:?}"
            );
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let headers: Vec<&str> = text.split('\n').collect();
    let mut names = vec!["_session".to_owned(), "__Host-_session".to_owned()];
    // The first pair's name, when the configuration could use it, and its
    // `__Host-` form: lets the fuzzer pick names too.
    if let Some((n, _)) = headers[0].split(';').next().and_then(|p| p.split_once('=')) {
        let n = http_trim(n);
        if valid_name(n) && !names.iter().any(|known| known == n) {
            names.push(n.to_owned());
            if !n.starts_with("__Host-") {
                names.push(format!("__Host-{n}"));
            }
        }
    }
    for name in &names {
        check(&headers, name);
    }
    // A `__Host-` name only ever matches the exact prefix, never another
    // case of it or the bare name.
    let bare = find_cookie(headers.iter().copied(), "_session", |v| Some(v.as_ptr()));
    let host = find_cookie(headers.iter().copied(), "__Host-_session", |v| {
        Some(v.as_ptr())
    });
    if let (Some(b), Some(h)) = (bare, host) {
        assert_ne!(b, h, "one pair found under two names");
    }
});
