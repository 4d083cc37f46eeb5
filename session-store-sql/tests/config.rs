//! Construction errors that need no database: bad names and URLs fail
//! before any connection is attempted.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::error::Error as _;
use std::time::{Duration, Instant};

use session_core::store::StoreError;
use session_store_sql::{ConfigError, SqlDialect, SqlStore};

/// The store's own [`ConfigError`] inside a [`StoreError::Config`]: never
/// `Unavailable`, which would be a `503` that no retry can cure.
fn config_error(err: &StoreError) -> &ConfigError {
    assert!(
        matches!(err, StoreError::Config(_)) && !err.is_unavailable(),
        "not StoreError::Config: {err:?}"
    );
    err.source()
        .and_then(|s| s.downcast_ref::<ConfigError>())
        .unwrap_or_else(|| panic!("not a configuration error: {err}"))
}

#[tokio::test]
async fn unknown_schemes_are_refused_without_echoing_the_url() {
    let err = SqlStore::connect("redis://user:hunter2@127.0.0.1/0")
        .await
        .unwrap_err();
    assert!(matches!(
        config_error(&err),
        ConfigError::UnsupportedScheme { scheme } if scheme == "redis"
    ));
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn bad_names_fail_before_connecting() {
    // Nothing listens on port 1: only a check before connecting answers fast
    // with a configuration error.
    for builder in [
        SqlStore::builder().table("sessions; DROP TABLE users"),
        SqlStore::builder().schema("a.b"),
        SqlStore::builder().table(""),
    ] {
        let started = Instant::now();
        let err = builder
            .connect("postgres://postgres@127.0.0.1:1/test")
            .await
            .unwrap_err();
        assert!(matches!(
            config_error(&err),
            ConfigError::InvalidName { .. }
        ));
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}

#[tokio::test]
async fn a_malformed_url_is_a_configuration_error_that_keeps_the_password_out() {
    for url in [
        "postgres://postgres:hunter2@127.0.0.1:notaport/test",
        "mysql://root:hunter2@127.0.0.1:3306/test?ssl-mode=sometimes",
        "sqlite://sessions.db?mode=sideways",
    ] {
        let err = SqlStore::connect(url).await.unwrap_err();
        assert!(
            matches!(config_error(&err), ConfigError::InvalidUrl { .. }),
            "{url}: {err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[tokio::test]
async fn a_bad_name_on_the_applications_pool_is_a_configuration_error() {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    let err = SqlStore::builder()
        .table("no spaces")
        .build_with_pool(pool)
        .unwrap_err();
    assert!(matches!(
        config_error(&err),
        ConfigError::InvalidName { what: "table", .. }
    ));
}

#[test]
fn the_readme_shows_the_sql_that_migrate_runs() {
    let readme = include_str!("../README.md");
    for dialect in [SqlDialect::Postgres, SqlDialect::MySql, SqlDialect::Sqlite] {
        for statement in dialect.migration_sql(None, "sessions").unwrap() {
            assert!(
                readme.contains(&format!("{statement};")),
                "README.md lacks the {dialect} statement:\n{statement};"
            );
        }
    }
}
