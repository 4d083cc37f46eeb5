//! The acceptance suite: the real `axum-demo` and `actix-demo` binaries,
//! started as processes on loopback and driven over HTTP, on every store
//! listed at the bottom of this file.
//!
//! - `harness`: starting a server (`Target::start`), reading its address,
//!   killing it on drop; an HTTP `Agent` that keeps the session cookie;
//!   `Set-Cookie` parsing.
//! - `scenarios`: one async function per behaviour of REFERENCE-APP.md.
//! - `startup`: bad configuration exits with one line; defaults work.
//!
//! Every server gets `BIND=127.0.0.1:0`, `SESSION_STORE=<store>`,
//! `SESSION_SECRET=<test secret>`, `SESSION_COOKIE_SECURE=false` (a cookie
//! jar does not send `Secure` cookies over plain http) and a
//! `SESSION_NAMESPACE` unique to the test run (`t<pid>_<millis>`, shared by
//! its servers); `REDIS_URL` and `DATABASE_URL` come from the environment of
//! `cargo test` (for `sqlite`, a fresh file per server in the temporary
//! directory, removed when it stops). Tests run as `<store>::<framework>::<scenario>`,
//! for example `cargo test -p examples --test acceptance memory::axum::`.

mod harness;
mod scenarios;
mod startup;

/// One `#[tokio::test]` per scenario for a target; the list of scenarios is
/// written here once.
macro_rules! scenario_tests {
    ($target:path) => {
        scenario_tests!($target;
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
            unknown_routes_are_json_errors,
        );
    };
    ($target:path; $($scenario:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                crate::scenarios::$scenario(&$target).await;
            }
        )+
    };
}

/// The whole suite for one store: every scenario on both frameworks, and a
/// check that both frameworks answer alike. Adding a store is one line
/// below.
macro_rules! acceptance_suite {
    ($module:ident, $store:literal) => {
        mod $module {
            use crate::harness::Target;

            const AXUM: Target = Target {
                program: env!("CARGO_BIN_EXE_axum-demo"),
                store: $store,
            };
            const ACTIX: Target = Target {
                program: env!("CARGO_BIN_EXE_actix-demo"),
                store: $store,
            };

            mod axum {
                scenario_tests!(super::AXUM);
            }

            mod actix {
                scenario_tests!(super::ACTIX);
            }

            #[tokio::test]
            async fn frameworks_answer_alike() {
                crate::scenarios::frameworks_answer_alike(&AXUM, &ACTIX).await;
            }
        }
    };
}

acceptance_suite!(memory, "memory");
