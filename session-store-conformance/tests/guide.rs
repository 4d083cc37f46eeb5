//! The store of session-core's guide ("Implementing a store", in
//! `session-core/src/store.rs`) keeps the whole contract: the same source,
//! included, through the same one-line suite every store runs.
#![cfg_attr(test, allow(clippy::unwrap_used))]

include!("../../session-core/src/store/guide.rs");

struct Fresh(GuideStore);

#[async_trait]
impl session_store_conformance::Fixture for Fresh {
    fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.0.clone())
    }

    async fn neighbour(&self) -> Arc<dyn SessionStore> {
        Arc::new(GuideStore::default())
    }

    async fn remove_expired(&self) -> Option<u64> {
        Some(self.0.remove_expired())
    }
}

async fn fresh() -> Fresh {
    Fresh(GuideStore::default())
}

session_store_conformance::conformance_suite!(fresh());
