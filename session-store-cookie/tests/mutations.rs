//! Opening is total: property tests over mutated valid cookies.
//!
//! - Outer mutations (what a client can do to the value: bit flips,
//!   truncation, extension, splices, base64 variants, swapped key ids, other
//!   cookie names, garbage) never panic and never give a record, unless the
//!   mutated value decodes to the very same bytes.
//! - Inner mutations (a validly sealed but malformed plaintext, which only a
//!   holder of the key could make) never panic either, and a bomb of deflate
//!   is refused within the inflate limit.
//!
//! The cargo-fuzz target in `fuzz/` runs the same two checks unbounded
//! (`scripts/fuzz.sh open_cookie`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

use proptest::prelude::*;
use session_core::time::{Duration, OffsetDateTime};
use session_core::{store::Record, KeyRing, SessionId, MAX_COOKIE_BYTES};
use session_crypto::token::{decode_base64url, encode_base64url};
use session_crypto::Purpose;
use session_store_cookie::CookieStore;

const A: &str = "proptest secret A, thirty-two bytes or more";
const B: &str = "proptest secret B, thirty-two bytes or more";
const NAME: &str = "_session";

fn ring(secrets: &[&str]) -> KeyRing {
    KeyRing::new(secrets).expect("long secrets")
}

fn store(compress: bool) -> CookieStore {
    let builder = CookieStore::builder(ring(&[A, B]));
    if compress {
        builder.compress_above(0).build()
    } else {
        builder.build()
    }
}

fn record(data: Vec<u8>, owner: Option<String>, version: u64) -> Record {
    let now = OffsetDateTime::now_utc();
    Record::new(
        SessionId::random(),
        data,
        now,
        now + Duration::hours(1),
        now + Duration::hours(2),
    )
    .with_version(version)
    .with_owner(owner)
}

/// Data that is sometimes repetitive (so compression kicks in) and
/// sometimes arbitrary.
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (any::<u8>(), 0usize..2000).prop_map(|(b, n)| vec![b; n]),
        (prop::collection::vec(any::<u8>(), 1..8), 0usize..200)
            .prop_map(|(chunk, n)| chunk.repeat(n)),
    ]
}

fn owner() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::collection::vec(any::<char>(), 0..20).prop_map(String::from_iter))
}

/// What a client can do to a cookie value.
#[derive(Debug, Clone)]
enum Outer {
    FlipBit(usize, u8),
    Truncate(usize),
    TruncateText(usize),
    Extend(Vec<u8>),
    ExtendText(String),
    Splice(usize, Vec<u8>),
    ReplaceChar(usize, char),
    StandardAlphabet,
    Padded,
    SwapKeyId,
    OtherName(String),
    Garbage(String),
}

fn outer() -> impl Strategy<Value = Outer> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Outer::FlipBit(i, b)),
        any::<usize>().prop_map(Outer::Truncate),
        any::<usize>().prop_map(Outer::TruncateText),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Outer::Extend),
        prop::collection::vec(any::<char>(), 1..8)
            .prop_map(|c| Outer::ExtendText(String::from_iter(c))),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Outer::Splice(i, b)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Outer::ReplaceChar(i, c)),
        Just(Outer::StandardAlphabet),
        Just(Outer::Padded),
        Just(Outer::SwapKeyId),
        "[a-zA-Z0-9_.-]{1,12}".prop_map(Outer::OtherName),
        prop::collection::vec(any::<char>(), 0..300)
            .prop_map(|c| Outer::Garbage(String::from_iter(c))),
    ]
}

/// The mutated value and the cookie name it is presented under.
fn mutate(value: &str, raw: &[u8], mutation: &Outer) -> (String, String) {
    let name = NAME.to_owned();
    let reencode = |bytes: Vec<u8>| (encode_base64url(&bytes), NAME.to_owned());
    match mutation {
        Outer::FlipBit(i, bit) => {
            let mut bytes = raw.to_vec();
            bytes[i % raw.len()] ^= 1 << bit;
            reencode(bytes)
        }
        Outer::Truncate(len) => reencode(raw[..len % raw.len()].to_vec()),
        Outer::TruncateText(len) => (value[..len % value.len()].to_owned(), name),
        Outer::Extend(extra) => reencode([raw, extra].concat()),
        Outer::ExtendText(extra) => (format!("{value}{extra}"), name),
        Outer::Splice(at, bytes) => {
            let mut out = raw.to_vec();
            let at = at % raw.len();
            let end = (at + bytes.len()).min(raw.len());
            out.splice(at..end, bytes.iter().copied());
            reencode(out)
        }
        Outer::ReplaceChar(i, c) => {
            let mut chars: Vec<char> = value.chars().collect();
            let i = i % chars.len();
            chars[i] = *c;
            (String::from_iter(chars), name)
        }
        Outer::StandardAlphabet => (value.replace('-', "+").replace('_', "/"), name),
        Outer::Padded => {
            let pad = (4 - value.len() % 4) % 4;
            (format!("{value}{}", "=".repeat(pad.max(1))), name)
        }
        Outer::SwapKeyId => {
            // B is in the ring but did not seal this value.
            let mut bytes = raw.to_vec();
            bytes[1..5].copy_from_slice(ring(&[B]).primary_id().as_bytes());
            reencode(bytes)
        }
        Outer::OtherName(other) => (value.to_owned(), other.clone()),
        Outer::Garbage(text) => (text.clone(), name),
    }
}

