//! The reference app: the demo that two servers, `axum-demo` and
//! `actix-demo`, serve identically (the contract is in this crate's `README.md`).
//!
//! Everything but the framework glue lives here, written once:
//!
//! - [`config`]: the environment variables, checked ([`DemoConfig`]).
//! - [`store`]: opening the store that `SESSION_STORE` names ([`build_store`]).
//! - [`model`]: the session data ([`DemoSession`]: a counter, the user, and a
//!   compliance part with consent, an access log and a sealed note).
//! - [`routes`]: what every route does, as functions from a session and a
//!   body to a [`Reply`].
//! - [`ui`]: the page at `/` and its forms' routes, with the CSRF policy.
//! - [`table`]: every route declared once (path, methods, body, login
//!   guard, function), which both binaries turn into their router.
//! - [`startup`]: logging, building the session manager, announcing the
//!   address, failing with one line.
//! - [`error`]: why a start failed ([`DemoError`]).
//!
//! Run one with `cargo run --release --bin axum-demo` (or `actix-demo`); with
//! no configuration it listens on `127.0.0.1:3000` with the memory store:
//!
//! ```text
//! curl -i -c jar -b jar http://127.0.0.1:3000/counter
//! curl -i -c jar -b jar -H 'Content-Type: application/json' \
//!      -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//! ```
//!
//! (Without `SESSION_COOKIE_SECURE=false`, curl keeps the `Secure` cookie
//! but sends it only over https.)
//!
//! Another store is one variable away, for example
//! `SESSION_STORE=redis cargo run --release --bin axum-demo`; [`config`]
//! lists what each store connects to by default (`REDIS_URL`,
//! `DATABASE_URL`) and where it keeps sessions (`SESSION_NAMESPACE`).

pub mod config;
pub mod error;
pub mod metrics;
pub mod model;
pub mod routes;
pub mod startup;
pub mod store;
pub mod table;
pub mod ui;

pub use config::{ConfigError, DemoConfig, StoreKind};
pub use error::DemoError;
pub use model::DemoSession;
pub use routes::Reply;
pub use store::build_store;

/// The workspace README, so that every Rust block in it compiles as a
/// doctest of this crate (the quick start must build as written).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
