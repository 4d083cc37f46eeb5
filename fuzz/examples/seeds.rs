//! Writes the generated seeds of the fuzz targets with the real encoders:
//! session data as `Codec::Bincode` and `Codec::Json` write it (bare and in
//! the manager's envelope) for `record_codec`, and Redis values as the
//! store's layout encodes them for `redis_value`.
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/seeds

use std::path::{Path, PathBuf};

use session_core::time::{Duration, OffsetDateTime};
use session_core::{Codec, FlashMessage, SessionId, store::Record};
use typed_sessions_fuzz::{sample_profiles, Envelope};

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
    }
    // Before 1970 and at the ends of the range: sub-second and negative
    // timestamps.
    let old = Record::new(
        SessionId::random(),
        b"x".to_vec(),
        OffsetDateTime::from_unix_timestamp(-1).expect("in range")
            + Duration::milliseconds(1),
        at,
        Record::from_millis(253_402_300_799_999),
    )
    .with_version(u64::MAX)
    .with_owner(Some("ünïcode".into()));
    let value = session_store_redis::fuzzing::encode(&old).expect("encodes");
    write(&redis_dir, "value_extremes", &value);
}
