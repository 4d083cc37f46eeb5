//! The MongoDB store's cleanup and what it reports to `on_expired`, on the
//! shared server at MONGODB_URL: two processes cleaning one collection at
//! once report each expired document exactly once, batches add up,
//! documents another cleaner claimed are left to it, and the background
//! task reports by itself and stops with the last clone.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{mongodb_url, raw, record, unique_collection, Dropped};
use session_core::store::SessionStore;
use session_core::{SessionConfig, SessionId};
use session_store_conformance::ExpiredRecorder;
use session_store_mongo::mongodb::bson::{doc, DateTime};
use session_store_mongo::{MongoStore, MongoStoreBuilder};

/// A store of `collection` built by `builder`, its indexes created.
async fn store(builder: MongoStoreBuilder, collection: &str) -> MongoStore {
    let store = builder
        .collection(collection)
        .connect(&mongodb_url())
        .await
        .expect("the shared MongoDB at MONGODB_URL is reachable");
    store.migrate().await.unwrap();
    store
}

/// A configuration on `store` whose `on_expired` the answer records.
fn listen(store: &MongoStore) -> (SessionConfig, ExpiredRecorder) {
    let heard = ExpiredRecorder::new();
    let config = SessionConfig::testing()
        .store(store.clone())
        .on_expired(heard.hook())
        .build()
        .unwrap();
    (config, heard)
}

/// One store of a fresh collection, built by `builder`, and what a
/// configuration on it hears; the collection is dropped with the value.
struct Listening {
    name: String,
    store: MongoStore,
    config: SessionConfig,
    heard: ExpiredRecorder,
    // Last: the collection goes after the store that uses it.
    _dropped: Dropped,
}

/// A [`Listening`] on a fresh collection named after `test`.
async fn listening(test: &str, builder: MongoStoreBuilder) -> Listening {
    let name = unique_collection(test);
    let _dropped = Dropped(vec![name.clone()]);
    let store = store(builder, &name).await;
    let (config, heard) = listen(&store);
    Listening {
        name,
        store,
        config,
        heard,
        _dropped,
    }
}

/// Creates `n` expired documents, every other one with an owner; their ids.
async fn expired_documents(store: &MongoStore, n: usize) -> BTreeSet<SessionId> {
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let owner = (i % 2 == 0).then(|| format!("user{i}"));
        let r = record(-1000).with_owner(owner);
        store.create(&r).await.unwrap();
        ids.insert(r.id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_cleaning_one_collection_at_once_report_each_expired_document_once() {
    let name = unique_collection("two_cleaners");
    let _dropped = Dropped(vec![name.clone()]);
    let builder = MongoStore::builder().no_cleanup().cleanup_batch(50);
    let first = store(builder.clone(), &name).await;
    let second = store(builder, &name).await;
    let (_c1, heard_first) = listen(&first);
    let (_c2, heard_second) = listen(&second);
    let ids = expired_documents(&first, 300).await;
    let live = record(60_000);
    first.create(&live).await.unwrap();

    let (a, b) = tokio::join!(first.remove_expired(), second.remove_expired());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a + b,
        300,
        "together they removed every expired document ({a} + {b})"
    );

    let mut all = heard_first.heard();
    assert_eq!(
        u64::try_from(all.len()).unwrap(),
        a,
        "the first reported what it removed"
    );
    let second_heard = heard_second.heard();
    assert_eq!(
        u64::try_from(second_heard.len()).unwrap(),
        b,
        "so did the second"
    );
    all.extend(second_heard);
    let heard_ids: BTreeSet<SessionId> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(heard_ids.len(), all.len(), "no document was reported twice");
    assert_eq!(heard_ids, ids, "every expired document was reported");
    for (_, owner) in &all {
        if let Some(owner) = owner {
            assert!(owner.starts_with("user"), "the owner it had: {owner}");
        }
    }
    let owned = all.iter().filter(|(_, owner)| owner.is_some()).count();
    assert_eq!(owned, 150, "each report carries the owner the document had");
    assert!(
        first.load(&live.id, None).await.unwrap().is_some(),
        "the live one stays"
    );
}

#[tokio::test]
async fn remove_expired_goes_through_every_batch_and_one_batch_is_bounded() {
    let fx = listening(
        "batches",
        MongoStore::builder().no_cleanup().cleanup_batch(7),
    )
    .await;
    let Listening {
        name, store, heard, ..
    } = &fx;
    expired_documents(store, 10).await;
    assert_eq!(
        store.remove_expired_batch().await.unwrap(),
        7,
        "one batch: 7 at most"
    );
    expired_documents(store, 15).await;
    assert_eq!(
        store.remove_expired().await.unwrap(),
        18,
        "every batch until none is left"
    );
    assert_eq!(store.remove_expired().await.unwrap(), 0);
    assert_eq!(heard.len(), 25);
    let left = raw(name).await.count_documents(doc! {}).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_background_cleanup_reports_by_itself_and_stops_with_the_last_clone() {
    let period = Duration::from_millis(100);
    let Listening {
        name,
        store: cleaning,
        config,
        heard,
        _dropped,
    } = listening("task", MongoStore::builder().cleanup_every(period)).await;
    let ids = expired_documents(&cleaning, 3).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while heard.len() < 3 {
        assert!(Instant::now() < deadline, "the task reported within 10 s");
        tokio::time::sleep(period).await;
    }
    let heard_ids: BTreeSet<SessionId> = heard.ids();
    assert_eq!(heard_ids, ids);

    // Every clone: the application's, and the one its configuration holds.
    let clone = cleaning.clone();
    drop(cleaning);
    drop(config);
    drop(clone);
    let idle = store(MongoStore::builder().no_cleanup(), &name).await;
    expired_documents(&idle, 2).await;
    tokio::time::sleep(period * 6).await;
    let left = raw(&name).await.count_documents(doc! {}).await.unwrap();
    assert_eq!(left, 2, "no task removed them once its store was dropped");
}

#[tokio::test]
async fn documents_another_cleaner_claimed_are_left_to_it_and_do_not_hold_the_cleanup() {
    let fx = listening(
        "claimed",
        MongoStore::builder().no_cleanup().cleanup_batch(3),
    )
    .await;
    let Listening {
        name, store, heard, ..
    } = &fx;
    // A full batch claimed by a cleaner that stopped before its delete.
    let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 1000);
    let stale: Vec<_> = (0..3)
        .map(|_| doc! { "_id": SessionId::random().as_str(), "expires_at": past, "cleanup_claim": "gone" })
        .collect();
    raw(name).await.insert_many(stale).await.unwrap();
    let ids = expired_documents(store, 2).await;
    let removed = tokio::time::timeout(Duration::from_secs(5), store.remove_expired())
        .await
        .expect("the cleanup ends although a full batch is claimed by another")
        .unwrap();
    assert_eq!(removed, 2);
    let heard_ids: BTreeSet<SessionId> = heard.ids();
    assert_eq!(heard_ids, ids, "only its own claims are reported");
}
