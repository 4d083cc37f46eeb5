//! The contract every server-side store keeps (session-store-conformance),
//! on a memory store without its sweeper, so that expired records are seen
//! to be absent before anything removes them.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;

use session_core::store::SessionStore;
use session_store_memory::MemoryStore;

struct Fresh(MemoryStore);

#[async_trait::async_trait]
impl session_store_conformance::Fixture for Fresh {
    fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.0.clone())
    }

    async fn neighbour(&self) -> Arc<dyn SessionStore> {
        Arc::new(unswept())
    }

    async fn remove_expired(&self) -> Option<u64> {
        Some(self.0.remove_expired())
    }
}

fn unswept() -> MemoryStore {
    MemoryStore::builder().no_cleanup().build()
}

async fn fresh() -> Fresh {
    Fresh(unswept())
}

session_store_conformance::conformance_suite!(fresh());
session_store_conformance::owner_suite!(fresh());
