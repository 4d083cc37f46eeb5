//! Why the demo could not start.

use std::net::SocketAddr;

use session_core::store::StoreError;

use crate::config::{ConfigError, StoreKind};

/// Starting the demo failed. Each message is one line, fit for stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The environment holds a bad value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened (unreachable server, bad URL, ...).
    #[error("could not open the {store} store: {source}")]
    Store {
        /// Which store.
        store: StoreKind,
        /// What went wrong.
        #[source]
        source: StoreError,
    },
    /// The session configuration was refused.
    #[error("invalid session configuration: {0}")]
    Session(#[from] session_core::ConfigError),
    /// The address could not be bound (in use, not local, ...).
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// `BIND`.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("the server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl DemoError {
    /// The exit code: 2 for a bad configuration (the user's to fix), 1 for
    /// anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            DemoError::Config(_) | DemoError::Session(_) => 2,
            _ => 1,
        }
    }
}
