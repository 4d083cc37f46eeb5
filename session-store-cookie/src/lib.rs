//! The cookie session store: the whole session sealed in the cookie, for
//! applications without a server-side store.
//!
//! - [`CookieStore`]: seals the record (data, created-at, idle and absolute
//!   expiry, version, owner) with AES-256-GCM under the configuration's
//!   [`KeyRing`](session_core::KeyRing), the cookie name bound in as
//!   associated data. The client can neither read the session nor change it,
//!   nor move the value to another cookie.
//! - Expiry sealed inside the value is enforced on every load, whatever
//!   `Max-Age` the browser kept.
//! - Secrets rotate: a cookie sealed with an older secret of the ring opens
//!   and is resealed with the first one on the next response
//!   ([`CookieStoreBuilder::reseal_old_keys`]).
//! - Size: the request cycle measures the whole `Set-Cookie` after sealing
//!   and refuses more than 4096 bytes with
//!   [`SessionError::CookieTooLarge`](session_core::SessionError::CookieTooLarge),
//!   never a truncated cookie. Optional deflate
//!   ([`CookieStoreBuilder::compress_above`]) fits more text-like data.
//! - Replay: a copied cookie stays valid until the expiry sealed in it. Keep
//!   the idle timeout short, and add a [`Revocation`] hook (for example
//!   [`RevocationList`]) to make logout and rotation final: a revocation
//!   lasts until the revoked cookie's sealed absolute expiry, however long.
//! - No server state: get by id, clear, count, listing and deleting by
//!   owner answer [`StoreError::Unsupported`](session_core::store::StoreError::Unsupported).
//!
//! Opening is total: any byte string gives a live record or one opaque
//! failure, which the request cycle treats as no cookie (a fresh session).
//! The crate README documents the sealed format, how much data fits, and
//! the fuzz script.
//!
//! # Example
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use session_core::{KeyRing, SessionConfig, SessionManager};
//! use session_store_cookie::CookieStore;
//!
//! #[derive(Default, Clone, Serialize, Deserialize)]
//! struct Cart {
//!     items: Vec<String>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring = KeyRing::new(["a secret of at least thirty-two bytes!"])?;
//! let config = SessionConfig::testing()
//!     .keys(ring.clone())
//!     .store(CookieStore::new(ring))
//!     .build()?;
//! let manager = SessionManager::<Cart>::new(config);
//!
//! // First request: the session is created and sealed into the cookie.
//! let request = manager.start_request();
//! request.load(None).await?.data_mut().items.push("tea".into());
//! let set_cookie = manager.finish_request(&request, 200).await?.expect("a cookie");
//! assert!(!set_cookie.as_str().contains("tea")); // sealed, not readable
//!
//! // Second request: the cookie alone carries the session back.
//! let cookie = set_cookie.pair();
//! let request = manager.start_request();
//! assert_eq!(request.load(Some(cookie.as_str())).await?.data().items, ["tea"]);
//! # Ok(()) }
//! ```

mod compress;
mod format;
mod revocation;
mod store;

pub use revocation::{Revocation, RevocationList};
pub use store::{CookieStore, CookieStoreBuilder, DEFAULT_MAX_INFLATED, DEFAULT_REVOCATION_TTL};
