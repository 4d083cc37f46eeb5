//! The value of a session key: one Redis string, a fixed binary header and
//! then the data. Decoding is total: anything it does not understand is an
//! error with a reason for the log, never a panic.
//!
//! | Offset | Size | Holds |
//! |---:|---:|---|
//! | 0 | 1 | format, `1` |
//! | 1 | 8 | version (unsigned, big-endian) |
//! | 9 | 8 | created (ms since the Unix epoch, signed, big-endian) |
//! | 17 | 8 | absolute expiry (ms, signed, big-endian) |
//! | 25 | 4 | owner length in bytes (big-endian); `0xFFFFFFFF`: no owner |
//! | 29 | n | owner (UTF-8) |
//! | 29 + n | rest | data, as the session codec wrote it |
//!
//! The idle expiry is not in the value: it is the key's own expiry
//! (`min(idle, absolute)`), which a touch moves without rewriting the value.
//! The Lua scripts read the same offsets (see `scripts.rs`).

use fred::types::Value;
use session_core::{
    store::{Record, StoreError},
    SessionId,
};

/// The format byte this version writes and reads. A value with another
/// first byte was written by another version (or is not a session at all)
/// and is never read, touched or overwritten by a script.
pub(crate) const FORMAT: u8 = 1;
/// Bytes before the owner.
pub(crate) const HEADER: usize = 29;
/// The owner length that means "no owner".
const NO_OWNER: u32 = u32::MAX;

/// The header and the parts of a value, borrowed from it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub(crate) version: u64,
    pub(crate) created: i64,
    pub(crate) absolute: i64,
    pub(crate) owner: Option<&'a [u8]>,
    pub(crate) data: &'a [u8],
}

/// The value stored for `record`.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    let owner = record.owner.as_deref().map(str::as_bytes);
    let owner_len = match owner {
        None => NO_OWNER,
        Some(owner) => u32::try_from(owner.len())
            .ok()
            .filter(|n| *n != NO_OWNER)
            .ok_or_else(|| StoreError::Malformed("the owner is too long to store".into()))?,
    };
    let size = HEADER + owner.map_or(0, <[u8]>::len) + record.data.len();
    let mut value = Vec::with_capacity(size);
    value.push(FORMAT);
    value.extend_from_slice(&record.version.to_be_bytes());
    value.extend_from_slice(&Record::millis(record.created_at).to_be_bytes());
    value.extend_from_slice(&Record::millis(record.absolute_expires_at).to_be_bytes());
    value.extend_from_slice(&owner_len.to_be_bytes());
    value.extend_from_slice(owner.unwrap_or_default());
    value.extend_from_slice(&record.data);
    Ok(value)
}

/// The parts of a value of this format.
pub(crate) fn parse(value: &[u8]) -> Result<Parts<'_>, &'static str> {
    let (&format, rest) = value.split_first().ok_or("empty value")?;
    if format != FORMAT {
        return Err("unknown format");
    }
    let (version, rest) = take8(rest)?;
    let (created, rest) = take8(rest)?;
    let (absolute, rest) = take8(rest)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or("truncated header")?;
    let (owner, data) = match u32::from_be_bytes(*len) {
        NO_OWNER => (None, rest),
        len => {
            let len = usize::try_from(len).map_err(|_| "owner too long")?;
            let (owner, data) = rest.split_at_checked(len).ok_or("truncated owner")?;
            (Some(owner), data)
        }
    };
    Ok(Parts {
        version: u64::from_be_bytes(version),
        created: i64::from_be_bytes(created),
        absolute: i64::from_be_bytes(absolute),
        owner,
        data,
    })
}

fn take8(bytes: &[u8]) -> Result<([u8; 8], &[u8]), &'static str> {
    let (head, rest) = bytes.split_first_chunk::<8>().ok_or("truncated header")?;
    Ok((*head, rest))
}

/// The record in `value` for `id`, whose key expires at `idle_ms` (the
/// key's expiry is the record's idle expiry).
pub(crate) fn decode(id: &SessionId, value: &[u8], idle_ms: i64) -> Result<Record, &'static str> {
    let parts = parse(value)?;
    let owner = match parts.owner {
        None => None,
        Some(bytes) => Some(std::str::from_utf8(bytes).map_err(|_| "owner is not UTF-8")?),
    };
    Ok(Record::new(
        id.clone(),
        parts.data.to_vec(),
        Record::from_millis(parts.created),
        Record::from_millis(idle_ms),
        Record::from_millis(parts.absolute),
    )
    .with_version(parts.version)
    .with_owner(owner.map(str::to_owned)))
}

