//! The Redis store's value decoder (`layout::decode` and `owner_of`, which
//! read whatever a session key holds: another version's value, a value
//! written by hand, garbage).
//!
//! - Never panics, for any bytes and any key expiry.
//! - `owner_of` agrees with `decode` on the owner (it is what the owner
//!   index reads; it may accept an owner that is not UTF-8, which `decode`
//!   refuses, but never the other way round).
//! - Where `decode` succeeds, `encode` gives the same bytes back, except the
//!   two timestamps when they are outside the range `OffsetDateTime` holds:
//!   those decode to the Unix epoch by design (always expired), so they
//!   re-encode as 0. Decoding that again gives the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{SessionId, store::Record};
use session_store_redis::fuzzing::{decode, encode, owner_of, HEADER};

/// Offsets of the two timestamps in the header (see layout.rs).
const CREATED: usize = 9;
const ABSOLUTE: usize = 17;

fn id() -> SessionId {
    SessionId::from_token("fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuz")
}

/// Whether `ms` survives `from_millis` and `millis` unchanged.
fn representable(ms: i64) -> bool {
    Record::millis(Record::from_millis(ms)) == ms
}

fuzz_target!(|value: &[u8]| {
    let id = id();
    let owner = owner_of(value);
    // The key's expiry comes from Redis, not from the value: try the
    // extremes and an ordinary one.
    for idle_ms in [1_700_000_000_000, 0, -1, i64::MIN, i64::MAX] {
        let Ok(record) = decode(&id, value, idle_ms) else {
            continue;
        };
        assert!(value.len() >= HEADER);
        assert_eq!(record.id, id);
        assert_eq!(
            owner,
            Ok(record.owner.as_deref().map(str::as_bytes)),
            "owner_of disagrees with decode"
        );
        let encoded = encode(&record).expect("a decoded record encodes");
        let mut expected = value.to_vec();
        for at in [CREATED, ABSOLUTE] {
            let ms = i64::from_be_bytes(value[at..at + 8].try_into().expect("8 bytes"));
            if !representable(ms) {
                expected[at..at + 8].copy_from_slice(&0i64.to_be_bytes());
            }
        }
        assert_eq!(encoded, expected, "encode(decode(x)) != x");
        let again = decode(&id, &encoded, idle_ms).expect("an encoded record decodes");
        assert_eq!(again, record, "decode(encode(decode(x))) != decode(x)");
    }
    if owner.is_err() {
        assert!(
            decode(&id, value, 1).is_err(),
            "decode took what owner_of refused"
        );
    }
});
