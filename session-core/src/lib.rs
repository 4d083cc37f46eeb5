//! Typed sessions for Rust web applications: the framework-neutral core.
//!
//! An application declares its session as a plain Rust struct; this crate
//! keeps it between requests in a store that the application picks in one
//! line of [`SessionConfig`]. The framework adapters (`session-axum`,
//! `session-actix`) only move cookies: the request cycle lives here.
//!
//! # What is where, and for whom
//!
//! **Applications** use the root of the crate:
//!
//! - [`SessionConfig`], built with [`SessionConfig::builder`]
//!   ([`SessionConfigBuilder`]): cookie attributes ([`CookieOptions`],
//!   [`SameSite`]), timeouts, [`IdleRefresh`], [`Concurrency`], secrets
//!   ([`KeyRing`]), the [`Codec`] (MessagePack with named fields by default, bincode 2, or
//!   JSON), callbacks and the store. [`ConfigError`]
//!   is what `build()` refuses.
//! - [`SessionManager`]: the provider: create, load and commit sessions, and
//!   outside any request get and find by id ([`SessionSnapshot`]), delete,
//!   clear, [`delete_by_owner`](SessionManager::delete_by_owner) ("log out
//!   everywhere"), count.
//! - [`Session`]: the per-request handle that handlers read ([`DataRef`])
//!   and write ([`DataMut`]); [`SessionData`] is any serde type with a
//!   default, no derive needed ([`SessionSchema`] for types that declare a
//!   schema version and migrations); [`SessionId`] names a session.
//! - [`SessionError`] and its [`ErrorClass`] (which HTTP status an adapter
//!   answers); [`FlashMessage`]; [`SessionEvent`]s ([`EventKind`]) for
//!   callbacks; [`LoginPolicy`] and [`Refusal`], what the adapters' login
//!   guards let through; [`Sealed`] fields, encrypted inside the session.
//! - [`csrf`]: CSRF tokens bound to the session
//!   ([`Session::csrf_token`]) and the checks of the adapters' CSRF layers
//!   ([`csrf::CsrfPolicy`]), with their threat model.
//! - [`crypto`] (keys, sealing) and [`time`] are the crates this API uses,
//!   re-exported so an application names one dependency.
//!
//! **Store authors** implement [`store::SessionStore`] over
//! [`store::Record`]s, answer [`store::StoreError`]s, and for a store that
//! keeps the record in the cookie itself, [`store::CookieSealing`]. See the
//! [`store`] module.
//!
//! **Adapter authors** find in [`adapter`] the request cycle
//! ([`adapter::LazySession`]), the `Set-Cookie` value
//! ([`adapter::SetCookie`]) and the caching headers
//! ([`adapter::CacheHeaders`]), with the behaviour both adapters share.
//!
//! # The rules this crate enforces
//!
//! - **Lazy**: a request that never asks for its session makes no store call
//!   and gets no `Set-Cookie`.
//! - **Write only what changed**: an unchanged session is not rewritten; when
//!   only the idle expiry must move, the store is asked to *touch* it.
//!   A new session is written only once it holds data.
//! - **Tokens versus ids**: the cookie carries a random 256-bit token; a
//!   server-side store keys the record by its SHA-256 ([`SessionId`]), which
//!   is also the only id the application sees.
//! - **Never adopt**: an unknown, expired, malformed or undecodable token gets
//!   a fresh session with a fresh token.
//! - **Two timeouts**: idle (sliding) and absolute (from creation, never
//!   extended).
//! - **Rotation**: [`Session::regenerate`] moves the session to a new token and
//!   removes the old record in the same commit.
//! - **Bounded**: a commit whose encoded session is over
//!   [`max_session_bytes`](SessionConfigBuilder::max_session_bytes) (64 KiB
//!   by default) writes nothing and fails with
//!   [`SessionError::SessionTooLarge`] (`500`); at most
//!   [`MAX_FLASH_MESSAGES`] flash messages wait, the oldest are dropped.
//! - **Not cached by others**: the adapters add `Cache-Control: no-store` to
//!   a response that sets the session cookie (unless it has a
//!   `Cache-Control` of its own) and `Vary: Cookie` to every response that
//!   loaded the session ([`SessionConfig::cache_headers_for`]).
//! - **Checked once**: [`SessionConfigBuilder::build`] refuses what could
//!   fail at request time (timeouts over [`MAX_TIMEOUT`], a refresh
//!   fraction outside (0, 1), a `Path` or `Domain` that is not a valid
//!   header value), so every [`SetCookie`](adapter::SetCookie) is a valid header value.
//! - **Exact cookie names**: only SP and HTAB are trimmed around cookie names
//!   and values (RFC 6265bis); a name with any other difference, such as a
//!   Unicode space, is another cookie.
//!
//! # Example
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use session_core::{SessionConfig, SessionManager};
//! use session_store_memory::MemoryStore;
//!
//! #[derive(Default, Clone, Serialize, Deserialize)]
//! struct Cart {
//!     items: Vec<String>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionConfig::builder().store(MemoryStore::new()).build()?;
//! let manager = SessionManager::<Cart>::new(config);
//!
//! // First request: no cookie yet.
//! let request = manager.start_request();
//! request.load(None).await?.data_mut().items.push("tea".into());
//! let set_cookie = manager.finish_request(&request, 200).await?.expect("a new session");
//!
//! // Second request: the browser sends the cookie back.
//! let cookie = set_cookie.pair();
//! let request = manager.start_request();
//! assert_eq!(request.load(Some(cookie.as_str())).await?.data().items, ["tea"]);
//! # Ok(()) }
//! ```

pub mod adapter;
mod check;
mod codec;
mod config;
mod cookie_header;
pub mod csrf;
mod cycle;
mod data;
mod envelope;
mod error;
mod events;
mod expiry;
mod extract;
mod flash;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod handoff;
mod id;
mod lock;
mod manager;
mod meta;
mod record;
mod schema;
mod serialize;
mod session;
mod skips;
pub mod store;
mod telemetry;

// The application API.
pub use codec::{Codec, CodecError};
pub use config::{
    Concurrency, ConfigError, CookieOptions, IdleRefresh, OutagePolicy, SameSite, SessionConfig,
    SessionConfigBuilder, DEFAULT_MAX_SESSION_BYTES, DEFAULT_REFRESH_FRACTION,
    DEFAULT_REMEMBER_MAX, MAX_COOKIE_BYTES, MAX_TIMEOUT,
};
pub use data::SessionData;
pub use error::{ErrorClass, SessionError};
pub use events::{EventKind, SessionEvent};
pub use expiry::ExpirySource;
pub use extract::ReadOnlySession;
pub use flash::{FlashMessage, MAX_FLASH_MESSAGES};
pub use guard::{LoginPolicy, Refusal};
pub use id::{InvalidId, SessionId};
pub use manager::{SessionManager, SessionSnapshot};
pub use meta::{Metadata, OwnerLimit, OwnerLimitPolicy, SessionEntry, MAX_USER_AGENT_BYTES};
pub use schema::SessionSchema;
pub use serialize::{DEFAULT_LOCK_LEASE, DEFAULT_LOCK_WAIT};
pub use session::{DataMut, DataRef, Session};

/// The crypto crate, re-exported so applications name one dependency.
pub use session_crypto as crypto;
pub use session_crypto::{KeyRing, Sealed};
/// The `time` crate used for every timestamp in this API.
pub use time;
