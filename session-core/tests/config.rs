//! The configuration refuses what would be unsafe or unusable.

use std::time::Duration;

use session_core::{ConfigError, SameSite, SessionConfig};
use session_store_memory::MemoryStore;

fn store() -> MemoryStore {
    MemoryStore::builder().no_sweeper().build()
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
    let config = SessionConfig::builder()
        .store(store())
        .secret(secret)
        .build()
        .unwrap();
    let text = format!("{config:?}");
    assert!(!text.contains("do not print"), "{text}");
}
