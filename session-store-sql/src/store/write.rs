//! Creates and saves: a create never overwrites a live row, a save never
//! inserts one.

use session_core::store::{Record, StoreError};
use session_core::SessionId;

use super::queries::Params;
use super::{now_millis, SqlStore};
use crate::dialect::SqlDialect;

impl SqlStore {
    pub(super) async fn create_record(&self, record: &Record) -> Result<(), StoreError> {
        let params = Params::of(record)?;
        let now = now_millis();
        let inserted = match self.inner.dialect {
            SqlDialect::MySql => self.inner.insert_or_replace_expired(&params, now).await?,
            SqlDialect::Postgres | SqlDialect::Sqlite => {
                self.inner.upsert_if_expired(&params, now).await?
            }
        };
        if inserted {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    pub(super) async fn save_record(
        &self,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let params = Params::of(record)?;
        let now = now_millis();
        let expected = match expected_version.map(i64::try_from) {
            None => None,
            Some(Ok(version)) => Some(version),
            // No stored version can be that large.
            Some(Err(_)) => {
                return Err(self
                    .missing_or_conflict(&record.id, expected_version, now)
                    .await)
            }
        };
        if self.inner.update(&params, expected, now).await? > 0 {
            return Ok(());
        }
        Err(self
            .missing_or_conflict(&record.id, expected_version, now)
            .await)
    }

    /// Why an update matched no row: the live row is at another version, or
    /// there is no live row.
    pub(super) async fn missing_or_conflict(
        &self,
        id: &SessionId,
        expected: Option<u64>,
        now: i64,
    ) -> StoreError {
        let Some(expected) = expected else {
            return StoreError::NotFound;
        };
        match self.inner.live_version(id.as_str(), now).await {
            Ok(Some(_)) => StoreError::Conflict { expected },
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
    }
}
