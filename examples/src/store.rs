//! Opening the store that `SESSION_STORE` names.

use std::sync::Arc;

use session_core::SessionStore;
use session_store_memory::MemoryStore;

use crate::config::{DemoConfig, StoreKind};
use crate::error::DemoError;

/// Opens the configured store: one arm per store, each using the parts of
/// [`DemoConfig`] it needs (`redis_url`, `database_url`, `namespace`, `keys`).
///
/// A store that needs a server connects here, so that an unreachable server
/// stops the demo at start with one clear line rather than failing the first
/// request.
///
/// ```
/// use examples::{build_store, DemoConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let config = DemoConfig::from_pairs(&[]).unwrap();
/// assert!(build_store(&config).await.is_ok());
/// # }
/// ```
pub async fn build_store(config: &DemoConfig) -> Result<Arc<dyn SessionStore>, DemoError> {
    let store: Arc<dyn SessionStore> = match config.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Redis => return Err(DemoError::StoreNotBuilt(StoreKind::Redis)),
        StoreKind::Cookie => return Err(DemoError::StoreNotBuilt(StoreKind::Cookie)),
        StoreKind::Postgres => return Err(DemoError::StoreNotBuilt(StoreKind::Postgres)),
        StoreKind::Mysql => return Err(DemoError::StoreNotBuilt(StoreKind::Mysql)),
        StoreKind::Sqlite => return Err(DemoError::StoreNotBuilt(StoreKind::Sqlite)),
    };
    tracing::debug!(store = %config.store, "session store ready");
    Ok(store)
}
