//! The store: sealing, opening, and the server-side operations it refuses.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use session_core::time::OffsetDateTime;
use session_core::{
    store::{CookieSealing, Record, SessionStore, StoreError, Unsealed},
    KeyRing, SessionId, MAX_COOKIE_BYTES,
};
use session_crypto::token::{decode_base64url, encode_base64url};
use session_crypto::Purpose;

use crate::compress::{inflate, Compression};
use crate::format::{self, FLAG_DEFLATE, FORMAT_VERSION};
use crate::revocation::Revocation;

/// Default of [`CookieStoreBuilder::max_inflated_len`].
pub const DEFAULT_MAX_INFLATED: usize = 64 * 1024;

/// Default of [`CookieStoreBuilder::revocation_ttl`]: the default absolute
/// timeout of `SessionConfig`. It is a floor: a revocation lasts at least
/// until the absolute expiry of every record the store has sealed or opened.
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(24 * 3600);

/// A session store that keeps the whole record in the cookie, sealed with
/// AES-256-GCM under a [`KeyRing`]: the client can neither read nor change
/// it, and the server keeps nothing.
///
/// Cloning is cheap and shares the optional revocation hook.
///
/// ```
/// use session_core::{KeyRing, SessionConfig, SessionManager};
/// use session_store_cookie::CookieStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ring = KeyRing::new(["a secret of at least thirty-two bytes!"])?;
/// let store = CookieStore::builder(ring.clone())
///     .compress_above(256)
///     .reseal_old_keys(true)
///     .build();
/// let config = SessionConfig::builder().keys(ring).store(store).build()?;
/// # let _ = config; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CookieStore {
    keys: KeyRing,
    compression: Option<Compression>,
    max_inflated: usize,
    reseal_old_keys: bool,
    revocation: Option<Arc<dyn Revocation>>,
    revocation_ttl: Duration,
    /// The longest time that any record this store (or a clone) sealed or
    /// opened had left until its absolute expiry, in whole seconds rounded
    /// up: how long a revocation must last so that no cookie outlives it.
    longest_lifetime: Arc<AtomicI64>,
}

/// Builds a [`CookieStore`]. Every setter states its default.
#[derive(Debug)]
#[must_use]
pub struct CookieStoreBuilder {
    store: CookieStore,
    compress_above: Option<usize>,
}

impl CookieStore {
    /// A store sealing with `keys`, with the defaults of
    /// [`CookieStore::builder`].
    pub fn new(keys: KeyRing) -> Self {
        Self::builder(keys).build()
    }

    /// A builder with the defaults: no compression, inflate limit
    /// [`DEFAULT_MAX_INFLATED`], cookies sealed with an older key resealed on
    /// the next response, no revocation hook.
    pub fn builder(keys: KeyRing) -> CookieStoreBuilder {
        CookieStoreBuilder {
            store: CookieStore {
                keys,
                compression: None,
                max_inflated: DEFAULT_MAX_INFLATED,
                reseal_old_keys: true,
                revocation: None,
                revocation_ttl: DEFAULT_REVOCATION_TTL,
                longest_lifetime: Arc::new(AtomicI64::new(0)),
            },
            compress_above: None,
        }
    }

    /// Seals `record` into the value of cookie `cookie_name` (base64url, no
    /// padding). The name is bound in: the value opens under no other name.
    /// This is [`CookieSealing::seal`] without the `async`, for benchmarks
    /// and tools.
    ///
    /// ```
    /// use session_core::time::{Duration, OffsetDateTime};
    /// use session_core::{KeyRing, SessionId, store::Record};
    /// use session_store_cookie::CookieStore;
    ///
    /// let store = CookieStore::new(KeyRing::generate());
    /// let now = OffsetDateTime::now_utc();
    /// let record = Record::new(
    ///     SessionId::random(),
    ///     b"{}".to_vec(),
    ///     now,
    ///     now + Duration::minutes(30),
    ///     now + Duration::hours(8),
    /// )
    /// .with_version(1)
    /// .with_owner(Some("user-7".into()));
    /// let value = store.seal_record("_session", &record);
    /// let opened = store.open_value("_session", &value, now).expect("opens");
    /// assert_eq!(opened.record.owner.as_deref(), Some("user-7"));
    /// assert!(store.open_value("_other", &value, now).is_none());
    /// ```
    pub fn seal_record(&self, cookie_name: &str, record: &Record) -> String {
        self.note_lifetime(record, OffsetDateTime::now_utc());
        let context = cookie_name.as_bytes();
        let sealed = match self.compression {
            Some(compression) => {
                let body = format::encode(record);
                match compression.try_deflate(&body.bytes) {
                    Some(deflated) => {
                        self.seal_frame(context, body.flags | FLAG_DEFLATE, &deflated)
                    }
                    None => self.seal_frame(context, body.flags, &body.bytes),
                }
            }
            // Without compression the body is laid out once, straight into
            // the buffer that is encrypted in place.
            None => {
                let layout = format::Layout::new(record);
                let len = format::FRAME_OVERHEAD + layout.len_hint();
                self.keys
                    .seal_with(Purpose::Cookie, context, len, |plaintext| {
                        plaintext.extend_from_slice(&[FORMAT_VERSION, layout.flags()]);
                        layout.write(plaintext);
                    })
            }
        };
        encode_base64url(&sealed)
    }

