//! What the store keeps per session: a [`Record`] without its id (the map's
//! key holds it), with the data in a boxed slice and the owner's name shared
//! with the owner index.
//!
//! A million sessions make every byte of an entry count: the map's tables
//! are between half and seven eighths full, so each byte of the entry costs
//! one to two bytes of memory. Against a whole `Record` this saves the
//! second copy of the id (43 bytes), the data's capacity word and the
//! owner's own allocation.

use std::sync::Arc;

use session_core::store::Record;
use session_core::time::OffsetDateTime;
use session_core::SessionId;

/// One session as the map holds it; [`Held::to_record`] gives back the
/// record exactly as it was written.
#[derive(Debug)]
pub(crate) struct Held {
    data: Box<[u8]>,
    created_at: OffsetDateTime,
    idle_expires_at: OffsetDateTime,
    absolute_expires_at: OffsetDateTime,
    version: u64,
    /// The same allocation as the owner index's key for this owner.
    owner: Option<Arc<str>>,
}

impl Held {
    /// Keeps `record`, its owner being `owner` (the owner index's name for
    /// `record.owner`).
    pub(crate) fn new(record: &Record, owner: Option<Arc<str>>) -> Self {
        debug_assert_eq!(owner.as_deref(), record.owner.as_deref());
        Held {
            data: record.data.as_slice().into(),
            created_at: record.created_at,
            idle_expires_at: record.idle_expires_at,
            absolute_expires_at: record.absolute_expires_at,
            version: record.version,
            owner,
        }
    }

    /// The record held at `id`.
    pub(crate) fn to_record(&self, id: &SessionId) -> Record {
        Record::new(
            id.clone(),
            self.data.to_vec(),
            self.created_at,
            self.idle_expires_at,
            self.absolute_expires_at,
        )
        .with_version(self.version)
        .with_owner(self.owner.as_deref().map(str::to_owned))
    }

    pub(crate) fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    pub(crate) fn shared_owner(&self) -> Option<&Arc<str>> {
        self.owner.as_ref()
    }

    /// As [`Record::expires_at`].
    pub(crate) fn expires_at(&self) -> OffsetDateTime {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// As [`Record::is_expired`].
    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at()
    }

    /// Moves the idle expiry to `wanted`, never past the absolute expiry
    /// (as [`Record::capped_idle`]).
    pub(crate) fn touch(&mut self, wanted: OffsetDateTime) {
        self.idle_expires_at = wanted.min(self.absolute_expires_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::Duration;

    #[test]
    fn a_record_comes_back_exactly_as_it_was_written() {
        let now = OffsetDateTime::now_utc();
        let record = Record::new(
            SessionId::random(),
            b"some session data".to_vec(),
            now,
            now + Duration::nanoseconds(1_234_567_891),
            now + Duration::days(1),
        )
        .with_version(7)
        .with_owner(Some("ada".to_owned()));
        let held = Held::new(&record, Some(Arc::from("ada")));
        assert_eq!(held.to_record(&record.id), record);
        let anonymous = record.clone().with_owner(None);
        assert_eq!(Held::new(&anonymous, None).to_record(&record.id), anonymous);
    }

    #[test]
    fn a_touch_never_moves_past_the_absolute_expiry() {
        let now = OffsetDateTime::now_utc();
        let record = Record::new(
            SessionId::random(),
            Vec::new(),
            now,
            now + Duration::minutes(1),
            now + Duration::minutes(10),
        );
        let mut held = Held::new(&record, None);
        held.touch(now + Duration::hours(1));
        assert_eq!(held.expires_at(), now + Duration::minutes(10));
        held.touch(now + Duration::minutes(5));
        assert_eq!(held.expires_at(), now + Duration::minutes(5));
    }
}
