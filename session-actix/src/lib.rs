//! actix-web integration for typed sessions ([`session_core`]).
//!
//! - [`SessionMiddleware`]: the middleware (a `Transform`, for `App::wrap`)
//!   that runs the request cycle: it starts a lazy session per request and,
//!   after the handler, saves what changed and appends the `Set-Cookie`
//!   header.
//! - [`Session`]: the extractor handlers take; it loads the session on first
//!   use (one store call per request at most). It is `Send + Sync`.
//! - [`ReadOnlySession`]: the extractor for a handler that only reads; it
//!   takes no lock under [`Concurrency::Serialize`](session_core::Concurrency::Serialize).
//! - [`SessionRejection`]: why extraction failed (core's
//!   [`Rejection`](session_core::adapter::Rejection)): the middleware is missing
//!   (`500`, a setup mistake) or the store failed (`503` when it is down).
//! - [`LoginGuard`]: a middleware that sends sessions that are not signed in
//!   to the sign-in page (`303`) or answers `401`.
//! - [`CsrfMiddleware`]: refuses cross-site requests and unsafe requests
//!   without the session's CSRF token (`403`), as a
//!   [`CsrfPolicy`](session_core::csrf::CsrfPolicy) says.
//! - [`SessionExt`]: `get_session::<T>()` on `HttpRequest` and
//!   `ServiceRequest`, for guards and middleware of your own.
//!
//! All the policy (what to save, when to touch, which cookie to send) lives
//! in [`session_core`]; this crate only moves headers.
//!
//! # Example
//!
//! In actix-web the **last** `.wrap` runs first: register the
//! [`SessionMiddleware`] after the [`LoginGuard`], so that it runs around it.
//!
//! ```
//! use actix_web::{web, App};
//! use serde::{Deserialize, Serialize};
//! use session_actix::{LoginGuard, Session, SessionConfig, SessionManager, SessionMiddleware};
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
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionConfig::development().store(MemoryStore::new()).build()?;
//! let manager = SessionManager::<UserSession>::new(config);
//!
//! let app = App::new()
//!     .service(
//!         web::scope("/account")
//!             .wrap(LoginGuard::new(|data: &UserSession| data.username.is_some()))
//!             .route("", web::get().to(account)),
//!     )
//!     .route("/counter", web::get().to(counter))
//!     .route("/health", web::get().to(health))
//!     .wrap(SessionMiddleware::new(manager));
//! # use actix_web::{http::header::SET_COOKIE, test};
//! # let service = test::init_service(app).await;
//! # let response = test::call_service(&service, test::TestRequest::get().uri("/counter").to_request()).await;
//! # assert!(response.headers().get(SET_COOKIE).unwrap().to_str()?.starts_with("_session="));
//! # let response = test::call_service(&service, test::TestRequest::get().uri("/account").to_request()).await;
//! # assert_eq!(response.status(), 303);
//! # assert_eq!(response.headers().get("location").unwrap(), "/login?redirect_to=%2Faccount");
//! # Ok(()) }
//! ```
//!
//! Serving it is plain actix-web:
//!
//! ```no_run
//! # use actix_web::{App, HttpServer};
//! # use session_actix::{SessionConfig, SessionManager, SessionMiddleware};
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = SessionConfig::development().store(session_store_memory::MemoryStore::new()).build()?;
//! # let manager = SessionManager::<()>::new(config);
//! // The factory runs once per worker thread; the manager is shared.
//! HttpServer::new(move || App::new().wrap(SessionMiddleware::new(manager.clone())))
//!     .bind("127.0.0.1:3000")?
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Caching
//!
//! [`SessionMiddleware`] adds `Cache-Control: no-store` to a response that sets or
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
//! When a middleware inside [`SessionMiddleware`] fails with an error, the
//! session is still committed for the error's status (a logout still
//! happens) and its `Set-Cookie`, with the caching headers, rides on the
//! error's response; without a `Set-Cookie` the error passes through as it
//! is (so outer error handlers still see its type).

mod csrf;
mod extract;
mod guard;
mod middleware;
mod response;

pub use csrf::CsrfMiddleware;
pub use extract::{Extract, ReadOnlySession, Session, SessionExt, SessionRejection};
pub use guard::LoginGuard;
pub use middleware::{SessionMiddleware, SessionService};

/// The framework-neutral core, re-exported so applications name one crate.
pub use session_core;
pub use session_core::{SessionConfig, SessionError, SessionManager};
