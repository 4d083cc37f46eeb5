//! The stored document: one per session, keyed by the session id.
//!
//! ```text
//! { _id: "<SessionId>", data: BinData(0, ...), created_at: Date,
//!   idle_expires_at: Date, absolute_expires_at: Date, expires_at: Date,
//!   version: Int64, owner: "<owner>" }
//! ```
//!
//! `expires_at` is the earlier of the two expiries: what every query filters
//! on and what the TTL index removes by. `owner` is absent when the session
//! has none (the owner index is sparse). Dates are BSON dates (UTC
//! milliseconds, the precision every store keeps).

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, DateTime, Document};
use session_core::store::{Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

/// The field names, written once.
pub(crate) mod field {
    /// The session id (the SHA-256 of the token, never the token).
    pub(crate) const ID: &str = "_id";
    /// The encoded session data, binary.
    pub(crate) const DATA: &str = "data";
    /// When the session was created.
    pub(crate) const CREATED_AT: &str = "created_at";
    /// The sliding expiry.
    pub(crate) const IDLE_EXPIRES_AT: &str = "idle_expires_at";
    /// The fixed expiry.
    pub(crate) const ABSOLUTE_EXPIRES_AT: &str = "absolute_expires_at";
    /// The earlier of the two: queries and the TTL index use it.
    pub(crate) const EXPIRES_AT: &str = "expires_at";
    /// The version the concurrency check compares.
    pub(crate) const VERSION: &str = "version";
    /// The owner, absent when there is none.
    pub(crate) const OWNER: &str = "owner";
    /// Set by a cleanup batch on the expired documents it is about to
    /// delete: a random token of that batch (absent otherwise).
    pub(crate) const CLEANUP_CLAIM: &str = "cleanup_claim";
}

/// A time as a BSON date (milliseconds since the Unix epoch).
pub(crate) fn date(at: OffsetDateTime) -> DateTime {
    DateTime::from_millis(Record::millis(at))
}

/// A version as BSON's only 64-bit integer, the signed one: its bits, so
/// that every `u64` comes back exactly (versions count up from 0 and never
/// reach 2^63 in practice, where they would read as negative in a shell).
pub(crate) fn version(version: u64) -> i64 {
    i64::from_ne_bytes(version.to_ne_bytes())
}

fn version_from(stored: i64) -> u64 {
    u64::from_ne_bytes(stored.to_ne_bytes())
}

/// The document that stores `record`.
pub(crate) fn to_document(record: &Record) -> Document {
    let mut document = doc! {
        field::ID: record.id.as_str(),
        field::DATA: Binary { subtype: BinarySubtype::Generic, bytes: record.data.clone() },
        field::CREATED_AT: date(record.created_at),
        field::IDLE_EXPIRES_AT: date(record.idle_expires_at),
        field::ABSOLUTE_EXPIRES_AT: date(record.absolute_expires_at),
        field::EXPIRES_AT: date(record.expires_at()),
        field::VERSION: version(record.version),
    };
    if let Some(owner) = &record.owner {
        document.insert(field::OWNER, owner.as_str());
    }
    document
}

/// Reads a stored document back; anything that is not the documented shape
/// is [`StoreError::Malformed`], naming the field.
pub(crate) fn from_document(document: &Document) -> Result<Record, StoreError> {
    let id = session_id(document)?;
    let data = match document.get(field::DATA) {
        Some(Bson::Binary(binary)) => binary.bytes.clone(),
        _ => return Err(malformed(field::DATA, "not binary")),
    };
    let owner = match document.get(field::OWNER) {
        None | Some(Bson::Null) => None,
        Some(Bson::String(owner)) => Some(owner.clone()),
        Some(_) => return Err(malformed(field::OWNER, "not a string")),
    };
    let version = document
        .get_i64(field::VERSION)
        .map_err(|_| malformed(field::VERSION, "not a 64-bit integer"))?;
    Ok(Record::new(
        id,
        data,
        time(document, field::CREATED_AT)?,
        time(document, field::IDLE_EXPIRES_AT)?,
        time(document, field::ABSOLUTE_EXPIRES_AT)?,
    )
    .with_version(version_from(version))
    .with_owner(owner))
}

/// The `_id` of a stored document, checked.
pub(crate) fn session_id(document: &Document) -> Result<SessionId, StoreError> {
    let id = document
        .get_str(field::ID)
        .map_err(|_| malformed(field::ID, "not a string"))?;
    SessionId::parse(id).map_err(|_| malformed(field::ID, "not a session id"))
}

pub(crate) fn time(document: &Document, name: &'static str) -> Result<OffsetDateTime, StoreError> {
    document
        .get_datetime(name)
        .map(|at| Record::from_millis(at.timestamp_millis()))
        .map_err(|_| malformed(name, "not a date"))
}

fn malformed(name: &str, what: &str) -> StoreError {
    StoreError::Malformed(format!("session document field `{name}`: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::Duration;

    fn record() -> Record {
        let now = Record::from_millis(1_700_000_000_123);
        Record::new(
            SessionId::random(),
            vec![0, 1, 2, 255],
            now,
            now + Duration::minutes(30),
            now + Duration::days(1),
        )
        .with_version(7)
        .with_owner(Some("Zoë".into()))
    }

    /// The document of a fixed record as BSON, byte for byte (field order,
    /// BSON types, the times as UTC datetimes in ms): a change fails here,
    /// and the committed bytes must keep reading.
    #[test]
    fn the_document_is_pinned_byte_for_byte() {
        let created = Record::from_millis(1_767_225_600_000);
        let r = Record::new(
            SessionId::parse("Qx3tH1b5m0VGYq9fW2kKcR8uZpLd7eNjAaS4oTyXvBw").expect("an id"),
            b"\xc1\x01data".to_vec(),
            created,
            created + Duration::minutes(30),
            created + Duration::days(1),
        )
        .with_version(7)
        .with_owner(Some("alice".into()));
        let expected = concat!(
            "cb000000", // length
            "025f6964002c00000051783374483162356d3056475971396657326b4b635238755a704c6437654e6a416153346f54795876427700", // _id, string
            "0564617461000600000000c10164617461", // data, binary (generic)
            "09637265617465645f61740000a8da769b010000", // created_at, UTC datetime
            "0969646c655f657870697265735f617400401ff6769b010000", // idle_expires_at
            "096162736f6c7574655f657870697265735f6174000004017c9b010000", // absolute_expires_at
            "09657870697265735f617400401ff6769b010000", // expires_at: the earlier
            "1276657273696f6e000700000000000000", // version, int64
            "026f776e65720006000000616c69636500", // owner, string
            "00",                                 // end
        );
        let mut bytes = Vec::new();
        to_document(&r).to_writer(&mut bytes).expect("writes");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        let committed: Vec<u8> = (0..expected.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&expected[i..i + 2], 16).expect("hex"))
            .collect();
        let document = Document::from_reader(&mut committed.as_slice()).expect("reads");
        assert_eq!(from_document(&document).expect("readable"), r);
    }

    #[test]
    fn a_record_round_trips_through_its_document() {
        let r = record();
        assert_eq!(from_document(&to_document(&r)).expect("readable"), r);
        let lone = record().with_owner(None).with_version(u64::MAX);
        let document = to_document(&lone);
        assert!(!document.contains_key(field::OWNER));
        assert_eq!(from_document(&document).expect("readable"), lone);
    }

    #[test]
    fn the_document_has_the_documented_fields_and_types() {
        let r = record();
        let document = to_document(&r);
        let keys: Vec<&str> = document.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "_id",
                "data",
                "created_at",
                "idle_expires_at",
                "absolute_expires_at",
                "expires_at",
                "version",
                "owner"
            ]
        );
        assert_eq!(document.get_str("_id").expect("a string"), r.id.as_str());
        assert_eq!(
            document
                .get_datetime("expires_at")
                .expect("a date")
                .timestamp_millis(),
            1_700_000_000_123 + 30 * 60_000,
            "the earlier of the two expiries"
        );
        assert!(
            matches!(document.get("data"), Some(Bson::Binary(b)) if b.subtype == BinarySubtype::Generic)
        );
        assert_eq!(document.get_i64("version").expect("an Int64"), 7);
    }

    #[test]
    fn a_foreign_document_is_malformed_not_a_panic() {
        let mut document = to_document(&record());
        document.insert("data", "text, not binary");
        assert!(
            matches!(from_document(&document), Err(StoreError::Malformed(m)) if m.contains("`data`"))
        );
        let mut document = to_document(&record());
        document.insert("_id", "../../etc/passwd");
        assert!(
            matches!(from_document(&document), Err(StoreError::Malformed(m)) if m.contains("`_id`"))
        );
        let mut document = to_document(&record());
        document.insert("version", 7.5);
        assert!(
            matches!(from_document(&document), Err(StoreError::Malformed(m)) if m.contains("`version`"))
        );
        assert!(from_document(&doc! {}).is_err());
    }
}