    /// Seals format, flags and a ready payload.
    fn seal_frame(&self, context: &[u8], flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = format::FRAME_OVERHEAD + payload.len();
        self.keys
            .seal_with(Purpose::Cookie, context, len, |plaintext| {
                plaintext.extend_from_slice(&[FORMAT_VERSION, flags]);
                plaintext.extend_from_slice(payload);
            })
    }

    /// Opens the value of cookie `cookie_name`: the live record it seals, or
    /// `None` for anything else (not base64url, tampered, sealed by another
    /// ring or for another cookie name, unknown format, expired at `now`).
    /// Total: never panics, whatever the input. This is
    /// [`CookieSealing::open`] without the revocation check.
    pub fn open_value(
        &self,
        cookie_name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Option<Unsealed> {
        match self.try_open(cookie_name, value, now) {
            Ok(unsealed) => Some(unsealed),
            Err(reason) => {
                tracing::debug!(cookie = cookie_name, reason, "session cookie refused");
                None
            }
        }
    }

    fn try_open(
        &self,
        cookie_name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<Unsealed, &'static str> {
        if value.len() > MAX_COOKIE_BYTES {
            return Err("longer than any cookie");
        }
        let sealed = decode_base64url(value).ok_or("not base64url")?;
        // Opened in the buffer that decoding made, which then becomes the
        // record's data: one allocation from cookie to record.
        let opened = self
            .keys
            .open_vec(Purpose::Cookie, cookie_name.as_bytes(), sealed)
            .map_err(|_| "does not open: tampered, foreign key or other cookie name")?;
        // An older secret or the older seal format: either way the cookie
        // should be sealed again (under the current key and format 2's
        // nonce budget).
        let stale_key = opened.needs_reseal();
        let (flags, payload) = format::split_frame(&opened.plaintext).ok_or("unknown format")?;
        let (body, start) = if flags & FLAG_DEFLATE != 0 {
            let inflated =
                inflate(payload, self.max_inflated).ok_or("does not inflate within the limit")?;
            (inflated, 0)
        } else {
            // The plaintext becomes the record's data (no copy).
            (opened.into_plaintext(), format::FRAME_OVERHEAD)
        };
        let record = format::decode_vec(flags, body, start).ok_or("malformed record")?;
        if record.is_expired(now) {
            return Err("expired");
        }
        self.note_lifetime(&record, now);
        if stale_key {
            tracing::debug!(id = %record.id, "session cookie sealed with an older key or format");
        }
        Ok(Unsealed::new(record, stale_key && self.reseal_old_keys))
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Remembers how long `record` can still be carried by a cookie, as of
    /// `now`, if that is the longest yet.
    fn note_lifetime(&self, record: &Record, now: OffsetDateTime) {
        let left = (record.absolute_expires_at - now)
            .whole_seconds()
            .saturating_add(1);
        if left > 0 {
            self.longest_lifetime.fetch_max(left, Ordering::Relaxed);
        }
    }

    /// Until when a session deleted at `now` must stay revoked.
    ///
    /// In the request cycle a session is deleted (logout, the old id at
    /// rotation) after its cookie was opened by this store, at an earlier
    /// instant `t` when its record had at most `longest_lifetime` left: its
    /// absolute expiry is at most `t + longest_lifetime`, which is before
    /// `now + longest_lifetime`. So is that of every record this store
    /// sealed or opened. For an id it has never seen (deleted by id from
    /// elsewhere, or after a restart) the configured TTL is the floor.
    fn revocation_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        let seen = time::Duration::seconds(self.longest_lifetime.load(Ordering::Relaxed));
        let floor = time::Duration::try_from(self.revocation_ttl).unwrap_or(time::Duration::MAX);
        now.saturating_add(seen.max(floor))
    }
}

impl CookieStoreBuilder {
    /// Deflate the record before sealing when it is at least `bytes` long
    /// (default: never). Compressed data fits about two to ten times more
    /// text-like data into the 4096-byte cookie; random data does not shrink
    /// and stays as it is.
    ///
    /// # Warning
    ///
    /// Compression makes the cookie's length depend on its content. If an
    /// attacker can both put chosen text into a session next to a secret
    /// (say a CSRF token) and watch the cookie's length over many requests,
    /// the length tells when the guess matches part of the secret (the
    /// CRIME/BREACH family). Keep secrets out of compressed sessions or leave
    /// compression off.
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = Some(bytes);
        self
    }

