//! The request cycle's load and commit steps: the store calls a request
//! makes, driven by `LazySession` (`crate::cycle`).

use time::OffsetDateTime;

use super::plan::Write;
use super::{CookieValue, SessionManager};
use crate::config::{IdleRefresh, OutagePolicy};
use crate::cookie_header::{removal_cookie, session_cookie, SetCookie};
use crate::data::SessionData;
use crate::envelope::{self, Decoded};
use crate::error::SessionError;
use crate::events::EventKind;
use crate::flash::FlashState;
use crate::id::{SessionId, Token};
use crate::meta::ClientInfo;
use crate::record::Record;
use crate::serialize::{self, Access};
use crate::session::{Session, State};
use crate::store::StoreError;
use crate::telemetry::{self, LoadOutcome, Operation};

impl<T: SessionData> SessionManager<T> {
    /// [`load`](Self::load) for a value that [`read_cookie`](Self::read_cookie)
    /// has checked already. Under [`OutagePolicy::Degrade`], an unavailable
    /// store gives a degraded stand-in instead of the error.
    pub(crate) async fn load_value(
        &self,
        value: Option<CookieValue>,
        access: Access,
        client: Option<ClientInfo>,
    ) -> Result<Session<T>, SessionError> {
        let session = self.load_or_degrade(value, access).await?;
        if client.is_some() {
            session.lock().client = client;
        }
        Ok(session)
    }

    async fn load_or_degrade(
        &self,
        value: Option<CookieValue>,
        access: Access,
    ) -> Result<Session<T>, SessionError> {
        let Some(value) = value else {
            return Ok(self.create());
        };
        match self.load_stored(value, access).await {
            Err(SessionError::Store(error))
                if error.is_unavailable() && self.config.outage == OutagePolicy::Degrade =>
            {
                telemetry::degraded(&error);
                let session = self.create();
                session.lock().degraded = true;
                Ok(session)
            }
            other => other,
        }
    }

    /// The session a cookie value names, from the store; a new one where
    /// there is none to use.
    async fn load_stored(
        &self,
        value: CookieValue,
        access: Access,
    ) -> Result<Session<T>, SessionError> {
        let now = OffsetDateTime::now_utc();
        // Under `Serialize`, the session's lock, held until the commit.
        let mut lease = None;
        let store = self.config.store.name();
        let loaded = match (&value, self.config.store.cookie_sealing()) {
            (CookieValue::Sealed(sealed), Some(sealing)) => {
                let open = sealing.open(&self.config.cookie_name, sealed, now);
                let opened = telemetry::store_call(store, Operation::Open, None, open).await?;
                if opened.is_none() {
                    telemetry::loaded(LoadOutcome::Tampered);
                }
                opened.map(|u| (u.record, None, u.stale_key))
            }
            (CookieValue::Token(token), None) => {
                let loaded = serialize::load(&self.config, &token.id(), access, now).await?;
                lease = loaded.lease;
                loaded.record.map(|record| (record, Some(*token), false))
            }
            // A value checked for another kind of store (not possible
            // through `read_cookie`): a new session, as for any stranger.
            _ => None,
        };
        let Some((record, token, stale_key)) = loaded else {
            return Ok(self.create());
        };
        match envelope::decode(self.config.codec, &self.schema, &record.data) {
            Ok(decoded) => {
                telemetry::loaded(LoadOutcome::Found);
                let session = self.loaded(record, decoded, token, stale_key, now);
                session.hold_lease(lease);
                Ok(session)
            }
            Err(error) => {
                telemetry::loaded(LoadOutcome::Undecodable);
                tracing::warn!(id = %record.id, %error, "stored session does not decode; starting a new session");
                Ok(self.create())
            }
        }
    }

    fn loaded(
        &self,
        record: Record,
        decoded: Decoded<T>,
        token: Option<Token>,
        stale_key: bool,
        now: OffsetDateTime,
    ) -> Session<T> {
        // `Always` refreshes unless the idle expiry would move by less than
        // the slack (the refresh fraction of this session's idle timeout):
        // the reads in between cost no write and no header.
        let timeouts = self.timeouts(Some(&decoded.meta));
        let wanted = record.capped_idle(now + timeouts.idle);
        let always = matches!(self.config.idle_refresh, IdleRefresh::Always)
            && wanted - record.idle_expires_at >= self.config.refresh_slack_for(timeouts.idle);
        let mut idle_expires_at = record.idle_expires_at;
        if always && token.is_none() {
            // A sealed cookie has no store to touch: the new expiry goes out
            // in the resealed cookie at commit.
            idle_expires_at = wanted;
        }
        if let Some(from) = decoded.migrated_from {
            tracing::debug!(id = %record.id, from, to = self.schema.version, "stored session migrated");
        }
        if !decoded.unknown.is_empty() {
            tracing::debug!(id = %record.id, fields = %decoded.unknown, "stored session has fields this release does not know; they are kept");
        }
        let session = Session::from_state(
            self.config.keys.clone(),
            State {
                data: decoded.data,
                id: record.id,
                token,
                created_at: record.created_at,
                idle_expires_at,
                absolute_expires_at: record.absolute_expires_at,
                version: record.version,
                owner: record.owner,
                persisted: true,
                modified: false,
                generation: 0,
                refreshed: always,
                reissue: stale_key,
                previous_id: None,
                deleted: false,
                flash: FlashState::loaded(decoded.flash),
                unknown: decoded.unknown,
                csrf: decoded.csrf,
                meta: decoded.meta,
                timeouts,
                owner_changed: false,
                client: None,
                degraded: false,
            },
        );
        self.emit_with_state(EventKind::Loaded, &session, None);
        session
    }

