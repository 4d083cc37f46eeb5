//! The record codecs side by side on the demo's session (version 1, logged
//! in, with consent, one access-log entry and a sealed note): encode and
//! decode time and encoded size of MessagePack with named fields (the
//! default), bincode, JSON and CBOR; the cost of noting skipped fields on
//! every decode (what keeps unknown fields); and one load-modify-commit
//! cycle through the memory store per codec, with and without a field
//! this release does not know.
//!
//! `cargo bench -p session-bench --bench codec`
// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use examples::model::{v2, Account};
use examples::DemoSession;
use serde::de::DeserializeOwned;
use serde::Serialize;
use session_core::time::OffsetDateTime;
use session_core::{Codec, KeyRing, Sealed, SessionConfig, SessionData, SessionManager};
use session_store_memory::MemoryStore;
use tokio::runtime::Runtime;

fn demo() -> DemoSession {
    let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("a time");
    let mut session = DemoSession {
        count: 12,
        ..Default::default()
    };
    session.user.log_in(1, "alice", now);
    session.compliance.log_access("consent", "127.0.0.1", now);
    session.compliance.privacy_policy_version = Some("2024-01".into());
    session.compliance.marketing_consent = Some(false);
    session.compliance.consent_at = Some(now);
    let keys = KeyRing::new(["codec-benchmark-secret-0123456789abcdef"]).expect("keys");
    session.compliance.secret_note =
        Some(Sealed::seal(&keys, "note", &"my diary".to_owned()).expect("seals"));
    session
}

fn cbor_encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes).expect("encodes");
    bytes
}

fn cbor_decode<T: DeserializeOwned>(bytes: &[u8]) -> T {
    ciborium::from_reader(bytes).expect("decodes")
}

/// What the envelope does on every MessagePack decode: the same decode,
/// each skipped field reported to a callback.
fn noting_skipped<T: DeserializeOwned>(bytes: &[u8]) -> (T, usize) {
    let mut skipped = 0;
    let mut rest = bytes;
    let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
    let value = serde_ignored::deserialize(&mut deserializer, |_| skipped += 1).expect("decodes");
    (value, skipped)
}

fn codecs(c: &mut Criterion) {
    let session = demo();
    let mut group = c.benchmark_group("codec");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for codec in [Codec::MessagePack, Codec::Bincode, Codec::Json] {
        let name = format!("{codec:?}").to_lowercase();
        let bytes = codec.encode(&session).expect("encodes");
        eprintln!("codec {name}: the demo session is {} bytes", bytes.len());
        group.bench_function(format!("{name} encode"), |b| {
            b.iter(|| codec.encode(black_box(&session)).expect("encodes"))
        });
        group.bench_function(format!("{name} decode"), |b| {
            b.iter(|| {
                codec
                    .decode::<DemoSession>(black_box(&bytes))
                    .expect("decodes")
            })
        });
    }
    let bytes = cbor_encode(&session);
    eprintln!("codec cbor: the demo session is {} bytes", bytes.len());
    group.bench_function("cbor encode", |b| {
        b.iter(|| cbor_encode(black_box(&session)))
    });
    group.bench_function("cbor decode", |b| {
        b.iter(|| cbor_decode::<DemoSession>(black_box(&bytes)))
    });
    let bytes = Codec::MessagePack.encode(&session).expect("encodes");
    group.bench_function("messagepack decode, noting skipped fields", |b| {
        b.iter(|| noting_skipped::<DemoSession>(black_box(&bytes)))
    });
    group.finish();
}

fn manager<T: SessionData>(store: &MemoryStore, codec: Codec) -> SessionManager<T> {
    let config = SessionConfig::builder()
        .keys(KeyRing::new(["codec-benchmark-secret-0123456789abcdef"]).expect("keys"))
        .secure(false)
        .codec(codec)
        .store(store.clone())
        .build()
        .expect("a configuration");
    SessionManager::new(config)
}

/// The session's cookie value after `manager` wrote `data`.
async fn stored<T: SessionData>(manager: &SessionManager<T>, data: T) -> String {
    let session = manager.create();
    *session.data_mut() = data;
    let cookie = manager
        .commit(&session)
        .await
        .expect("commits")
        .expect("a cookie");
    let pair = cookie.pair();
    pair.split_once('=').expect("name=value").1.to_owned()
}

fn cycles(c: &mut Criterion) {
    let rt: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("codec_cycle");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let store = rt.block_on(async { MemoryStore::new() });
    let mut run = |name: String, manager: SessionManager<DemoSession>, cookie: String| {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let session = manager.load(Some(&cookie)).await.expect("loads");
                    session.data_mut().count += 1;
                    manager.commit(&session).await.expect("commits")
                })
            })
        });
    };
    for codec in [Codec::MessagePack, Codec::Bincode, Codec::Json] {
        let v1 = manager::<DemoSession>(&store, codec);
        let cookie = rt.block_on(stored(&v1, demo()));
        run(format!("{codec:?} load, modify, commit"), v1, cookie);
    }
    // A session version 2 wrote: version 1 keeps `preferences` through
    // every save (the slow path: a second decode into a value tree, and a
    // merge at the save).
    let v2m = manager::<v2::DemoSession>(&store, Codec::MessagePack);
    let mut newer: v2::DemoSession = Codec::MessagePack
        .decode(&Codec::MessagePack.encode(&demo()).expect("encodes"))
        .expect("decodes");
    newer.preferences.theme = "dark".into();
    let cookie = rt.block_on(stored(&v2m, newer));
    let v1 = manager::<DemoSession>(&store, Codec::MessagePack);
    run(
        "MessagePack load, modify, commit (an unknown field kept)".into(),
        v1,
        cookie,
    );
    group.finish();
}

criterion_group!(codec, codecs, cycles);
criterion_main!(codec);
