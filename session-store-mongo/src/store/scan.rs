//! Walks over the live documents in pages of [`PAGE`], each page one query
//! within the timeout, in `_id` order: listing, owner lookups and
//! `delete_where`.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use session_core::store::{RecordPredicate, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use super::{all_live, live, MongoStore};
use crate::document::{self, field, from_document, session_id};

/// Documents read per query.
const PAGE: i64 = 500;

impl MongoStore {
    /// One page of the documents that `filter` selects, after the id
    /// `after`, with only the fields of `projection` (all without).
    async fn page(
        &self,
        mut filter: Document,
        after: Option<&str>,
        projection: Option<Document>,
    ) -> Result<Vec<Document>, StoreError> {
        if let Some(after) = after {
            filter.insert(field::ID, doc! { "$gt": after });
        }
        let mut find = self
            .collection()
            .find(filter)
            .sort(doc! { field::ID: 1 })
            .limit(PAGE);
        if let Some(projection) = projection {
            find = find.projection(projection);
        }
        self.timed(async move { find.await?.try_collect::<Vec<_>>().await })
            .await
    }

    /// The ids of every live document, or of one owner's.
    pub(super) async fn live_ids(&self, owner: Option<&str>) -> Result<Vec<SessionId>, StoreError> {
        let mut filter = all_live(OffsetDateTime::now_utc());
        if let Some(owner) = owner {
            filter.insert(field::OWNER, owner);
        }
        let mut ids: Vec<SessionId> = Vec::new();
        loop {
            let after = ids.last().map(|id| id.as_str().to_owned());
            let page = self
                .page(
                    filter.clone(),
                    after.as_deref(),
                    Some(doc! { field::ID: 1 }),
                )
                .await?;
            let full = page.len() as i64 == PAGE;
            for found in &page {
                ids.push(session_id(found)?);
            }
            if !full {
                return Ok(ids);
            }
        }
    }

    /// Removes the live documents whose records `predicate` selects, page by
    /// page, each by its own compare-and-delete at the version that was read
    /// (a record saved in between is kept). One delete per document rather
    /// than one `$or` per page: every server answers those from the `_id`
    /// index, while a long `$or` may be judged document by document.
    pub(super) async fn delete_selected(
        &self,
        predicate: &RecordPredicate<'_>,
    ) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut after: Option<String> = None;
        let mut removed = 0;
        loop {
            let page = self.page(all_live(now), after.as_deref(), None).await?;
            let full = page.len() as i64 == PAGE;
            for found in &page {
                let record = from_document(found)?;
                after = Some(record.id.as_str().to_owned());
                if predicate(&record) {
                    let mut filter = live(&record.id, now);
                    filter.insert(field::VERSION, document::version(record.version));
                    removed += self
                        .timed(self.collection().delete_one(filter))
                        .await?
                        .deleted_count;
                }
            }
            if !full {
                return Ok(removed);
            }
        }
    }
}
