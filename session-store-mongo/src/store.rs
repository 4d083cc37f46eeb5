//! The store: construction, index creation and the [`SessionStore`]
//! implementation. Rotation is in `rotate`, the removal of expired
//! documents (and its background task) in `cleanup`, scans (listing, owner lookups,
//! `delete_where`) in `scan`, the cap per owner in `limit`, the session
//! locks in `crate::lock`.

mod cleanup;
mod limit;
mod rotate;
mod scan;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use session_core::store::{
    ExpirySink, OwnerLimit, OwnerLimited, Record, RecordPredicate, SessionLocks, SessionStore,
    StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use crate::builder::{MongoStoreBuilder, Settings};
use crate::document::{self, date, field, from_document, to_document};
use crate::error::{from_driver, is_duplicate_key};

/// The name of the TTL index on `expires_at`.
pub const EXPIRY_INDEX: &str = "expires_at_ttl";
/// The name of the index on `owner`.
pub const OWNER_INDEX: &str = "owner";
/// What the lease collection's name adds to the sessions' collection name.
pub(crate) const LEASE_SUFFIX: &str = "_locks";

/// A session store in a MongoDB collection, on the official driver. Cloning
/// shares the client, the expiry sink and the cleanup task; the task stops
/// when the last clone is dropped.
///
/// See the [crate documentation](crate) for the document layout, the
/// indexes and the behaviour when the server is in trouble.
#[derive(Debug, Clone)]
pub struct MongoStore {
    database: Database,
    collection: Collection<Document>,
    /// The session locks' leases, `{collection}_locks`.
    leases: Collection<Document>,
    timeout: Duration,
    /// How many expired documents one cleanup batch removes at most.
    cleanup_batch: u32,
    /// Where the cleanup reports the documents it removed.
    expiry_sink: ExpirySink,
    /// Held by every clone the application has; the cleanup task's own
    /// clone has `None` and stops once this no longer upgrades.
    _alive: Option<Arc<()>>,
}

impl MongoStore {
    /// Connects to `url` with the default collection (`sessions`, in the
    /// URL's database or else `sessions`) and timeout (1 second), and checks
    /// the server with a `ping`. See [`MongoStoreBuilder::connect`].
    ///
    /// ```
    /// use session_core::{SessionConfig, SessionManager};
    /// use session_store_mongo::MongoStore;
    ///
    /// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    /// struct Cart { items: Vec<String> }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let url = std::env::var("MONGODB_URL")
    /// #     .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/test?directConnection=true".into());
    /// let store = MongoStore::connect(&url).await?;
    /// store.migrate().await?;
    /// let manager = SessionManager::<Cart>::new(SessionConfig::builder().store(store).build()?);
    /// # let _ = manager;
    ///
    /// // Nobody listens on port 1: a clear error within the timeout.
    /// let error = MongoStore::connect("mongodb://127.0.0.1:1/?directConnection=true").await.unwrap_err();
    /// assert!(error.is_unavailable());
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<MongoStore, StoreError> {
        Self::builder().connect(url).await
    }

    /// A builder: database and collection names, timeout, and a URL or a
    /// client.
    pub fn builder() -> MongoStoreBuilder {
        MongoStoreBuilder::default()
    }

    /// A store with the default settings on a client the application
    /// built; see [`MongoStoreBuilder::build_with_client`].
    pub fn from_client(client: mongodb::Client) -> Result<MongoStore, StoreError> {
        Self::builder().build_with_client(client)
    }

    pub(crate) fn new(
        database: Database,
        collection: Collection<Document>,
        settings: &Settings,
    ) -> Self {
        let leases = database.collection(&format!("{}{LEASE_SUFFIX}", collection.name()));
        let alive = Arc::new(());
        let store = MongoStore {
            database,
            collection,
            leases,
            timeout: settings.command_timeout,
            cleanup_batch: settings.cleanup.batch(),
            expiry_sink: ExpirySink::new(),
            _alive: None,
        };
        if let Some(period) = settings.cleanup.every() {
            cleanup::spawn(store.clone(), Arc::downgrade(&alive), period);
        }
        MongoStore {
            _alive: Some(alive),
            ..store
        }
    }

    /// The database that holds the collection.
    pub fn database_name(&self) -> &str {
        self.database.name()
    }

    /// The collection that holds the sessions.
    pub fn collection_name(&self) -> &str {
        self.collection.name()
    }

