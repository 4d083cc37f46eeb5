//! The binary layout of a record inside the seal.
//!
//! ```text
//! plaintext = format (1 byte, = 1) | flags (1 byte) | payload
//! flags     = bit 0: payload is raw deflate of the body
//!             bit 1: id stored as its 43 characters (else as 32 raw bytes)
//!             other bits: zero (a set unknown bit refuses the cookie)
//! body      = id (32 raw bytes, or 43 ASCII bytes with bit 1)
//!           | created_at          i64 big-endian, Unix milliseconds
//!           | idle_expires_at     i64 big-endian, Unix milliseconds
//!           | absolute_expires_at i64 big-endian, Unix milliseconds
//!           | version             LEB128 varint
//!           | owner               LEB128 varint n: 0 = none, else n - 1
//!                                 UTF-8 bytes follow
//!           | data                the rest: the codec's bytes, unchanged
//! ```
//!
//! The format byte lets a later layout coexist with cookies already out
//! there. Decoding is total: any byte string gives a record or `None`.

use session_core::{store::Record, SessionId};
use session_crypto::token::{decode_base64url_32, encode_base64url_32, TOKEN_LEN};
use session_crypto::Plaintext;

/// The layout this crate writes and reads.
pub(crate) const FORMAT_VERSION: u8 = 1;
/// The payload is deflated.
pub(crate) const FLAG_DEFLATE: u8 = 1 << 0;
/// The id is stored as text: only for an id that is not 32 canonical
/// base64url bytes, which `SessionId::random` never makes.
const FLAG_TEXT_ID: u8 = 1 << 1;
const KNOWN_FLAGS: u8 = FLAG_DEFLATE | FLAG_TEXT_ID;
const RAW_ID_LEN: usize = 32;
/// Bytes of the body besides owner and data, for the common raw id and a
/// version below 128: id, three timestamps, version, owner tag.
pub(crate) const BODY_OVERHEAD: usize = RAW_ID_LEN + 3 * 8 + 1 + 1;
/// Bytes in front of the payload: format and flags.
pub(crate) const FRAME_OVERHEAD: usize = 2;

/// A record laid out for sealing, before any compression.
#[derive(Debug)]
pub(crate) struct Body {
    /// The flags that describe the body (never [`FLAG_DEFLATE`]).
    pub(crate) flags: u8,
    /// The bytes.
    pub(crate) bytes: Vec<u8>,
}

/// Where a body is written: a plain buffer, or the plaintext of a seal
/// (so that the uncompressed body is written once, in place).
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Plaintext<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A record, ready to be written: its flags and the raw id, worked out
/// once.
pub(crate) struct Layout<'a> {
    record: &'a Record,
    raw_id: Option<[u8; RAW_ID_LEN]>,
}

impl<'a> Layout<'a> {
    pub(crate) fn new(record: &'a Record) -> Self {
        Layout {
            record,
            raw_id: decode_base64url_32(record.id.as_str()),
        }
    }

    /// The flags that describe the body (never [`FLAG_DEFLATE`]).
    pub(crate) fn flags(&self) -> u8 {
        if self.raw_id.is_some() {
            0
        } else {
            FLAG_TEXT_ID
        }
    }

    /// The body's length, give or take a few varint bytes: a capacity.
    pub(crate) fn len_hint(&self) -> usize {
        let owner_len = self.record.owner.as_ref().map_or(0, String::len);
        BODY_OVERHEAD + 20 + owner_len + self.record.data.len()
    }

    /// Writes the body.
    pub(crate) fn write(&self, out: &mut impl Sink) {
        let record = self.record;
        match &self.raw_id {
            Some(raw) => out.put(raw),
            None => out.put(record.id.as_str().as_bytes()),
        }
        for at in [
            record.created_at,
            record.idle_expires_at,
            record.absolute_expires_at,
        ] {
            out.put(&Record::millis(at).to_be_bytes());
        }
        put_varint(out, record.version);
        match &record.owner {
            None => put_varint(out, 0),
            Some(owner) => {
                put_varint(out, owner.len() as u64 + 1);
                out.put(owner.as_bytes());
            }
        }
        out.put(&record.data);
    }
}

/// Lays out a record.
pub(crate) fn encode(record: &Record) -> Body {
    let layout = Layout::new(record);
    let mut bytes = Vec::with_capacity(layout.len_hint());
    layout.write(&mut bytes);
    Body {
        flags: layout.flags(),
        bytes,
    }
}

/// Splits an opened plaintext into flags and payload, refusing other
/// formats and unknown flags.
pub(crate) fn split_frame(plaintext: &[u8]) -> Option<(u8, &[u8])> {
    match plaintext {
        [FORMAT_VERSION, flags, payload @ ..] if flags & !KNOWN_FLAGS == 0 => {
            Some((*flags, payload))
        }
        _ => None,
    }
}

