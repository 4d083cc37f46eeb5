//! The contract every server-side store keeps (session-store-conformance),
//! on the shared server at MONGODB_URL, each test in collections of its own
//! that are dropped when it ends, however it ends.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::sync::Arc;

use common::{store_of, unique_collection, Dropped};
use session_core::store::SessionStore;
use session_store_mongo::MongoStore;

/// A test's store and its neighbour, each in its own collection.
struct Fresh {
    store: MongoStore,
    neighbour: String,
    _dropped: Dropped,
}

#[async_trait::async_trait]
impl session_store_conformance::Fixture for Fresh {
    fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.store.clone())
    }

    async fn neighbour(&self) -> Arc<dyn SessionStore> {
        Arc::new(store_of(&self.neighbour).await)
    }

    async fn remove_expired(&self) -> Option<u64> {
        Some(self.store.remove_expired().await.expect("remove_expired"))
    }
}

async fn fresh() -> Fresh {
    let names = [
        unique_collection("conformance"),
        unique_collection("neighbour"),
    ];
    Fresh {
        store: store_of(&names[0]).await,
        neighbour: names[1].clone(),
        _dropped: Dropped(names.to_vec()),
    }
}

session_store_conformance::conformance_suite!(fresh());
session_store_conformance::owner_suite!(fresh());
