//! What only the MongoDB store does, on the shared server at MONGODB_URL:
//! the documents as the README describes them, the indexes `migrate`
//! creates, an expired document replaced on create, and connection errors.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::error::Error as _;
use std::time::{Duration, Instant};

use common::{mongodb_url, raw, record, store_of, unique_collection, Dropped};
use session_core::store::{Record, SessionStore, StoreError};
use session_core::time::OffsetDateTime;
use session_store_mongo::mongodb::bson::{doc, Bson, Document};
use session_store_mongo::{ConfigError, ConnectError, MongoStore, EXPIRY_INDEX, OWNER_INDEX};

fn millis(document: &Document, field: &str) -> i64 {
    document
        .get_datetime(field)
        .unwrap_or_else(|_| panic!("`{field}` is a date"))
        .timestamp_millis()
}

#[tokio::test]
async fn a_session_is_one_document_keyed_by_its_id_with_dates_and_binary_data() {
    let name = unique_collection("shape");
    let _dropped = Dropped(vec![name.clone()]);
    let store = store_of(&name).await;
    let mut r = record(60_000)
        .with_owner(Some("ada".into()))
        .with_version(4);
    r.data = vec![0, 159, 146, 150, 255];
    store.create(&r).await.unwrap();
    let documents: Vec<Document> = {
        use futures_util::TryStreamExt;
        raw(&name)
            .await
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    assert_eq!(documents.len(), 1);
    let stored = &documents[0];
    let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "_id",
            "data",
            "created_at",
            "idle_expires_at",
            "absolute_expires_at",
            "expires_at",
            "version",
            "owner"
        ]
    );
    assert_eq!(stored.get_str("_id").unwrap(), r.id.as_str());
    match stored.get("data") {
        Some(Bson::Binary(binary)) => assert_eq!(binary.bytes, r.data),
        other => panic!("data is not binary: {other:?}"),
    }
    assert_eq!(millis(stored, "created_at"), Record::millis(r.created_at));
    assert_eq!(
        millis(stored, "idle_expires_at"),
        Record::millis(r.idle_expires_at)
    );
    assert_eq!(
        millis(stored, "absolute_expires_at"),
        Record::millis(r.absolute_expires_at)
    );
    assert_eq!(millis(stored, "expires_at"), Record::millis(r.expires_at()));
    assert_eq!(stored.get_i64("version").unwrap(), 4);
    assert_eq!(stored.get_str("owner").unwrap(), "ada");

    // A touch moves both the idle expiry and `expires_at`, capped at the
    // absolute expiry.
    let far = OffsetDateTime::now_utc() + session_core::time::Duration::days(2);
    assert!(store.touch(&r.id, far).await.unwrap());
    let touched = raw(&name).await.find_one(doc! {}).await.unwrap().unwrap();
    let absolute = Record::millis(r.absolute_expires_at);
    assert_eq!(millis(&touched, "idle_expires_at"), absolute);
    assert_eq!(millis(&touched, "expires_at"), absolute);

    // Without an owner the field is absent (the owner index is sparse).
    let lone = record(60_000);
    store.create(&lone).await.unwrap();
    let stored = raw(&name)
        .await
        .find_one(doc! { "_id": lone.id.as_str() })
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.contains_key("owner"), "{stored:?}");
}

#[tokio::test]
async fn migrate_creates_a_ttl_index_on_the_expiry_and_an_owner_index_and_may_run_again() {
    let name = unique_collection("indexes");
    let _dropped = Dropped(vec![name.clone()]);
    let store = store_of(&name).await;
    // Again, as every start does, and from two processes at once.
    let again = store_of(&name).await;
    let (a, b) = tokio::join!(store.migrate(), again.migrate());
    a.unwrap();
    b.unwrap();
    let indexes: Vec<Document> = {
        use futures_util::TryStreamExt;
        let cursor = raw(&name).await.list_indexes().await.unwrap();
        let models: Vec<_> = cursor.try_collect().await.unwrap();
        models
            .into_iter()
            .map(|m| {
                let mut d = doc! { "keys": m.keys };
                if let Some(o) = m.options {
                    d.insert("name", o.name.unwrap_or_default());
                    d.insert("ttl", o.expire_after.map(|t| t.as_secs() as i64));
                    d.insert("sparse", o.sparse.unwrap_or(false));
                }
                d
            })
            .collect()
    };
    let find = |name: &str| {
        indexes
            .iter()
            .find(|i| i.get_str("name") == Ok(name))
            .unwrap_or_else(|| panic!("no index {name}: {indexes:?}"))
            .clone()
    };
    assert_eq!(indexes.len(), 3, "_id, expiry, owner: {indexes:?}");
    let ttl = find(EXPIRY_INDEX);
    assert_eq!(ttl.get_document("keys").unwrap(), &doc! { "expires_at": 1 });
    assert_eq!(ttl.get_i64("ttl").unwrap(), 0, "expires at `expires_at`");
    let owner = find(OWNER_INDEX);
    assert_eq!(owner.get_document("keys").unwrap(), &doc! { "owner": 1 });
    assert!(owner.get_bool("sparse").unwrap());
}

