//! Opening a session cookie is total: whatever the bytes, `open_value`
//! answers a record or `None`, never a panic, an abort or a huge allocation.
//!
//! Each input is tried twice: as the cookie value a client sends (which must
//! never open, as it is not sealed by our key), and as a plaintext sealed
//! with our key (which reaches the record decoder and the bounded inflate
//! that only a key holder could feed).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_core::time::OffsetDateTime;
use session_core::KeyRing;
use session_crypto::token::encode_base64url;
use session_crypto::Purpose;
use session_store_cookie::CookieStore;

const NAME: &str = "_session";

fn store() -> &'static CookieStore {
    static STORE: OnceLock<CookieStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let ring = KeyRing::new(["fuzzing secret, thirty-two bytes or more"]).expect("long enough");
        CookieStore::builder(ring).compress_above(0).build()
    })
}

fuzz_target!(|input: &[u8]| {
    let store = store();
    let now = OffsetDateTime::now_utc();
    let text = String::from_utf8_lossy(input);
    assert!(
        store.open_value(NAME, &text, now).is_none(),
        "an unsealed input opened"
    );
    let sealed = store.keys().seal(Purpose::Cookie, NAME.as_bytes(), input);
    if let Some(opened) = store.open_value(NAME, &encode_base64url(&sealed), now) {
        // What opened is a well-formed record: it seals and opens again.
        let again = store.seal_record(NAME, &opened.record);
        let reopened = store.open_value(NAME, &again, now).map(|u| u.record);
        assert_eq!(reopened, Some(opened.record));
    }
});
