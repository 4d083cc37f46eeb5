//! How a [`Record`] becomes script arguments and how a script's reply
//! becomes a [`Record`] again. Decoding is total: any reply it does not
//! understand is [`Loaded::Malformed`], never a panic.

use fred::types::Value;
use session_core::{Record, SessionId};

/// The layout version written in field `f`. A record with another value
/// was written by another version of this crate and is not read.
pub(crate) const LAYOUT: &str = "1";

/// What a load found.
#[derive(Debug)]
pub(crate) enum Loaded {
    Record(Record),
    Missing,
    /// A key that is not a record of this layout; the reason is for the log.
    Malformed(&'static str),
}

/// The expiry Redis carries for a record: the earlier of its two expiries.
pub(crate) fn expire_at_millis(record: &Record) -> i64 {
    Record::millis(record.expires_at())
}

/// The arguments of the create and save scripts (see `scripts.rs`):
/// expire-at, data, created, idle, absolute, version, id, owner,
/// expected version.
pub(crate) fn write_args(record: &Record, expected_version: Option<u64>) -> Vec<Value> {
    vec![
        expire_at_millis(record).into(),
        record.data.as_slice().into(),
        Record::millis(record.created_at).into(),
        Record::millis(record.idle_expires_at).into(),
        Record::millis(record.absolute_expires_at).into(),
        record.version.to_string().into(),
        record.id.as_str().into(),
        record.owner.as_deref().unwrap_or("").into(),
        expected_version
            .map(|v| v.to_string())
            .unwrap_or_default()
            .into(),
    ]
}

/// Decodes the reply of the load script for `id`.
pub(crate) fn decode(id: &SessionId, reply: Value) -> Loaded {
    let fields = match reply {
        Value::Null => return Loaded::Missing,
        Value::Array(fields) => fields,
        _ => return Loaded::Malformed("the key is not a hash"),
    };
    if fields.iter().all(Value::is_null) {
        return Loaded::Missing;
    }
    match parse(id, &fields) {
        Ok(record) => Loaded::Record(record),
        Err(reason) => Loaded::Malformed(reason),
    }
}

fn parse(id: &SessionId, fields: &[Value]) -> Result<Record, &'static str> {
    let [f, d, c, i, a, v, o] = fields else {
        return Err("unexpected reply shape");
    };
    if bytes(f) != Some(LAYOUT.as_bytes()) {
        return Err("unknown layout version");
    }
    let owner = match o {
        Value::Null => None,
        other => Some(text(other).ok_or("owner is not UTF-8")?.to_owned()),
    };
    Ok(Record {
        id: id.clone(),
        data: bytes(d).ok_or("no data")?.to_vec(),
        created_at: Record::from_millis(number(c).ok_or("bad created time")?),
        idle_expires_at: Record::from_millis(number(i).ok_or("bad idle expiry")?),
        absolute_expires_at: Record::from_millis(number(a).ok_or("bad absolute expiry")?),
        version: text(v).and_then(|s| s.parse().ok()).ok_or("bad version")?,
        owner,
    })
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

fn text(value: &Value) -> Option<&str> {
    std::str::from_utf8(bytes(value)?).ok()
}

fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// An integer reply (the status codes of the scripts).
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
        Record {
            id: SessionId::random(),
            data: vec![0, 159, 146, 150],
            created_at: now,
            idle_expires_at: now + Duration::minutes(5),
            absolute_expires_at: now + Duration::hours(1),
            version: u64::MAX,
            owner: Some("alice".into()),
        }
    }

    /// What the load script answers for a record written with `args`.
    fn reply(args: &[Value]) -> Value {
        Value::Array(vec![
            "1".into(),
            args[1].clone(),
            args[2].clone(),
            args[3].clone(),
            args[4].clone(),
            args[5].clone(),
            args[7].clone(),
        ])
    }

    #[test]
    fn a_record_survives_the_round_trip() {
        let r = record();
        let args = write_args(&r, Some(3));
        assert_eq!(integer(&args[0]), Some(Record::millis(r.idle_expires_at)));
        assert_eq!(bytes(&args[8]), Some(&b"3"[..]));
        match decode(&r.id, reply(&args)) {
            Loaded::Record(back) => assert_eq!(back, r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_else_is_missing_or_malformed_never_a_panic() {
        let id = SessionId::random();
        assert!(matches!(decode(&id, Value::Null), Loaded::Missing));
        assert!(matches!(
            decode(&id, Value::Array(vec![Value::Null; 7])),
            Loaded::Missing
        ));
        assert!(matches!(
            decode(&id, "malformed".into()),
            Loaded::Malformed(_)
        ));
        assert!(matches!(
            decode(&id, Value::Array(vec!["1".into()])),
            Loaded::Malformed(_)
        ));
        let r = record();
        let mut args = write_args(&r, None);
        args[5] = "-1".into();
        assert!(matches!(
            decode(&id, reply(&args)),
            Loaded::Malformed("bad version")
        ));
        let mut fields = match reply(&write_args(&r, None)) {
            Value::Array(f) => f,
            _ => unreachable!(),
        };
        fields[0] = "2".into();
        assert!(matches!(
            decode(&id, Value::Array(fields.clone())),
            Loaded::Malformed(_)
        ));
        fields[0] = "1".into();
        fields[6] = Value::from(&[0xff_u8, 0xfe][..]);
        assert!(matches!(
            decode(&id, Value::Array(fields)),
            Loaded::Malformed(_)
        ));
    }
}
