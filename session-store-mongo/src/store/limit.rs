//! The cap per owner (`limit_owner`) without transactions: a standalone
//! server has none, and none is needed. One lease document per owner in the
//! lease collection, `{ _id: "owner:<owner>", token, expires_at }`, makes
//! the calls on one owner take turns, across processes: taken by the same
//! upsert as a session lock's lease (it matches only an ended lease, so a
//! live one collides on `_id`; `owner:` holds a character no session id
//! has, so the two kinds never meet). The holder reads the owner's live
//! documents (`_id` and `created_at`, from the `owner` index), applies
//! `OwnerLimited::decide`, deletes what it says, and releases the lease.
//!
//! The lease lasts [`LEASE_TIMEOUTS`] command timeouts: the holder's two
//! commands end within two, so a live holder is never overtaken (given
//! application clocks that agree, as for session locks); a crashed one's
//! lease ends by itself. A waiter tries again after a short pause, for as
//! long as one lease lasts, then answers `StoreError::Timeout`.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, DateTime, Document};
use session_core::store::{LockToken, OwnerLimit, OwnerLimited, Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use super::{all_live, MongoStore};
use crate::document::{date, field, session_id, time};
use crate::error::{from_driver, is_duplicate_key};

/// How many command timeouts an owner's lease lasts.
pub(crate) const LEASE_TIMEOUTS: u32 = 4;
/// The longest pause between two tries at a held owner lease.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// The `_id` of an owner's lease document.
fn lease_id(owner: &str) -> String {
    format!("owner:{owner}")
}

impl MongoStore {
    pub(super) async fn limit_owner_documents(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        let token = Binary {
            subtype: BinarySubtype::Generic,
            bytes: LockToken::random().as_bytes().to_vec(),
        };
        self.take_owner_lease(owner, &token).await?;
        let decided = self.apply_owner_limit(owner, newest, limit).await;
        let filter = doc! { field::ID: lease_id(owner), "token": token };
        if let Err(error) = self.timed(self.leases().delete_one(filter)).await {
            // What was decided is done; the lease ends by itself.
            tracing::warn!(%error, "owner lease not released; it ends on its own");
        }
        decided
    }

    fn owner_lease(&self) -> Duration {
        self.timeout.saturating_mul(LEASE_TIMEOUTS)
    }

    /// Takes the owner's lease, waiting while another call holds it.
    async fn take_owner_lease(&self, owner: &str, token: &Binary) -> Result<(), StoreError> {
        let lease = self.owner_lease();
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let now = OffsetDateTime::now_utc();
            let ended =
                doc! { field::ID: lease_id(owner), field::EXPIRES_AT: { "$lte": date(now) } };
            let until = DateTime::from_millis(
                Record::millis(now)
                    .saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)),
            );
            let take = doc! { "$set": { "token": token.clone(), field::EXPIRES_AT: until } };
            match self
                .timed_raw(self.leases().update_one(ended, take).upsert(true))
                .await?
            {
                Ok(_) => return Ok(()),
                Err(error) if is_duplicate_key(&error) => {}
                Err(error) => return Err(from_driver(error)),
            }
            if started.elapsed() >= lease {
                return Err(StoreError::Timeout(lease));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Under the owner's lease: reads the owner's live sessions and removes
    /// what the limit decides.
    async fn apply_owner_limit(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        let mut filter = all_live(OffsetDateTime::now_utc());
        filter.insert(field::OWNER, owner);
        let find = self
            .collection()
            .find(filter)
            .projection(doc! { field::ID: 1, field::CREATED_AT: 1 });
        let found: Vec<Document> = self
            .timed(async move { find.await?.try_collect::<Vec<_>>().await })
            .await?;
        let live = found
            .iter()
            .map(|d| Ok((session_id(d)?, time(d, field::CREATED_AT)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let decided = OwnerLimited::decide(&live, newest, limit);
        let removed: Vec<&str> = if decided.refused {
            vec![newest.as_str()]
        } else {
            decided.evicted.iter().map(SessionId::as_str).collect()
        };
        if !removed.is_empty() {
            let doomed = doc! { field::ID: { "$in": removed }, field::OWNER: owner };
            self.timed(self.collection().delete_many(doomed)).await?;
        }
        Ok(decided)
    }
}
