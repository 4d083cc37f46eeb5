//! `Set-Cookie` rendering from arbitrary configuration.
//!
//! An arbitrary cookie name, path, domain, `Secure`, `HttpOnly`, `SameSite`,
//! `__Host-` prefix, idle and absolute timeouts and store kind (server-side
//! token or sealed cookie) go through `SessionConfig::builder()`:
//!
//! - `build()` never panics;
//! - where it accepts the configuration, committing a session with data
//!   gives a `Set-Cookie` that is a valid HTTP header value
//!   (`http::HeaderValue::from_str`), that the `cookie` crate parses back to
//!   the configured (full) name and the session's value, with exactly the
//!   attributes asked for and a `Max-Age` of the session's remaining time;
//!   that value loads the same session again; and deleting the session gives
//!   a removal header with the same properties (`Max-Age=0`, empty value).
//!   The only error a commit may answer is `CookieTooLarge`, and only for a
//!   header over `MAX_COOKIE_BYTES`.
//!
//! Inputs outside a valid configuration (see `outside_valid_configuration`:
//! a `Path` that does not start with `/` or holds a control character, a
//! space or `;`; a `Domain` that is not a host name; a timeout over 100
//! years) used to get through `build()`; it refuses them now, so they are
//! checked like any other input: whatever `build()` accepts must give a
//! valid `Set-Cookie`. `FUZZ_SET_COOKIE_CHECK` can narrow that to some kinds
//! (`path`, `domain`, `timeout`, comma-separated; `none` skips them all).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use cookie::Cookie;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use session_core::{
    KeyRing, SameSite, SessionConfig, SessionError, SessionManager, MAX_COOKIE_BYTES,
};
use session_store_cookie::CookieStore;
use session_store_memory::MemoryStore;

const SECRET: &str = "fuzzing secret, thirty-two bytes or more";

/// Longest timeout this target calls valid: far beyond any real session,
/// far below where `OffsetDateTime` arithmetic ends (year 9999).
const MAX_VALID_TIMEOUT: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

#[derive(Debug, Arbitrary)]
struct Input {
    name: Option<String>,
    path: Option<String>,
    domain: Option<String>,
    secure: Option<bool>,
    http_only: Option<bool>,
    same_site: Option<Site>,
    host_prefix: Option<bool>,
    idle: Option<(u64, u32)>,
    absolute: Option<(u64, u32)>,
    sealed_cookie: bool,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Site {
    Lax,
    Strict,
    None,
}

fn duration((secs, nanos): (u64, u32)) -> Duration {
    Duration::new(secs, nanos % 1_000_000_000)
}

/// RFC 6265 `path-value`, as an absolute path (a `Path` that does not start
/// with `/` is ignored by browsers), of visible ASCII without `;`.
fn valid_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}

/// A host name: dot-separated labels of letters, digits and `-`, each 1 to
/// 63 bytes, at most 253 in all; one leading `.` is allowed (and dropped).
fn valid_domain(domain: &str) -> bool {
    let host = domain.strip_prefix('.').unwrap_or(domain);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Why `build()` should refuse this input although today it may not.
fn outside_valid_configuration(input: &Input) -> Option<&'static str> {
    if input.path.as_deref().is_some_and(|p| !valid_path(p)) {
        return Some("path");
    }
    if input.domain.as_deref().is_some_and(|d| !valid_domain(d)) {
        return Some("domain");
    }
    let too_long = |t: Option<(u64, u32)>| t.is_some_and(|t| duration(t) > MAX_VALID_TIMEOUT);
    if too_long(input.idle) || too_long(input.absolute) {
        return Some("timeout");
    }
    None
}

/// The kinds of invalid configuration to check rather than skip, from
/// `FUZZ_SET_COOKIE_CHECK` (comma-separated: `path`, `domain`, `timeout`,
/// or `all`).
fn checked(kind: &str) -> bool {
    static CHECKED: OnceLock<Vec<String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        std::env::var("FUZZ_SET_COOKIE_CHECK")
            .unwrap_or_else(|_| "all".to_owned())
            .split(',')
            .map(|k| k.trim().to_owned())
            .collect()
    });
    checked.iter().any(|k| k == kind || k == "all")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

/// What the configuration asked for, in the builder's defaults where the
/// input left something unset.
struct Asked {
    name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: cookie::SameSite,
    lifetime: Duration,
}