/// The owner in a value of this format (`Err` for any other value).
pub(crate) fn owner_of(value: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    parse(value).map(|parts| parts.owner)
}

/// The version as the scripts compare it: its 8 bytes in the value.
pub(crate) fn version_bytes(version: u64) -> Value {
    Value::from(&version.to_be_bytes()[..])
}

/// The expiry Redis carries for a record: the earlier of its two expiries,
/// at least 1 ms after the epoch (Redis refuses 0 and negative times; 1 is
/// long past, so the key goes at once).
pub(crate) fn expire_at(record: &Record) -> i64 {
    Record::millis(record.expires_at()).max(1)
}

/// A touch's new key expiry: `wanted`, never past the absolute expiry.
pub(crate) fn capped(wanted: i64, absolute: i64) -> i64 {
    wanted.min(absolute).max(1)
}

/// The bytes of a string reply (Redis strings are binary; fred hands them
/// over as `String` when they are UTF-8 and as `Bytes` otherwise).
pub(crate) fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::String(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// An integer reply.
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::{Duration, OffsetDateTime};

    fn record() -> Record {
        let now = Record::from_millis(Record::millis(OffsetDateTime::now_utc()));
        Record::new(
            SessionId::random(),
            vec![0, 159, 146, 150],
            now,
            now + Duration::minutes(5),
            now + Duration::hours(1),
        )
        .with_version(u64::MAX)
        .with_owner(Some("alice".into()))
    }

    #[test]
    fn a_record_survives_the_round_trip() {
        for owner in [None, Some(String::new()), Some("ünïcode".to_owned())] {
            let mut r = record();
            r.owner = owner;
            let value = encode(&r).unwrap();
            let idle = Record::millis(r.idle_expires_at);
            assert_eq!(decode(&r.id, &value, idle), Ok(r.clone()));
            assert_eq!(owner_of(&value), Ok(r.owner.as_deref().map(str::as_bytes)));
        }
    }

    #[test]
    fn the_header_is_where_the_documentation_and_the_scripts_say() {
        let r = record();
        let value = encode(&r).unwrap();
        assert_eq!(value[0], 1);
        assert_eq!(&value[1..9], &u64::MAX.to_be_bytes());
        assert_eq!(bytes(&version_bytes(u64::MAX)), Some(&value[1..9]));
        assert_eq!(&value[9..17], &Record::millis(r.created_at).to_be_bytes());
        let absolute = Record::millis(r.absolute_expires_at).to_be_bytes();
        assert_eq!(&value[17..25], &absolute);
        assert_eq!(&value[25..29], &5u32.to_be_bytes());
        assert_eq!(&value[29..34], b"alice");
        assert_eq!(&value[34..], &r.data[..]);
        let mut anonymous = r;
        anonymous.owner = None;
        let value = encode(&anonymous).unwrap();
        assert_eq!(&value[25..29], &[0xff; 4]);
        assert_eq!(&value[29..], &anonymous.data[..]);
    }

    #[test]
    fn anything_else_is_malformed_never_a_panic() {
        let id = SessionId::random();
        let good = encode(&record()).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![1],
            b"\x00\x01garbage".to_vec(),
            b"{\"json\":true}".to_vec(),
        ];
        // Every truncation of the header or the owner.
        cases.extend((1..HEADER + 5).map(|n| good[..n].to_vec()));
        let mut other_format = good.clone();
        other_format[0] = 2;
        cases.push(other_format);
        let mut long_owner = good.clone();
        long_owner[25..29].copy_from_slice(&0xffff_fffe_u32.to_be_bytes());
        cases.push(long_owner);
        for case in &cases {
            assert!(decode(&id, case, 1).is_err(), "{case:?}");
            assert!(owner_of(case).is_err(), "{case:?}");
        }
        let mut bad_owner = good;
        bad_owner[29] = 0xff;
        assert_eq!(decode(&id, &bad_owner, 1), Err("owner is not UTF-8"));
    }

    #[test]
    fn expiries_stay_positive_and_capped() {
        assert_eq!(capped(10, 5), 5);
        assert_eq!(capped(5, 10), 5);
        assert_eq!(capped(-3, 10), 1);
        let mut r = record();
        r.idle_expires_at = Record::from_millis(-5);
        assert_eq!(expire_at(&r), 1);
    }
}
