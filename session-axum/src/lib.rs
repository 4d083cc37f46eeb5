//! axum integration for typed sessions ([`session_core`]).
//!
//! - [`SessionLayer`]: the tower layer that runs the request cycle: it starts
//!   a lazy session per request and, after the handler, saves what changed
//!   and appends the `Set-Cookie` header.
//! - [`Session`]: the extractor handlers take; it loads the session on first
//!   use (one store call per request at most). `Option<Session<T>>` is
//!   `None` where the layer is missing.
//! - [`ReadOnlySession`]: the extractor for a handler that only reads; it
//!   takes no lock under [`Concurrency::Serialize`](session_core::Concurrency::Serialize).
//! - [`SessionRejection`]: why extraction failed (core's
//!   [`Rejection`](session_core::adapter::Rejection)): the layer is missing
//!   (`500`, a setup mistake) or the store failed (`503` when it is down).
//! - [`LoginGuard`]: a layer that sends sessions that are not signed in to
//!   the sign-in page (`303`) or answers `401`.
//! - [`CsrfLayer`]: refuses cross-site requests and unsafe requests without
//!   the session's CSRF token (`403`), as a
//!   [`CsrfPolicy`](session_core::csrf::CsrfPolicy) says.
//!
//! All the policy (what to save, when to touch, which cookie to send) lives
//! in [`session_core`]; this crate only moves headers.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use serde::{Deserialize, Serialize};
//! use session_axum::{LoginGuard, Session, SessionConfig, SessionLayer, SessionManager};
//! use session_store_memory::MemoryStore;
//!
//! #[derive(Default, Clone, Serialize, Deserialize)]
//! struct UserSession {
//!     username: Option<String>,
//!     count: u32,
//! }
//!
//! async fn counter(session: Session<UserSession>) -> String {
//!     let count = session.update(|data| {
//!         data.count += 1;
//!         data.count
//!     });
//!     format!("{count}")
//! }
//!
//! async fn health() -> &'static str {
//!     "ok" // never touches the session: no store call, no Set-Cookie
//! }
//!
//! async fn account(session: Session<UserSession>) -> String {
//!     format!("hello {}", session.data().username.as_deref().unwrap_or_default())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionConfig::development().store(MemoryStore::new()).build()?;
//! let manager = SessionManager::<UserSession>::new(config);
//!
//! let app = Router::new()
//!     .route("/account", get(account))
//!     // Layers wrap what is above them: the guard runs inside the session layer.
//!     .route_layer(LoginGuard::new(|data: &UserSession| data.username.is_some()))
//!     .route("/counter", get(counter))
//!     .route("/health", get(health))
//!     .layer(SessionLayer::new(manager));
//!
//! # use tower::ServiceExt;
//! # let get = |uri| http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
//! # let response = app.clone().oneshot(get("/counter")).await?;
//! # assert!(response.headers()[http::header::SET_COOKIE].to_str()?.starts_with("_session="));
//! # let response = app.oneshot(get("/account")).await?;
//! # assert_eq!(response.status(), 303);
//! # assert_eq!(response.headers()["location"], "/login?redirect_to=%2Faccount");
//! # Ok(()) }
//! ```
//!
//! Serving it is plain axum:
//!
//! ```no_run
//! # async fn serve(app: axum::Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # Caching
//!
//! [`SessionLayer`] adds `Cache-Control: no-store` to a response that sets or
//! removes the session cookie, unless the handler set a `Cache-Control` of
//! its own, and `Vary: Cookie` to every response whose handler loaded the
//! session (appended as a line of its own: an existing `Vary` is kept,
//! `Cookie` is never repeated and `Vary: *` stays alone). Shared caches then
//! neither keep a session cookie nor serve one user's page to another.
//! [`SessionConfig::cache_headers_for`](session_core::SessionConfig::cache_headers_for)
//! holds the rules; `.cache_headers(false)` on the builder turns them off.
//!
//! # Errors
//!
//! A tampered, expired or absurd cookie is a fresh session, never an error.
//! A store failure while loading rejects the extraction, and one while
//! saving replaces the response: both answer [`SessionError::status_code`]
//! (`503` for an unavailable store, `500` for a session over
//! [`max_session_bytes`](session_core::SessionConfigBuilder::max_session_bytes))
//! with [`SessionError::public_message`] as a `text/plain` body, and log the
//! detail as a `tracing` error event. A
//! `5xx` from the handler saves nothing (see
//! [`SessionConfigBuilder::save_on_server_error`](session_core::SessionConfigBuilder::save_on_server_error)).

mod csrf;
mod extract;
mod guard;
mod layer;
mod response;

pub use csrf::CsrfLayer;
pub use extract::{Extract, ReadOnlySession, Session, SessionRejection};
pub use guard::LoginGuard;
pub use layer::{SessionLayer, SessionService};

/// The framework-neutral core, re-exported so applications name one crate.
pub use session_core;
pub use session_core::{SessionConfig, SessionError, SessionManager};
