//! The expiry reports of a store that has an
//! [`ExpirySink`](session_core::store::ExpirySink): what reaches
//! `on_expired`.

use std::sync::Arc;

use session_core::{ExpirySource, SessionConfig, SessionId};

use crate::records::{expired, record};
use crate::{ExpiredRecorder, Fixture};

/// A store that reports expiries reports each expired record exactly once,
/// with its owner, whether a load meets it first or the cleanup removes it,
/// and never a live record or one deleted while live. A store without an expiry sink
/// passes without running it; one with a sink needs a fixture that
/// implements [`Fixture::remove_expired`].
pub async fn expired_records_are_reported_once(fx: &dyn Fixture) {
    let store = fx.store();
    if store.expiry_sink().is_none() {
        return;
    }
    let heard = ExpiredRecorder::new();
    let _config = SessionConfig::testing()
        .shared_store(Arc::clone(&store))
        .on_expired(heard.hook())
        .build()
        .unwrap();
    let loaded = expired().with_owner(Some("ada".into()));
    let swept = expired().with_owner(Some("bob".into()));
    let ownerless = expired();
    // Deleted while live. (One deleted after it expired may be reported by
    // the cleanup, if the delete left it, as SQL's does.)
    let deleted = record(60_000).with_owner(Some("ada".into()));
    let live = record(60_000).with_owner(Some("ada".into()));
    for r in [&loaded, &swept, &ownerless, &deleted, &live] {
        store.create(r).await.unwrap();
    }
    assert!(store.load(&loaded.id, None).await.unwrap().is_none());
    store.delete(&deleted.id).await.unwrap();
    let removed = fx
        .remove_expired()
        .await
        .expect("a store with an expiry sink: its fixture must implement remove_expired");
    assert!(
        removed <= 3,
        "removed {removed}: more than the expired records"
    );
    assert_eq!(
        fx.remove_expired().await,
        Some(0),
        "a second cleanup finds nothing"
    );
    assert!(store.load(&live.id, None).await.unwrap().is_some());

    let mut heard = heard.heard_with_source();
    heard.sort_by(|a, b| a.0.cmp(&b.0));
    let mut wanted: Vec<(SessionId, Option<String>)> = [&loaded, &swept, &ownerless]
        .iter()
        .map(|r| (r.id.clone(), r.owner.clone()))
        .collect();
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<(SessionId, Option<String>)> = heard
        .iter()
        .map(|(id, owner, _)| (id.clone(), owner.clone()))
        .collect();
    assert_eq!(got, wanted, "each expired record once, with its owner");
    for (id, _, source) in &heard {
        let source = source.expect("an expiry event says where it was found");
        if *id != loaded.id {
            assert_eq!(
                source,
                ExpirySource::Cleanup,
                "only the loaded one was met by a load"
            );
        }
    }
}
