//! The configuration refuses what would be unsafe or unusable.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

use session_core::{
    adapter::{CacheHeaders, ResponseFacts},
    ConfigError, IdleRefresh, SameSite, SessionConfig, SessionConfigBuilder, SessionManager,
    DEFAULT_MAX_SESSION_BYTES, MAX_TIMEOUT,
};
use session_store_memory::MemoryStore;

fn store() -> MemoryStore {
    MemoryStore::builder().no_cleanup().build()
}

#[test]
fn defaults_match_the_design() {
    let config = SessionConfig::builder().store(store()).build().unwrap();
    assert_eq!(config.cookie_name(), "_session");
    assert!(config.cookie().http_only && config.cookie().secure);
    assert_eq!(config.cookie().same_site, SameSite::Lax);
    assert_eq!(config.cookie().path, "/");
    assert_eq!(config.idle_timeout(), Duration::from_secs(3600));
    assert_eq!(config.absolute_timeout(), Duration::from_secs(86_400));
    assert!(!config.save_on_server_error());
    assert_eq!(config.max_session_bytes(), 64 * 1024);
    assert_eq!(DEFAULT_MAX_SESSION_BYTES, 64 * 1024);
    assert!(config.cache_headers_enabled());
}

#[test]
fn a_zero_session_limit_is_refused() {
    let error = refused(SessionConfig::builder().store(store()).max_session_bytes(0));
    assert!(matches!(error, ConfigError::ZeroSessionLimit), "{error:?}");
    let config = SessionConfig::builder()
        .store(store())
        .max_session_bytes(1)
        .cache_headers(false)
        .build()
        .unwrap();
    assert_eq!(config.max_session_bytes(), 1);
    assert!(!config.cache_headers_enabled());
}

#[test]
fn missing_store_and_short_secret_are_clear_errors() {
    let err = SessionConfig::builder().build().unwrap_err();
    assert!(matches!(err, ConfigError::MissingStore));
    assert!(err.to_string().contains("store"));
    let err = SessionConfig::builder()
        .store(store())
        .secret("0123456789")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
}

#[test]
fn production_requires_a_secret_and_uses_host_prefix() {
    assert!(matches!(
        SessionConfig::production().store(store()).build(),
        Err(ConfigError::MissingSecret)
    ));
    let config = SessionConfig::production()
        .store(store())
        .secret("a production secret of at least 32 bytes")
        .build()
        .unwrap();
    assert_eq!(config.cookie_name(), "__Host-_session");
}

#[test]
fn unsafe_cookie_combinations_are_refused() {
    let host_without_secure = SessionConfig::builder()
        .store(store())
        .host_prefix(true)
        .secure(false)
        .build();
    assert!(matches!(
        host_without_secure,
        Err(ConfigError::HostPrefixConflict)
    ));
    let host_with_domain = SessionConfig::builder()
        .store(store())
        .host_prefix(true)
        .domain("example.com")
        .build();
    assert!(matches!(
        host_with_domain,
        Err(ConfigError::HostPrefixConflict)
    ));
    let none_without_secure = SessionConfig::builder()
        .store(store())
        .same_site(SameSite::None)
        .secure(false)
        .build();
    assert!(matches!(
        none_without_secure,
        Err(ConfigError::SameSiteNoneNeedsSecure)
    ));
    let bad_name = SessionConfig::builder()
        .store(store())
        .cookie_name("a b;c")
        .build();
    assert!(matches!(bad_name, Err(ConfigError::InvalidCookieName(_))));
    let zero = SessionConfig::builder()
        .store(store())
        .idle_timeout(Duration::ZERO)
        .build();
    assert!(matches!(zero, Err(ConfigError::ZeroTimeout("idle"))));
}

