//! Values sealed by the format-1 code (random nonce, one constant context
//! for every sealed field), committed as bytes so that later formats are
//! tested against what is really out there: sessions written before an
//! upgrade must still open after it.
//!
//! Made once with the code of that time under [`SECRET`]; never regenerate
//! them with newer code (that would test nothing).
#![cfg_attr(test, allow(clippy::unwrap_used))]

use session_crypto::token::decode_base64url;
use session_crypto::{KeyRing, Purpose, Sealed};

/// The secret the fixture was sealed under.
const SECRET: &str = "typed-sessions legacy fixture secret (format v1)";

/// `ring.seal(Purpose::Cookie, b"_session", b"legacy cookie plaintext")`.
const COOKIE_V1: &str = "01c264bfdd3740ea17792b8dfcbaf2e9a282effe2ba1376e1941f3285382ae0198651b907af69031938176a07b2f8a28ec60186f3faae6ff";
/// `ring.seal(Purpose::Field, b"note", b"raw field bytes")`.
const FIELD_V1_NOTE: &str = "01c264bfdd20a8857a4b4277774c38d0cbb7f6366e2851ced2e7321c5efbd3177bfe0a688c2f46050276c7aac304a7c4";
/// `Sealed::seal(&ring, &"my diary".to_string())`, its ciphertext.
const SEALED_STRING: &str =
    "01c264bfdddcc6c621f5f4c265c0a41e3bb9951b85bee7773f03581865a9575509acf122ea19d8f046bd3c";
/// `Sealed::seal(&ring, &42u32)`, its ciphertext.
const SEALED_U32: &str = "01c264bfddbd9f7f98fbd3d78f9f3e5e7ceb6e14213d46aee658b57d5d6bc6f85a4caa";
/// `ring.seal_str("4111 1111 1111 1111")`.
const SEAL_STR: &str = "AcJkv92xAKNIzU7oRycgncVtOjy8ioJXHdtDYfeNeigZYMs4Pyglk4CI6AQ8RrocKxF4xw";

fn ring() -> KeyRing {
    KeyRing::new([SECRET]).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0);
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// `Sealed<T>` from committed ciphertext bytes, the way a store gives it
/// back (a JSON string of base64url).
fn sealed<T>(hex: &str) -> Sealed<T> {
    let text = session_crypto::token::encode_base64url(&unhex(hex));
    serde_json::from_value(serde_json::Value::String(text)).unwrap()
}

#[test]
fn format_1_cookie_values_open() {
    let opened = ring()
        .open(Purpose::Cookie, b"_session", &unhex(COOKIE_V1))
        .unwrap();
    assert_eq!(*opened.plaintext, b"legacy cookie plaintext");
    assert!(opened.sealed_with_primary);
    // the older format: opens, and asks to be sealed again
    assert!(opened.legacy_format);
    assert!(opened.needs_reseal());
    assert!(ring()
        .open(Purpose::Cookie, b"_other", &unhex(COOKIE_V1))
        .is_err());
}

#[test]
fn format_1_field_values_open() {
    let opened = ring()
        .open(Purpose::Field, b"note", &unhex(FIELD_V1_NOTE))
        .unwrap();
    assert_eq!(*opened.plaintext, b"raw field bytes");
    assert!(opened.legacy_format);
}

#[test]
fn format_1_sealed_fields_open_in_any_field_and_say_so() {
    let text: Sealed<String> = sealed(SEALED_STRING);
    // Sealed under the one legacy context: not bound to a field name.
    for field in ["note", "diary", "anything"] {
        assert_eq!(text.open(&ring(), field).unwrap(), "my diary");
    }
    assert!(!text.is_field_bound());
    let number: Sealed<u32> = sealed(SEALED_U32);
    assert_eq!(number.open(&ring(), "count").unwrap(), 42);
    assert!(!number.is_field_bound());
    assert_eq!(
        ring().open_str("card", SEAL_STR).unwrap(),
        "4111 1111 1111 1111"
    );
    assert!(decode_base64url(SEAL_STR).is_some());
    // Still bound to the key and to the field purpose.
    let other = KeyRing::new(["another secret of thirty-two bytes or more"]).unwrap();
    assert!(text.open(&other, "note").is_err());
    assert!(ring()
        .open(Purpose::Cookie, b"field", text.ciphertext())
        .is_err());
}

#[test]
fn resealing_a_legacy_field_binds_it() {
    let ring = ring();
    let legacy: Sealed<String> = sealed(SEALED_STRING);
    let value = legacy.open(&ring, "note").unwrap();
    let resealed = Sealed::seal(&ring, "note", &value).unwrap();
    assert!(resealed.is_field_bound());
    assert_eq!(resealed.open(&ring, "note").unwrap(), "my diary");
    assert!(resealed.open(&ring, "diary").is_err());
}
