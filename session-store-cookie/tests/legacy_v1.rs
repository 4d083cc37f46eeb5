//! Cookies sealed by the format-1 code of session-crypto (random nonce),
//! committed as text so that later formats are tested against real old
//! cookies: a session written before an upgrade must still open after it.
//!
//! Made once with the code of that time under [`SECRET`]; never regenerate
//! them with newer code (that would test nothing).
#![cfg_attr(test, allow(clippy::unwrap_used))]

use session_core::time::OffsetDateTime;
use session_core::{store::Record, KeyRing, SessionId};
use session_store_cookie::CookieStore;

/// The secret the fixture was sealed under.
const SECRET: &str = "typed-sessions legacy fixture secret (format v1)";

/// `CookieStore::new(ring).seal_record("_session", &record())`.
const COOKIE_RECORD: &str = "AcJkv90tPyQoOk2yjyEMUAPAZ6nD_IUcGrHGpTzsHZFchQFgLkaPZ3_Q3aaTMzEHPmbeXALKw9VM490nIGGgKuZaqXjUCEGQuc0-WVM0cI5CNljXPCw0CRry9XHhoYGpIWZNHlTma4LKZvi-I1LnL9fZmiMDHFIFgUDfebg49bb8f2q9OPrwU9YPhj-Cs4fPAubcXQUqv7aX0AQMjg";
/// The same record sealed by a store with `compress_above(0)`.
const COOKIE_RECORD_DEFLATE: &str = "AcJkv92SA3pChOlGQAR73KVm9vI5KGazQAZhTEMdmwqfUd2esk2aQZbQYwzuiK4UDseuRPQ4T1uzPvRAZAU0bxnTjHdLad8KOiqkmWVfJmNLW_jPaNpbih4sPufaxyfsm_PEaxVTqVCl5-8b5DZLxy354VcT7dqAT11bzLG-NgwQK-n-LdYkgpCg";

/// The record both values seal (live until 2126).
fn record() -> Record {
    Record::new(
        SessionId::parse("Qx3tH1b5m0VGYq9fW2kKcR8uZpLd7eNjAaS4oTyXvBw").unwrap(),
        b"{\"cart\":[\"tea\",\"tea\",\"tea\",\"tea\",\"tea\",\"tea\",\"tea\",\"tea\"]}".to_vec(),
        Record::from_millis(1_767_225_600_000),
        Record::from_millis(4_922_899_200_000),
        Record::from_millis(4_922_899_200_000),
    )
    .with_version(3)
    .with_owner(Some("user-7".into()))
}

#[test]
fn format_1_cookies_open_with_and_without_compression() {
    let ring = KeyRing::new([SECRET]).unwrap();
    let now = OffsetDateTime::now_utc();
    for store in [
        CookieStore::new(ring.clone()),
        CookieStore::builder(ring.clone()).compress_above(0).build(),
    ] {
        for value in [COOKIE_RECORD, COOKIE_RECORD_DEFLATE] {
            let opened = store.open_value("_session", value, now).expect("opens");
            assert_eq!(opened.record, record());
            // Sealed in the older format: the response seals it again.
            assert!(opened.stale_key);
            assert!(store.open_value("_other", value, now).is_none());
        }
    }
}

#[test]
fn with_reseal_old_keys_off_they_wait_for_a_change() {
    let ring = KeyRing::new([SECRET]).unwrap();
    let store = CookieStore::builder(ring).reseal_old_keys(false).build();
    let now = OffsetDateTime::now_utc();
    let opened = store.open_value("_session", COOKIE_RECORD, now).unwrap();
    assert!(!opened.stale_key);
}

#[test]
fn a_resealed_record_is_format_2_and_no_longer_stale() {
    let ring = KeyRing::new([SECRET]).unwrap();
    let store = CookieStore::new(ring);
    let now = OffsetDateTime::now_utc();
    let opened = store.open_value("_session", COOKIE_RECORD, now).unwrap();
    let again = store.seal_record("_session", &opened.record);
    // 16 bytes of salt more, in base64
    assert!(again.len() > COOKIE_RECORD.len() + 20, "{again}");
    let reopened = store.open_value("_session", &again, now).unwrap();
    assert_eq!(reopened.record, record());
    assert!(!reopened.stale_key);
}
