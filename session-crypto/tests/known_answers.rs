//! Known answers for everything this crate writes that outlives a process:
//! the key id and signing key of a secret (HKDF with its labels), sealed
//! values of both purposes (the per-salt subkeys, the header, the
//! associated data), `seal_str` text and `Sealed<T>` fields.
//!
//! The expected bytes were computed outside this crate, from the
//! specifications (RFC 5869 HKDF-SHA256 over Python's `hmac`, AES-256-GCM
//! from Python's `cryptography`):
//!
//! ```text
//! PRK     = HKDF-Extract("typed-sessions/session-crypto/v1", SECRET)
//! key id  = HKDF-Expand(PRK, "key-id", 4)
//! signing = HKDF-Expand(PRK, "signing", 32)
//! root    = HKDF-Expand(PRK, label || "/format-2 root", 32)
//! subkey  = HKDF-Expand(HKDF-Extract(SALT, root), label || "/format-2 subkey", 32)
//! value   = 02 | key id | SALT | NONCE | AES-256-GCM(subkey, NONCE,
//!           aad = label | 00 | context | 02 | key id, plaintext)
//! ```
//!
//! with label `cookie-seal` or `field-seal`. A change to any derivation,
//! label or layout fails here; a deliberate one is a new format version,
//! and the committed values of the older ones (`legacy_v1.rs`,
//! `format_v2.rs`) must keep opening.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use session_crypto::token::{decode_base64url, encode_base64url};
use session_crypto::{known_answer, KeyRing, Purpose, Sealed};

const SECRET: &str = "typed-sessions known-answer secret (format 2)";
/// The salt and nonce the known answers are sealed with.
const SALT: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const NONCE: [u8; 12] = [0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0, 0, 0, 0, 0];

const KEY_ID: &str = "e0930b5b";
/// HMAC-SHA256 of `known answer` under the signing key.
const TAG: &str = "c2fe39c7ab2586d04f1efff3ea935772ff5e4a8107a2391d8238c8b522f760ad";
/// `known answer` sealed for the cookie `_session`.
const COOKIE: &str = "02e0930b5b000102030405060708090a0b0c0d0e0fa1b2c3d40000000000000000\
                      890f5f8b289c07edd4b278aad3132faadfb66d3d8a9d20458bd59202";
/// `"756.1234"` (a JSON string: what `Sealed<String>` seals) sealed for the
/// field `national_id`.
const FIELD: &str = "02e0930b5b000102030405060708090a0b0c0d0e0fa1b2c3d40000000000000000\
                     23288a11660f4f64b3400b20c5fcfb220b6c61a79966eabfbb2a";
/// [`FIELD`] as `seal_str` and a JSON store show it: base64url, no padding.
const FIELD_TEXT: &str =
    "AuCTC1sAAQIDBAUGBwgJCgsMDQ4PobLD1AAAAAAAAAAAIyiKEWYPT2SzQAsgxfz7IgtsYaeZZuq_uyo";

fn ring() -> KeyRing {
    KeyRing::new([SECRET]).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_key_id_and_the_signing_key_are_pinned() {
    let ring = ring();
    assert_eq!(hex(ring.primary_id().as_bytes()), KEY_ID);
    assert_eq!(hex(ring.sign(b"known answer").as_bytes()), TAG);
}

#[test]
fn sealing_for_a_cookie_writes_these_bytes() {
    let sealed = known_answer::seal_fixed(
        &ring(),
        Purpose::Cookie,
        b"_session",
        b"known answer",
        SALT,
        NONCE,
    );
    assert_eq!(hex(&sealed), COOKIE);
    let opened = ring().open(Purpose::Cookie, b"_session", &sealed).unwrap();
    assert_eq!(*opened.plaintext, b"known answer");
    assert!(!opened.needs_reseal());
}

#[test]
fn sealing_for_a_field_writes_these_bytes() {
    let sealed = known_answer::seal_fixed(
        &ring(),
        Purpose::Field,
        b"national_id",
        b"\"756.1234\"",
        SALT,
        NONCE,
    );
    assert_eq!(hex(&sealed), FIELD);
    assert_eq!(encode_base64url(&sealed), FIELD_TEXT);
    // `seal_str` text is that value in base64url, and opens as the string
    // without its JSON quotes only through `Sealed`.
    assert_eq!(
        ring().open_str("national_id", FIELD_TEXT).unwrap(),
        "\"756.1234\""
    );
}

#[test]
fn a_sealed_field_is_its_json_sealed_for_its_name() {
    let ring = ring();
    let live = Sealed::seal(&ring, "national_id", &"756.1234".to_string()).unwrap();
    // What `Sealed::seal` puts under the seal: the value's JSON, in a
    // format-2 value of the ring's key bound to the field's name.
    let opened = ring
        .open(Purpose::Field, b"national_id", live.ciphertext())
        .unwrap();
    assert_eq!(*opened.plaintext, b"\"756.1234\"");
    assert_eq!(live.ciphertext()[0], 2);
    assert_eq!(hex(&live.ciphertext()[1..5]), KEY_ID);
    assert_eq!(live.ciphertext().len(), FIELD.len() / 2);

    // The committed value, as a JSON store gives it back: a base64url
    // string, which opens in its field only.
    let json = format!("\"{FIELD_TEXT}\"");
    let stored: Sealed<String> = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&stored).unwrap(), json);
    assert_eq!(
        stored.ciphertext(),
        &decode_base64url(FIELD_TEXT).unwrap()[..]
    );
    assert_eq!(stored.open(&ring, "national_id").unwrap(), "756.1234");
    assert!(stored.is_field_bound());
    assert!(stored.open(&ring, "nickname").is_err());
}