    /// Writes what changed and answers the `Set-Cookie` to send, if any.
    /// Same as [`commit_with_status`](Self::commit_with_status) with `200`.
    pub async fn commit(&self, session: &Session<T>) -> Result<Option<SetCookie>, SessionError> {
        self.commit_with_status(session, 200).await
    }

    /// Writes what changed, for a response with HTTP `status`, and answers
    /// the `Set-Cookie` to send, if any. A `5xx` saves nothing unless
    /// [`save_on_server_error`](crate::SessionConfigBuilder::save_on_server_error)
    /// is set (deletion still happens: a logout must not be undone by an
    /// error page). Calling it again after a success writes nothing new.
    pub async fn commit_with_status(
        &self,
        session: &Session<T>,
        status: u16,
    ) -> Result<Option<SetCookie>, SessionError> {
        let result = self.write_changes(session, status).await;
        // Under `Serialize`: after the commit, whether it worked or not.
        serialize::release(session).await;
        result
    }

    /// What [`commit_with_status`](Self::commit_with_status) writes.
    async fn write_changes(
        &self,
        session: &Session<T>,
        status: u16,
    ) -> Result<Option<SetCookie>, SessionError> {
        // A stand-in for an unavailable store: nothing to write, no cookie.
        if session.lock().degraded {
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc();
        // This future is part of every request's, so it is kept small: the
        // rarer steps (deletion, creation) are boxed, and a deletion is
        // settled before any record exists.
        let deletion = Self::deletion(&session.lock());
        if let Some(ids) = deletion {
            return Box::pin(self.run_delete(session, ids)).await;
        }
        // Matched as a temporary: a named plan would stay in the future's
        // state next to the record moved out of it.
        let (Some((mut record, write)), generation) = ({
            let state = session.lock();
            (self.plan(&state, status, now)?, state.generation)
        }) else {
            return Ok(None);
        };
        // A sealed cookie is its own storage: sealing is the save.
        let sealed_cookies = self.sealed_cookies();
        match &write {
            Write::Create if !sealed_cookies => {
                Box::pin(self.store_new(session, &mut record, None)).await?
            }
            Write::Rotate { from, expected } => {
                let moved = Box::pin(self.run_rotate(session, &mut record, from, *expected));
                if !moved.await? {
                    return Ok(Self::vanished(session, "rotation"));
                }
            }
            Write::Save(expected) if !sealed_cookies => {
                // Under `Serialize`, the save also gives the lease back.
                serialize::save(&self.config, session, &record, *expected).await?
            }
            Write::Touch if !sealed_cookies => {
                let touch = self.config.store.touch(&record.id, record.idle_expires_at);
                if !self.store_call(Operation::Touch, &record.id, touch).await? {
                    return Ok(Self::vanished(session, "touch"));
                }
            }
            Write::Create | Write::Save(_) | Write::Touch | Write::Resend => {}
        }
        if !sealed_cookies && !matches!(write, Write::Touch | Write::Resend) {
            self.bound_owner(session, &record).await?;
        }
        let sealed = self.seal(&record).await?;
        let cookie = self.finish_write(session, &record, sealed, generation, now)?;
        match &write {
            Write::Create => {
                telemetry::count(telemetry::name::CREATED);
                self.emit_with_state(EventKind::Started, session, None)
            }
            Write::Rotate { from, .. } => {
                telemetry::count(telemetry::name::ROTATED);
                self.emit_with_state(EventKind::Regenerated, session, Some(from))
            }
            Write::Save(_) => telemetry::count(telemetry::name::SAVED),
            Write::Touch => telemetry::count(telemetry::name::TOUCHED),
            Write::Resend => {}
        }
        Ok(cookie)
    }

    async fn run_delete(
        &self,
        session: &Session<T>,
        ids: Vec<SessionId>,
    ) -> Result<Option<SetCookie>, SessionError> {
        for id in &ids {
            let delete = self.config.store.delete(id);
            self.store_call(Operation::Delete, id, delete).await?;
        }
        telemetry::count(telemetry::name::DELETED);
        if let Some(id) = ids.first() {
            let state = session.lock();
            self.emit(
                EventKind::Deleted,
                id,
                None,
                state.owner.as_deref(),
                Some(&state.data),
            );
        }
        let cookie = removal_cookie(&self.config.cookie, &self.config.cookie_name);
        let mut state = session.lock();
        state.persisted = false;
        Ok(Some(cookie))
    }

    /// Stores a new record under the session's token, or moves the record
    /// there from `from` (rotation). A new id that is taken (only a broken
    /// random source gets there) is retried with a fresh token, so another
    /// session is never overwritten.
    async fn store_new(
        &self,
        session: &Session<T>,
        record: &mut Record,
        from: Option<(&SessionId, Option<u64>)>,
    ) -> Result<(), StoreError> {
        let store = &self.config.store;
        let mut token = session.lock().token;
        let mut attempts = 0;
        loop {
            let stored = match from {
                None => {
                    let create = store.create(record);
                    self.store_call(Operation::Create, &record.id, create).await
                }
                Some((old, expected)) => {
                    let rotate = store.rotate(old, record, expected);
                    self.store_call(Operation::Rotate, old, rotate).await
                }
            };
            match stored {
                Ok(()) => break,
                Err(StoreError::AlreadyExists) if attempts < 3 => {
                    attempts += 1;
                    let fresh = Token::random();
                    record.id = fresh.id();
                    token = Some(fresh);
                }
                Err(error) => return Err(error),
            }
        }
        let mut state = session.lock();
        state.token = token;
        state.id = record.id.clone();
        Ok(())
    }

    /// Rotates the record away from `from`. Answers `false` when `from` was
    /// deleted or expired meanwhile: then nothing was created. A sealed
    /// cookie has no server record to move; its old id is revoked, where the
    /// store keeps revocations.
    async fn run_rotate(
        &self,
        session: &Session<T>,
        record: &mut Record,
        from: &SessionId,
        expected: Option<u64>,
    ) -> Result<bool, SessionError> {
        if self.sealed_cookies() {
            let delete = self.config.store.delete(from);
            self.store_call(Operation::Delete, from, delete).await?;
            return Ok(true);
        }
        match self
            .store_new(session, record, Some((from, expected)))
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The session's record is gone (deleted, rotated away or expired by
    /// another request or process while this one ran): nothing was written,
    /// and the response sends no `Set-Cookie` at all. Not the old token (it
    /// is dead), and not a removal either: the request that rotated or
    /// deleted the session has sent the browser its own cookie, which a
    /// later response must not overwrite (two parallel logins, a read that
    /// loaded before the login). A browser that still holds a dead token
    /// gets a fresh session on its next request.
    fn vanished(session: &Session<T>, during: &'static str) -> Option<SetCookie> {
        let mut state = session.lock();
        tracing::debug!(id = %state.id, during, "session vanished from the store while the request ran");
        state.persisted = false;
        state.previous_id = None;
        state.refreshed = false;
        state.reissue = false;
        None
    }

    /// The sealed cookie value of a record, where the store keeps records
    /// in cookies.
    async fn seal(&self, record: &Record) -> Result<Option<String>, SessionError> {
        match self.config.store.cookie_sealing() {
            Some(sealing) => {
                let seal = sealing.seal(&self.config.cookie_name, record);
                let store = self.config.store.name();
                Ok(Some(
                    telemetry::store_call(store, Operation::Seal, None, seal).await?,
                ))
            }
            None => Ok(None),
        }
    }

    /// Updates the handle after a successful store call and builds the
    /// cookie, carrying `sealed` or else the session's token.
    fn finish_write(
        &self,
        session: &Session<T>,
        record: &Record,
        sealed: Option<String>,
        generation: u64,
        now: OffsetDateTime,
    ) -> Result<Option<SetCookie>, SessionError> {
        let mut state = session.lock();
        state.persisted = true;
        state.version = record.version;
        state.idle_expires_at = record.idle_expires_at;
        state.previous_id = None;
        state.refreshed = false;
        state.reissue = false;
        if state.generation == generation {
            state.modified = false;
            if !state.flash.is_empty() {
                state.flash = FlashState::loaded(state.flash.to_save());
            }
        }
        let token = state.token.as_ref().map(Token::as_str);
        let Some(value) = sealed.as_deref().or(token) else {
            return Ok(None);
        };
        // Formatting only, under the lock: the token is not copied out.
        // `Max-Age` covers the absolute lifetime: the store (or the sealed
        // value) enforces the idle expiry, so the browser's copy need not
        // follow every refresh.
        session_cookie(
            &self.config.cookie,
            &self.config.cookie_name,
            value,
            record.absolute_expires_at - now,
        )
        .map(Some)
    }
}
