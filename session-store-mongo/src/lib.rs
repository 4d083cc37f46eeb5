#![doc = include_str!("../README.md")]
//!
//! # Where things are
//!
//! - [`MongoStore`]: the store ([`SessionStore`](session_core::store::SessionStore)
//!   implementation), [`MongoStore::connect`], [`MongoStore::builder`] and
//!   [`MongoStore::migrate`] (the indexes); its
//!   [`SessionLocks`](session_core::store::SessionLocks) implementation (for
//!   `Concurrency::Serialize`) keeps leases in
//!   [`MongoStore::lease_collection_name`].
//! - [`MongoStoreBuilder`]: database and collection names, command timeout,
//!   the cleanup ([`cleanup_every`](MongoStoreBuilder::cleanup_every),
//!   [`no_cleanup`](MongoStoreBuilder::no_cleanup)), and a URL or a
//!   [`mongodb::Client`].
//! - [`MongoStore::remove_expired`]: removes expired documents now and
//!   reports each to the store's
//!   [`ExpirySink`](session_core::store::ExpirySink) (what `on_expired`
//!   hears); the cleanup task runs it periodically.
//! - [`ConnectError`]: why [`MongoStore::connect`] failed;
//!   [`ConfigError`]: a name MongoDB would refuse.
//! - [`mongodb`]: re-exported, so that the client handed to the builder
//!   comes from the same version.
#![deny(missing_docs)]

mod builder;
mod document;
mod error;
mod lock;
mod store;

pub use builder::{
    MongoStoreBuilder, DEFAULT_CLEANUP_BATCH, DEFAULT_CLEANUP_EVERY, DEFAULT_COLLECTION,
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_DATABASE,
};
pub use error::{ConfigError, ConnectError};
pub use store::{MongoStore, EXPIRY_INDEX, OWNER_INDEX};

/// The MongoDB driver this store is built on.
pub use mongodb;