#[tokio::test]
async fn create_replaces_an_expired_document_with_the_same_id_but_never_a_live_one() {
    let name = unique_collection("replace");
    let _dropped = Dropped(vec![name.clone()]);
    let store = store_of(&name).await;
    let mut old = common::record(-1000).with_owner(Some("gone".into()));
    old.data = b"old".to_vec();
    store.create(&old).await.unwrap();
    // Still there: the TTL monitor has not run, and its timing is no
    // concern of the store's.
    let collection = raw(&name).await;
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 1);

    let mut new = common::record(60_000);
    new.id = old.id.clone();
    new.data = b"new".to_vec();
    store.create(&new).await.unwrap();
    assert_eq!(store.load(&new.id, None).await.unwrap(), Some(new.clone()));
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 1);
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert!(
        !stored.contains_key("owner"),
        "nothing of the old one is left"
    );

    let mut again = new.clone();
    again.data = b"again".to_vec();
    assert!(matches!(
        store.create(&again).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        store.load(&new.id, None).await.unwrap().unwrap().data,
        b"new"
    );
}

#[tokio::test]
async fn a_document_of_another_shape_is_malformed_not_a_panic() {
    let name = unique_collection("foreign");
    let _dropped = Dropped(vec![name.clone()]);
    let store = store_of(&name).await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    raw(&name)
        .await
        .update_one(
            doc! { "_id": r.id.as_str() },
            doc! { "$set": { "data": "text" } },
        )
        .await
        .unwrap();
    let err = store.load(&r.id, None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Malformed(m) if m.contains("`data`")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_naming_the_host_without_credentials() {
    let port = common::free_port();
    let url = format!("mongodb://alice:s3cret-pw@127.0.0.1:{port}/app?directConnection=true");
    let started = Instant::now();
    let err = MongoStore::builder()
        .command_timeout(Duration::from_millis(500))
        .connect(&url)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_unavailable(), "{err}");
    let source = err.source().expect("a source");
    let connect = source
        .downcast_ref::<ConnectError>()
        .expect("a ConnectError");
    let message = connect.to_string();
    assert!(
        matches!(connect, ConnectError::Unreachable { servers, .. } if *servers == format!("127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        message.to_lowercase().contains("refused"),
        "the driver's reason: {message}"
    );
    for secret in ["s3cret-pw", "alice"] {
        assert!(!message.contains(secret), "{message}");
        assert!(!format!("{err:?}").contains(secret), "{err:?}");
    }
}

#[tokio::test]
async fn a_bad_url_or_name_is_a_clear_error_before_any_io() {
    let err = MongoStore::connect("mongodb://bob:hunter22@127.0.0.1:27017/?directConnection=maybe")
        .await
        .unwrap_err();
    // Configuration, never `Unavailable` (a `503` no retry can cure).
    assert!(err.is_config() && !err.is_unavailable(), "{err:?}");
    let source = err.source().expect("a source");
    let config = source.downcast_ref::<ConfigError>().expect("a ConfigError");
    assert!(matches!(config, ConfigError::InvalidUrl { .. }), "{config}");
    assert!(!config.to_string().contains("hunter22"), "{config}");

    let err = MongoStore::builder()
        .collection("system.sessions")
        .connect(&mongodb_url())
        .await
        .unwrap_err();
    assert!(err.is_config() && !err.is_unavailable(), "{err:?}");
    let source = err.source().expect("a source");
    assert!(
        matches!(
            source.downcast_ref::<ConfigError>(),
            Some(ConfigError::InvalidName {
                what: "collection",
                ..
            })
        ),
        "{source}"
    );
}

#[tokio::test]
async fn a_store_on_the_applications_client_uses_its_default_database() {
    let name = unique_collection("client");
    let _dropped = Dropped(vec![name.clone()]);
    let client = session_store_mongo::mongodb::Client::with_uri_str(mongodb_url())
        .await
        .unwrap();
    let expected = client
        .default_database()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|| session_store_mongo::DEFAULT_DATABASE.to_owned());
    let store = MongoStore::builder()
        .collection(&name)
        .build_with_client(client)
        .unwrap();
    assert_eq!(store.database_name(), expected);
    assert_eq!(store.collection_name(), name);
    store.migrate().await.unwrap();
    let r = record(60_000);
    store.create(&r).await.unwrap();
    assert_eq!(raw(&name).await.count_documents(doc! {}).await.unwrap(), 1);
}
