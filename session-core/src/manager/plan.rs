//! The commit planner: under the session lock, what a commit writes and
//! how; the request cycle (`cycle`) carries it out after the lock is
//! released.

use time::OffsetDateTime;

use super::SessionManager;
use crate::config::IdleRefresh;
use crate::data::SessionData;
use crate::envelope;
use crate::error::SessionError;
use crate::id::SessionId;
use crate::record::Record;
use crate::session::State;

/// How a commit stores its record, decided under the session lock and
/// carried out after it is released (a lock is never held across a store
/// call). A deletion is decided apart, before.
pub(super) enum Write {
    /// A new record: the first write of a new session.
    Create,
    /// The record moves to the session's new id (rotation), only if `from`
    /// still holds it (at `expected`, when given).
    Rotate {
        from: SessionId,
        expected: Option<u64>,
    },
    /// Replace the record, at the version given if any.
    Save(Option<u64>),
    /// Only the idle expiry moves. The store's answer also proves that the
    /// record still exists, so a dead token is never sent back.
    Touch,
    /// Nothing to store, but the cookie goes out again (new `Max-Age`, or a
    /// cookie sealed with an old key).
    Resend,
}

impl<T: SessionData> SessionManager<T> {
    /// The ids to delete if the session was deleted: the stored one and the
    /// one it rotated away from.
    pub(super) fn deletion(state: &State<T>) -> Option<Vec<SessionId>> {
        state.deleted.then(|| {
            let ids = state.persisted.then(|| state.id.clone());
            ids.into_iter().chain(state.previous_id.clone()).collect()
        })
    }

    /// The record to write and how, if anything is to be written.
    pub(super) fn plan(
        &self,
        state: &State<T>,
        status: u16,
        now: OffsetDateTime,
    ) -> Result<Option<(Record, Write)>, SessionError> {
        // Deleted after `deletion` looked (by another holder of the
        // handle): nothing is written; the next commit deletes.
        if state.deleted {
            return Ok(None);
        }
        if status >= 500 && !self.config.save_on_server_error {
            return Ok(None);
        }
        if now >= state.absolute_expires_at {
            return Ok(None);
        }
        if !state.persisted && !state.modified {
            return Ok(None);
        }
        let write_idle = now + state.timeouts.idle;
        if state.modified {
            let record = self.record(
                state,
                write_idle.min(state.absolute_expires_at),
                state.version + 1,
            )?;
            let expected = self
                .config
                .concurrency
                .versioned_saves()
                .then_some(state.version);
            let write = match (&state.previous_id, state.persisted) {
                (Some(from), _) => Write::Rotate {
                    from: from.clone(),
                    expected,
                },
                (None, false) => Write::Create,
                (None, true) => Write::Save(expected),
            };
            return Ok(Some((record, write)));
        }
        let touch = match self.config.idle_refresh {
            IdleRefresh::WhenRemainingBelow(fraction) => {
                let remaining = state.idle_expires_at - now;
                remaining < state.timeouts.idle.mul_f64(fraction)
            }
            // A server store's touch at commit is the sliding refresh, and
            // its answer proves that the record still exists; a sealed
            // cookie is resealed instead (`refreshed`).
            IdleRefresh::Always => state.refreshed && !self.sealed_cookies(),
            IdleRefresh::OnWrite => false,
        };
        if touch {
            let record = self.record(
                state,
                write_idle.min(state.absolute_expires_at),
                state.version,
            )?;
            return Ok(Some((record, Write::Touch)));
        }
        if state.refreshed || state.reissue {
            let record = self.record(state, state.idle_expires_at, state.version)?;
            return Ok(Some((record, Write::Resend)));
        }
        Ok(None)
    }

    /// The record for the current state. Server stores need the encoded data
    /// only for writes; sealed cookies always carry it. Encoded data over
    /// `max_session_bytes` is an error.
    pub(super) fn record(
        &self,
        state: &State<T>,
        idle: OffsetDateTime,
        version: u64,
    ) -> Result<Record, SessionError> {
        let needs_data = state.modified || self.sealed_cookies();
        let data = if needs_data {
            let flash = state.flash.to_save();
            let mut meta = state.meta.clone();
            meta.record_client(self.config.accounts.metadata, state.client.as_ref());
            let data = envelope::encode(
                self.config.codec,
                self.schema.version,
                &state.data,
                &flash,
                &meta,
                &state.unknown,
            )?;
            // Checked here, before any store call, so that an oversized
            // session writes nothing in any store.
            let limit = self.config.max_session_bytes;
            if data.len() > limit {
                return Err(SessionError::SessionTooLarge {
                    size: data.len(),
                    limit,
                });
            }
            data
        } else {
            Vec::new()
        };
        Ok(Record::new(
            state.id.clone(),
            data,
            state.created_at,
            idle,
            state.absolute_expires_at,
        )
        .with_version(version)
        .with_owner(state.owner.clone()))
    }
}
