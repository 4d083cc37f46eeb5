//! A user's sessions: listing them with their metadata ("your devices"),
//! revoking one or all but the current one, and the cap per owner that a
//! commit enforces when a session gains its owner.

use time::OffsetDateTime;

use super::SessionManager;
use crate::data::SessionData;
use crate::envelope;
use crate::error::SessionError;
use crate::events::EventKind;
use crate::id::SessionId;
use crate::meta::SessionEntry;
use crate::record::Record;
use crate::session::Session;
use crate::telemetry::Operation;

impl<T: SessionData> SessionManager<T> {
    /// The live sessions of `owner`, newest first (by creation, which a
    /// login restarts), with the metadata the configuration keeps
    /// ([`Metadata`](crate::Metadata)); `current` marks the asking
    /// request's session. One store call, served by the store's owner index
    /// ([`SessionStore::records_by_owner`](crate::store::SessionStore::records_by_owner));
    /// the application's data is not decoded.
    ///
    /// ```
    /// use session_core::{Metadata, SessionConfig, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// # #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    /// # struct UserSession { n: u32 }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::SessionError> {
    /// let config = SessionConfig::testing()
    ///     .store(MemoryStore::new())
    ///     .metadata(Metadata::all())
    ///     .build()
    ///     .unwrap();
    /// let manager = SessionManager::<UserSession>::new(config);
    /// for _ in 0..2 {
    ///     let session = manager.create();
    ///     session.set_owner(Some("ada"));
    ///     manager.commit(&session).await?;
    /// }
    /// let mine = manager.create();
    /// mine.set_owner(Some("ada"));
    /// manager.commit(&mine).await?;
    ///
    /// let listed = manager.sessions_of("ada", Some(&mine.id())).await?;
    /// assert_eq!(listed.len(), 3);
    /// assert!(listed[0].current && listed[0].id == mine.id()); // newest first
    /// assert_eq!(manager.revoke_others("ada", &mine.id()).await?, 2);
    /// assert_eq!(manager.sessions_of("ada", None).await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn sessions_of(
        &self,
        owner: &str,
        current: Option<&SessionId>,
    ) -> Result<Vec<SessionEntry>, SessionError> {
        let now = OffsetDateTime::now_utc();
        let store = &self.config.store;
        let records = self
            .store_wide(Operation::RecordsByOwner, store.records_by_owner(owner))
            .await?;
        let mut entries: Vec<SessionEntry> = records
            .iter()
            .filter(|r| !r.is_expired(now) && r.owner.as_deref() == Some(owner))
            .map(|r| self.entry(r, current, now))
            .collect();
        entries.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        Ok(entries)
    }

    fn entry(
        &self,
        record: &Record,
        current: Option<&SessionId>,
        now: OffsetDateTime,
    ) -> SessionEntry {
        let options = self.config.accounts.metadata;
        let meta = envelope::decode_meta(&record.data);
        let idle = meta.idle_timeout(self.config.idle_timeout);
        // The touch slid the idle expiry to "last use + idle timeout".
        let last_seen = (record.idle_expires_at - idle)
            .max(record.created_at)
            .min(now);
        SessionEntry {
            id: record.id.clone(),
            created_at: options.shows_created_at().then_some(record.created_at),
            last_seen_at: options.shows_last_seen().then_some(last_seen),
            ip: meta.ip.clone().filter(|_| options.keeps_client_ip()),
            user_agent: meta
                .user_agent
                .clone()
                .filter(|_| options.keeps_user_agent()),
            expires_at: record.expires_at(),
            current: current == Some(&record.id),
            remembered: meta.idle_secs.is_some(),
        }
    }

    /// Ends the session `id` if it belongs to `owner` (signing out one
    /// device). Answers whether it did: `false` for an id that is unknown,
    /// expired or someone else's, which is left alone.
    pub async fn revoke(&self, owner: &str, id: &SessionId) -> Result<bool, SessionError> {
        let now = OffsetDateTime::now_utc();
        let store = &self.config.store;
        let Some(record) = self
            .store_call(Operation::Load, id, store.load(id, None))
            .await?
        else {
            return Ok(false);
        };
        if record.is_expired(now) || record.owner.as_deref() != Some(owner) {
            return Ok(false);
        }
        let existed = self
            .store_call(Operation::Delete, id, store.delete(id))
            .await?;
        if existed {
            self.emit(EventKind::Deleted, id, None, Some(owner), None);
        }
        Ok(existed)
    }

    /// Ends every session of `owner` but `keep` (the current one): "sign
    /// out everywhere else". Answers how many ended.
    pub async fn revoke_others(&self, owner: &str, keep: &SessionId) -> Result<u64, SessionError> {
        let store = &self.config.store;
        let mut revoked = 0;
        let ids = self
            .store_wide(Operation::IdsByOwner, store.ids_by_owner(owner))
            .await?;
        for id in ids {
            if id != *keep
                && self
                    .store_call(Operation::Delete, &id, store.delete(&id))
                    .await?
            {
                self.emit(EventKind::Deleted, &id, None, Some(owner), None);
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// After a write that gave the session its owner: the store bounds the
    /// owner's sessions ([`SessionStore::limit_owner`](crate::store::SessionStore::limit_owner)).
    /// A refused login's record is gone: the response sends no cookie.
    pub(super) async fn bound_owner(
        &self,
        session: &Session<T>,
        record: &Record,
    ) -> Result<(), SessionError> {
        let Some(limit) = self.config.accounts.owner_limit else {
            return Ok(());
        };
        let Some(owner) = record.owner.as_deref() else {
            return Ok(());
        };
        if !session.lock().owner_changed {
            return Ok(());
        }
        let store = &self.config.store;
        let limited = store.limit_owner(owner, &record.id, limit);
        let outcome = self
            .store_call(Operation::LimitOwner, &record.id, limited)
            .await?;
        for id in &outcome.evicted {
            tracing::info!(%id, "session ended: its owner logged in over max_sessions_per_owner");
            self.emit(EventKind::Deleted, id, None, Some(owner), None);
        }
        let mut state = session.lock();
        if outcome.refused {
            tracing::info!(id = %record.id, "login refused: its owner has max_sessions_per_owner sessions");
            state.persisted = false;
            state.previous_id = None;
            state.refreshed = false;
            return Err(SessionError::OwnerLimitReached { max: limit.max });
        }
        state.owner_changed = false;
        Ok(())
    }
}
