//! Removing expired documents: [`MongoStore::remove_expired`], one batch
//! of it, and the background task that runs it, each removal reported to
//! the store's [`ExpirySink`](session_core::store::ExpirySink).
//!
//! Each expired document is removed by its own `find_one_and_delete` whose
//! filter repeats the expiry: the server deletes a document once, so of two
//! processes cleaning at once exactly one gets it back, and only that one
//! reports it. (A `delete_many` of the batch's ids would remove them in one
//! command, but its answer is a count, not which documents it removed:
//! two cleaners that found the same ids could not tell whose they were.)

use std::sync::Weak;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, Bson, Document};
use session_core::store::{ExpiredSession, ExpirySource, StoreError};
use session_core::time::OffsetDateTime;

use super::MongoStore;
use crate::document::{date, field, session_id};

/// How many `find_one_and_delete` of a batch are in flight at once.
const IN_FLIGHT: usize = 8;

impl MongoStore {
    /// Removes every document that has expired now, in batches of
    /// [`cleanup_batch`](crate::MongoStoreBuilder::cleanup_batch), reports
    /// each to the store's expiry sink (what `on_expired` hears) and answers
    /// how many it removed. The cleanup task does this every
    /// [`cleanup_every`](crate::MongoStoreBuilder::cleanup_every).
    ///
    /// ```
    /// use session_core::store::SessionStore;
    /// use session_store_mongo::MongoStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
    /// # let url = std::env::var("MONGODB_URL")
    /// #     .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/test?directConnection=true".into());
    /// // Cleaned up by a scheduled job instead of the background task.
    /// let store = MongoStore::builder()
    ///     .collection("doc_remove_expired")
    ///     .no_cleanup()
    ///     .connect(&url)
    ///     .await?;
    /// store.migrate().await?;
    /// let removed = store.remove_expired().await?;
    /// assert_eq!(store.remove_expired().await?, 0, "the first call removed them all");
    /// # let _ = removed;
    /// # store.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_expired(&self) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut total = 0;
        loop {
            let (found, removed) = self.remove_expired_before(now).await?;
            total += removed;
            if found < u64::from(self.cleanup_batch) {
                return Ok(total);
            }
            // Let requests in between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Removes at most one batch of expired documents and answers how many
    /// it removed: for a scheduled job that paces the cleanup itself. An
    /// answer below the batch size means the backlog is gone (or another
    /// process removed part of the batch first).
    pub async fn remove_expired_batch(&self) -> Result<u64, StoreError> {
        let (_, removed) = self
            .remove_expired_before(OffsetDateTime::now_utc())
            .await?;
        Ok(removed)
    }

    /// One batch: the ids of up to `cleanup_batch` documents expired at
    /// `now`, then each deleted if it is still expired. Answers how many
    /// were found and how many this call removed (and reported).
    async fn remove_expired_before(&self, now: OffsetDateTime) -> Result<(u64, u64), StoreError> {
        let expired = doc! { field::EXPIRES_AT: { "$lte": date(now) } };
        let find = self
            .collection()
            .find(expired.clone())
            .projection(doc! { field::ID: 1 })
            .limit(i64::from(self.cleanup_batch));
        let ids: Vec<Document> = self
            .timed(async move { find.await?.try_collect().await })
            .await?;
        let found = u64::try_from(ids.len()).unwrap_or(u64::MAX);
        let removals = futures_util::stream::iter(ids)
            .filter_map(|found| async move { found.get(field::ID).cloned() })
            .map(|id| self.remove_if_expired(id, &expired))
            .buffer_unordered(IN_FLIGHT);
        let outcomes: Vec<Result<bool, StoreError>> = removals.collect().await;
        let mut removed = 0;
        for outcome in outcomes {
            removed += u64::from(outcome?);
        }
        Ok((found, removed))
    }

    /// Deletes the document `id` if it is still expired and reports it;
    /// whether this call removed it (false: a save revived it, or another
    /// cleaner or the TTL monitor removed it first).
    async fn remove_if_expired(&self, id: Bson, expired: &Document) -> Result<bool, StoreError> {
        let mut filter = expired.clone();
        filter.insert(field::ID, id);
        let delete = self
            .collection()
            .find_one_and_delete(filter)
            .projection(doc! { field::ID: 1, field::OWNER: 1 });
        let Some(gone) = self.timed(delete).await? else {
            return Ok(false);
        };
        match session_id(&gone) {
            Ok(id) => {
                let owner = gone.get_str(field::OWNER).ok().map(str::to_owned);
                self.expiry_sink
                    .report(&ExpiredSession::new(id, owner, ExpirySource::Cleanup));
            }
            // Not a session this library wrote; removed all the same.
            Err(error) => tracing::warn!(%error, "expired document with a malformed id removed"),
        }
        Ok(true)
    }
}

/// Spawns the cleanup task on the current tokio runtime, if there is one;
/// it runs until `alive` no longer upgrades (the last clone of the store
/// that owns it is dropped).
pub(super) fn spawn(store: MongoStore, alive: Weak<()>, period: Duration) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(run(store, alive, period));
        }
        Err(_) => tracing::debug!("no tokio runtime: the MongoDB store runs without cleanup"),
    }
}

/// Every `period`, [`MongoStore::remove_expired`]. A failing server is
/// logged and tried again at the next tick.
async fn run(store: MongoStore, alive: Weak<()>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if alive.upgrade().is_none() {
            return;
        }
        match store.remove_expired().await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "expired sessions removed"),
            Err(error) => {
                tracing::warn!(%error, "session cleanup failed; retrying at the next tick");
            }
        }
    }
}