    /// The largest record a compressed cookie may inflate to (default
    /// [`DEFAULT_MAX_INFLATED`], 64 KiB). Larger records are sealed without
    /// compression; a cookie that would inflate further is refused.
    pub fn max_inflated_len(mut self, bytes: usize) -> Self {
        self.store.max_inflated = bytes;
        self
    }

    /// Whether a cookie that an older secret of the ring sealed, or that was
    /// sealed in session-crypto's older format 1, is sealed again with the
    /// first secret (in the current format) on the next response even when
    /// nothing changed (default true). With false it is resealed only when the
    /// response sets the cookie anyway (a change, or an idle-expiry refresh).
    pub fn reseal_old_keys(mut self, on: bool) -> Self {
        self.store.reseal_old_keys = on;
        self
    }

    /// A revocation hook (default none): deleting a session (logout, and the
    /// old id at rotation) revokes its id, and a cookie carrying a revoked id
    /// is a fresh session. See [`Revocation`].
    pub fn revocation(self, hook: impl Revocation) -> Self {
        self.shared_revocation(Arc::new(hook))
    }

    /// A revocation hook that the application also keeps (to revoke ids of
    /// its own, for example).
    pub fn shared_revocation(mut self, hook: Arc<dyn Revocation>) -> Self {
        self.store.revocation = Some(hook);
        self
    }

    /// The shortest time a revocation is kept (default
    /// [`DEFAULT_REVOCATION_TTL`], 24 hours).
    ///
    /// A revocation lasts until the revoked session's cookie can no longer
    /// open, its sealed absolute expiry, however long that is ("remember
    /// me" for 30 days): the store remembers the longest time any record it
    /// sealed or opened had left, and revokes for at least that long. That
    /// covers logout and rotation, where the request opened the cookie just
    /// before. This TTL is the floor for ids the process has not seen since
    /// it started (`SessionManager::delete` with an id from elsewhere, just
    /// after a restart): set it to the session's absolute timeout to cover
    /// those too.
    pub fn revocation_ttl(mut self, ttl: Duration) -> Self {
        self.store.revocation_ttl = ttl;
        self
    }

    /// Builds the store.
    pub fn build(self) -> CookieStore {
        let mut store = self.store;
        store.compression = self.compress_above.map(|threshold| Compression {
            threshold,
            max_inflated: store.max_inflated,
        });
        store
    }
}

/// What `load` answers as unsupported: the record of an id is only in its
/// cookie.
const LOADING_BY_ID: &str =
    "loading by id (the session lives in its cookie; with a revocation hook, delete ends an id)";
/// What listing an owner's sessions answers as unsupported.
const LISTING_BY_OWNER: &str = "listing sessions by owner (the server keeps no list of cookies)";
/// What deleting an owner's sessions answers as unsupported.
const DELETING_BY_OWNER: &str =
    "deleting sessions by owner (the server keeps no list of cookies; with a revocation hook, delete ends an id)";

