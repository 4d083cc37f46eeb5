//! Rotation: a record moves to a new id (on login).
//!
//! Two single-document steps, each atomic on every deployment (a standalone
//! server has no transactions): the new document is inserted, then the old
//! one is deleted by a compare-and-delete (live, at the expected version).
//! That delete decides: if it removes nothing, the new document is withdrawn
//! and the answer is `NotFound` or `Conflict`. So a rotation never
//! resurrects a session deleted meanwhile, and never loses a save that
//! landed first (the version no longer matches).
//!
//! Between the two steps the new document exists beside the old one, but
//! nobody holds its token yet: the response that would carry it has not
//! been sent. If the server fails between them, the old session stays as it
//! was and the new document stays behind, unreachable, until it expires.

use session_core::store::{Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use mongodb::bson::doc;

use super::{live, MongoStore};
use crate::document::{self, field};

impl MongoStore {
    pub(super) async fn rotate_document(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        // A live document at the new id already: nothing has changed.
        self.insert(record, now).await?;
        let mut old = live(from, now);
        if let Some(expected) = expected_version {
            old.insert(field::VERSION, document::version(expected));
        }
        // An error here leaves the outcome unknown (the delete may have
        // happened): the new document stays, since withdrawing it could
        // lose the session; unreachable, it expires like any other.
        let deleted = self.timed(self.collection().delete_one(old)).await?;
        if deleted.deleted_count == 1 {
            return Ok(());
        }
        self.withdraw(record).await;
        Err(self
            .missing_or_conflict(from, expected_version, now)
            .await?)
    }

    /// Removes the document that a refused rotation inserted (only that
    /// version of it). A failure is logged: the document is unreachable
    /// and expires anyway.
    async fn withdraw(&self, record: &Record) {
        let filter = doc! {
            field::ID: record.id.as_str(),
            field::VERSION: document::version(record.version),
        };
        if let Err(error) = self.timed(self.collection().delete_one(filter)).await {
            tracing::warn!(
                %error,
                "could not withdraw the new document of a refused rotation; it expires by itself"
            );
        }
    }
}
