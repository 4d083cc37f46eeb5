//! The cap per owner: the `limit_owner` script reads the owner's index and
//! records and removes what `OwnerLimited::decide` says, in one atomic step.
//! Only where every key of the store lives in one slot (a single node,
//! Sentinel, or a cluster with a hash-tagged prefix): on a cluster the
//! records of one owner are spread over slots no script can span, so such a
//! store does not limit owners and a configuration asking for a cap is
//! refused at `build()`.

use fred::types::Value;
use session_core::store::{OwnerLimit, OwnerLimitPolicy, OwnerLimited, StoreError};
use session_core::SessionId;

use super::owners::ids_of;
use super::{unexpected, RedisStore};
use crate::layout;
use crate::scripts::SCRIPTS;

impl RedisStore {
    /// Whether [`limit_owner_here`](Self::limit_owner_here) can run.
    pub(super) fn can_limit_owners(&self) -> bool {
        self.inner.one_slot
    }

    pub(super) async fn limit_owner_here(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        if !self.can_limit_owners() {
            return Err(StoreError::unsupported(
                "redis",
                "limiting sessions per owner on a cluster without a hash-tagged prefix",
            ));
        }
        let key = self.inner.keys.owner(owner);
        let policy = match limit.policy {
            OwnerLimitPolicy::Refuse => "refuse",
            _ => "evict",
        };
        let args = vec![
            self.prefix().into(),
            owner.into(),
            newest.as_str().into(),
            i64::from(limit.max.max(1)).into(),
            policy.into(),
        ];
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.limit_owner, &[&key], args)
            .await?;
        let outcome = outcome(reply)?;
        let removed: Vec<&SessionId> = if outcome.refused {
            vec![newest]
        } else {
            outcome.evicted.iter().collect()
        };
        for id in &removed {
            self.inner.known.forget(id);
        }
        // The script removed them: drop their cached copies too.
        self.changing(&removed, async {}).await;
        Ok(outcome)
    }
}

/// The script's `{refused, evicted ids...}`.
fn outcome(reply: Value) -> Result<OwnerLimited, StoreError> {
    let refused = match &reply {
        Value::Array(items) => items.first().and_then(layout::integer),
        _ => None,
    };
    let Some(refused) = refused else {
        return Err(unexpected("limit_owner", &reply));
    };
    let mut limited = OwnerLimited::default();
    limited.refused = refused == 1;
    limited.evicted = ids_of(reply);
    Ok(limited)
}
