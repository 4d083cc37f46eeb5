//! The background task that removes expired rows.

use std::sync::Weak;
use std::time::Duration;

use session_core::store::Record;
use session_core::time::OffsetDateTime;

use crate::store::Inner;

/// Spawns the cleanup on the current tokio runtime, if there is one.
pub(crate) fn spawn(store: Weak<Inner>, period: Duration) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(run(store, period));
        }
        Err(_) => tracing::debug!("no tokio runtime: the SQL store runs without cleanup"),
    }
}

/// Every `period`, deletes expired rows batch by batch until a batch comes
/// back short. Holds the store only while a batch runs, so dropping the
/// last clone ends the task at its next step. A failing database is logged
/// and tried again at the next tick.
async fn run(store: Weak<Inner>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = Record::millis(OffsetDateTime::now_utc());
        let mut total = 0;
        loop {
            let Some(inner) = store.upgrade() else { return };
            match inner.delete_expired_batch(now).await {
                Ok(removed) => {
                    total += removed;
                    if removed < u64::from(inner.cleanup_batch) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "session cleanup failed; retrying at the next tick");
                    break;
                }
            }
            drop(inner);
            // Let requests in between batches.
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::debug!(removed = total, "expired sessions removed");
        }
        if let Some(inner) = store.upgrade() {
            inner.delete_ended_leases(now).await;
        }
    }
}