/// The cookie store keeps no server state: the request cycle seals and opens
/// records through [`CookieSealing`] and never calls `create`, `save`,
/// `touch` or `load`, which answer [`StoreError::Unsupported`] like every
/// operation that would need to find sessions on the server (get by id,
/// clear, count, listing, deleting by owner or predicate).
#[async_trait]
impl SessionStore for CookieStore {
    fn name(&self) -> &'static str {
        "cookie"
    }

    async fn create(&self, _record: &Record) -> Result<(), StoreError> {
        Err(StoreError::unsupported(
            self.name(),
            "create (the record lives in the cookie)",
        ))
    }

    async fn save(&self, _record: &Record, _expected: Option<u64>) -> Result<(), StoreError> {
        Err(StoreError::unsupported(
            self.name(),
            "save (the record lives in the cookie)",
        ))
    }

    /// Unsupported, and with it `SessionManager::get`, `find` and
    /// `revoke` (which must read a session's owner before ending it).
    async fn load(
        &self,
        _id: &SessionId,
        _touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        Err(StoreError::unsupported(self.name(), LOADING_BY_ID))
    }

    /// Unsupported: no list of an owner's cookies exists, so neither
    /// `SessionManager::sessions_of` nor `revoke_others` can work.
    async fn ids_by_owner(&self, _owner: &str) -> Result<Vec<SessionId>, StoreError> {
        Err(StoreError::unsupported(self.name(), LISTING_BY_OWNER))
    }

    /// Unsupported, as [`ids_by_owner`](Self::ids_by_owner).
    async fn records_by_owner(&self, _owner: &str) -> Result<Vec<Record>, StoreError> {
        Err(StoreError::unsupported(self.name(), LISTING_BY_OWNER))
    }

    /// Unsupported, as [`ids_by_owner`](Self::ids_by_owner): end a session
    /// whose id the application kept with [`delete`](Self::delete) and a
    /// revocation hook instead.
    async fn delete_by_owner(&self, _owner: &str) -> Result<u64, StoreError> {
        Err(StoreError::unsupported(self.name(), DELETING_BY_OWNER))
    }

    async fn touch(
        &self,
        _id: &SessionId,
        _idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Err(StoreError::unsupported(
            self.name(),
            "touch (the record lives in the cookie)",
        ))
    }

    /// Without a revocation hook there is nothing to delete on the server:
    /// answers `false` (the cookie itself is removed by the response). With
    /// one, revokes the id until no cookie carrying it can open any more
    /// (see [`CookieStoreBuilder::revocation_ttl`]) and answers `true`.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let Some(hook) = &self.revocation else {
            return Ok(false);
        };
        let until = self.revocation_until(OffsetDateTime::now_utc());
        hook.revoke(id, until).await?;
        tracing::debug!(%id, %until, "session id revoked");
        Ok(true)
    }

    /// Unsupported: there is no list of cookies to clear. To end every
    /// session at once, drop the old secrets from the key ring.
    async fn clear(&self) -> Result<(), StoreError> {
        Err(StoreError::unsupported(self.name(), "clear"))
    }

    fn cookie_sealing(&self) -> Option<&dyn CookieSealing> {
        Some(self)
    }
}

#[async_trait]
impl CookieSealing for CookieStore {
    async fn open(
        &self,
        cookie_name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Unsealed>, StoreError> {
        let Some(unsealed) = self.open_value(cookie_name, value, now) else {
            return Ok(None);
        };
        if let Some(hook) = &self.revocation {
            if hook.is_revoked(&unsealed.record.id).await? {
                tracing::debug!(id = %unsealed.record.id, "session cookie carries a revoked id");
                return Ok(None);
            }
        }
        Ok(Some(unsealed))
    }

    async fn seal(&self, cookie_name: &str, record: &Record) -> Result<String, StoreError> {
        Ok(self.seal_record(cookie_name, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_outlast_every_record_seen_and_never_overflow() {
        let store = CookieStore::new(KeyRing::generate());
        let now = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        assert_eq!(store.revocation_until(now), now + DEFAULT_REVOCATION_TTL);
        let record = |absolute| {
            Record::new(SessionId::random(), Vec::new(), now, absolute, absolute).with_version(1)
        };
        store.note_lifetime(&record(now + 40 * day), now);
        // a shorter one later changes nothing
        store.note_lifetime(&record(now + 2 * day), now);
        let until = store.revocation_until(now);
        assert!(until >= now + 40 * day);
        assert!(until <= now + 40 * day + time::Duration::seconds(1));
        // clones share what was seen
        assert_eq!(store.clone().revocation_until(now), until);
        // the latest instant `time` can express: saturates, no panic
        let last = OffsetDateTime::new_utc(
            time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap(),
            time::Time::MIDNIGHT,
        );
        store.note_lifetime(&record(last), now);
        assert!(store.revocation_until(last) >= last);
    }
}
