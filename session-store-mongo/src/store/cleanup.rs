//! Removing expired documents: [`MongoStore::remove_expired`], one batch
//! of it, and the background task that runs it, each removal reported to
//! the store's [`ExpirySink`](session_core::store::ExpirySink).
//!
//! A batch claims its documents before deleting them: one `update_many`
//! sets a token of the batch on the expired documents that have none yet.
//! The server updates each document once, so of two processes cleaning at
//! once exactly one claims (then deletes and reports) each document. A
//! cleaner that stops between the claim and the delete leaves its claimed
//! documents to the TTL index, unreported. (One `find_one_and_delete` per
//! document is as exact but costs a write per document: 1000 expired
//! documents took 18.7 s that way on the test server, 1.2 s with claims in
//! batches of 100, 0.15 s for a bare `delete_many` that cannot report.)

use std::sync::Weak;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use session_core::store::{ExpiredSession, ExpirySource, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use super::MongoStore;
use crate::document::{date, field, session_id};

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

    /// One batch: the ids of up to `cleanup_batch` unclaimed documents
    /// expired at `now`; those still expired and unclaimed are claimed with a token
    /// of this call (one `update_many`), read back with their owners (one
    /// `find`), deleted (one `delete_many`) and reported. Answers how many
    /// were found and how many this call removed.
    async fn remove_expired_before(&self, now: OffsetDateTime) -> Result<(u64, u64), StoreError> {
        // Claimed ones are another cleaner's (or, if it stopped, the TTL
        // index's): finding them again would spin on a full batch of them.
        let unclaimed = doc! {
            field::EXPIRES_AT: { "$lte": date(now) },
            field::CLEANUP_CLAIM: { "$exists": false },
        };
        let find = self
            .collection()
            .find(unclaimed)
            .projection(doc! { field::ID: 1 })
            .limit(i64::from(self.cleanup_batch));
        let found: Vec<Document> = self
            .timed(async move { find.await?.try_collect().await })
            .await?;
        let ids: Vec<Bson> = found
            .iter()
            .filter_map(|d| d.get(field::ID).cloned())
            .collect();
        if ids.is_empty() {
            return Ok((0, 0));
        }
        let claim = SessionId::random();
        let claimed = self.claim(ids.clone(), claim.as_str(), now).await?;
        if claimed.is_empty() {
            return Ok((len(&ids), 0));
        }
        let mine = doc! { field::CLEANUP_CLAIM: claim.as_str() };
        let deleted = self.timed(self.collection().delete_many(mine)).await?;
        for gone in &claimed {
            self.report_removed(gone);
        }
        Ok((len(&ids), deleted.deleted_count))
    }

    /// Marks the documents `ids` that are still expired and that no other
    /// cleaner claimed with `claim`, and reads them back (`_id`, owner).
    /// The server updates each document once: a document gets one claim,
    /// so of two cleaners only one deletes and reports it.
    async fn claim(
        &self,
        ids: Vec<Bson>,
        claim: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Document>, StoreError> {
        let unclaimed = doc! {
            field::ID: { "$in": ids },
            field::EXPIRES_AT: { "$lte": date(now) },
            field::CLEANUP_CLAIM: { "$exists": false },
        };
        let update = self
            .collection()
            .update_many(unclaimed, doc! { "$set": { field::CLEANUP_CLAIM: claim } });
        self.timed(update).await?;
        let find = self
            .collection()
            .find(doc! { field::CLEANUP_CLAIM: claim })
            .projection(doc! { field::ID: 1, field::OWNER: 1 });
        self.timed(async move { find.await?.try_collect().await })
            .await
    }

    /// Reports one removed document to the expiry sink.
    fn report_removed(&self, gone: &Document) {
        match session_id(gone) {
            Ok(id) => {
                let owner = gone.get_str(field::OWNER).ok().map(str::to_owned);
                self.expiry_sink
                    .report(&ExpiredSession::new(id, owner, ExpirySource::Cleanup));
            }
            // Not a session this library wrote; removed all the same.
            Err(error) => tracing::warn!(%error, "expired document with a malformed id removed"),
        }
    }
}

fn len(ids: &[Bson]) -> u64 {
    u64::try_from(ids.len()).unwrap_or(u64::MAX)
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
