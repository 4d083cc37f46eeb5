//! The contract every server-side store keeps (session-store-conformance),
//! on the shared Redis at REDIS_URL, each test under prefixes of its own
//! that are cleared when it ends, however it ends.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::sync::Arc;

use common::{redis_url, unique_prefix};
use session_core::store::SessionStore;
use session_store_redis::RedisStore;

/// A test's store and its neighbour, each under its own prefix.
struct Fresh {
    store: RedisStore,
    prefixes: [String; 2],
}

/// The same contract with the near cache on (its tracking live first).
async fn fresh_cached() -> Fresh {
    let prefixes = [unique_prefix("conformance"), unique_prefix("neighbour")];
    Fresh {
        store: common::near_cached_store(&redis_url(), &prefixes[0]).await,
        prefixes,
    }
}

#[async_trait::async_trait]
impl session_store_conformance::Fixture for Fresh {
    fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.store.clone())
    }

    async fn neighbour(&self) -> Arc<dyn SessionStore> {
        Arc::new(connect(&self.prefixes[1]).await)
    }
}

async fn connect(prefix: &str) -> RedisStore {
    RedisStore::builder()
        .prefix(prefix)
        .connect(&redis_url())
        .await
        .expect("the shared Redis at REDIS_URL is reachable")
}

async fn fresh() -> Fresh {
    let prefixes = [unique_prefix("conformance"), unique_prefix("neighbour")];
    Fresh {
        store: connect(&prefixes[0]).await,
        prefixes,
    }
}

impl Drop for Fresh {
    /// Clears both prefixes on a connection of its own, on a thread of its
    /// own: the test's runtime may be the one that is ending.
    fn drop(&mut self) {
        let prefixes = self.prefixes.clone();
        let cleared = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                for prefix in &prefixes {
                    connect(prefix).await.clear().await.expect("cleared");
                }
            });
        });
        let _ = cleared.join();
    }
}

session_store_conformance::conformance_suite!(fresh());

mod near_cache {
    session_store_conformance::conformance_suite!(super::fresh_cached());
}

session_store_conformance::owner_suite!(fresh());

mod near_cache_owners {
    session_store_conformance::owner_suite!(super::fresh_cached());
}
