//! The acceptance suite: the real `axum-demo` and `actix-demo` binaries,
//! started as processes on loopback and driven over HTTP, on every store
//! listed at the bottom of this file (the demo's `examples::store::STORES`).
//!
//! - `harness`: starting a server (`Target::start`), reading its address,
//!   killing it on drop; an HTTP `Agent` that keeps the session cookie;
//!   `Set-Cookie` parsing.
//! - `scenarios`: one async function per behaviour of the reference app (`examples/README.md`).
//! - `startup`: bad configuration exits with one line; defaults work.
//! - `browser`: the page at `/` in headless Chromium (WebDriver), on both
//!   demos: login, counter, flash, logout, a forged cross-site post, the
//!   `HttpOnly` cookie, a screenshot.
//! - `accounts`: a user's sessions (remember-me, listing, revoking, the cap
//!   per user), also over two servers sharing the store.
//! - `serialize`: `SESSION_CONCURRENCY=serialize` with parallel requests on
//!   one cookie over an axum-demo and an actix-demo sharing the store.
//!
//! - `operations`: `GET /metrics` after real requests, and
//!   `SESSION_STORE_OUTAGE=degrade` while a store of the test's own
//!   (`servers`: Redis, PostgreSQL) is killed and started again.
//! - `stores`: scenarios of some stores only (what lands in the store,
//!   cookie restarts and secret rotation, a Redis outage, servers that
//!   create one table together, a restart of the demo); `inspect` reads a store's raw contents.
//!
//! Every server gets `BIND=127.0.0.1:0`, `SESSION_STORE=<store>`,
//! `SESSION_SECRET=<test secret>`, `SESSION_COOKIE_SECURE=false` (a cookie
//! jar does not send `Secure` cookies over plain http) and a
//! `SESSION_NAMESPACE` of its own (`t<pid>_<millis>_<n>`): its Redis key
//! prefix, its SQL table or its MongoDB collection, dropped when the server
//! stops. `REDIS_URL` and `MONGODB_URL` come from the environment of `cargo
//! test`; `DATABASE_URL` is set per store:
//! `POSTGRES_URL` or `postgres://postgres@127.0.0.1:5432/test`, `MYSQL_URL` or
//! `mysql://root@127.0.0.1:3306/test`, and for `sqlite` a fresh file per
//! server in the temporary directory, removed when it stops. Tests run as
//! `<store>::<framework>::<scenario>`, for example `cargo test -p examples
//! --test acceptance memory::axum::`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod accounts;
mod browser;
mod csrf;
mod harness;
mod inspect;
mod operations;
mod scenarios;
mod serialize;
mod servers;
mod startup;
mod stores;
mod versions;

/// One `#[tokio::test]` per scenario of `crate::$module` for a target.
macro_rules! tests_of {
    ($module:ident, $target:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                crate::$module::$scenario(&$target).await;
            }
        )*
    };
}

/// One test per scenario of the reference app (`examples/README.md`) for a
/// target; the list is written here once.
macro_rules! scenario_tests {
    ($target:path) => {
        tests_of!(scenarios, $target;
            health_sets_no_cookie,
            counter_counts_from_one,
            peek_changes_nothing,
            login_rotates_the_token,
            login_locks_after_five_failures,
            successful_login_resets_failures,
            me_tells_who_is_logged_in,
            logout_ends_the_session,
            flash_shows_once,
            consent_is_recorded,
            secret_note_round_trips,
            cookie_attributes,
            idle_timeout_expires_sessions,
            absolute_timeout_expires_sessions,
            bad_cookies_get_fresh_sessions,
            bad_bodies_are_client_errors,
            json_routes_require_json,
            login_as_another_user_starts_clean,
            unknown_routes_are_json_errors,
            csrf_guards_the_page_and_the_json_routes,
        );
    };
}

/// A user's sessions (`accounts`), for a target.
macro_rules! account_tests {
    ($target:path) => {
        tests_of!(accounts, $target;
            remember_me_outlives_the_idle_timeout,
            devices_are_listed_and_revoked,
            a_login_over_the_cap_ends_the_oldest,
        );
    };
}

