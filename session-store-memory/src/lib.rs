//! The in-memory session store: the default, for development, tests and
//! single-process deployments.
//!
//! - [`MemoryStore`]: records in a [`dashmap`] keyed by session id, an expiry
//!   index ordered by time, and an owner index for "log out everywhere".
//! - Expired records are invisible on load at once, and a background sweeper
//!   removes them, reading only the front of the expiry index (what has
//!   expired), never the whole map, in short steps on tokio's blocking pool
//!   so that no runtime worker waits for it. It stops when the store is
//!   dropped.
//!   Each record it removes, and each expired one a load meets (and
//!   removes), is reported once to the store's
//!   [`ExpirySink`](session_core::store::ExpirySink), for `on_expired`.
//! - An optional capacity bounds memory: at the limit the store either
//!   refuses new sessions or evicts the one closest to expiry ([`Overflow`]).
//!
//! - Session locks for `Concurrency::Serialize`: a lease per session id,
//!   with waiters woken by the release (no global lock).
//!
//! Sessions live in this process only: they vanish on restart and are not
//! shared between processes. Use the Redis or SQL store for that.
//!
//! ```
//! use std::time::Duration;
//! use session_store_memory::{MemoryStore, Overflow};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::builder()
//!     .capacity(100_000, Overflow::EvictSoonestExpiring)
//!     .cleanup_every(Duration::from_secs(30))
//!     .build();
//! # let _ = store; }
//! ```

mod held;
mod index;
mod lock;
mod owners;
mod store;
#[cfg(test)]
mod sweep_properties;

pub use store::{MemoryStore, MemoryStoreBuilder, Overflow, DEFAULT_CLEANUP_EVERY};
