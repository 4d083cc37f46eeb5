//! Values of format 2 (per-process subkeys named by a salt, counter nonces),
//! sealed once by the code that introduced it and committed as bytes: a
//! later change that stops opening them would log every user out.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use session_crypto::{KeyRing, Purpose, SEAL_OVERHEAD};

/// The secret the fixture was sealed under.
const SECRET: &str = "typed-sessions fixture secret (format v2)";

/// `ring.seal(Purpose::Cookie, b"_session", b"format 2 cookie plaintext")`.
const COOKIE_V2: &str = "02c18e250003deda4cbd0ca2c62df3bdb4ecd94d5366349c0d00000000000000006a4bacdd4cfb7db92c42c2498f16f1a9ce7ad0f7b3c69ca799c3f74216e5f1e4c357b3f806903d8cee";
/// `ring.seal(Purpose::Field, b"note", b"format 2 field")`.
const FIELD_V2: &str = "02c18e250083cd76c4dfbbf8bf1c41ab9760511a214dace3180000000000000000e45cd016801bfa92fde8a77d90021be56f1c9c790ce311c35c848317dacd";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn committed_format_2_values_open() {
    let ring = KeyRing::new([SECRET]).unwrap();
    let cookie = unhex(COOKIE_V2);
    assert_eq!(cookie.len(), SEAL_OVERHEAD + 25);
    // version 2, then the key id
    assert_eq!(cookie[0], 2);
    assert_eq!(&cookie[1..5], ring.primary_id().as_bytes());
    let opened = ring.open(Purpose::Cookie, b"_session", &cookie).unwrap();
    assert_eq!(*opened.plaintext, b"format 2 cookie plaintext");
    assert!(opened.sealed_with_primary);
    assert!(!opened.legacy_format);
    assert!(!opened.needs_reseal());
    let opened = ring
        .open(Purpose::Field, b"note", &unhex(FIELD_V2))
        .unwrap();
    assert_eq!(*opened.plaintext, b"format 2 field");
    // bound to purpose and context
    assert!(ring.open(Purpose::Field, b"_session", &cookie).is_err());
    assert!(ring.open(Purpose::Cookie, b"other", &cookie).is_err());
    assert!(ring
        .open(Purpose::Field, b"other", &unhex(FIELD_V2))
        .is_err());
}

#[test]
fn a_rotated_ring_opens_them_and_asks_for_a_reseal() {
    let ring = KeyRing::new(["a newer secret, thirty-two bytes or more", SECRET]).unwrap();
    let opened = ring
        .open(Purpose::Cookie, b"_session", &unhex(COOKIE_V2))
        .unwrap();
    assert!(!opened.sealed_with_primary);
    assert!(opened.needs_reseal());
}
