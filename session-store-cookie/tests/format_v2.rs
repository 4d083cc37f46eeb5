//! The cookie of today's format, pinned byte for byte: the record's layout
//! inside the seal (format 1 of the layout, `format.rs`), sealed with
//! session-crypto's format 2 under a fixed secret, salt and nonce, and sent
//! as base64url without padding. A change to any of them fails here; a
//! deliberate one bumps the layout's format byte or the seal's version, and
//! the committed cookies below (and those of `legacy_v1.rs`) must keep
//! opening.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use session_core::time::OffsetDateTime;
use session_core::{store::Record, KeyRing, SessionId};
use session_crypto::token::decode_base64url;
use session_crypto::{known_answer, Purpose};
use session_store_cookie::CookieStore;

const SECRET: &str = "typed-sessions known-answer secret (format 2)";
const SALT: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const NONCE: [u8; 12] = [0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0, 0, 0, 0, 0];

/// The session data: the tagged envelope as the default codec writes it.
const DATA: &str = "c1010000000082a46461746182a5636f756e7403a46e616d65a5616c696365\
                    a5666c6173689182a56c6576656ca4696e666fa474657874a26869";

/// What the store puts under the seal for [`record`].
const PLAINTEXT: &str = concat!(
    "01",                                                               // layout format
    "00", // flags: raw id, not deflated
    "431ded1f56f99b454662af5f5b690a711f2e6692ddede36301a4b8a13c97bc1c", // id, 32 raw bytes
    "0000019b76daa800", // created, ms, i64 BE
    "0000047a33a87800", // idle expiry
    "0000047a33a87800", // absolute expiry
    "03", // version, LEB128
    "07", // owner: length + 1
    "757365722d37", // "user-7"
);

/// `CookieStore::seal_record("_session", &record())`, had the ring drawn
/// [`SALT`] and [`NONCE`].
const COOKIE: &str = "AuCTC1sAAQIDBAUGBwgJCgsMDQ4PobLD1AAAAAAAAAAA42Fz4aujMHo8gFu61ImGkN0vuLHy9eOh1lJ-CJ00wQUtOvz3vHkFcA60f0K8WkPdjd8GQitzoUsgK7SF6QXCSwWVCyzrw_1xfi1ivrF2rWcZfu9PjEIHQbJYlF4ectj40tHNo3Eq2G81mp-1W-QpnH8C_nhEFNFAo5Nu8jULqNYqNpwG5jEk5LO5xgM";
/// [`record`] with its data four times over (so that deflate gains), sealed
/// by a store with `compress_above(0)` (flags 01, raw deflate of the body),
/// with the same salt and nonce.
const COOKIE_DEFLATE: &str = "AuCTC1sAAQIDBAUGBwgJCgsMDQ4PobLD1AAAAAAAAAAA42DlN3e2pLOzRfzPUd5DuD5X0-7kFi1xt7r8aN3X_qPUvWoVJfmbSHb9BsPWjn5bq5x2MMEITg-MEMN4ffHID4BgL4Jz7MuGCcPzKSRfsf2vRqpbpOY0SMy15CLEGjFVxihNgpM3Kh7WB4phVwDmFaGw4QZHprJcLz87TJXgIPcdXQSHwB93W3RQE6jkQsnSfK5w1DxnpNsy5mGvwMmT0742cQ";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn ring() -> KeyRing {
    KeyRing::new([SECRET]).unwrap()
}

/// The record [`COOKIE`] seals (live until 2126).
fn record() -> Record {
    record_with(unhex(DATA))
}

/// The record [`COOKIE_DEFLATE`] seals.
fn compressible() -> Record {
    record_with(unhex(DATA).repeat(4))
}

fn record_with(data: Vec<u8>) -> Record {
    Record::new(
        SessionId::parse("Qx3tH1b5m0VGYq9fW2kKcR8uZpLd7eNjAaS4oTyXvBw").unwrap(),
        data,
        Record::from_millis(1_767_225_600_000),
        Record::from_millis(4_922_899_200_000),
        Record::from_millis(4_922_899_200_000),
    )
    .with_version(3)
    .with_owner(Some("user-7".into()))
}

/// What a cookie value seals for `_session`.
fn plaintext_of(value: &str) -> Vec<u8> {
    let sealed = decode_base64url(value).unwrap();
    ring()
        .open(Purpose::Cookie, b"_session", &sealed)
        .unwrap()
        .into_plaintext()
}

fn fixed_cookie(plaintext: &[u8]) -> String {
    let sealed = known_answer::seal_fixed(
        &ring(),
        Purpose::Cookie,
        b"_session",
        plaintext,
        SALT,
        NONCE,
    );
    session_crypto::token::encode_base64url(&sealed)
}

#[test]
fn the_store_lays_the_record_out_as_pinned() {
    let store = CookieStore::new(ring());
    let value = store.seal_record("_session", &record());
    let mut expected = unhex(PLAINTEXT);
    expected.extend_from_slice(&unhex(DATA));
    assert_eq!(plaintext_of(&value), expected);
    // base64url without padding of a format-2 seal of that plaintext
    assert!(value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let sealed = decode_base64url(&value).unwrap();
    assert_eq!(sealed.len(), expected.len() + session_crypto::SEAL_OVERHEAD);
    assert_eq!(sealed[0], 2);
}

#[test]
fn the_sealed_cookie_is_pinned() {
    let mut plaintext = unhex(PLAINTEXT);
    plaintext.extend_from_slice(&unhex(DATA));
    assert_eq!(fixed_cookie(&plaintext), COOKIE);
}

#[test]
fn the_committed_cookies_open_with_and_without_compression() {
    let now = OffsetDateTime::now_utc();
    for store in [
        CookieStore::new(ring()),
        CookieStore::builder(ring()).compress_above(0).build(),
    ] {
        for (value, record) in [(COOKIE, record()), (COOKIE_DEFLATE, compressible())] {
            let opened = store.open_value("_session", value, now).expect("opens");
            assert_eq!(opened.record, record);
            // today's format under the sealing key: nothing to reseal
            assert!(!opened.stale_key);
            assert!(store.open_value("_other", value, now).is_none());
        }
    }
    // the compressed one says so in its flags
    assert_eq!(&plaintext_of(COOKIE_DEFLATE)[..2], &[1, 1]);
}