    /// The collection that holds the session locks' leases: the sessions'
    /// collection name with `_locks` added.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
    /// # let url = std::env::var("MONGODB_URL")
    /// #     .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/test?directConnection=true".into());
    /// let store = session_store_mongo::MongoStore::builder()
    ///     .collection("web_sessions")
    ///     .connect(&url)
    ///     .await?;
    /// assert_eq!(store.lease_collection_name(), "web_sessions_locks");
    /// # Ok(()) }
    /// ```
    pub fn lease_collection_name(&self) -> &str {
        self.leases.name()
    }

    pub(crate) fn database(&self) -> &Database {
        &self.database
    }

    /// Creates the indexes the store relies on, if they are missing: a TTL
    /// index on `expires_at` (the cleanup finds expired documents on it,
    /// and MongoDB removes those the cleanup missed by itself, about once a
    /// minute) and an index on `owner` (for "log out
    /// everywhere"), and a TTL index on the end of the session locks'
    /// leases (in the [lease collection](Self::lease_collection_name)).
    /// Safe to call at every start, from several processes at once; the
    /// collections are created with their first index.
    ///
    /// Without it the store still works (every query filters on the expiry)
    /// but expired documents stay until the cleanup removes them (its
    /// `find` then scans the collection), ended leases stay, and owner
    /// lookups scan the collection.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.timed(self.collection.create_indexes(indexes()))
            .await?;
        self.timed(self.leases.create_index(expiry_index()))
            .await
            .map(|_| ())
    }

    /// Sends a `ping`: whether the server answers within the timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed(self.database().run_command(doc! { "ping": 1 }))
            .await
            .map(|_| ())
    }

    /// Runs one driver call within the timeout, its error mapped.
    pub(crate) async fn timed<T>(
        &self,
        call: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        self.timed_raw(call).await?.map_err(from_driver)
    }

    /// Like [`timed`](Self::timed), keeping the driver's error for the
    /// caller to look at (a duplicate key is an answer, not a failure).
    pub(crate) async fn timed_raw<T>(
        &self,
        call: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<mongodb::error::Result<T>, StoreError> {
        tokio::time::timeout(self.timeout, call.into_future())
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))
    }

    pub(crate) fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    pub(crate) fn leases(&self) -> &Collection<Document> {
        &self.leases
    }

    /// Inserts `record`'s document unless a live one has its id: one upsert
    /// that may replace only an expired document, so a live one makes it
    /// collide on `_id`.
    pub(crate) async fn insert(
        &self,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let filter = doc! {
            field::ID: record.id.as_str(),
            field::EXPIRES_AT: { "$lte": date(now) },
        };
        let upsert = self
            .collection
            .replace_one(filter, to_document(record))
            .upsert(true);
        match self.timed_raw(upsert).await? {
            Ok(_) => Ok(()),
            Err(error) if is_duplicate_key(&error) => Err(StoreError::AlreadyExists),
            Err(error) => Err(from_driver(error)),
        }
    }

    /// Why a write that needed a live document at `expected` matched none.
    pub(crate) async fn missing_or_conflict(
        &self,
        id: &SessionId,
        expected: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<StoreError, StoreError> {
        let live = self
            .timed(
                self.collection
                    .find_one(live(id, now))
                    .projection(doc! { field::VERSION: 1 }),
            )
            .await?;
        Ok(match (live, expected) {
            (Some(_), Some(expected)) => StoreError::Conflict { expected },
            _ => StoreError::NotFound,
        })
    }
}

/// The indexes of [`MongoStore::migrate`] on the sessions' collection.
fn indexes() -> Vec<IndexModel> {
    let owner = IndexOptions::builder()
        .name(OWNER_INDEX.to_owned())
        .sparse(true)
        .build();
    vec![
        expiry_index(),
        IndexModel::builder()
            .keys(doc! { field::OWNER: 1 })
            .options(owner)
            .build(),
    ]
}

/// The TTL index on `expires_at`, of the sessions and of the leases alike.
fn expiry_index() -> IndexModel {
    let ttl = IndexOptions::builder()
        .name(EXPIRY_INDEX.to_owned())
        .expire_after(Duration::ZERO)
        .build();
    IndexModel::builder()
        .keys(doc! { field::EXPIRES_AT: 1 })
        .options(ttl)
        .build()
}

/// The filter of the live document with this id.
pub(crate) fn live(id: &SessionId, now: OffsetDateTime) -> Document {
    doc! { field::ID: id.as_str(), field::EXPIRES_AT: { "$gt": date(now) } }
}