/// Reads a body back; `None` for anything that is not one.
#[cfg(test)]
pub(crate) fn decode(flags: u8, body: &[u8]) -> Option<Record> {
    decode_vec(flags, body.to_vec(), 0)
}

/// Reads back the body that starts at `start` in `buf`; `None` for anything
/// that is not one. The record's data is the end of the body: `buf` itself
/// becomes it, without another allocation.
pub(crate) fn decode_vec(flags: u8, mut buf: Vec<u8>, start: usize) -> Option<Record> {
    let mut reader = Reader(buf.get(start..)?);
    let id = if flags & FLAG_TEXT_ID == 0 {
        let raw: &[u8; RAW_ID_LEN] = reader.take(RAW_ID_LEN)?.try_into().ok()?;
        let text = encode_base64url_32(raw);
        SessionId::parse(std::str::from_utf8(&text).ok()?).ok()?
    } else {
        SessionId::parse(std::str::from_utf8(reader.take(TOKEN_LEN)?).ok()?).ok()?
    };
    let created_at = Record::from_millis(reader.i64()?);
    let idle_expires_at = Record::from_millis(reader.i64()?);
    let absolute_expires_at = Record::from_millis(reader.i64()?);
    let version = reader.varint()?;
    let owner = match reader.varint()? {
        0 => None,
        n => {
            let len = usize::try_from(n - 1).ok()?;
            Some(std::str::from_utf8(reader.take(len)?).ok()?.to_owned())
        }
    };
    let data_start = buf.len() - reader.0.len();
    buf.drain(..data_start);
    Some(
        Record::new(id, buf, created_at, idle_expires_at, absolute_expires_at)
            .with_version(version)
            .with_owner(owner),
    )
}

fn put_varint(out: &mut impl Sink, mut value: u64) {
    let mut bytes = [0u8; 10];
    let mut len = 0;
    while value >= 0x80 {
        bytes[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    bytes[len] = value as u8;
    out.put(&bytes[..=len]);
}

/// A cursor whose every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.0.len() < len {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    /// LEB128, at most ten bytes; anything that overflows 64 bits is refused.
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for index in 0..10 {
            let byte = self.take(1)?[0];
            let bits = u64::from(byte & 0x7f);
            if index == 9 && bits > 1 {
                return None;
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::OffsetDateTime;

    fn record(owner: Option<&str>, version: u64) -> Record {
        let now = Record::from_millis(Record::millis(OffsetDateTime::now_utc()));
        Record::new(
            SessionId::random(),
            b"{\"cart\":[1,2,3]}".to_vec(),
            now,
            now + time::Duration::minutes(5),
            now + time::Duration::hours(1),
        )
        .with_version(version)
        .with_owner(owner.map(str::to_owned))
    }

    #[test]
    fn round_trip_with_and_without_owner() {
        for (owner, version) in [(None, 0), (Some("user-7"), 1), (Some(""), u64::MAX)] {
            let r = record(owner, version);
            let body = encode(&r);
            assert_eq!(body.flags, 0);
            assert_eq!(decode(body.flags, &body.bytes), Some(r));
        }
    }

    #[test]
    fn overhead_matches_the_documented_layout() {
        let mut r = record(None, 1);
        r.data.clear();
        assert_eq!(encode(&r).bytes.len(), BODY_OVERHEAD);
    }

    #[test]
    fn non_canonical_ids_are_kept_as_text() {
        // 43 base64url characters whose last one carries stray low bits.
        let text = format!("{}B", "A".repeat(42));
        let mut r = record(Some("o"), 3);
        r.id = SessionId::parse(&text).unwrap();
        let body = encode(&r);
        assert_eq!(body.flags, FLAG_TEXT_ID);
        assert_eq!(decode(body.flags, &body.bytes).unwrap().id.as_str(), text);
    }

    #[test]
    fn every_truncation_of_the_header_fails() {
        let body = encode(&record(Some("owner"), 300));
        let header = BODY_OVERHEAD + 1 + "owner".len();
        for len in 0..header {
            assert_eq!(decode(0, &body.bytes[..len]), None, "length {len}");
        }
    }

    #[test]
    fn varints_refuse_overflow() {
        for bytes in [
            &[0xff; 11][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        ] {
            assert_eq!(Reader(bytes).varint(), None);
        }
        let mut max = Vec::new();
        put_varint(&mut max, u64::MAX);
        assert_eq!(Reader(&max).varint(), Some(u64::MAX));
    }

    #[test]
    fn frames_refuse_unknown_formats_and_flags() {
        assert_eq!(split_frame(&[1, 0, 9]), Some((0, &[9][..])));
        assert_eq!(split_frame(&[2, 0, 9]), None);
        assert_eq!(split_frame(&[1, 0x80]), None);
        assert_eq!(split_frame(&[1]), None);
        assert_eq!(split_frame(&[]), None);
    }
}
