//! The cap per owner: one transaction that locks the owner's live rows,
//! applies `OwnerLimited::decide` to them and removes what it decided.

use session_core::store::{OwnerLimit, OwnerLimited, Record, StoreError};
use session_core::SessionId;

use super::{now_millis, sql, SqlStore};
use crate::pool::on_pool;

impl SqlStore {
    /// Locks the owner's live rows (`SELECT ... FOR UPDATE` on PostgreSQL
    /// and MySQL, which on InnoDB also locks the owner's index range against
    /// new rows; SQLite's `BEGIN IMMEDIATE` holds the database's write
    /// lock), so a second login of the same owner waits and then sees what
    /// this one removed. Each login saved its own row before it asks, so
    /// of two racing logins the later one sees both rows.
    pub(super) async fn limit_owner_rows(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        let inner = &self.inner;
        let now = now_millis();
        let rows: Result<Vec<(String, i64)>, StoreError> = inner
            .run(|| async {
                on_pool!(&inner.pool, p => {
                    let mut tx = match &inner.sql.begin_rotation {
                        Some(begin) => p.begin_with(sql(begin)).await?,
                        None => p.begin().await?,
                    };
                    let rows: Vec<(String, i64)> = sqlx::query_as(sql(&inner.sql.lock_owner))
                        .bind(owner)
                        .bind(now)
                        .fetch_all(&mut *tx)
                        .await?;
                    let Ok(outcome) = decide(&rows, newest, limit) else {
                        // A malformed id: change nothing, report it below.
                        tx.rollback().await?;
                        return Ok(rows);
                    };
                    let doomed = outcome.evicted.iter().chain(outcome.refused.then_some(newest));
                    for id in doomed {
                        sqlx::query(sql(&inner.sql.delete))
                            .bind(id.as_str())
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(rows)
                })
            })
            .await;
        decide(&rows?, newest, limit)
    }
}

/// `OwnerLimited::decide` on the locked rows.
fn decide(
    rows: &[(String, i64)],
    newest: &SessionId,
    limit: OwnerLimit,
) -> Result<OwnerLimited, StoreError> {
    let live = rows
        .iter()
        .map(|(id, created)| {
            SessionId::parse(id)
                .map(|id| (id, Record::from_millis(*created)))
                .map_err(|_| StoreError::Malformed(format!("invalid session id {id:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OwnerLimited::decide(&live, newest, limit))
}
