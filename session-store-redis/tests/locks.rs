//! The session locks on the shared Redis at REDIS_URL: the lease checks of
//! session-store-conformance on two stores with connections of their own
//! and one prefix (cleared when the test ends), the lease key's expiry, and
//! a prefix whose braces make no hash tag.
#![cfg_attr(test, allow(clippy::unwrap_used))]

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
session_store_conformance::wakeup_suite!(twins());

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

/// The string value of `key`.
async fn value(raw: &mut Raw, key: &str) -> String {
    raw.cmd(&["GET", key]).await.unwrap().text()
}

/// The lease key of `id` under `prefix`, as the store writes it.
fn lease_key(prefix: &str, id: &SessionId) -> String {
    format!("{0}lock:{{{0}{1}}}", prefix, id.as_str())
}

#[tokio::test]
async fn a_lease_is_marked_as_waited_on_by_other_processes_until_its_release() {
    let fx = twins().await;
    let id = SessionId::random();
    let token = LockToken::random();
    let lease = Duration::from_secs(7);
    let (holder, waiter) = (fx.first.locks().unwrap(), fx.second.locks().unwrap());
    let lease_key = lease_key(&fx.prefix, &id);
    let mut raw = Raw::connect(&common::address(&redis_url())).await.unwrap();
    let unmarked = token.to_hex();
    let marked = format!("{unmarked}:w");
    assert!(matches!(
        holder.try_lock(&id, &token, lease, None).await.unwrap(),
        LockAttempt::Acquired(None)
    ));
    // Nobody waits: nothing marked.
    assert_eq!(value(&mut raw, &lease_key).await, unmarked);
    // A refusal to a token of the holder's process (the same first 8
    // bytes, as `LockToken::unique` makes them) marks nothing either: that
    // process hands the lease on by itself.
    let mut same_process = *token.as_bytes();
    same_process[15] ^= 1;
    let same_process = LockToken::from_bytes(same_process);
    let refused = waiter.try_lock(&id, &same_process, lease, None).await;
    assert!(matches!(refused.unwrap(), LockAttempt::Held { .. }));
    assert_eq!(value(&mut raw, &lease_key).await, unmarked);
    // A refusal to another process's token marks it: a touching attempt
    // (the `lock` script) ...
    let touch = Some(session_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3600));
    let refused = waiter
        .try_lock(&id, &LockToken::random(), lease, touch)
        .await;
    assert!(matches!(refused.unwrap(), LockAttempt::Held { .. }));
    assert_eq!(
        value(&mut raw, &lease_key).await,
        marked,
        "by the touching attempt"
    );
    raw.cmd(&["SET", &lease_key, &unmarked, "KEEPTTL"])
        .await
        .unwrap();
    // ... and a plain one, keeping the lease's expiry; a second refusal
    // leaves it as it is.
    for _ in 0..2 {
        let refused = waiter
            .try_lock(&id, &LockToken::random(), lease, None)
            .await;
        let LockAttempt::Held { expires_in } = refused.unwrap() else {
            panic!("the lease is held");
        };
        assert!(expires_in > Duration::from_secs(5), "{expires_in:?}");
        assert_eq!(value(&mut raw, &lease_key).await, marked);
    }
    let left = raw.cmd(&["PTTL", &lease_key]).await.unwrap().int();
    assert!((5_000..=7_000).contains(&left), "{left}");
    // The holder still holds it, marked: it renews it, and gives it back.
    assert!(holder
        .extend(&id, &token, Duration::from_secs(9))
        .await
        .unwrap());
    let left = raw.cmd(&["PTTL", &lease_key]).await.unwrap().int();
    assert!((7_001..=9_000).contains(&left), "renewed: {left}");
    assert_eq!(
        value(&mut raw, &lease_key).await,
        marked,
        "renewed with its mark"
    );
    assert!(!holder.unlock(&id, &LockToken::random()).await.unwrap());
    assert!(holder.unlock(&id, &token).await.unwrap());
    assert_eq!(raw.cmd(&["EXISTS", &lease_key]).await.unwrap().int(), 0);
    // Not a session.
    assert_eq!(fx.first.count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_marked_lease_is_given_back_by_the_commit_of_its_holder() {
    let fx = twins().await;
    let (store, locks) = (&fx.first, fx.first.locks().unwrap());
    let record = common::record(60_000);
    store.create(&record).await.unwrap();
    let token = LockToken::random();
    let lease = Duration::from_secs(7);
    let attempt = locks
        .try_lock(&record.id, &token, lease, None)
        .await
        .unwrap();
    let LockAttempt::Acquired(Some(mut loaded)) = attempt else {
        panic!("the record is there: {attempt:?}");
    };
    let other = LockToken::random();
    let refused = fx
        .second
        .locks()
        .unwrap()
        .try_lock(&record.id, &other, lease, None);
    assert!(matches!(refused.await.unwrap(), LockAttempt::Held { .. }));
    let lease_key = lease_key(&fx.prefix, &record.id);
    let mut raw = Raw::connect(&common::address(&redis_url())).await.unwrap();
    assert!(value(&mut raw, &lease_key).await.ends_with(":w"), "marked");
    loaded.version += 1;
    let done = locks
        .save_and_unlock(&loaded, Some(loaded.version - 1), &token)
        .await;
    done.saved.expect("saved under its marked lease");
    assert_eq!(done.released, Some(true));
    assert_eq!(raw.cmd(&["EXISTS", &lease_key]).await.unwrap().int(), 0);
}

/// A token as versions before the lock wake-ups made it: a counter whose
/// top byte is 0 where tokens now carry `LockToken::MARK_AWARE`.
fn token_of_an_older_version() -> LockToken {
    let mut bytes = *LockToken::random().as_bytes();
    bytes[8] = 0;
    LockToken::from_bytes(bytes)
}

#[tokio::test]
async fn a_lease_whose_holder_knows_no_mark_is_never_marked() {
    // Its holder compares the lease with its token exactly: marked, its
    // release and its commit would be refused.
    let fx = twins().await;
    let id = SessionId::random();
    let old = token_of_an_older_version();
    let lease = Duration::from_secs(7);
    let (holder, waiter) = (fx.first.locks().unwrap(), fx.second.locks().unwrap());
    let taken = holder.try_lock(&id, &old, lease, None).await.unwrap();
    assert!(matches!(taken, LockAttempt::Acquired(None)), "{taken:?}");
    let touch = Some(session_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3600));
    for touch in [None, touch] {
        let other = LockToken::random();
        let refused = waiter.try_lock(&id, &other, lease, touch).await;
        assert!(matches!(refused.unwrap(), LockAttempt::Held { .. }));
    }
    let mut raw = Raw::connect(&common::address(&redis_url())).await.unwrap();
    assert_eq!(
        value(&mut raw, &lease_key(&fx.prefix, &id)).await,
        old.to_hex()
    );
}
