//! What the fuzz targets share: the representative session type that
//! `record_codec` decodes into, and the seed inputs that `examples/seeds.rs`
//! writes with the real encoders.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use session_core::FlashMessage;

/// A session type with the shapes applications keep: strings, options,
/// vectors, a nested struct, an enum, two kinds of map and a `char` (which
/// bincode must validate).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// An optional number.
    pub user_id: Option<u64>,
    /// A string.
    pub name: String,
    /// A vector of strings.
    pub roles: Vec<String>,
    /// An optional nested struct.
    pub address: Option<Address>,
    /// A vector of structs.
    pub cart: Vec<Item>,
    /// An ordered map to an enum.
    pub prefs: BTreeMap<String, Pref>,
    /// A hash map with integer keys (JSON writes them as strings).
    pub counts: HashMap<u32, i64>,
    /// A `char`.
    pub initial: Option<char>,
    /// A flag.
    pub verified: bool,
}

/// A nested struct.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// A string.
    pub street: String,
    /// An optional string.
    pub zip: Option<String>,
    /// More strings.
    pub lines: Vec<String>,
}

/// An element of a vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// A string.
    pub sku: String,
    /// A number.
    pub quantity: u32,
    /// An optional string.
    pub note: Option<String>,
}

/// An enum with unit, newtype and struct variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Pref {
    /// A unit variant.
    Off,
    /// A newtype variant.
    Level(u8),
    /// A struct variant.
    Named {
        /// A string.
        label: String,
        /// Strings.
        tags: Vec<String>,
    },
}

/// What the manager stores: the data and the pending flash messages. This
/// mirrors `session_core`'s private envelope on purpose (same fields in the
/// same order; bincode goes by order, JSON by name): if the two ever drift
/// apart, `record_codec` says so.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The session data.
    pub data: Profile,
    /// Flash messages for the next request.
    pub flash: Vec<FlashMessage>,
}

/// A few filled-in profiles, for seeds.
pub fn sample_profiles() -> Vec<Profile> {
    let full = Profile {
        user_id: Some(42),
        name: "alice".into(),
        roles: vec!["admin".into(), "ünïcode".into()],
        address: Some(Address {
            street: "Main Street 1".into(),
            zip: Some("12345".into()),
            lines: vec!["c/o Bob".into()],
        }),
        cart: vec![Item {
            sku: "tea".into(),
            quantity: 3,
            note: None,
        }],
        prefs: BTreeMap::from([
            ("a".into(), Pref::Off),
            ("b".into(), Pref::Level(7)),
            (
                "c".into(),
                Pref::Named {
                    label: "x".into(),
                    tags: vec!["y".into()],
                },
            ),
        ]),
        counts: HashMap::from([(1, -5), (u32::MAX, i64::MIN)]),
        initial: Some('é'),
        verified: true,
    };
    vec![Profile::default(), full]
}