/// The tests that run on one framework's demo (`$target`): every scenario,
/// and the store's own ones (`$own` from `stores`, `$ops` from
/// `operations`).
macro_rules! framework_tests {
    ($framework:ident, $target:path, [$($own:ident),*], [$($ops:ident),*]) => {
        mod $framework {
            scenario_tests!($target);
            account_tests!($target);
            tests_of!(versions, $target; version_1_first, version_2_first);
            tests_of!(operations, $target; metrics_count_real_requests);
            tests_of!(stores, $target; $($own),*);
            tests_of!(operations, $target; $($ops),*);
        }
    };
}

/// The whole suite for one store (named as its module and its
/// `SESSION_STORE`): every scenario on each framework of the one list
/// below (`axum-demo`, `actix-demo`), the store's own scenarios on both,
/// and checks over both frameworks at once.
macro_rules! acceptance_suite {
    ($module:ident, [$($own:ident),*], [$($ops:ident),*]) => {
        mod $module {
            use crate::harness::Target;

            // The frameworks: one demo binary each.
            const AXUM: Target = Target {
                program: env!("CARGO_BIN_EXE_axum-demo"),
                store: stringify!($module),
            };
            const ACTIX: Target = Target {
                program: env!("CARGO_BIN_EXE_actix-demo"),
                store: stringify!($module),
            };
            framework_tests!(axum, super::AXUM, [$($own),*], [$($ops),*]);
            framework_tests!(actix, super::ACTIX, [$($own),*], [$($ops),*]);

            #[tokio::test]
            async fn frameworks_answer_alike() {
                crate::scenarios::frameworks_answer_alike(&AXUM, &ACTIX).await;
            }

            #[tokio::test]
            async fn two_servers_share_a_users_sessions() {
                crate::accounts::two_servers_share_a_users_sessions(&AXUM, &ACTIX).await;
            }

            #[tokio::test]
            async fn csrf_tokens_pass_between_servers_until_rotation() {
                crate::csrf::a_token_passes_on_the_other_server_until_rotation(&AXUM, &ACTIX).await;
            }

            #[tokio::test]
            async fn serialize_parallel_counters_lose_nothing() {
                crate::serialize::parallel_counters_lose_nothing(&AXUM, &ACTIX).await;
            }

            #[tokio::test]
            async fn serialize_parallel_wrong_logins_lock_exactly() {
                crate::serialize::parallel_wrong_logins_lock_exactly(&AXUM, &ACTIX).await;
            }
        }
    };
}

/// One suite per store, `store: [its own scenarios] [its own operations];`,
/// and `SUITES`, their names, which `every_store_of_the_demo_has_a_suite`
/// holds against the demo's table of stores.
macro_rules! acceptance_suites {
    ($($module:ident: [$($own:ident),* $(,)?] [$($ops:ident),* $(,)?];)*) => {
        $(acceptance_suite!($module, [$($own),*], [$($ops),*]);)*

        /// Every store that has a suite above.
        const SUITES: &[&str] = &[$(stringify!($module)),*];
    };
}

// Adding a store to the demo (a row of `examples::store::STORES`) is one
// line here too; the test below fails until it is there.
acceptance_suites! {
    memory: [] [];
    redis: [
        the_store_never_holds_the_note_or_the_token,
        a_redis_outage_is_a_quick_503_and_heals,
        near_caches_stay_coherent_across_servers,
    ] [degrade_keeps_sessions_through_an_outage];
    cookie: [cookie_sessions_survive_restarts_and_rotation] [];
    postgres: [
        the_store_never_holds_the_note_or_the_token,
        servers_starting_together_share_one_table,
    ] [degrade_keeps_sessions_through_an_outage];
    mysql: [
        the_store_never_holds_the_note_or_the_token,
        servers_starting_together_share_one_table,
    ] [];
    sqlite: [
        the_store_never_holds_the_note_or_the_token,
        servers_starting_together_share_one_table,
    ] [];
    mongodb: [
        the_store_never_holds_the_note_or_the_token,
        sessions_survive_a_restart_of_the_demo,
    ] [];
}

/// The suites above and the demo's stores are one list: a store added to
/// the demo without a suite fails here rather than going untested.
#[test]
fn every_store_of_the_demo_has_a_suite() {
    let demo: Vec<&str> = examples::store::STORES
        .iter()
        .map(|entry| entry.name)
        .collect();
    assert_eq!(SUITES, demo.as_slice());
}