#[test]
fn debug_output_never_shows_secrets() {
    let secret = "do not print me, I am a 32+ byte secret";
    let builder = SessionConfig::builder().store(store()).secret(secret);
    let text = format!("{builder:?}");
    assert!(!text.contains("do not print"), "{text}");
    let config = builder.build().unwrap();
    let text = format!("{config:?}");
    assert!(!text.contains("do not print"), "{text}");
}

#[tokio::test]
async fn set_cookie_debug_never_shows_the_token() {
    let manager = SessionManager::<Vec<String>>::new(
        SessionConfig::testing().store(store()).build().unwrap(),
    );
    let session = manager.create();
    session.data_mut().push("tea".into());
    let set_cookie = manager.commit(&session).await.unwrap().expect("saved");
    let pair = set_cookie.pair();
    let token = pair.strip_prefix("_session=").unwrap();
    let text = format!("{set_cookie:?}");
    assert!(!text.contains(token), "{text}");
    assert!(
        text.contains("_session") && text.contains("HttpOnly"),
        "{text}"
    );
}

/// The error `build` answers; panics if it builds.
fn refused(builder: SessionConfigBuilder) -> ConfigError {
    match builder.build() {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error,
    }
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

#[test]
fn timeouts_that_could_overflow_a_date_are_refused() {
    for huge in [Duration::MAX, Duration::from_secs(u64::MAX / 2), 101 * YEAR] {
        let error = refused(SessionConfig::builder().store(store()).idle_timeout(huge));
        assert!(error.to_string().contains("idle"), "{error}");
        assert!(
            matches!(error, ConfigError::TimeoutTooLong { which: "idle", given, max } if given == huge && max == MAX_TIMEOUT),
            "{error:?}"
        );
        let error = refused(
            SessionConfig::builder()
                .store(store())
                .absolute_timeout(huge),
        );
        assert!(error.to_string().contains("absolute"), "{error}");
        assert!(
            matches!(
                error,
                ConfigError::TimeoutTooLong {
                    which: "absolute",
                    ..
                }
            ),
            "{error:?}"
        );
    }
    // The maximum itself is accepted, and usable at request time.
    let config = SessionConfig::builder()
        .store(store())
        .idle_timeout(MAX_TIMEOUT)
        .absolute_timeout(MAX_TIMEOUT)
        .build()
        .unwrap();
    let session = SessionManager::<Vec<String>>::new(config).create();
    assert!(session.expires_at().year() > 2100);
    // Long but sound timeouts (a "remember me" of ten years) are fine.
    SessionConfig::builder()
        .store(store())
        .idle_timeout(10 * YEAR)
        .absolute_timeout(10 * YEAR)
        .build()
        .unwrap();
}

#[test]
fn refresh_fractions_outside_zero_to_one_are_refused() {
    for fraction in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY, -f64::INFINITY] {
        let error = refused(
            SessionConfig::builder()
                .store(store())
                .idle_refresh(IdleRefresh::WhenRemainingBelow(fraction)),
        );
        assert!(
            error.to_string().contains("fraction"),
            "{fraction}: {error}"
        );
        assert!(matches!(error, ConfigError::InvalidRefreshFraction(_)));
    }
    for fraction in [0.01, 0.5, 0.99] {
        SessionConfig::builder()
            .store(store())
            .idle_refresh(IdleRefresh::WhenRemainingBelow(fraction))
            .build()
            .unwrap();
    }
}

/// Paths and domains that would break the `Set-Cookie` header or smuggle an
/// attribute or a header into it.
const HOSTILE_PATHS: &[&str] = &[
    "",
    "app",
    "/a;b",
    "/a; Domain=evil.example",
    "/a b",
    "/a\tb",
    "/a\nb",
    "/a\r\nSet-Cookie: x=1",
    "/\0",
    "/\u{7f}",
    "/é",
];

