//! The session locks on the shared server at MONGODB_URL: the lease checks
//! of session-store-conformance on two stores with clients of their own and
//! one collection (dropped with its lease collection when the test ends),
//! then what only this store does: the lease document, its TTL index, and
//! the duplicate key the server must answer for a live lease.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{raw, store_of, unique_collection, Dropped};
use futures_util::TryStreamExt;
use session_core::store::{LockAttempt, LockToken, SessionStore, StoreError};
use session_core::SessionId;
use session_store_mongo::mongodb::bson::spec::BinarySubtype;
use session_store_mongo::mongodb::bson::{doc, Bson, DateTime, Document};
use session_store_mongo::{MongoStore, EXPIRY_INDEX};

/// Two stores, as two processes would have them (each its own client), on
/// one collection.
struct Twins {
    first: MongoStore,
    second: MongoStore,
    name: String,
    _dropped: Dropped,
}

impl session_store_conformance::Twins for Twins {
    fn first(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.first.clone())
    }

    fn second(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.second.clone())
    }
}

async fn twins() -> Twins {
    let name = unique_collection("locks");
    Twins {
        first: store_of(&name).await,
        second: store_of(&name).await,
        _dropped: Dropped(vec![name.clone()]),
        name,
    }
}

session_store_conformance::lease_suite!(twins());

fn now_ms() -> i64 {
    DateTime::now().timestamp_millis()
}

async fn leases(fx: &Twins) -> Vec<Document> {
    raw(fx.first.lease_collection_name())
        .await
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_lease_is_a_document_with_the_token_and_its_end_beside_the_sessions() {
    let fx = twins().await;
    assert_eq!(
        fx.first.lease_collection_name(),
        format!("{}_locks", fx.name)
    );
    let locks = fx.first.locks().expect("locks");
    let id = SessionId::random();
    let token = LockToken::random();
    let before = now_ms();
    let answer = locks
        .try_lock(&id, &token, Duration::from_secs(7), None)
        .await
        .unwrap();
    let after = now_ms();
    assert!(matches!(answer, LockAttempt::Acquired(None)), "{answer:?}");

    let stored = leases(&fx).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let lease = &stored[0];
    // The fields, in whatever order the server's upsert put them (mongod
    // applies `$set` in field name order).
    let mut keys: Vec<&str> = lease.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["_id", "expires_at", "token"]);
    assert_eq!(lease.get_str("_id").unwrap(), id.as_str());
    match lease.get("token") {
        Some(Bson::Binary(b)) => {
            assert_eq!(b.subtype, BinarySubtype::Generic);
            assert_eq!(b.bytes, token.as_bytes());
        }
        other => panic!("the token is binary, got {other:?}"),
    }
    let ends = lease.get_datetime("expires_at").unwrap().timestamp_millis();
    assert!(
        (before + 7_000..=after + 7_000).contains(&ends),
        "{ends} not 7 s after [{before}, {after}]"
    );

    // The one the other store is told of, with at most its lease left.
    let other = fx.second.locks().expect("locks");
    match other
        .try_lock(&id, &LockToken::random(), Duration::from_secs(60), None)
        .await
        .unwrap()
    {
        LockAttempt::Held { expires_in } => assert!(expires_in <= Duration::from_secs(7)),
        acquired => panic!("expected held, got {acquired:?}"),
    }

    // Not a session: counting and listing ignore it; clear removes it.
    assert_eq!(fx.first.count().await.unwrap(), 0);
    assert!(fx.first.ids().await.unwrap().is_empty());
    fx.first.clear().await.unwrap();
    assert!(leases(&fx).await.is_empty());
    assert!(!locks.unlock(&id, &token).await.unwrap(), "cleared");
}

#[tokio::test]
async fn migrate_creates_a_ttl_index_on_the_lease_end() {
    let fx = twins().await;
    // Again, as every start does, and from two processes at once.
    let (a, b) = tokio::join!(fx.first.migrate(), fx.second.migrate());
    a.unwrap();
    b.unwrap();
    let indexes: Vec<_> = raw(fx.first.lease_collection_name())
        .await
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(indexes.len(), 2, "_id and the lease end: {indexes:?}");
    let ttl = indexes
        .iter()
        .find(|m| m.options.as_ref().and_then(|o| o.name.as_deref()) == Some(EXPIRY_INDEX))
        .unwrap_or_else(|| panic!("no index {EXPIRY_INDEX}: {indexes:?}"));
    assert_eq!(ttl.keys, doc! { "expires_at": 1 });
    let options = ttl.options.as_ref().expect("options");
    assert_eq!(options.expire_after, Some(Duration::ZERO));
}

/// What the store relies on, asked of the server directly: an upsert whose
/// filter matches only an ended lease, over a live one, collides on `_id`
/// (code 11000) instead of adding a second document or replacing the live
/// one.
#[tokio::test]
async fn the_server_answers_a_duplicate_key_to_an_upsert_over_a_live_lease() {
    let fx = twins().await;
    let leases_raw = raw(fx.first.lease_collection_name()).await;
    let live = DateTime::from_millis(now_ms() + 60_000);
    leases_raw
        .insert_one(doc! { "_id": "x", "token": "mine", "expires_at": live })
        .await
        .unwrap();
    let taking = leases_raw
        .update_one(
            doc! { "_id": "x", "expires_at": { "$lte": DateTime::now() } },
            doc! { "$set": { "token": "theirs", "expires_at": live } },
        )
        .upsert(true)
        .await;
    let error = taking.expect_err("a live lease is not taken");
    assert!(
        error.to_string().contains("11000") || error.to_string().contains("E11000"),
        "{error}"
    );
    let stored: Vec<Document> = leases_raw
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get_str("token").unwrap(), "mine");
}

#[tokio::test]
async fn an_ended_lease_is_released_and_renewed_by_nobody() {
    let fx = twins().await;
    let locks = fx.first.locks().expect("locks");
    let id = SessionId::random();
    let token = LockToken::random();
    let short = Duration::from_millis(200);
    assert!(matches!(
        locks.try_lock(&id, &token, short, None).await.unwrap(),
        LockAttempt::Acquired(None)
    ));
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    // Its document may remain until the TTL monitor comes by; it holds
    // nothing.
    assert!(!locks.extend(&id, &token, short).await.unwrap());
    assert!(!locks.unlock(&id, &token).await.unwrap());
    assert!(matches!(
        locks.try_lock(&id, &token, short, None).await.unwrap(),
        LockAttempt::Acquired(None)
    ));
    assert!(locks.unlock(&id, &token).await.unwrap());
}

#[tokio::test]
async fn a_lease_document_of_another_shape_is_malformed_not_a_panic() {
    let fx = twins().await;
    let id = SessionId::random();
    raw(fx.first.lease_collection_name())
        .await
        .insert_one(doc! { "_id": id.as_str(), "token": 1, "expires_at": "tomorrow" })
        .await
        .unwrap();
    let answer = fx
        .first
        .locks()
        .expect("locks")
        .try_lock(&id, &LockToken::random(), Duration::from_secs(5), None)
        .await;
    assert!(
        matches!(&answer, Err(StoreError::Malformed(m)) if m.contains("`expires_at`")),
        "{answer:?}"
    );
}
