//! Evolving session types through the stored envelope: each kind of change
//! in both directions, unknown fields kept through a save, schema versions
//! and migrations, the previous release's bytes.

use serde::{Deserialize, Serialize};

use super::*;
use crate::data::SessionData;
use crate::schema::SessionSchema;

const MP: Codec = Codec::MessagePack;

fn save<T: Serialize>(codec: Codec, data: &T, unknown: &Unknown) -> Vec<u8> {
    encode(
        codec,
        0,
        data,
        &[FlashMessage::info("hi")],
        &Meta::default(),
        unknown,
    )
    .expect("encodes")
}

fn load<T: SessionData>(codec: Codec, bytes: &[u8]) -> Result<Decoded<T>, CodecError> {
    decode(codec, &Schema::<T>::unversioned(), bytes)
}

/// Writes `first` with a fresh record, loads it as `B`, lets `B` change it
/// and save, and loads the result as `A` again: one alternation of a
/// rolling deploy.
fn alternate<A: SessionData, B: SessionData>(first: &A, change: impl FnOnce(&mut B)) -> (B, A) {
    let bytes = save(MP, first, &Unknown::default());
    let mut seen: Decoded<B> = load(MP, &bytes).expect("B reads A");
    assert_eq!(seen.flash, [FlashMessage::info("hi")]);
    change(&mut seen.data);
    let bytes = save(MP, &seen.data, &seen.unknown);
    let back: Decoded<A> = load(MP, &bytes).expect("A reads B");
    (seen.data, back.data)
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct V1 {
    count: u64,
    name: String,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Added {
    count: u64,
    name: String,
    #[serde(default)]
    theme: Theme,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Theme {
    theme: String,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            theme: "light".into(),
        }
    }
}

#[test]
fn an_added_field_survives_both_directions() {
    let old = V1 {
        count: 3,
        name: "alice".into(),
    };
    // old -> new: the new field takes its default
    let (new, back) = alternate::<V1, Added>(&old, |new| {
        assert_eq!(new.theme.theme, "light");
        new.theme.theme = "dark".into();
    });
    assert_eq!(back, old);
    // new -> old -> new: the old release rewrites, the new field is kept
    let (old_seen, new_again) = alternate::<Added, V1>(&new, |old| old.count += 1);
    assert_eq!(old_seen.count, 4);
    assert_eq!(new_again.theme.theme, "dark");
    assert_eq!(new_again.count, 4);
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Removed {
    count: u64,
}

#[test]
fn a_removed_field_survives_both_directions() {
    let old = V1 {
        count: 1,
        name: "bob".into(),
    };
    let (removed, back) = alternate::<V1, Removed>(&old, |r| r.count = 2);
    assert_eq!(removed.count, 2);
    // the field the new type dropped is still there for the old one
    assert_eq!(
        back,
        V1 {
            count: 2,
            name: "bob".into()
        }
    );
    // A session that the new release created lacks the field: the old type
    // needs a default for it, or the record is refused (a fresh session).
    let fresh = save(MP, &Removed { count: 5 }, &Unknown::default());
    assert!(load::<V1>(MP, &fresh).is_err());
    let (old_seen, again) =
        alternate::<Removed, V1Defaults>(&Removed { count: 5 }, |v| v.name = "x".into());
    assert_eq!((old_seen.count, again.count), (5, 5));
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct V1Defaults {
    count: u64,
    name: String,
}

/// The rename in two steps: the first release reads the new name too, the
/// next writes it (and reads the old one).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct RenameStep1 {
    count: u64,
    #[serde(alias = "display_name")]
    name: String,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Renamed {
    count: u64,
    #[serde(alias = "name")]
    display_name: String,
}

#[test]
fn a_renamed_field_survives_both_directions() {
    let old = RenameStep1 {
        count: 1,
        name: "carol".into(),
    };
    let (renamed, back) = alternate::<RenameStep1, Renamed>(&old, |r| r.count = 2);
    assert_eq!(renamed.display_name, "carol");
    assert_eq!(back.name, "carol");
    let (old_seen, _) = alternate::<Renamed, RenameStep1>(&renamed, |_| {});
    assert_eq!(old_seen.name, "carol");
    // the release before the rename reads the renamed type's records too
    let bytes = save(MP, &renamed, &Unknown::default());
    assert_eq!(load::<V1>(MP, &bytes).ok().map(|d| d.data.name), None);
    assert_eq!(
        load::<RenameStep1>(MP, &bytes).expect("reads").data.name,
        "carol"
    );
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Reordered {
    name: String,
    count: u64,
}

#[test]
fn reordered_fields_survive_both_directions() {
    let old = V1 {
        count: 9,
        name: "dave".into(),
    };
    let (reordered, back) = alternate::<V1, Reordered>(&old, |_| {});
    assert_eq!((reordered.count, reordered.name.as_str()), (9, "dave"));
    assert_eq!(back, old);
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Roles {
    granted: String,
    denied: String,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct RolesSwapped {
    denied: String,
    granted: String,
}

#[test]
fn swapped_fields_of_one_type_never_trade_values() {
    let old = Roles {
        granted: "admin".into(),
        denied: "guest".into(),
    };
    for codec in [Codec::MessagePack, Codec::Json] {
        let bytes = save(codec, &old, &Unknown::default());
        let swapped: RolesSwapped = load(codec, &bytes).expect("decodes").data;
        assert_eq!(swapped.granted, "admin", "{codec:?}");
        assert_eq!(swapped.denied, "guest", "{codec:?}");
    }
    // What a positional codec does with the same change: no error, and the
    // values in the wrong fields. This is why bincode is for types that
    // never change.
    let bytes = save(Codec::Bincode, &old, &Unknown::default());
    let swapped: RolesSwapped = load(Codec::Bincode, &bytes).expect("decodes").data;
    assert_eq!(swapped.granted, "guest");
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Outer {
    count: u64,
    user: UserNew,
    list: Vec<UserNew>,
    maybe: Option<UserNew>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct UserNew {
    name: String,
    #[serde(default)]
    mfa: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct OuterOld {
    count: u64,
    user: UserOld,
    list: Vec<UserOld>,
    maybe: Option<UserOld>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct UserOld {
    name: String,
}

#[test]
fn nested_unknown_fields_are_kept_but_not_inside_sequences() {
    let user = UserNew {
        name: "erin".into(),
        mfa: true,
    };
    let new = Outer {
        count: 1,
        user: user.clone(),
        list: vec![user.clone()],
        maybe: Some(user.clone()),
    };
    let (_, again) = alternate::<Outer, OuterOld>(&new, |old| old.count = 2);
    assert_eq!(again.count, 2);
    assert!(again.user.mfa, "a field of a nested struct is kept");
    assert!(again.maybe.expect("kept").mfa, "through Option too");
    assert!(!again.list[0].mfa, "an element of a sequence is not kept");
}

#[test]
fn an_unknown_field_is_not_put_back_where_its_parent_went() {
    let new = Outer {
        maybe: Some(UserNew {
            name: "f".into(),
            mfa: true,
        }),
        ..Default::default()
    };
    let (_, again) = alternate::<Outer, OuterOld>(&new, |old| old.maybe = None);
    assert_eq!(again.maybe, None);
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Skips {
    count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[test]
fn a_known_field_that_is_omitted_does_not_come_back() {
    let bytes = save(
        MP,
        &Skips {
            count: 1,
            note: Some("old".into()),
        },
        &Unknown::default(),
    );
    let mut seen: Decoded<Skips> = load(MP, &bytes).expect("reads");
    assert!(seen.unknown.is_empty());
    seen.data.note = None;
    let bytes = save(MP, &seen.data, &seen.unknown);
    assert_eq!(load::<Skips>(MP, &bytes).expect("reads").data.note, None);
}

#[test]
fn json_keeps_unknown_fields_too() {
    let bytes = save(Codec::Json, &Added::default(), &Unknown::default());
    let mut seen: Decoded<V1> = load(Codec::Json, &bytes).expect("reads");
    assert_eq!(seen.unknown.to_string(), "data.theme");
    seen.data.count = 7;
    let bytes = save(Codec::Json, &seen.data, &seen.unknown);
    let back: Added = load(Codec::Json, &bytes).expect("reads").data;
    assert_eq!((back.count, back.theme.theme.as_str()), (7, "light"));
}

#[test]
fn nothing_unknown_is_the_fast_path() {
    let bytes = save(MP, &V1::default(), &Unknown::default());
    assert!(load::<V1>(MP, &bytes).expect("reads").unknown.is_empty());
}

// --- schema versions and migrations -------------------------------------

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct CartV1 {
    items: String,
}

impl SessionSchema for CartV1 {
    const VERSION: u32 = 1;
    type Previous = Self;
    fn migrate(previous: Self) -> Self {
        previous
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct CartV2 {
    items: Vec<String>,
}

impl SessionSchema for CartV2 {
    const VERSION: u32 = 2;
    type Previous = CartV1;
    fn migrate(previous: CartV1) -> Self {
        CartV2 {
            items: previous.items.split(',').map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct CartV3 {
    items: Vec<(String, u32)>,
}

impl SessionSchema for CartV3 {
    const VERSION: u32 = 3;
    type Previous = CartV2;
    fn migrate(previous: CartV2) -> Self {
        CartV3 {
            items: previous.items.into_iter().map(|item| (item, 1)).collect(),
        }
    }
}

fn save_versioned<T: SessionSchema>(data: &T) -> Vec<u8> {
    encode(
        MP,
        T::VERSION,
        data,
        &[],
        &Meta::default(),
        &Unknown::default(),
    )
    .expect("encodes")
}

fn load_versioned<T: SessionSchema>(bytes: &[u8]) -> Result<Decoded<T>, CodecError> {
    decode(MP, &Schema::<T>::versioned(), bytes)
}

#[test]
fn migrations_chain_from_every_older_version() {
    let v1 = save_versioned(&CartV1 {
        items: "tea,milk".into(),
    });
    assert_eq!(&v1[..6], [0xc1, 0x01, 0, 0, 0, 1]);
    let loaded: Decoded<CartV3> = load_versioned(&v1).expect("migrates");
    assert_eq!(loaded.migrated_from, Some(1));
    assert_eq!(
        loaded.data.items,
        [("tea".to_owned(), 1), ("milk".to_owned(), 1)]
    );
    let v2 = save_versioned(&CartV2 {
        items: vec!["jam".into()],
    });
    let loaded: Decoded<CartV3> = load_versioned(&v2).expect("migrates");
    assert_eq!(loaded.migrated_from, Some(2));
    assert_eq!(loaded.data.items, [("jam".to_owned(), 1)]);
    // written back in the current version
    let v3 = save_versioned(&loaded.data);
    assert_eq!(&v3[..6], [0xc1, 0x01, 0, 0, 0, 3]);
    let again: Decoded<CartV3> = load_versioned(&v3).expect("reads");
    assert_eq!(again.migrated_from, None);
    assert_eq!(again.data, loaded.data);
}

#[test]
fn newer_unknown_or_unreachable_versions_are_refused_with_a_reason() {
    let v3 = save_versioned(&CartV3::default());
    assert!(matches!(
        load_versioned::<CartV2>(&v3),
        Err(CodecError::NewerSchema {
            stored: 3,
            current: 2
        })
    ));
    // an unversioned type does not read a versioned record either
    assert!(matches!(
        load::<CartV3>(MP, &v3),
        Err(CodecError::NewerSchema {
            stored: 3,
            current: 0
        })
    ));
    // version 0 (before versioning) has no migration into this chain
    let v0 = save(MP, &CartV1::default(), &Unknown::default());
    assert!(matches!(
        load_versioned::<CartV3>(&v0),
        Err(CodecError::NoMigration {
            stored: 0,
            current: 3
        })
    ));
    let message = load_versioned::<CartV3>(&v0)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("schema version 0"), "{message}");
}

#[test]
fn a_version_whose_shape_does_not_match_is_an_error_not_a_guess() {
    // a record claiming version 2 that holds version 1's shape
    let mut bytes = save_versioned(&CartV1 {
        items: "tea".into(),
    });
    bytes[5] = 2;
    assert!(load_versioned::<CartV3>(&bytes).is_err());
}

#[test]
fn malformed_headers_are_typed_errors() {
    assert!(matches!(
        load::<V1>(Codec::Json, &[0xc1, 0x01]),
        Err(CodecError::TruncatedHeader)
    ));
    assert!(matches!(
        load::<V1>(Codec::Json, &[0xc1, 0x09, 0, 0, 0, 0, 0x80]),
        Err(CodecError::UnknownFormat(0x09))
    ));
    assert!(load::<V1>(MP, &[0xc1, 0x01, 0, 0, 0, 0, 0xff]).is_err());
    assert!(load::<V1>(MP, &[]).is_err());
}

#[test]
fn a_tagged_record_reads_whatever_codec_is_configured() {
    let bytes = save(Codec::Json, &V1::default(), &Unknown::default());
    assert!(load::<V1>(MP, &bytes).is_ok());
    let bytes = save(MP, &V1::default(), &Unknown::default());
    assert!(load::<V1>(Codec::Json, &bytes).is_ok());
}

// --- pinned bytes ---------------------------------------------------------

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn fixed() -> V1 {
    V1 {
        count: 3,
        name: "alice".into(),
    }
}

/// The envelope of the releases before the format tag: bincode of
/// `{data, flash}` with `{count: 3, name: "alice"}` and one flash message.
const PREVIOUS_BINCODE: &str = "0305616c6963650104696e666f026869";
/// The same with `count: 193`, whose first byte is the format tag.
const PREVIOUS_BINCODE_TAG_LIKE: &str = "c105616c6963650104696e666f026869";
/// The same with `count: 193, name: "a"`: tag, then `0x01` as MessagePack's.
const PREVIOUS_BINCODE_HEADER_LIKE: &str = "c101610104696e666f026869";

#[test]
fn the_default_codec_writes_these_bytes() {
    // tag c1, MessagePack 01, schema 0, then {"data": {"count": 3, "name":
    // "alice"}, "flash": [{"level": "info", "text": "hi"}]}
    let expected = "c1010000000082a46461746182a5636f756e7403a46e616d65a5616c696365\
                    a5666c6173689182a56c6576656ca4696e666fa474657874a26869";
    assert_eq!(save(MP, &fixed(), &Unknown::default()), unhex(expected));
}

#[test]
fn the_json_codec_writes_these_bytes() {
    let mut expected = vec![0xc1, 0x02, 0, 0, 0, 0];
    expected.extend_from_slice(
        br#"{"data":{"count":3,"name":"alice"},"flash":[{"level":"info","text":"hi"}]}"#,
    );
    assert_eq!(save(Codec::Json, &fixed(), &Unknown::default()), expected);
}

#[test]
fn bincode_still_writes_the_previous_bytes() {
    assert_eq!(
        save(Codec::Bincode, &fixed(), &Unknown::default()),
        unhex(PREVIOUS_BINCODE)
    );
}

#[test]
fn the_previous_releases_bytes_stay_readable_with_the_default_codec() {
    for codec in [Codec::MessagePack, Codec::Bincode] {
        let loaded: Decoded<V1> = load(codec, &unhex(PREVIOUS_BINCODE)).expect("reads");
        assert_eq!(loaded.data, fixed(), "{codec:?}");
        assert_eq!(loaded.flash, [FlashMessage::info("hi")]);
    }
    let loaded: Decoded<V1> = load(MP, &unhex(PREVIOUS_BINCODE_TAG_LIKE)).expect("reads");
    assert_eq!(loaded.data.count, 193);
    let bytes = unhex(PREVIOUS_BINCODE_HEADER_LIKE);
    let loaded: Decoded<V1> = load(MP, &bytes).expect("reads");
    assert_eq!((loaded.data.count, loaded.data.name.as_str()), (193, "a"));
    // a previous record counts as version 0: a versioned type migrates it
    let loaded: Decoded<Counted> = load_versioned(&unhex(PREVIOUS_BINCODE)).expect("migrates");
    assert_eq!(loaded.migrated_from, Some(0));
    assert_eq!(loaded.data.counts, [("alice".to_owned(), 3)]);
}

impl SessionSchema for V1 {
    const VERSION: u32 = 0;
    type Previous = Self;
    fn migrate(previous: Self) -> Self {
        previous
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counted {
    counts: Vec<(String, u64)>,
}

impl SessionSchema for Counted {
    const VERSION: u32 = 1;
    type Previous = V1;
    fn migrate(previous: V1) -> Self {
        Counted {
            counts: vec![(previous.name, previous.count)],
        }
    }
}

/// A versioned record: its schema version in the header, the body as
/// ever. Committed as bytes, it migrates from that version on load.
const VERSIONED_V2: &str =
    "c1010000000282a46461746181a56974656d7392a3746561a46d696c6ba5666c61736890";

#[test]
fn a_versioned_record_writes_these_bytes_and_migrates_from_them() {
    let v2 = CartV2 {
        items: vec!["tea".into(), "milk".into()],
    };
    // tag c1, MessagePack 01, schema 2, then {"data": {"items": ["tea",
    // "milk"]}, "flash": []}
    assert_eq!(save_versioned(&v2), unhex(VERSIONED_V2));
    let loaded: Decoded<CartV3> = load_versioned(&unhex(VERSIONED_V2)).expect("migrates");
    assert_eq!(loaded.migrated_from, Some(2));
    assert_eq!(
        loaded.data.items,
        [("tea".to_owned(), 1), ("milk".to_owned(), 1)]
    );
}

/// [`fixed`] as a release with one more field (`theme`) saved it, and as
/// this release saves it again: the unknown field goes back after the known
/// ones, with its bytes unchanged.
const WITH_THEME: &str = "c1010000000082a46461746183a5636f756e7403a46e616d65a5616c696365\
                          a57468656d6581a57468656d65a46461726ba5666c6173689182a56c6576656c\
                          a4696e666fa474657874a26869";

#[test]
fn a_kept_unknown_field_is_written_back_as_these_bytes() {
    let newer = Added {
        count: 3,
        name: "alice".into(),
        theme: Theme {
            theme: "dark".into(),
        },
    };
    let written = save(MP, &newer, &Unknown::default());
    let seen: Decoded<V1> = load(MP, &written).expect("reads");
    assert_eq!(seen.data, fixed());
    let again = save(MP, &seen.data, &seen.unknown);
    assert_eq!(again, unhex(WITH_THEME));
    assert_eq!(again, written, "the same bytes as the newer release wrote");
}

/// A record of the MessagePack body with a field this type does not know,
/// whose value JSON cannot hold (a map with an integer key): what a
/// release on the default codec writes, read by one configured for JSON.
fn with_unknown_not_json() -> Vec<u8> {
    use rmpv::Value;
    let data = Value::Map(vec![
        (Value::from("count"), Value::from(3)),
        (Value::from("name"), Value::from("alice")),
        (
            Value::from("extra"),
            Value::Map(vec![(Value::from(1), Value::from("x"))]),
        ),
    ]);
    let tree = Value::Map(vec![
        (Value::from("data"), data),
        (Value::from("flash"), Value::Array(Vec::new())),
    ]);
    let mut bytes = vec![0xc1, 0x01, 0, 0, 0, 0];
    bytes.extend_from_slice(&rmp_serde::to_vec(&tree).expect("encodes"));
    bytes
}

#[test]
fn unknown_fields_that_json_cannot_hold_survive_a_json_save() {
    let bytes = with_unknown_not_json();
    let seen: Decoded<V1> = load(Codec::Json, &bytes).expect("reads");
    assert_eq!(seen.data, fixed());
    // The save succeeds (it failed with "key must be a string" before)...
    let saved = encode(
        Codec::Json,
        0,
        &seen.data,
        &[],
        &Meta::default(),
        &seen.unknown,
    )
    .expect("saves");
    // ...and keeps the field as it was: read back and saved by the default
    // codec, the record is the one the other release wrote.
    let again: Decoded<V1> = load(MP, &saved).expect("reads");
    assert_eq!(again.data, fixed());
    assert_eq!(
        encode(MP, 0, &again.data, &[], &Meta::default(), &again.unknown).expect("saves"),
        bytes
    );
}
