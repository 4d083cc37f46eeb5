//! Walks of the table: the scan behind `delete_where`, page by page.

use session_core::store::{RecordPredicate, StoreError};

use super::queries::{into_record, RecordRow};
use super::{now_millis, sql, Inner, SqlStore};
use crate::pool::on_pool;

/// Rows read per round trip when `delete_where` scans.
const SCAN_PAGE: i64 = 500;

impl Inner {
    pub(super) async fn page(&self, after: &str, now: i64) -> Result<Vec<RecordRow>, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_as::<_, RecordRow>(sql(&self.sql.page))
                .bind(after)
                .bind(now)
                .bind(SCAN_PAGE)
                .fetch_all(p)
                .await)
        })
        .await
    }
}

impl SqlStore {
    /// Scans the live rows in pages of [`SCAN_PAGE`] and removes those that
    /// `predicate` selects, each only if it was not saved in between.
    pub(super) async fn delete_selected(
        &self,
        predicate: &RecordPredicate<'_>,
    ) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let now = now_millis();
        let mut after = String::new();
        let mut removed = 0;
        loop {
            let rows = inner.page(&after, now).await?;
            let full = rows.len() as i64 == SCAN_PAGE;
            for row in rows {
                after.clone_from(&row.0);
                let version = row.5;
                let record = into_record(row)?;
                if predicate(&record) {
                    removed += inner.delete_version(record.id.as_str(), version).await?;
                }
            }
            if !full {
                return Ok(removed);
            }
        }
    }
}
