//! The request cycle's own source of expiry events: a store that leaves the
//! expiry check to core (it answers a record past its expiry) makes the
//! load report it, once, with its owner, as `ExpirySource::Load`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use session_core::store::{Record, SessionStore, StoreError};
use session_core::time::OffsetDateTime;
use session_core::{EventKind, ExpirySource, SessionConfig, SessionId, SessionManager};
use session_store_conformance::ExpiredRecorder;

/// Records in a map, answered as stored: expired ones too. The contract
/// asks stores to hide them; core must not rely on it.
#[derive(Debug, Clone, Default)]
struct Unfiltered(Arc<Mutex<HashMap<SessionId, Record>>>);

#[async_trait]
impl SessionStore for Unfiltered {
    fn name(&self) -> &'static str {
        "unfiltered"
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.0
            .lock()
            .unwrap()
            .insert(record.id.clone(), record.clone());
        Ok(())
    }
    async fn save(&self, record: &Record, _: Option<u64>) -> Result<(), StoreError> {
        self.create(record).await
    }
    async fn load(
        &self,
        id: &SessionId,
        _: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
    async fn touch(&self, id: &SessionId, _: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().contains_key(id))
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().remove(id).is_some())
    }
    async fn clear(&self) -> Result<(), StoreError> {
        self.0.lock().unwrap().clear();
        Ok(())
    }
}

#[tokio::test]
async fn a_load_that_meets_an_expired_record_reports_it_with_its_owner() {
    let heard = ExpiredRecorder::new();
    let seen = heard.clone();
    let config = SessionConfig::testing()
        .store(Unfiltered::default())
        .idle_timeout(Duration::from_millis(100))
        .on_expired(move |event| {
            assert_eq!(event.kind, EventKind::Expired);
            assert!(event.data::<u32>().is_none(), "an expiry carries no data");
            seen.record(event);
        })
        .build()
        .unwrap();
    let manager = SessionManager::<u32>::new(config);
    let session = manager.create();
    session.set_owner(Some("ada"));
    let cookie = manager.commit(&session).await.unwrap().unwrap().pair();
    let value = cookie.split_once('=').unwrap().1.to_owned();

    let live = manager.load(Some(&value)).await.unwrap();
    assert_eq!(live.id(), session.id(), "still live: loaded, not reported");
    assert!(heard.is_empty());

    tokio::time::sleep(Duration::from_millis(150)).await;
    let fresh = manager.load(Some(&value)).await.unwrap();
    assert_ne!(
        fresh.id(),
        session.id(),
        "an expired session is never adopted"
    );
    assert_eq!(
        heard.heard_with_source(),
        [(
            session.id(),
            Some("ada".to_owned()),
            Some(ExpirySource::Load)
        )]
    );
}