/// See [`HOSTILE_PATHS`].
const HOSTILE_DOMAINS: &[&str] = &[
    "",
    ".",
    "a;b",
    "example.com; Secure",
    "exa mple.com",
    "example.com\t",
    "ex\nample.com",
    "example.com\r\n",
    "\0",
    "exämple.com",
    "example.com:8080",
    "example.com/",
    // Empty labels: `Domain=..` is rendered as `Domain=.`, which a parser
    // reads as an empty domain (found by the set_cookie fuzz target).
    "..",
    "...",
    "a..b",
    ".example..com",
    "example.com.",
];

#[test]
fn hostile_paths_and_domains_are_refused() {
    for path in HOSTILE_PATHS {
        let error = refused(SessionConfig::builder().store(store()).path(*path));
        assert!(error.to_string().contains("path"), "{path:?}: {error}");
        assert!(matches!(error, ConfigError::InvalidCookiePath(p) if p == *path));
    }
    for domain in HOSTILE_DOMAINS {
        let error = refused(SessionConfig::builder().store(store()).domain(*domain));
        assert!(error.to_string().contains("domain"), "{domain:?}: {error}");
        assert!(matches!(error, ConfigError::InvalidCookieDomain(d) if d == *domain));
    }
}

#[tokio::test]
async fn accepted_paths_and_domains_make_valid_header_values() {
    for (path, domain) in [
        ("/", None),
        ("/app", Some("example.com")),
        ("/a-b_c.~!$&'()*+,=:@%20", Some(".sub-1.example.com")),
        ("/x/y/", Some("localhost")),
    ] {
        let mut builder = SessionConfig::testing().store(store()).path(path);
        if let Some(domain) = domain {
            builder = builder.domain(domain);
        }
        let manager = SessionManager::<Vec<String>>::new(builder.build().unwrap());
        let session = manager.create();
        session.data_mut().push("tea".into());
        let header = manager.commit(&session).await.unwrap().expect("saved");
        // What `http::HeaderValue::from_str` accepts: visible ASCII and SP.
        assert!(
            header.as_str().bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{header}"
        );
        assert!(header.as_str().contains(&format!("Path={path}")));
    }
}

#[test]
fn cache_headers_for_every_combination_of_facts() {
    let on = SessionConfig::testing().store(store()).build().unwrap();
    let off = SessionConfig::testing()
        .store(store())
        .cache_headers(false)
        .build()
        .unwrap();
    for bits in 0u8..16 {
        let facts = ResponseFacts {
            sets_session_cookie: bits & 1 != 0,
            session_loaded: bits & 2 != 0,
            has_cache_control: bits & 4 != 0,
            varies_on_cookie: bits & 8 != 0,
        };
        let headers = on.cache_headers_for(facts);
        assert_eq!(
            headers.no_store,
            facts.sets_session_cookie && !facts.has_cache_control,
            "{facts:?}"
        );
        assert_eq!(
            headers.vary_cookie,
            (facts.session_loaded || facts.sets_session_cookie) && !facts.varies_on_cookie,
            "{facts:?}"
        );
        assert!(off.cache_headers_for(facts).is_empty(), "{facts:?}");
    }
}

#[test]
fn vary_members_are_matched_whole_and_without_case() {
    for covered in [
        &["Cookie"][..],
        &["cookie"],
        &["COOKIE"],
        &["Accept-Encoding, Cookie"],
        &["Accept-Encoding,cookie ,Origin"],
        &["Origin", "\tCookie\t"],
        &["*"],
        &["Origin", " * "],
    ] {
        assert!(
            CacheHeaders::vary_covers_cookie(covered.iter().copied()),
            "{covered:?}"
        );
    }
    for not_covered in [
        &[][..],
        &[""],
        &["Cookies"],
        &["Set-Cookie"],
        &["Cookie2"],
        &["Accept-Encoding", "Origin"],
        &["x-cookie"],
    ] {
        assert!(
            !CacheHeaders::vary_covers_cookie(not_covered.iter().copied()),
            "{not_covered:?}"
        );
    }
}