/// A plaintext change that only a key holder could seal.
#[derive(Debug, Clone)]
enum Inner {
    FlipBit(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    SetFlags(u8),
    SetFormat(u8),
    Arbitrary(Vec<u8>),
}

fn inner() -> impl Strategy<Value = Inner> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Inner::FlipBit(i, b)),
        any::<usize>().prop_map(Inner::Truncate),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Inner::Extend),
        any::<u8>().prop_map(Inner::SetFlags),
        any::<u8>().prop_map(Inner::SetFormat),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Inner::Arbitrary),
    ]
}

fn mutate_plaintext(plain: &[u8], mutation: &Inner) -> Vec<u8> {
    let mut out = plain.to_vec();
    match mutation {
        Inner::FlipBit(i, bit) => out[i % plain.len()] ^= 1 << bit,
        Inner::Truncate(len) => out.truncate(len % plain.len()),
        Inner::Extend(extra) => out.extend_from_slice(extra),
        Inner::SetFlags(flags) => out[1] = *flags,
        Inner::SetFormat(format) => out[0] = *format,
        Inner::Arbitrary(bytes) => out = bytes.clone(),
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_cookies_never_open(
        data in data(),
        owner in owner(),
        version in any::<u64>(),
        compress in any::<bool>(),
        mutation in outer(),
    ) {
        let store = store(compress);
        let now = OffsetDateTime::now_utc();
        let record = record(data, owner, version);
        let value = store.seal_record(NAME, &record);
        let raw = decode_base64url(&value).expect("we encode base64url");
        let opened = store.open_value(NAME, &value, now).expect("the original opens");
        prop_assert_eq!(&opened.record.id, &record.id);
        prop_assert_eq!(&opened.record.data, &record.data);

        let (mutated, name) = mutate(&value, &raw, &mutation);
        let same_bytes = name == NAME && decode_base64url(&mutated).as_deref() == Some(&raw[..]);
        let result = store.open_value(&name, &mutated, now);
        prop_assert!(
            result.is_none() || same_bytes,
            "mutation {:?} opened", mutation
        );
        if same_bytes {
            // base64url without padding is canonical: same bytes, same text.
            prop_assert_eq!(mutated, value);
        }
    }

    #[test]
    fn validly_sealed_garbage_never_panics(
        data in data(),
        compress in any::<bool>(),
        mutation in inner(),
    ) {
        let store = store(compress);
        let keys = ring(&[A, B]);
        let now = OffsetDateTime::now_utc();
        let value = store.seal_record(NAME, &record(data, Some("o".into()), 1));
        let raw = decode_base64url(&value).unwrap();
        let plain = keys.open(Purpose::Cookie, NAME.as_bytes(), &raw).unwrap().plaintext;
        let forged = mutate_plaintext(&plain, &mutation);
        let forged_value = encode_base64url(&keys.seal(Purpose::Cookie, NAME.as_bytes(), &forged));
        if let Some(opened) = store.open_value(NAME, &forged_value, now) {
            // Whatever opened is a well-formed record that seals again.
            let again = store.seal_record(NAME, &opened.record);
            prop_assert_eq!(store.open_value(NAME, &again, now).map(|u| u.record), Some(opened.record));
        }
    }
}

#[test]
fn a_sealed_deflate_bomb_is_refused_within_the_limit() {
    let keys = ring(&[A]);
    let bomb = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 1 << 20], 9);
    let plaintext = [&[1u8, 1][..], &bomb].concat();
    let value = encode_base64url(&keys.seal(Purpose::Cookie, NAME.as_bytes(), &plaintext));
    assert!(value.len() < MAX_COOKIE_BYTES, "{}", value.len());
    let store = CookieStore::new(keys);
    assert!(store
        .open_value(NAME, &value, OffsetDateTime::now_utc())
        .is_none());
}

#[test]
fn every_single_character_change_is_refused() {
    let store = store(false);
    let now = OffsetDateTime::now_utc();
    let value = store.seal_record(NAME, &record(b"{\"user\":\"alice\"}".to_vec(), None, 1));
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (i, original) in value.char_indices() {
        for c in alphabet.chars().filter(|c| *c != original) {
            let mut changed = value.clone();
            changed.replace_range(i..i + 1, c.encode_utf8(&mut [0; 4]));
            assert!(
                store.open_value(NAME, &changed, now).is_none(),
                "position {i} as {c}"
            );
        }
    }
}

#[test]
fn values_longer_than_any_cookie_are_refused_unread() {
    let store = store(false);
    let now = OffsetDateTime::now_utc();
    let huge = "A".repeat(MAX_COOKIE_BYTES + 1);
    assert!(store.open_value(NAME, &huge, now).is_none());
}
