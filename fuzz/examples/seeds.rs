//! Writes the generated seeds of the fuzz targets with the real encoders:
//! session data as `Codec::Bincode` and `Codec::Json` write it (bare and in
//! the untagged envelope of the previous releases), and records as a
//! `SessionManager` stores them today (the tagged envelope: MessagePack or
//! JSON body, with and without a schema version, with a field this type
//! does not know), for `record_codec`; and Redis values as the store's
//! layout encodes them, around untagged and tagged data, for
//! `redis_value`.
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/seeds

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{
    store::Record, Codec, FlashMessage, SessionConfig, SessionData, SessionId, SessionManager,
    SessionSchema,
};
use session_store_memory::MemoryStore;
use typed_sessions_fuzz::{sample_profiles, Envelope, Profile};

/// A profile as a newer release might keep it: one field more, which the
/// fuzzed type does not know (and must carry through a save).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Newer {
    #[serde(flatten)]
    profile: Profile,
    theme: String,
}

/// A profile of schema version 1 (the fuzzed type is unversioned, so its
/// manager refuses such a record).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct Versioned(Profile);

impl SessionSchema for Versioned {
    const VERSION: u32 = 1;
    type Previous = Self;
    fn migrate(previous: Self) -> Self {
        previous
    }
}

/// The stored bytes of a session with `data` and one flash message, as
/// `manager` commits it.
fn stored<T>(manager: &SessionManager<T>, data: T) -> Vec<u8>
where
    T: SessionData + Serialize + DeserializeOwned,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let session = manager.load(None).await.expect("a new session");
        *session.data_mut() = data;
        session.flash("saved");
        manager.commit(&session).await.expect("commits");
        manager
            .store()
            .load(&session.id(), None)
            .await
            .expect("loads")
            .expect("the session was stored")
            .data
    })
}

fn config(codec: Codec) -> SessionConfig {
    SessionConfig::builder()
        .store(MemoryStore::builder().no_cleanup().build())
        .secret("seed secret, thirty-two bytes or more")
        .codec(codec)
        .build()
        .expect("a valid configuration")
}

/// Records as the manager stores them today: the tagged envelope.
fn tagged_seeds(dir: &Path) -> Vec<u8> {
    let mut first = Vec::new();
    for (codec, name) in [(Codec::MessagePack, "msgpack"), (Codec::Json, "json")] {
        for (i, profile) in sample_profiles().into_iter().enumerate() {
            let manager = SessionManager::<Profile>::new(config(codec));
            let bytes = stored(&manager, profile.clone());
            write(dir, &format!("tagged_{name}_{i}"), &bytes);
            if first.is_empty() {
                first = bytes;
            }
            let manager = SessionManager::<Newer>::new(config(codec));
            let newer = Newer {
                profile: profile.clone(),
                theme: "dark".into(),
            };
            write(
                dir,
                &format!("tagged_{name}_unknown_field_{i}"),
                &stored(&manager, newer),
            );
            let manager = SessionManager::<Versioned>::versioned(config(codec));
            write(
                dir,
                &format!("tagged_{name}_schema_1_{i}"),
                &stored(&manager, Versioned(profile)),
            );
        }
    }
    first
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("the seed directory");
    std::fs::write(dir.join(name), bytes).expect("the seed file");
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    let codecs = [(Codec::Bincode, "bincode"), (Codec::Json, "json")];

    let codec_dir = root.join("record_codec");
    for (i, profile) in sample_profiles().into_iter().enumerate() {
        for (codec, name) in codecs {
            let envelope = Envelope {
                data: profile.clone(),
                flash: vec![FlashMessage::info("saved")],
            };
            let bytes = codec.encode(&envelope).expect("encodes");
            write(&codec_dir, &format!("{name}_envelope_{i}"), &bytes);
            let bytes = codec.encode(&profile).expect("encodes");
            write(&codec_dir, &format!("{name}_profile_{i}"), &bytes);
        }
    }

    let tagged = tagged_seeds(&codec_dir);

    let redis_dir = root.join("redis_value");
    let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("in range");
    let data = Codec::Bincode
        .encode(&sample_profiles()[1])
        .expect("encodes");
    let owners = [
        None,
        Some(String::new()),
        Some("alice@example.com".to_owned()),
    ];
    for (i, owner) in owners.into_iter().enumerate() {
        for (j, data) in [Vec::new(), data.clone()].into_iter().enumerate() {
            let record = Record::new(
                SessionId::random(),
                data,
                at,
                at + Duration::hours(1),
                at + Duration::days(1),
            )
            .with_version(1 + i as u64)
            .with_owner(owner.clone());
            let value = session_store_redis::fuzzing::encode(&record).expect("encodes");
            write(&redis_dir, &format!("value_{i}_{j}"), &value);
        }
        let record = Record::new(
            SessionId::random(),
            tagged.clone(),
            at,
            at + Duration::hours(1),
            at + Duration::days(1),
        )
        .with_version(1 + i as u64)
        .with_owner(owner.clone());
        let value = session_store_redis::fuzzing::encode(&record).expect("encodes");
        write(&redis_dir, &format!("value_{i}_tagged"), &value);
    }
    // Before 1970 and at the ends of the range: sub-second and negative
    // timestamps.
    let old = Record::new(
        SessionId::random(),
        b"x".to_vec(),
        OffsetDateTime::from_unix_timestamp(-1).expect("in range") + Duration::milliseconds(1),
        at,
        Record::from_millis(253_402_300_799_999),
    )
    .with_version(u64::MAX)
    .with_owner(Some("ünïcode".into()));
    let value = session_store_redis::fuzzing::encode(&old).expect("encodes");
    write(&redis_dir, "value_extremes", &value);
}
