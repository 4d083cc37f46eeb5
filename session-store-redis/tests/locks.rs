//! The session locks on the shared Redis at REDIS_URL: the lease checks of
//! session-store-conformance on two stores with connections of their own
//! and one prefix (cleared when the test ends), the lease key's expiry, and
//! a prefix whose braces make no hash tag.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{redis_url, unique_prefix, Raw};
use session_core::store::{LockAttempt, LockToken, SessionStore};
use session_core::SessionId;
use session_store_redis::RedisStore;

/// Two stores, as two processes would have them, on one prefix.
struct Twins {
    first: RedisStore,
    second: RedisStore,
    prefix: String,
}

impl session_store_conformance::Twins for Twins {
    fn first(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.first.clone())
    }

    fn second(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.second.clone())
    }
}

async fn connect(prefix: &str) -> RedisStore {
    RedisStore::builder()
        .prefix(prefix)
        .connect(&redis_url())
        .await
        .expect("the shared Redis at REDIS_URL is reachable")
}

async fn twins() -> Twins {
    let prefix = unique_prefix("locks");
    Twins {
        first: connect(&prefix).await,
        second: connect(&prefix).await,
        prefix,
    }
}

impl Drop for Twins {
    /// Clears the prefix (records and leases) on a connection of its own,
    /// on a thread of its own: the test's runtime may be the one ending.
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let cleared = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async { connect(&prefix).await.clear().await.expect("cleared") });
        });
        let _ = cleared.join();
    }
}

session_store_conformance::lease_suite!(twins());

#[tokio::test]
async fn a_lease_is_a_key_under_the_prefix_that_expires_with_the_lease() {
    let fx = twins().await;
    let locks = fx.first.locks().expect("locks");
    let id = SessionId::random();
    let token = LockToken::random();
    let lease = Duration::from_secs(7);
    assert!(matches!(
        locks.try_lock(&id, &token, lease, None).await.unwrap(),
        LockAttempt::Acquired(None)
    ));
    let key = format!("{0}lock:{{{0}{1}}}", fx.prefix, id.as_str());
    let mut raw = Raw::connect(&common::address(&redis_url())).await.unwrap();
    assert_eq!(
        raw.cmd(&["GET", &key]).await.unwrap().text(),
        token.to_hex()
    );
    let pttl = raw.cmd(&["PTTL", &key]).await.unwrap().int();
    assert!((6_000..=7_000).contains(&pttl), "{pttl}");
    // Not a session: counting and listing ignore it; clear removes it.
    assert_eq!(fx.first.count().await.unwrap(), 0);
    fx.first.clear().await.unwrap();
    assert_eq!(raw.cmd(&["EXISTS", &key]).await.unwrap().int(), 0);
}

#[tokio::test]
async fn a_value_of_another_kind_under_the_record_key_is_no_record() {
    let fx = twins().await;
    let id = SessionId::random();
    let key = fx.first.record_key(&id);
    let mut raw = Raw::connect(&common::address(&redis_url())).await.unwrap();
    raw.cmd(&["HSET", &key, "f", "v"]).await.unwrap();
    let locks = fx.first.locks().expect("locks");
    let token = LockToken::random();
    let answer = locks
        .try_lock(&id, &token, Duration::from_secs(5), None)
        .await;
    assert!(
        matches!(answer, Ok(LockAttempt::Acquired(None))),
        "{answer:?}"
    );
    // Left as it was.
    assert_eq!(raw.cmd(&["TYPE", &key]).await.unwrap().text(), "hash");
    assert!(locks.unlock(&id, &token).await.unwrap());
    raw.cmd(&["DEL", &key]).await.unwrap();
}