/// The filter of every live document.
pub(crate) fn all_live(now: OffsetDateTime) -> Document {
    doc! { field::EXPIRES_AT: { "$gt": date(now) } }
}

/// The update that moves the idle expiry to `wanted`, capped at the absolute
/// expiry, and `expires_at` with it: a pipeline, so the cap is the stored
/// document's own, read and written in one step.
fn touch_update(wanted: OffsetDateTime) -> Vec<Document> {
    let absolute = format!("${}", field::ABSOLUTE_EXPIRES_AT);
    let idle = format!("${}", field::IDLE_EXPIRES_AT);
    vec![
        doc! { "$set": { field::IDLE_EXPIRES_AT: { "$min": [date(wanted), &absolute] } } },
        doc! { "$set": { field::EXPIRES_AT: { "$min": [idle, absolute] } } },
    ]
}

#[async_trait]
impl SessionStore for MongoStore {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    /// The cleanup task and [`remove_expired`](MongoStore::remove_expired)
    /// report each document they remove here, once. A load never sees an
    /// expired document (the query leaves it out), so it reports nothing;
    /// nor does the TTL index, whose removals the store does not hear.
    fn expiry_sink(&self) -> Option<&ExpirySink> {
        Some(&self.expiry_sink)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.insert(record, OffsetDateTime::now_utc()).await
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut filter = live(&record.id, now);
        if let Some(expected) = expected_version {
            filter.insert(field::VERSION, document::version(expected));
        }
        let replaced = self
            .timed(self.collection.replace_one(filter, to_document(record)))
            .await?;
        if replaced.matched_count == 1 {
            return Ok(());
        }
        Err(self
            .missing_or_conflict(&record.id, expected_version, now)
            .await?)
    }

    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        self.rotate_document(from, record, expected_version).await
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let filter = live(id, OffsetDateTime::now_utc());
        let found = match touch {
            None => self.timed(self.collection.find_one(filter)).await?,
            Some(wanted) => {
                let update = self
                    .collection
                    .find_one_and_update(filter, touch_update(wanted))
                    .return_document(ReturnDocument::After);
                self.timed(update).await?
            }
        };
        found.as_ref().map(from_document).transpose()
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let filter = live(id, OffsetDateTime::now_utc());
        let updated = self
            .timed(
                self.collection
                    .update_one(filter, touch_update(idle_expires_at)),
            )
            .await?;
        Ok(updated.matched_count > 0)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let filter = live(id, OffsetDateTime::now_utc());
        let deleted = self.timed(self.collection.delete_one(filter)).await?;
        Ok(deleted.deleted_count > 0)
    }

    /// Removes every session and every lease of the session locks (two
    /// `delete_many`).
    async fn clear(&self) -> Result<(), StoreError> {
        // Deleting the documents, not dropping the collections: the indexes
        // stay.
        self.timed(self.collection.delete_many(doc! {})).await?;
        self.timed(self.leases.delete_many(doc! {}))
            .await
            .map(|_| ())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let filter = all_live(OffsetDateTime::now_utc());
        self.timed(self.collection.count_documents(filter)).await
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        self.live_ids(None).await
    }

    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        self.live_ids(Some(owner)).await
    }

    /// One `find` of the owner's live documents, which the `owner` index
    /// answers.
    async fn records_by_owner(&self, owner: &str) -> Result<Vec<Record>, StoreError> {
        let mut filter = all_live(OffsetDateTime::now_utc());
        filter.insert(field::OWNER, owner);
        let find = self.collection.find(filter);
        let found = self
            .timed(async move { find.await?.try_collect::<Vec<_>>().await })
            .await?;
        found.iter().map(from_document).collect()
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let mut filter = all_live(OffsetDateTime::now_utc());
        filter.insert(field::OWNER, owner);
        let deleted = self.timed(self.collection.delete_many(filter)).await?;
        Ok(deleted.deleted_count)
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        self.delete_selected(predicate).await
    }

    /// Under the owner's lease document: one `find` of the owner's live
    /// documents and one `delete_many` of what the cap removes (see
    /// `store/limit.rs`).
    async fn limit_owner(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        self.limit_owner_documents(owner, newest, limit).await
    }

    fn limits_owners(&self) -> bool {
        true
    }

    /// The session locks: a lease document per locked session in the
    /// [lease collection](MongoStore::lease_collection_name) (see the crate
    /// documentation).
    fn locks(&self) -> Option<&dyn SessionLocks> {
        Some(self)
    }
}