/// The properties every `Set-Cookie` of the session cookie has; answers its
/// value.
fn check_header<'h>(header: &'h str, asked: &Asked, removal: bool) -> &'h str {
    assert!(
        http::HeaderValue::from_str(header).is_ok(),
        "not a valid header value: {header:?}"
    );
    let cookie = Cookie::parse(header).unwrap_or_else(|e| panic!("{e}: {header:?}"));
    assert_eq!(cookie.name(), asked.name, "name in {header:?}");
    assert_eq!(
        cookie.path(),
        Some(asked.path.as_str()),
        "path in {header:?}"
    );
    let domain = asked
        .domain
        .as_deref()
        .map(|d| d.strip_prefix('.').unwrap_or(d));
    assert_eq!(cookie.domain(), domain, "domain in {header:?}");
    assert_eq!(
        cookie.secure(),
        asked.secure.then_some(true),
        "Secure in {header:?}"
    );
    assert_eq!(
        cookie.http_only(),
        asked.http_only.then_some(true),
        "HttpOnly in {header:?}"
    );
    assert_eq!(
        cookie.same_site(),
        Some(asked.same_site),
        "SameSite in {header:?}"
    );
    let max_age = cookie
        .max_age()
        .unwrap_or_else(|| panic!("no Max-Age in {header:?}"))
        .whole_seconds();
    if removal {
        assert_eq!(max_age, 0, "removal Max-Age in {header:?}");
        assert_eq!(cookie.value(), "", "removal value in {header:?}");
    } else {
        // The remaining time, rounded up, a little less for the time the
        // commit took.
        let lifetime = asked.lifetime.as_secs() + u64::from(asked.lifetime.subsec_nanos() > 0);
        let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX);
        assert!(
            (1..=lifetime.max(1)).contains(&max_age) && max_age >= lifetime - 5,
            "Max-Age {max_age} for a lifetime of {lifetime} s in {header:?}"
        );
    }
    cookie.value_raw().expect("parsed from a string")
}

fuzz_target!(|input: Input| {
    if let Some(kind) = outside_valid_configuration(&input) {
        if !checked(kind) {
            return;
        }
    }
    let builder = SessionConfig::builder().secret(SECRET);
    let mut builder = if input.sealed_cookie {
        let ring = KeyRing::new([SECRET]).expect("long enough");
        builder.store(CookieStore::builder(ring).build())
    } else {
        builder.store(MemoryStore::builder().no_cleanup().build())
    };
    if let Some(name) = &input.name {
        builder = builder.cookie_name(name.clone());
    }
    if let Some(path) = &input.path {
        builder = builder.path(path.clone());
    }
    if let Some(domain) = &input.domain {
        builder = builder.domain(domain.clone());
    }
    if let Some(on) = input.secure {
        builder = builder.secure(on);
    }
    if let Some(on) = input.http_only {
        builder = builder.http_only(on);
    }
    if let Some(site) = input.same_site {
        builder = builder.same_site(match site {
            Site::Lax => SameSite::Lax,
            Site::Strict => SameSite::Strict,
            Site::None => SameSite::None,
        });
    }
    if let Some(on) = input.host_prefix {
        builder = builder.host_prefix(on);
    }
    if let Some(t) = input.idle {
        builder = builder.idle_timeout(duration(t));
    }
    if let Some(t) = input.absolute {
        builder = builder.absolute_timeout(duration(t));
    }
    let Ok(config) = builder.build() else {
        return;
    };
    let options = config.cookie();
    let asked = Asked {
        name: config.cookie_name().to_owned(),
        path: options.path.clone(),
        domain: options.domain.clone(),
        secure: options.secure,
        http_only: options.http_only,
        same_site: match options.same_site {
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::None => cookie::SameSite::None,
        },
        // `Max-Age` covers the absolute lifetime; the store enforces the
        // idle timeout.
        lifetime: config.absolute_timeout(),
    };
    // A session that lives a few seconds may be over before its commit or
    // its next load: only longer ones are checked for those.
    let short = config.idle_timeout().min(config.absolute_timeout()) < Duration::from_secs(10);
    // The configuration is what the input said.
    if let Some(name) = &input.name {
        assert_eq!(options.name, *name);
    }
    if let Some(path) = &input.path {
        assert_eq!(options.path, *path);
    }
    let manager = SessionManager::<u32>::new(config);
    runtime().block_on(async {
        let session = manager.create();
        *session.data_mut() += 1;
        let set_cookie = match manager.commit(&session).await {
            Ok(Some(set_cookie)) => set_cookie,
            Ok(None) if short => return,
            Ok(None) => panic!("a new session with data sent no cookie"),
            Err(SessionError::CookieTooLarge { size, limit }) => {
                assert!(size > limit && limit == MAX_COOKIE_BYTES);
                return;
            }
            Err(other) => panic!("commit failed: {other}"),
        };
        let header = set_cookie.as_str();
        assert!(header.len() <= MAX_COOKIE_BYTES);
        let value = check_header(header, &asked, false);
        assert_eq!(set_cookie.pair(), format!("{}={value}", asked.name));

        if short {
            return;
        }
        // The value the browser sends back loads the same session.
        let again = manager.load(Some(value)).await.expect("the store loads");
        assert!(
            !again.is_new(),
            "the cookie's value does not load: {header:?}"
        );
        assert_eq!(again.id(), session.id());
        assert_eq!(*again.data(), 1);

        // Logging out sends a removal with the same attributes.
        again.delete();
        let removal = manager
            .commit(&again)
            .await
            .expect("the store deletes")
            .expect("a deletion sends a removal");
        assert!(removal.is_removal());
        check_header(removal.as_str(), &asked, true);
    });
});
